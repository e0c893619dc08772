"""Execute the chapter and render it as a website (``make run``, ``make site``).

Execution (``make run-all``): every ``notebooks/*.ipynb`` runs in name order,
each in a fresh kernel whose working directory is the notebooks folder (so
relative paths behave as in Jupyter). ``make run`` passes ``--keep-answers``:
the answers to the exercises (pages titled "Exercise ...") keep the outputs
stored with them and are copied, not executed: the main text, with its own
training run, is what a reader reproduces first (benchmarks/README.md records
how long each target takes). The executed copies go to ``OUT/notebooks/`` next
to a copy of ``img/`` and of the folder's markdown pages (the title page
``index.md``), so their relative links still hold; the sources are never
touched. A failing notebook stops the run: its partly executed copy is
written, nothing is rendered, and the message names the notebook and cell.

Rendering (both targets): Sphinx with myst-nb (stored outputs, nothing
executed), sphinx-book-theme, sphinxcontrib-bibtex and sphinx-mathjax-offline,
configured in ``book/conf.py``, writes ``OUT/html/``. Every subfolder
``notebooks/<lang>/`` holding notebooks is a translation and becomes
``OUT/html/<lang>/``, rendered from its committed outputs. Warnings are
errors (``-W --keep-going -n``): a broken reference, a missing image or an
unknown citation fails the build.

Everything is checked before anything is executed, deleted or rendered: each
language's title page, the bibliography, the translation catalogs
(``translations/`` beside the notebooks folder; untrusted input, see
tools/translate.py) and that ``OUT/html/`` and ``OUT/.sphinx/`` are this
tool's own: it marks the folders it makes with a ``.made-by-run_notebooks``
file and never deletes a folder without one.

Usage: ``python tools/run_notebooks.py [--out build] [--notebooks notebooks]
[--fast] [--keep-answers] [--timeout SECONDS] [--no-execute | --no-html]``.
"""
from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"  # Sphinx configuration folder (conf.py, templates, extension)
ROOT_LANGUAGE = "en"  # the notebooks folder itself; its site is OUT/html/

sys.path.insert(0, str(BOOK))
import sitetools  # noqa: E402  (book/sitetools.py, the site's Sphinx extension)

sys.path.insert(0, str(ROOT / "tools"))  # translate.py, imported where catalogs exist
# In every output folder this tool makes; a folder without it is never deleted.
MARKER = ".made-by-run_notebooks"


@dataclass
class Result:
    """What happened to one notebook."""

    name: str
    seconds: float
    error: Optional[str] = None


@contextlib.contextmanager
def fast_env(fast: bool) -> Iterator[None]:
    """Set D2LMINI_FAST for the kernels only when asked; restore it afterwards."""
    old = os.environ.get("D2LMINI_FAST")
    if fast:
        os.environ["D2LMINI_FAST"] = "1"
    else:
        os.environ.pop("D2LMINI_FAST", None)
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("D2LMINI_FAST", None)
        else:
            os.environ["D2LMINI_FAST"] = old


def _describe_failure(nb: nbformat.NotebookNode, index: Optional[int], exc: Exception) -> str:
    """'cell N (code cell #k): Error: message' for the run's error message."""
    if index is None:
        return f"kernel start-up: {type(exc).__name__}: {exc}"
    cell = nb.cells[index]
    code_number = sum(c.cell_type == "code" for c in nb.cells[: index + 1])
    where = f"cell {index + 1} (code cell #{code_number})"
    for out in cell.get("outputs", []):
        if out.get("output_type") == "error":
            return f"{where}: {out.get('ename')}: {out.get('evalue')}"
    if isinstance(exc, CellTimeoutError):
        return f"{where}: timed out"
    message = str(exc).strip().splitlines()
    return f"{where}: {type(exc).__name__}: {message[-1] if message else ''}"


def run_one(src: Path, out_dir: Path, timeout: int) -> Result:
    """Execute one notebook in a fresh kernel and write the copy to ``out_dir``."""
    nb = nbformat.read(src, as_version=4)
    current: dict[str, int] = {}  # index of the cell that is running
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                            resources={"metadata": {"path": str(src.parent)}},
                            on_cell_start=lambda cell, cell_index: current.update(i=cell_index))
    start = time.perf_counter()
    error = None
    try:
        client.execute()
    except Exception as exc:  # a cell that raised, a timeout, a dead kernel
        error = _describe_failure(nb, current.get("i"), exc)
    seconds = time.perf_counter() - start
    nbformat.write(nb, out_dir / src.name)
    return Result(src.stem, seconds, error)


