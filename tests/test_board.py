"""ProgressBoard outside Jupyter: averaging, PNG output, display=False."""
import base64
import contextlib
import io
import os
import re
import subprocess
import sys
import warnings

import matplotlib.image
from matplotlib.backends.backend_agg import FigureCanvasAgg
import numpy as np
import pytest
import torch
from tqdm import tqdm

import d2lmini as d2l
import d2lmini.board
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


def run_in_kernel(tmp_path, *cells: str):
    """The cells executed in order in a fresh Jupyter kernel whose working
    directory is ``tmp_path``; returns the executed notebook."""
    import nbformat
    from nbclient import NotebookClient
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    NotebookClient(nb, timeout=120, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    return nb


def test_trainer_in_a_jupyter_kernel(tmp_path):
    """In a kernel the board is displayed inline (SVG) and updated in place,
    and the summary line is printed; no picture file is written."""
    code = (
        "import sys, torch\n"
        f"sys.path.insert(0, {str(__import__('os').path.dirname(__file__))!r})\n"
        "import d2lmini as d2l\n"
        "from helpers import SyntheticData, make_model\n"
        "model = make_model()\n"
        "h = d2l.Trainer(max_epochs=2, progress=False).fit(model, SyntheticData(n=200))\n"
        "len(h)")
    outputs = run_in_kernel(tmp_path, code).cells[0].outputs
    svgs = [o["data"]["image/svg+xml"] for o in outputs if "image/svg+xml" in o.get("data", {})]
    assert len(svgs) == 1 and not any("image/png" in o.get("data", {}) for o in outputs)
    assert ">val_acc</text>" in svgs[0]  # the legend is text a translation can replace
    text = "".join(o.get("text", "") for o in outputs if o.output_type == "stream")
    assert "epoch 2/2:" in text
    assert outputs[-1]["data"]["text/plain"] == "2"
    assert list(tmp_path.iterdir()) == []  # no picture file anywhere near


def test_a_board_on_its_own_in_a_jupyter_cell_shows_every_point(tmp_path):
    """The throttle holds points back; the board shows them once the cell has
    run (as matplotlib's inline backend shows its figures)."""
    loop = ("import numpy as np\n"
            "import d2lmini as d2l\n"
            "board = d2l.ProgressBoard('x')\n"
            "for x in np.arange(0, 10, 0.1):\n"
            "    board.draw(x, np.sin(x), 'sin', every_n=2)\n"
            "    board.draw(x, np.cos(x), 'cos', every_n=10)")
    final = ("import base64, io\n"
             "buf = io.BytesIO()\n"
             "buf.write(d2l.display.svg_bytes(board.fig))\n"
             "print(len(board._lines['sin'].get_xdata()), len(board._lines['cos'].get_xdata()))\n"
             "print(base64.b64encode(buf.getvalue()).decode())")
    nb = run_in_kernel(tmp_path, loop, final)
    images = [o["data"]["image/svg+xml"] for o in nb.cells[0].outputs
              if "image/svg+xml" in o.get("data", {})]
    assert len(images) == 1  # one figure, updated in place
    counts, svg = nb.cells[1].outputs[0]["text"].split("\n")[:2]
    assert counts == "50 10"
    shown = images[0] if isinstance(images[0], str) else "".join(images[0])
    # IPython tidies the SVG's header; its drawing is that of every point.
    def drawing(text):
        return [" ".join(d.split()) for d in re.findall(r"\sd=\"([^\"]*)\"", text)]
    assert drawing(shown) == drawing(base64.b64decode(svg).decode())
    assert list(tmp_path.iterdir()) == []


def test_trainer_names_a_run_directory_and_leaves_the_cwd_alone(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    model = make_model()
    d2l.Trainer(max_epochs=1, progress=False).fit(model, SyntheticData(n=200))
    out = capsys.readouterr().out
    path = out.split("saving the curves to ")[1].split()[0]
    assert os.path.basename(os.path.dirname(path)).startswith("d2lmini-run-")
    assert open(path, "rb").read(8) == b"\x89PNG\r\n\x1a\n"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where, reason", [
    ("a_file/b.png", "cannot create the directory"), ("b.xyz", "unsupported file extension")])
