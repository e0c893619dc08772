"""tools/run_notebooks.py on tiny synthetic notebooks: execution, copies, errors, site.

The website itself (figures, math, search, languages, the browser) is
tested in tests/test_site.py; here the executor, and that ``make run``
renders what it executed.
"""
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
PYTHON = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
          "language_info": {"name": "python"}}
BIB = "@misc{key2020, author = {Doe, Jane}, title = {A Title}, year = {2020}}\n"


def _write(folder: Path, name: str, *cells) -> None:
    nbformat.write(new_notebook(cells=list(cells), metadata=PYTHON), folder / name)


def _run(notebooks: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TOOL), "--notebooks", str(notebooks),
                           "--out", str(out), "--timeout", "60", *extra],
                          capture_output=True, text=True, timeout=300)


@pytest.fixture
def chapter(tmp_path):
    """notebooks/ with two notebooks (deliberately not in creation order), a title page and img/."""
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "box.svg").write_text(FIGURE)
    (tmp_path / "references.bib").write_text(BIB)
    nbs = tmp_path / "notebooks"
    nbs.mkdir()
    (nbs / "index.md").write_text("# A chapter\n\n```{toctree}\n:glob:\n:numbered:\n\n[0-9]*\n```\n")
    _write(nbs, "02_second.ipynb", new_markdown_cell("# Second part\n\nSome words."),
           new_code_cell("import os\nprint('fast=' + str(os.environ.get('D2LMINI_FAST')))"))
    _write(nbs, "01_first.ipynb",
           new_markdown_cell("# First part\n\n![A box.](../img/box.svg)"),
           new_code_cell("from pathlib import Path\nprint('cwd=' + Path.cwd().name)"))
    return nbs


def test_runs_in_order_and_writes_executed_copies(chapter, tmp_path):
    out = tmp_path / "build"
    proc = _run(chapter, out, "--fast", "--no-html")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.index("01_first.ipynb") < proc.stdout.index("02_second.ipynb")
    assert re.search(r"02_second\.ipynb done in \d+\.\d s", proc.stdout)

    first = nbformat.read(out / "notebooks" / "01_first.ipynb", as_version=4)
    assert first.cells[1].outputs[0]["text"] == "cwd=notebooks\n"  # ran inside notebooks/
    second = nbformat.read(out / "notebooks" / "02_second.ipynb", as_version=4)
    assert second.cells[1].outputs[0]["text"] == "fast=1\n"
    # The sources are left alone.
    assert not nbformat.read(chapter / "01_first.ipynb", as_version=4).cells[1].outputs
    # The title page and the figures travel with the copies: their links still hold.
    assert (out / "notebooks" / "index.md").read_text() == (chapter / "index.md").read_text()
    assert (out / "img" / "box.svg").read_text() == FIGURE
    assert not (out / "html").exists()  # --no-html


def test_full_mode_leaves_fast_unset(chapter, tmp_path, monkeypatch):
    monkeypatch.setenv("D2LMINI_FAST", "1")  # as under `make test`
    out = tmp_path / "build"
    assert _run(chapter, out, "--no-html").returncode == 0
    second = nbformat.read(out / "notebooks" / "02_second.ipynb", as_version=4)
    assert second.cells[1].outputs[0]["text"] == "fast=None\n"


def test_the_site_shows_what_was_executed(chapter, tmp_path):
    out = tmp_path / "build"
    proc = _run(chapter, out, "--fast")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"open {out / 'html' / 'index.html'}" in proc.stdout
    page = (out / "html" / "01_first.html").read_text()
    assert "cwd=notebooks" in page  # the output of this run, not a stored one
    assert re.search(r'<span class="caption-number">Fig\. 1\.1 </span><span class="caption-text">A box\.',
                     page)
    assert (out / "html" / "_images" / "box.svg").is_file()
    download = json.loads((out / "html" / "_sources" / "02_second.ipynb").read_text())
    assert "".join(download["cells"][1]["outputs"][0]["text"]) == "fast=1\n"