def is_answer(src: Path) -> bool:
    """Whether a notebook answers an exercise: its title (first heading) starts
    with "Exercise" ("# Exercise 4: ...", "# Exercises 5 and 6: ...")."""
    nb = nbformat.read(src, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            title = re.search(r"^#\s+(.*)$", cell.source, re.MULTILINE)
            if title:
                return title.group(1).startswith("Exercise")
    return False


def notebook_sources(notebooks: Path) -> list[Path]:
    """The chapter's notebooks in reading (name) order; an empty folder is an error."""
    sources = sorted(notebooks.glob("*.ipynb"))
    if not sources:
        raise SystemExit(f"no notebooks in {notebooks}")
    return sources


def run_all(notebooks: Path, out_dir: Path, fast: bool, timeout: int,
            keep_answers: bool = False) -> list[Result]:
    """Run every notebook in name order into ``out_dir``; stop at the first that fails.

    With ``keep_answers`` the answers to the exercises (:func:`is_answer`) are
    copied with their stored outputs instead, and have no result.

    The folder's other pages (``*.md``) and the figures folder next to it
    (``../img``) are copied alongside, so the copies render like the sources.
    """
    sources = notebook_sources(notebooks)
    out_dir.mkdir(parents=True, exist_ok=True)
    for page in sorted(notebooks.glob("*.md")):
        shutil.copy2(page, out_dir / page.name)
    figures = notebooks.parent / "img"
    if figures.is_dir():
        shutil.copytree(figures, out_dir.parent / "img", dirs_exist_ok=True)
    results: list[Result] = []
    with fast_env(fast):
        for k, src in enumerate(sources, start=1):
            if keep_answers and is_answer(src):
                shutil.copy2(src, out_dir / src.name)
                print(f"[{k}/{len(sources)}] {src.name} kept with its stored outputs "
                      "(an exercise answer; make run-all executes it)", flush=True)
                continue
            print(f"[{k}/{len(sources)}] {src.name} ...", flush=True)
            result = run_one(src, out_dir, timeout)
            results.append(result)
            state = "FAILED" if result.error else "done"
            print(f"[{k}/{len(sources)}] {src.name} {state} in {result.seconds:.1f} s", flush=True)
            if result.error:
                break
    return results


def translations(notebooks: Path) -> list[Path]:
    """Subfolders ``notebooks/<lang>/`` that hold notebooks, by language code
    ("zh", "pt_BR": a folder named otherwise is not a language, and its name
    never reaches the site's links and markup)."""
    return sorted(d for d in notebooks.iterdir()
                  if d.is_dir() and re.fullmatch(r"[a-z]{2,3}(?:_[A-Z]{2})?", d.name)
                  and any(d.glob("*.ipynb")))


def sphinx_language(code: str) -> str:
    """Sphinx's name for a language folder: ``zh`` -> ``zh_CN`` where Sphinx has only that."""
    import sphinx

    locales = Path(sphinx.__file__).parent / "locale"
    if code == ROOT_LANGUAGE or (locales / code).is_dir():
        return code
    regional = sorted(p.name for p in locales.glob(f"{code}_*") if p.is_dir())
    return regional[0] if regional else code


def translation_problems(notebooks: Path) -> list[str]:
    """What is wrong with the chapter's catalogs (``translations/`` beside the
    notebooks folder), from which its translated pages were written: a
    catalog that is not UTF-8 or an entry that changes the English's markup."""
    root = notebooks.parent
    if not (root / "translations").is_dir():
        return []
    try:
        from translate import unsafe_catalogs  # tools/translate.py
    except ImportError as exc:  # polib: refuse rather than render unchecked pages
        return [f"the catalogs in {root / 'translations'} cannot be checked ({exc}): "
                "install the project's test extra (`make venv`)"]
    return [line for lines in unsafe_catalogs(root).values() for line in lines]


def _not_ours(folder: Path) -> Optional[str]:
    """Why ``folder`` may not be deleted, or None when this tool made it (or it is absent)."""
    if folder.exists() and not (folder / MARKER).is_file():
        return (f"{folder} exists but was not made by this tool (it has no {MARKER} "
                "file) and building would replace it: move it away, or choose another --out")
    return None


def site_problems(notebooks: Path, sources: dict[str, Path], out: Path) -> list[str]:
    """Everything that stops the site from building, found before anything is
    executed, deleted or rendered; ``sources`` as for ``build_html``."""
    problems = []
    for code, folder in sources.items():
        # The executed English copies take their title page from the sources.
        pages = notebooks if code == ROOT_LANGUAGE else folder
        if not (pages / "index.md").is_file():
            problems.append(f"{pages / 'index.md'} is missing: each notebooks folder "
                            "needs the chapter's title page")
        if sitetools.locate_bibliography(folder) is None:
            problems.append(f"no {sitetools.BIBLIOGRAPHY} in {folder} or a folder above it: "
                            "the citations are resolved against it")
    problems += translation_problems(notebooks)
    problems += filter(None, (_not_ours(out / "html"), _not_ours(out / ".sphinx")))
    return problems


def _remove_own(folder: Path) -> None:
    """Delete ``folder`` if this tool made it; exit, deleting nothing, if it did not."""
    reason = _not_ours(folder)
    if reason:  # site_problems says so first; this guards every other caller
        raise SystemExit(f"error: {reason}")
    if folder.exists():
        shutil.rmtree(folder)


def _fresh_folder(folder: Path) -> None:
    """An empty ``folder`` marked as this tool's, replacing one this tool made."""
    _remove_own(folder)
    folder.mkdir(parents=True)
    (folder / MARKER).write_text("Made by tools/run_notebooks.py, which replaces this "
                                 "folder on every build.\n", encoding="utf-8")


def build_html(sources: dict[str, Path], out: Path) -> int:
    """Render each language's notebooks folder with Sphinx into ``out/html[/<lang>]``.

    ``sources`` maps language codes to notebooks folders, root language first,
    checked by ``site_problems``. Returns 0, or 1 when a language's build
    failed (no site is written then).
    """
    html = out / "html"
    _remove_own(html)  # no page of a removed notebook survives
    languages = ",".join(f"{code}={folder.resolve()}" for code, folder in sources.items())
    # The languages build side by side, each in its own work folder (myst-nb
    # writes a jupyter_execute/ folder beside the output), then move into place.
    started = time.perf_counter()
    _fresh_folder(out / ".sphinx")
    builds = {}
    for code, folder in sources.items():
        work = out / ".sphinx" / code
        command = [sys.executable, "-m", "sphinx", "-b", "html", "-q",
                   "-W", "--keep-going", "-n", "-E",
                   "-c", str(BOOK), "-d", str(work / "doctrees"),
                   "-D", f"language={sphinx_language(code)}",
                   "-D", f"site_language={code}",
                   "-D", f"site_languages={languages}",
                   str(folder), str(work / "html")]
        builds[code] = subprocess.Popen(command, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
    failed = []
    for code, proc in builds.items():
        messages, _ = proc.communicate()
        if messages.strip():
            print(messages.rstrip(), file=sys.stderr)
        if proc.returncode != 0:
            failed.append(code)
            print(f"error: the site for '{code}' ({sources[code]}) did not build: "
                  "every warning above is an error", file=sys.stderr)
    if failed:
        return 1
    _fresh_folder(html)
    for code in sources:
        target = html if code == ROOT_LANGUAGE else html / code
        shutil.copytree(out / ".sphinx" / code / "html", target, dirs_exist_ok=True)
        print(f"site ({code}) written to {target}", flush=True)
    print(f"site built in {time.perf_counter() - started:.1f} s", flush=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build", help="output folder")
    parser.add_argument("--notebooks", type=Path, default=ROOT / "notebooks",
                        help="folder of .ipynb files, run in name order")
    parser.add_argument("--fast", action="store_true",
                        help="set D2LMINI_FAST=1 (the test suite's small recipe)")
    parser.add_argument("--keep-answers", action="store_true",
                        help="copy the exercise answers with their stored outputs "
                             "instead of executing them (make run)")
    parser.add_argument("--timeout", type=int, default=3600,
                        help="seconds one cell may run (default 3600)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--no-execute", action="store_true",
                      help="render the committed notebooks with their stored outputs (make site)")
    mode.add_argument("--no-html", action="store_true",
                      help="execute only; render no website")
    args = parser.parse_args(argv)
    notebooks, out = args.notebooks.resolve(), args.out.resolve()

    notebook_sources(notebooks)  # exits when there are none
    english = notebooks if args.no_execute else out / "notebooks"
    sources = {ROOT_LANGUAGE: english}
    sources.update({folder.name: folder for folder in translations(notebooks)})
    if not args.no_html:
        problems = site_problems(notebooks, sources, out)
        for problem in problems:
            print(f"error: {problem}", file=sys.stderr)
        if problems:
            return 1
    if not args.no_execute:
        mode_name = "fast (D2LMINI_FAST=1)" if args.fast else "full"
        print(f"running {args.notebooks} into {args.out / 'notebooks'}, {mode_name} mode",
              flush=True)
        results = run_all(notebooks, english, args.fast, args.timeout, args.keep_answers)
        failed = [r for r in results if r.error]
        if failed:
            r = failed[0]
            print(f"error: {args.notebooks / (r.name + '.ipynb')} failed in {r.error}\n"
                  f"partial output: {english / (r.name + '.ipynb')}", file=sys.stderr)
            return 1
        total = sum(r.seconds for r in results)
        kept = sum(map(is_answer, notebook_sources(notebooks))) if args.keep_answers else 0
        print(f"{len(results)} notebooks executed in {total:.0f} s"
              + (f", {kept} answers kept with their stored outputs" if kept else ""), flush=True)
    if args.no_html:
        return 0
    status = build_html(sources, out)
    if status == 0:
        print(f"open {args.out / 'html' / 'index.html'}", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
