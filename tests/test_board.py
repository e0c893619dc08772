"""ProgressBoard outside Jupyter: averaging, PNG output, display=False."""
import os

import pytest
import torch

import d2lmini as d2l
from helpers import SyntheticData, make_model


def test_board_writes_the_png_it_names(tmp_path, capsys):
    path = tmp_path / "curves.png"
    board = d2l.ProgressBoard(xlabel="epoch", xlim=[0, 2], save_path=str(path))
    for i in range(4):
        board.draw(i / 2, float(i), "train_loss", every_n=2)
    board.draw(1, 0.5, "val_acc")
    board.flush()
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert str(path) in capsys.readouterr().out
    # every_n=2 plots the mean of each pair of points
    assert board.data["train_loss"] == [(0.25, 0.5), (1.25, 2.5)]
    assert board.data["val_acc"] == [(1.0, 0.5)]
    axes = board.axes
    assert axes.get_xlabel() == "epoch" and tuple(axes.get_xlim()) == (0.0, 2.0)
    assert {t.get_text() for t in axes.get_legend().get_texts()} == {"train_loss", "val_acc"}


def test_board_display_false_writes_nothing(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    board = d2l.ProgressBoard(display=False)
    board.draw(0, 1.0, "x")
    board.flush()
    assert list(tmp_path.iterdir()) == [] and board.data["x"] == [(0.0, 1.0)]


def test_trainer_draws_book_labels(tmp_path):
    model = make_model()
    model.board.save_path = str(tmp_path / "b.png")
    d2l.Trainer(max_epochs=1, progress=False).fit(model, SyntheticData(n=200))
    assert set(model.board.data) == {"train_loss", "val_loss", "val_acc"}
    assert (tmp_path / "b.png").exists()


def test_trainer_in_a_jupyter_kernel(tmp_path):
    """In a kernel the board is displayed inline (PNG) and updated in place,
    and the summary line is printed; no PNG file is written."""
    import nbformat
    from nbclient import NotebookClient
    code = (
        "import sys, torch\n"
        f"sys.path.insert(0, {str(__import__('os').path.dirname(__file__))!r})\n"
        "import d2lmini as d2l\n"
        "from helpers import SyntheticData, make_model\n"
        "model = make_model()\n"
        "h = d2l.Trainer(max_epochs=2, progress=False).fit(model, SyntheticData(n=200))\n"
        "len(h)")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(code)])
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = nb.cells[0].outputs
    assert any("image/png" in o.get("data", {}) for o in outputs)
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "epoch 2/2:" in text
    assert outputs[-1]["data"]["text/plain"] == "2"
    assert list(tmp_path.iterdir()) == []  # no picture file anywhere near


def test_trainer_names_a_run_directory_and_leaves_the_cwd_alone(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    model = make_model()
    d2l.Trainer(max_epochs=1, progress=False).fit(model, SyntheticData(n=200))
    out = capsys.readouterr().out
    path = out.split("saving the curves to ")[1].split()[0]
    assert os.path.basename(os.path.dirname(path)).startswith("d2lmini-run-")
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where", ["missing/dir/b.png", "a_file/b.png", "b.xyz"])
def test_a_picture_that_cannot_be_saved_never_stops_training(tmp_path, where):
    (tmp_path / "a_file").write_text("")
    model = make_model()
    model.board.save_path = str(tmp_path / where)
    with pytest.warns(d2l.BoardWarning, match="could not save"):
        history = d2l.Trainer(max_epochs=2, progress=False).fit(model, SyntheticData(n=200))
    assert len(history) == 2 and len(model.board.data["val_loss"]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]


def test_the_picture_is_written_atomically_and_never_through_a_link(tmp_path):
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    path = tmp_path / "b.png"
    path.symlink_to(target)
    board = d2l.ProgressBoard(save_path=str(path))
    board.draw(0, 1.0, "loss")
    board.flush()
    assert target.read_text() == "keep me"
    assert not path.is_symlink() and path.read_bytes()[:4] == b"\x89PNG"
    good = path.read_bytes()

    def broken_savefig(f, **kwargs):
        f.write(b"half a picture")
        raise RuntimeError("renderer died")
    board.fig.savefig = broken_savefig
    board.draw(1, 0.5, "loss")
    with pytest.warns(d2l.BoardWarning, match="renderer died"):
        board.flush()
    assert path.read_bytes() == good  # the previous picture is intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.png", "precious.txt"]


def test_drawing_is_throttled(tmp_path, monkeypatch):
    board = d2l.ProgressBoard(save_path=str(tmp_path / "b.png"), save_every=3600)
    renders = []
    monkeypatch.setattr(board, "_update_lines", lambda: renders.append(1))
    monkeypatch.setattr(board, "_save", lambda path: None)
    for i in range(500):
        board.draw(i, float(i), "loss")
    assert renders == []  # nothing drawn while points arrive quickly
    board.flush()
    assert renders == [1] and len(board.data["loss"]) == 500