def test_keep_answers_copies_the_exercise_answers_with_their_stored_outputs(chapter, tmp_path):
    # An answer whose stored output differs from what running it would print,
    # and which would fail if it ran: kept, it is copied untouched.
    answer = new_code_cell("raise RuntimeError('the answer ran')")
    answer.outputs = [nbformat.v4.new_output("stream", name="stdout", text="stored\n")]
    _write(chapter, "03_answer.ipynb",
           new_markdown_cell("# Exercises 1 and 2: Answers\n\nWords."), answer)
    out = tmp_path / "build"
    proc = _run(chapter, out, "--keep-answers", "--no-html")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"03_answer\.ipynb kept with its stored outputs", proc.stdout)
    assert "2 notebooks executed" in proc.stdout and "1 answers kept" in proc.stdout
    kept = nbformat.read(out / "notebooks" / "03_answer.ipynb", as_version=4)
    assert kept.cells[1].outputs[0]["text"] == "stored\n"
    main = nbformat.read(out / "notebooks" / "01_first.ipynb", as_version=4)
    assert main.cells[1].outputs[0]["text"] == "cwd=notebooks\n"  # executed
    # Without the option (make run-all) the answer runs, and here it fails.
    proc = _run(chapter, tmp_path / "all", "--no-html")
    assert proc.returncode == 1 and "RuntimeError: the answer ran" in proc.stderr


def test_the_chapter_answers_are_exactly_the_exercise_pages():
    sys.path.insert(0, str(ROOT / "tools"))
    import run_notebooks
    answers = [p.name[:2] for p in sorted((ROOT / "notebooks").glob("*.ipynb"))
               if run_notebooks.is_answer(p)]
    assert answers == ["08", "09", "10", "11", "12", "13", "14"]


def test_a_failing_notebook_stops_the_run_and_is_named(chapter, tmp_path):
    _write(chapter, "01b_broken.ipynb", new_markdown_cell("# Broken"),
           new_code_cell("x = 1"), new_code_cell("raise ValueError('no such layer')"),
           new_code_cell("print('never')"))
    out = tmp_path / "build"
    proc = _run(chapter, out, "--fast")
    assert proc.returncode == 1
    assert "01b_broken.ipynb failed in cell 3 (code cell #2): ValueError: no such layer" in proc.stderr
    # What ran is written; what comes after the failure is not run, nothing is rendered.
    broken = nbformat.read(out / "notebooks" / "01b_broken.ipynb", as_version=4)
    assert broken.cells[2].outputs[0]["ename"] == "ValueError"
    assert not broken.cells[3].get("outputs")
    assert (out / "notebooks" / "01_first.ipynb").is_file()
    assert not (out / "notebooks" / "02_second.ipynb").exists()
    assert not (out / "html").exists()


def test_an_empty_folder_is_an_error(tmp_path):
    for extra in ((), ("--no-execute",)):
        proc = _run(tmp_path, tmp_path / "build", *extra)
        assert proc.returncode != 0 and "no notebooks in" in proc.stderr


def test_execute_only_and_render_only_exclude_each_other(chapter, tmp_path):
    proc = _run(chapter, tmp_path / "build", "--no-html", "--no-execute")
    assert proc.returncode == 2 and "not allowed with argument" in proc.stderr


# -- what it deletes: only its own output, and only after every input is checked


def test_a_missing_title_page_is_found_before_anything_is_deleted(chapter, tmp_path):
    out = tmp_path / "build"
    (out / "html").mkdir(parents=True)
    (out / "html" / "notes.txt").write_text("mine")
    (chapter / "index.md").unlink()
    proc = _run(chapter, out, "--no-execute")
    assert proc.returncode == 1 and f"{chapter / 'index.md'} is missing" in proc.stderr
    assert (out / "html" / "notes.txt").read_text() == "mine"


def test_a_missing_title_page_is_found_before_anything_runs(chapter, tmp_path):
    (chapter / "index.md").unlink()
    out = tmp_path / "build"
    proc = _run(chapter, out, "--fast")
    assert proc.returncode == 1 and f"{chapter / 'index.md'} is missing" in proc.stderr
    assert not out.exists()  # nothing executed, copied or rendered


def test_an_html_folder_it_did_not_make_is_kept(chapter, tmp_path):
    out = tmp_path / "build"
    (out / "html").mkdir(parents=True)
    (out / "html" / "notes.txt").write_text("mine")
    proc = _run(chapter, out, "--no-execute")
    assert proc.returncode == 1
    assert f"{out / 'html'} exists but was not made by this tool" in proc.stderr
    assert (out / "html" / "notes.txt").read_text() == "mine"


def test_a_rebuild_replaces_its_own_site(chapter, tmp_path):
    out = tmp_path / "build"
    assert _run(chapter, out, "--no-execute").returncode == 0
    assert (out / "html" / "02_second.html").is_file()
    (chapter / "02_second.ipynb").unlink()
    proc = _run(chapter, out, "--no-execute")
    assert proc.returncode == 0, proc.stderr
    assert (out / "html" / "01_first.html").is_file()
    assert not (out / "html" / "02_second.html").exists()  # no page of a removed notebook