def test_a_picture_that_cannot_be_saved_never_stops_training(tmp_path, where, reason):
    (tmp_path / "a_file").write_text("")
    model = make_model()
    model.board.save_path = str(tmp_path / where)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # count every warning the board emits
        history = d2l.Trainer(max_epochs=2, progress=False).fit(model, SyntheticData(n=200))
    assert len(history) == 2 and len(model.board.data["val_loss"]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a_file"]
    # One warning per board however many drawings failed, naming the path and
    # the reason, never a temporary file's random name.
    board_warnings = [w for w in caught if issubclass(w.category, d2l.BoardWarning)]
    assert len(board_warnings) == 1
    msg = str(board_warnings[0].message)
    assert f"could not save {tmp_path / where}: " in msg and reason in msg
    assert ".board-" not in msg


def test_a_missing_directory_is_created(tmp_path):
    path = tmp_path / "plots" / "deeper" / "curves.png"
    board = d2l.ProgressBoard(save_path=str(path), save_every=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no BoardWarning
        for i in range(3):
            board.draw(i, float(i), "loss")
        board.flush()
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert os.listdir(path.parent) == ["curves.png"]


def test_a_failing_board_warns_the_same_text_once(tmp_path):
    (tmp_path / "a_file").write_text("")
    board = d2l.ProgressBoard(save_path=str(tmp_path / "a_file" / "b.png"), save_every=0)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for i in range(20):
            board.draw(i, float(i), "loss")
        board.flush()
    assert [w.category for w in caught] == [d2l.BoardWarning]
    # A second board warns again, with the same text as the first: Python's
    # "default" filter would show it once per place.
    other = d2l.ProgressBoard(save_path=str(tmp_path / "a_file" / "b.png"))
    with pytest.warns(d2l.BoardWarning) as again:
        other.draw(0, 1.0, "loss")
    assert str(again[0].message) == str(caught[0].message)


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
    assert renders == [1]  # the first point at once, then nothing while points arrive quickly
    board.flush()
    assert renders == [1, 1] and len(board.data["loss"]) == 500


def book_example(board):
    """The book's example of a board used on its own (d2l.ProgressBoard('x'))."""
    for x in np.arange(0, 10, 0.1):
        board.draw(x, np.sin(x), "sin", every_n=2)
        board.draw(x, np.cos(x), "cos", every_n=10)


def test_a_board_on_its_own_saves_its_first_point_and_every_point_at_exit(tmp_path, capsys):
    path = tmp_path / "b.png"
    board = d2l.ProgressBoard("x", save_path=str(path))  # save_every: the default 2 s
    saved = []  # the number of points drawn at each save
    real_save = board._save
    board._save = lambda p: (saved.append(sum(len(l.get_xdata()) for l in board._lines.values())),
                             real_save(p))
    book_example(board)
    assert saved[0] == 1 and path.exists()  # the file exists from the first point on
    # What the interpreter runs at exit (atexit) when nothing called flush():
    d2lmini.board.flush_undrawn_boards()
    assert saved[-1] == 50 + 10  # every averaged point is in the final picture
    out = capsys.readouterr().out
    assert out.count("saving the curves to") == 1 and str(path) in out
    d2lmini.board.flush_undrawn_boards()  # nothing left to draw: no new picture
    assert saved[-1] == 60 and len(saved) == len(set(range(len(saved))))


def test_a_script_with_a_board_on_its_own_leaves_the_complete_png(tmp_path):
    script = tmp_path / "sines.py"
    script.write_text(
        "import numpy as np\n"
        "import d2lmini as d2l, d2lmini.board\n"
        f"d2lmini.board.RUNS_ROOT = {str(tmp_path)!r}\n"
        "board = d2l.ProgressBoard('x')\n"  # the book's code, as it is
        "for x in np.arange(0, 10, 0.1):\n"
        "    board.draw(x, np.sin(x), 'sin', every_n=2)\n"
        "    board.draw(x, np.cos(x), 'cos', every_n=10)\n"
        "del board\n")  # a board that is gone still draws its last points
    run = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.count("saving the curves to") == 1, run.stdout
    path = run.stdout.split("saving the curves to ")[1].split()[0]
    assert os.path.dirname(os.path.dirname(path)) == str(tmp_path)
    # The picture is the one of all the points, drawn at exit.
    reference = d2l.ProgressBoard("x", save_path=str(tmp_path / "reference.png"))
    book_example(reference)
    reference.flush()
    picture = matplotlib.image.imread(path)
    assert picture.shape == matplotlib.image.imread(tmp_path / "reference.png").shape
    assert np.array_equal(picture, matplotlib.image.imread(tmp_path / "reference.png"))


def test_the_board_message_gets_its_own_line_under_a_progress_bar(tmp_path):
    """In a terminal the bar (stderr) and the message (stdout) share the screen:
    the message must start a line, not continue the bar's."""
    model = make_model()
    model.board.save_path = str(tmp_path / "b.png")
    model.board.save_every = 0  # draw at every point, while the bar is on screen
    screen = io.StringIO()
    with contextlib.redirect_stdout(screen), contextlib.redirect_stderr(screen):
        d2l.Trainer(max_epochs=1, progress=True).fit(model, SyntheticData(n=200))
    out = screen.getvalue()
    at = out.index("ProgressBoard: not in Jupyter")
    assert "epoch 1/1" in out[:at]  # the bar was on screen before the message
    assert out[at - 1] in "\r\n" and out[at:].split("\n")[0].endswith("b.png")


def test_a_board_warning_gets_its_own_line_under_a_progress_bar(tmp_path, monkeypatch):
    (tmp_path / "a_file").write_text("")
    screen = io.StringIO()
    # Show warnings as Python does by default (pytest records them instead).
    monkeypatch.setattr(warnings, "showwarning", lambda message, category, filename, lineno,
                        file=None, line=None: sys.stderr.write(
                            warnings.formatwarning(message, category, filename, lineno, line)))
    board = d2l.ProgressBoard(save_path=str(tmp_path / "a_file" / "b.png"))
    with contextlib.redirect_stderr(screen), warnings.catch_warnings():
        warnings.simplefilter("always")
        bar = tqdm(total=10, desc="epoch 1/1")
        bar.update(3)
        board.draw(0, 1.0, "loss")
        bar.close()
    out = screen.getvalue()
    at = out.index("BoardWarning")
    line_start = max(out.rfind("\n", 0, at), out.rfind("\r", 0, at)) + 1
    assert "epoch 1/1" in out[:line_start] and "epoch" not in out[line_start:at]


def test_legend_sits_beside_the_curves(tmp_path):
    # Inside the axes, loc="best" covered the accuracy curve of a long fit; in
    # a row above them, a translated entry ran into the next one.
    board = d2l.ProgressBoard(xlabel="epoch", xlim=[0, 10], save_path=str(tmp_path / "b.png"))
    for x in range(1, 11):
        for label, y in (("train_loss", 2 / x), ("val_loss", 0.3 + 0.5 / x), ("val_acc", 0.9 - 0.3 / x)):
            board.draw(x, y, label)
    board.flush()
    renderer = FigureCanvasAgg(board.fig).get_renderer()  # as savefig draws it
    legend = board.axes.get_legend().get_window_extent(renderer)
    axes = board.axes.get_window_extent(renderer)
    assert legend.x0 >= axes.x1  # right of the plotting area, not inside it
    figure = board.fig.get_window_extent(renderer)
    assert figure.contains(legend.x1 - 1, legend.y0) and figure.contains(legend.x0, legend.y1 - 1)
    texts = [t.get_window_extent(renderer) for t in board.axes.get_legend().get_texts()]
    assert all(a.y0 >= b.y1 for a, b in zip(texts, texts[1:]))  # one entry per line
    assert [t.get_text() for t in board.axes.get_legend().get_texts()] == [
        "train_loss", "val_loss", "val_acc"]


def test_in_a_kernel_pyplot_figures_are_svg_with_text_labels(tmp_path):
    """import d2lmini switches the inline backend to SVG whose words are
    <text> elements (what the translated pages replace); no PNG is sent."""
    code = ("import d2lmini as d2l\n"
            "import matplotlib.pyplot as plt\n"
            "fig, ax = plt.subplots()\n"
            "ax.plot([0, 1], [1, 0], label='train loss')\n"
            "ax.set_xlabel('epoch'); ax.legend()\n"
            "plt.show()")
    nb = run_in_kernel(tmp_path, code)
    data = [o["data"] for o in nb.cells[0].outputs if o.output_type == "display_data"]
    assert len(data) == 1 and "image/png" not in data[0]
    svg = data[0]["image/svg+xml"]
    svg = svg if isinstance(svg, str) else "".join(svg)
    assert ">epoch</text>" in svg and ">train loss</text>" in svg
    assert "<dc:date>" not in svg  # the same figure stores the same bytes


def test_a_script_keeps_its_matplotlib_settings():
    code = ("import matplotlib, d2lmini\n"
            "print(matplotlib.rcParams['svg.fonttype'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "path"  # matplotlib's default: outlines, not text
