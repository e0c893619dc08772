"""ProgressBoard outside Jupyter: averaging, PNG output, display=False."""
import torch

import d2lmini as d2l


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
    from test_trainer import SyntheticData, make_model
    model = make_model()
    model.board.display, model.board.save_path = True, str(tmp_path / "b.png")
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
        "from test_trainer import SyntheticData, make_model\n"
        "model = make_model()\n"
        "model.board.display = True\n"
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
    assert not (tmp_path / "d2lmini-board.png").exists()
