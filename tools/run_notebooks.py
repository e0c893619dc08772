"""Execute the chapter into build/ and render it as HTML (``make run``).

Every ``notebooks/*.ipynb`` runs in name order, each in a fresh kernel whose
working directory is the notebooks folder (so relative paths behave as in
Jupyter). The executed copies go to ``OUT/NAME.ipynb``; the sources are never
touched. Each copy is also rendered to ``OUT/NAME.html`` with the figures it
links (``![...](../img/x.svg)``) embedded as data URIs, so the HTML stands on
its own. ``OUT/index.html`` lists the notebooks in reading order.

A failing notebook stops the run: its partly executed copy and HTML are still
written, the index is written, and the message names the notebook and cell.

Usage: ``python tools/run_notebooks.py [--out build] [--notebooks notebooks]
[--fast] [--timeout SECONDS]``.
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import html
import mimetypes
import os
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError
from nbconvert import HTMLExporter

ROOT = Path(__file__).resolve().parents[1]
# ![alt](target "optional title"): the target is what we embed.
MD_IMAGE = re.compile(r'(!\[[^\]]*\]\()([^)\s]+)((?:\s+"[^"]*")?\))')


@dataclass
class Result:
    """What happened to one notebook."""

    name: str
    title: str
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


def notebook_title(nb: nbformat.NotebookNode, fallback: str) -> str:
    """The first markdown heading of a notebook, without its #s."""
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        for line in cell.source.splitlines():
            if line.lstrip().startswith("#"):
                return line.strip().lstrip("#").strip() or fallback
    return fallback


def embed_markdown_images(nb: nbformat.NotebookNode, base: Path) -> nbformat.NotebookNode:
    """A copy of ``nb`` whose local markdown images are data URIs.

    nbconvert's own ``embed_images`` refuses files outside the notebook's
    folder, and the chapter's figures live in ``../img``.
    """
    def to_data_uri(match: re.Match) -> str:
        target = match.group(2)
        path = (base / target).resolve()
        if "://" in target or target.startswith("data:") or not path.is_file():
            return match.group(0)
        mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        data = base64.b64encode(path.read_bytes()).decode("ascii")
        return f"{match.group(1)}data:{mime};base64,{data}{match.group(3)}"

    nb = nbformat.from_dict(nb)  # deep copy: the executed .ipynb keeps its links
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            cell.source = MD_IMAGE.sub(to_data_uri, cell.source)
    return nb


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
    """Execute one notebook into ``out_dir`` and render its HTML."""
    nb = nbformat.read(src, as_version=4)
    title = notebook_title(nb, src.stem)
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
    body, _ = HTMLExporter().from_notebook_node(embed_markdown_images(nb, src.parent))
    (out_dir / f"{src.stem}.html").write_text(body, encoding="utf-8")
    return Result(src.stem, title, seconds, error)


def write_index(results: list[Result], out_dir: Path) -> Path:
    """``index.html``: the notebooks in reading order, with titles and links."""
    items = []
    for r in results:
        status = (f' <span class="failed">failed: {html.escape(r.error)}</span>'
                  if r.error else f" <small>({r.seconds:.0f} s)</small>")
        items.append(f'  <li><a href="{html.escape(r.name)}.html">{html.escape(r.title)}</a>'
                     f' <small>{html.escape(r.name)}.ipynb</small>{status}</li>')
    page = "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>Residual Networks (ResNet): the executed chapter</title>",
        "<style>body{font-family:sans-serif;max-width:46em;margin:2em auto;line-height:1.6}"
        ".failed{color:#b00020}</style></head><body>",
        "<h1>Residual Networks (ResNet)</h1>",
        "<ol>", *items, "</ol>",
        "</body></html>", ""])
    path = out_dir / "index.html"
    path.write_text(page, encoding="utf-8")
    return path


def run_all(notebooks: Path, out_dir: Path, fast: bool, timeout: int) -> list[Result]:
    """Run every notebook in name order; stop at the first that fails."""
    sources = sorted(notebooks.glob("*.ipynb"))
    if not sources:
        raise SystemExit(f"no notebooks in {notebooks}")
    out_dir.mkdir(parents=True, exist_ok=True)
    results: list[Result] = []
    with fast_env(fast):
        for k, src in enumerate(sources, start=1):
            print(f"[{k}/{len(sources)}] {src.name} ...", flush=True)
            result = run_one(src, out_dir, timeout)
            results.append(result)
            state = "FAILED" if result.error else "done"
            print(f"[{k}/{len(sources)}] {src.name} {state} in {result.seconds:.1f} s", flush=True)
            if result.error:
                break
    write_index(results, out_dir)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "build", help="output folder")
    parser.add_argument("--notebooks", type=Path, default=ROOT / "notebooks",
                        help="folder of .ipynb files, run in name order")
    parser.add_argument("--fast", action="store_true",
                        help="set D2LMINI_FAST=1 (the test suite's small recipe)")
    parser.add_argument("--timeout", type=int, default=3600,
                        help="seconds one cell may run (default 3600)")
    args = parser.parse_args(argv)
    mode = "fast (D2LMINI_FAST=1)" if args.fast else "full"
    print(f"running {args.notebooks} into {args.out}, {mode} mode", flush=True)
    results = run_all(args.notebooks.resolve(), args.out.resolve(), args.fast, args.timeout)
    failed = [r for r in results if r.error]
    index = args.out / "index.html"
    if failed:
        r = failed[0]
        print(f"error: {args.notebooks / (r.name + '.ipynb')} failed in {r.error}\n"
              f"partial output: {args.out / (r.name + '.ipynb')}, "
              f"{args.out / (r.name + '.html')}; index: {index}", file=sys.stderr)
        return 1
    total = sum(r.seconds for r in results)
    print(f"{len(results)} notebooks in {total:.0f} s; open {index}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
