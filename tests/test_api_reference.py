"""The examples of the site's library reference run as doctests.

The "Library reference" page (``notebooks/api.md``; ``make site`` renders its
docstrings with autodoc) ends each of its sections (``## Title``) with ``>>>``
examples in ``pycon`` fences. Each section's examples run here in order, in a
namespace of their own, with doctest's ELLIPSIS and NORMALIZE_WHITESPACE, so an
example whose output the library no longer prints fails. Sections that load
Fashion-MNIST skip where it is not installed (they never download it).
"""
import doctest
import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "notebooks" / "api.md"
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
# A section: a Markdown heading "## Title" (the page's title is "# ...").
TITLE = re.compile(r"^## (\S[^\n]*)$", re.M)
# What the page documents (autodoc, or py:data for a dict without a docstring,
# in the page's eval-rst blocks) and the module those names are relative to
# (``currentmodule``).
DOCUMENTED = re.compile(r"^\.\. (?:auto(?:class|function|exception)|py:data):: (\S+)$", re.M)
MODULE = "d2lmini"
# What the page is for: the names an engineer importing d2lmini needs.
PUBLIC = {"Trainer", "DivergenceError", "FashionMNIST", "DataModule", "DatasetNotFoundError",
          "CorruptDatasetError", "ResNet18", "ResNet", "Residual", "ResNetFamily",
          "ResNeXtBlock", "ResNet18Plus", "RECIPES", "ProgressBoard", "seed_everything",
          "CheckpointError", "d2lmini.checkpoint.load_checkpoint", "about_this_run",
          "count_parameters", "count_macs", "load_torchvision", "export_torchvision"}


def page_sections(text: str) -> dict[str, tuple[str, int]]:
    """Each section's title -> (its text, the line it starts on, from 0)."""
    found = list(TITLE.finditer(text))
    ends = [m.start() for m in found[1:]] + [len(text)]
    return {m.group(1): (text[m.start():end], text.count("\n", 0, m.start()))
            for m, end in zip(found, ends)}


def run_examples(text: str, name: str, lineno: int = 0) -> tuple[int, int, str]:
    """(failed, attempted, doctest's report) for the ``>>>`` examples in ``text``."""
    test = doctest.DocTestParser().get_doctest(text, {}, name, str(PAGE), lineno)
    runner = doctest.DocTestRunner(optionflags=FLAGS)
    report: list[str] = []
    failed, attempted = runner.run(test, out=report.append)
    return failed, attempted, "".join(report)


# The page is Markdown around eval-rst blocks (the directives) and pycon
# blocks (the examples): a fence line becomes an empty line, which ends the
# output of the example before it and is part of none.
TEXT = re.sub(r"^```.*$", "", PAGE.read_text(encoding="utf-8"), flags=re.M)
SECTIONS = page_sections(TEXT)


def test_every_example_belongs_to_a_section_that_has_some():
    assert len(SECTIONS) >= 5, list(SECTIONS)
    parser = doctest.DocTestParser()
    counts = {title: len(parser.get_examples(text)) for title, (text, _) in SECTIONS.items()}
    assert all(counts.values()), counts  # a worked example per group
    assert sum(counts.values()) == len(parser.get_examples(TEXT))  # none before the first group


def fenced_lines(text: str) -> list[tuple[str | None, str]]:
    """Each line of a Markdown page with the info string of the fence it is
    in ("pycon", "{eval-rst}"), or None outside fences; fence lines themselves
    count as inside."""
    out, fence = [], None
    for line in text.split("\n"):
        if line.startswith("```"):
            out.append((fence or line[3:].strip(), line))
            fence = None if fence is not None else line[3:].strip()
            continue
        out.append((fence, line))
    assert fence is None, "a fence is not closed"
    return out


def test_examples_and_directives_are_fenced_and_headings_are_not():
    # tools/translate.py copies fenced blocks into every language unchanged and
    # gives translators the rest: no example or directive may stand outside its
    # fence, and the sections' headings (prose to translate) stand outside all.
    lines = fenced_lines(PAGE.read_text(encoding="utf-8"))
    for fence, line in lines:
        if line.startswith((">>>", "... ")):
            assert fence == "pycon", line
        if re.match(r"\.\. \S", line):
            assert fence == "{eval-rst}", line
        if fence == "pycon" and not line.startswith("```"):
            assert line.strip(), "a blank line inside an example ends its output"
    headings = [line[3:] for fence, line in lines if fence is None and line.startswith("## ")]
    assert headings == list(SECTIONS)
    assert [line for fence, line in lines if fence is None and line.startswith("# ")] \
        == ["# Library reference"]


@pytest.mark.parametrize("title", list(SECTIONS))
def test_section_examples(title, request):
    text, lineno = SECTIONS[title]
    if "FashionMNIST(" in text:
        request.getfixturevalue("fashion_dir")  # skips when Fashion-MNIST is not installed
    failed, attempted, report = run_examples(text, f"api.md, {title}", lineno)
    assert attempted > 0
    assert failed == 0, report


def test_a_wrong_example_fails():
    # The ellipsis stands for numbers, not for anything at all.
    failed, attempted, report = run_examples(
        ">>> import d2lmini as d2l\n>>> d2l.count_parameters(d2l.Residual(3, 3))\n41\n", "wrong")
    assert (failed, attempted) == (1, 2)
    assert "Expected:\n    41" in report
    assert run_examples(">>> print('epoch 1/1: loss 0.5')\nepoch 1/1: loss ...\n", "ok")[:2] == (0, 1)


def test_documented_names_exist_and_cover_the_public_api():
    names = DOCUMENTED.findall(TEXT)
    assert len(names) == len(set(names)), "a name is documented twice"
    for name in names:
        path = name if name.startswith(MODULE + ".") else f"{MODULE}.{name}"
        module, _, attr = path.rpartition(".")
        assert hasattr(importlib.import_module(module), attr), path
    assert PUBLIC <= set(names), PUBLIC - set(names)
