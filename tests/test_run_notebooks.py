"""tools/run_notebooks.py on tiny synthetic notebooks: outputs, index, images, errors."""
import base64
import json
import re
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "run_notebooks.py"
FIGURE = '<svg xmlns="http://www.w3.org/2000/svg" width="20" height="10"><rect width="20" height="10"/></svg>'


def _write(folder: Path, name: str, *cells) -> None:
    nbformat.write(new_notebook(cells=list(cells)), folder / name)


def _run(notebooks: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TOOL), "--notebooks", str(notebooks),
                           "--out", str(out), "--timeout", "60", *extra],
                          capture_output=True, text=True, timeout=240)


@pytest.fixture
def chapter(tmp_path):
    """notebooks/ with two notebooks (deliberately not in creation order) and img/."""
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "box.svg").write_text(FIGURE)
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    _write(nbs, "02_second.ipynb", new_markdown_cell("Some words first.\n\n## Second part"),
           new_code_cell("import os\nprint('fast=' + str(os.environ.get('D2LMINI_FAST')))"))
    _write(nbs, "01_first.ipynb",
           new_markdown_cell("# First part\n\n![a box](../img/box.svg)"),
           new_code_cell("from pathlib import Path\nprint('cwd=' + Path.cwd().name)"))
    return nbs


def test_runs_in_order_and_writes_notebooks_html_and_index(chapter, tmp_path):
    out = tmp_path / "build"
    proc = _run(chapter, out, "--fast")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.index("01_first.ipynb") < proc.stdout.index("02_second.ipynb")
    assert re.search(r"02_second\.ipynb done in \d+\.\d s", proc.stdout)

    first = nbformat.read(out / "01_first.ipynb", as_version=4)
    assert first.cells[1].outputs[0]["text"] == "cwd=notebooks\n"  # ran inside notebooks/
    second = nbformat.read(out / "02_second.ipynb", as_version=4)
    assert second.cells[1].outputs[0]["text"] == "fast=1\n"
    # The sources are left alone.
    assert not nbformat.read(chapter / "01_first.ipynb", as_version=4).cells[1].outputs

    index = (out / "index.html").read_text()
    links = re.findall(r'<a href="([^"]+)">([^<]+)</a>', index)
    assert links == [("01_first.html", "First part"), ("02_second.html", "Second part")]
    for name, _ in links:
        assert (out / name).is_file()


def test_markdown_figures_are_embedded_as_data_uris(chapter, tmp_path):
    out = tmp_path / "build"
    assert _run(chapter, out).returncode == 0
    page = (out / "01_first.html").read_text()
    uri = "data:image/svg+xml;base64," + base64.b64encode(FIGURE.encode()).decode()
    assert f'src="{uri}"' in page
    assert "../img/box.svg" not in page
    # The executed notebook keeps the plain link (it works from build/ too).
    assert "../img/box.svg" in json.dumps(nbformat.read(out / "01_first.ipynb", as_version=4))


def test_full_mode_leaves_fast_unset(chapter, tmp_path, monkeypatch):
    monkeypatch.setenv("D2LMINI_FAST", "1")  # as under `make test`
    out = tmp_path / "build"
    assert _run(chapter, out).returncode == 0
    second = nbformat.read(out / "02_second.ipynb", as_version=4)
    assert second.cells[1].outputs[0]["text"] == "fast=None\n"


def test_a_failing_notebook_stops_the_run_and_is_named(chapter, tmp_path):
    _write(chapter, "01b_broken.ipynb", new_markdown_cell("# Broken"),
           new_code_cell("x = 1"), new_code_cell("raise ValueError('no such layer')"),
           new_code_cell("print('never')"))
    out = tmp_path / "build"
    proc = _run(chapter, out, "--fast")
    assert proc.returncode == 1
    assert "01b_broken.ipynb failed in cell 3 (code cell #2): ValueError: no such layer" in proc.stderr
    # What ran is written; what comes after the failure is not run.
    broken = nbformat.read(out / "01b_broken.ipynb", as_version=4)
    assert broken.cells[2].outputs[0]["ename"] == "ValueError"
    assert not broken.cells[3].get("outputs")
    assert (out / "01b_broken.html").is_file() and (out / "01_first.html").is_file()
    assert not (out / "02_second.ipynb").exists()
    index = (out / "index.html").read_text()
    assert "failed: cell 3" in index and "02_second" not in index


def test_an_empty_folder_is_an_error(tmp_path):
    proc = _run(tmp_path, tmp_path / "build")
    assert proc.returncode != 0 and "no notebooks in" in proc.stderr
