"""references.bib: well-formed BibTeX, and in step with the notebooks' citations.

Every {cite:p}`key` / {cite:t}`key` in a markdown cell of notebooks/*.ipynb must
name an entry of references.bib, and every entry must be cited somewhere.
"""
import json
import re
from pathlib import Path

import pytest

pybtex_database = pytest.importorskip("pybtex.database")

ROOT = Path(__file__).resolve().parents[1]
BIB = ROOT / "references.bib"
CITE = re.compile(r"\{cite:(?:p|t|ps|ts|alp|empty)\}`([^`]*)`")
# Fields a reader needs to find the work, by entry type.
REQUIRED = {
    "inproceedings": ("author", "title", "booktitle", "year", "pages"),
    "article": ("author", "title", "journal", "year"),
    "misc": ("author", "title", "howpublished", "year"),
}
# The works the chapter cites (the shared list of keys).
CHAPTER_KEYS = {
    "he2016deep", "he2016identity", "xie2017aggregated", "srivastava2015highway",
    "szegedy2015going", "ioffe2015batch", "xiao2017fashion", "smith2019super",
    "szegedy2016rethinking", "wu2018shift", "radosavovic2020designing",
    "zalando2017benchmark", "balduzzi2017shattered", "veit2016residual",
    "goyal2017accurate", "chen2016net2net", "vaswani2017attention",
    "li2018visualizing",
}


@pytest.fixture(scope="module")
def bib():
    return pybtex_database.parse_file(str(BIB), bib_format="bibtex")


def cited_keys(notebooks=None) -> dict[str, set[str]]:
    """key -> the notebooks whose markdown cells cite it."""
    out: dict[str, set[str]] = {}
    for path in notebooks or sorted((ROOT / "notebooks").glob("*.ipynb")):
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        for cell in cells:
            if cell["cell_type"] != "markdown":
                continue
            for group in CITE.findall("".join(cell["source"])):
                for key in group.split(","):
                    out.setdefault(key.strip(), set()).add(path.name)
    return out


def test_cite_pattern_reads_single_and_multiple_keys(tmp_path):
    nb = {"cells": [
        {"cell_type": "markdown", "source": ["see {cite:p}`a2020x` and\n",
                                             "{cite:t}`b2019y, c2018z`"]},
        {"cell_type": "code", "source": ["# {cite:p}`not_markdown`"]}]}
    path = tmp_path / "x.ipynb"
    path.write_text(json.dumps(nb))
    assert set(cited_keys([path])) == {"a2020x", "b2019y", "c2018z"}


def test_bib_holds_the_chapter_keys(bib):
    assert CHAPTER_KEYS <= set(bib.entries)


@pytest.mark.parametrize("key", sorted(CHAPTER_KEYS))
def test_entry_is_complete(bib, key):
    entry = bib.entries[key]
    assert entry.type in REQUIRED, f"{key}: unexpected entry type {entry.type}"
    fields = {name.lower() for name in entry.fields} | set(entry.persons)
    missing = [f for f in REQUIRED[entry.type] if f not in fields]
    assert not missing, f"{key} lacks {missing}"
    assert re.fullmatch(r"(19|20)\d\d", entry.fields["year"]), entry.fields["year"]
    assert str(entry.fields["year"]) in key, f"{key}: year {entry.fields['year']}"
    if "eprint" in entry.fields:  # arXiv identifiers, new style
        assert re.fullmatch(r"\d{4}\.\d{4,5}", entry.fields["eprint"]), key
    if "pages" in entry.fields:
        assert re.fullmatch(r"\d+(--\d+)?", entry.fields["pages"]), key


def test_first_authors_match_the_keys(bib):
    for key in CHAPTER_KEYS - {"zalando2017benchmark"}:
        last = bib.entries[key].persons["author"][0].last_names[0]
        assert key.startswith(last.lower()), (key, last)


def test_every_citation_is_in_the_bib(bib):
    cited = cited_keys()
    unknown = {k: sorted(v) for k, v in cited.items() if k not in bib.entries}
    assert not unknown, f"cited but not in references.bib: {unknown}"


def test_every_bib_entry_is_cited(bib):
    uncited = sorted(set(bib.entries) - set(cited_keys()))
    assert not uncited, f"in references.bib but cited by no notebook: {uncited}"


def test_summary_holds_the_bibliography_directive():
    cells = json.loads((ROOT / "notebooks" / "07_summary.ipynb").read_text())["cells"]
    text = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    assert re.search(r"^## References\s*\n+```\{bibliography\}\s*\n```", text, re.M)
