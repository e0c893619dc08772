"""Translate the chapter with gettext catalogs (``make translations``).

The English notebooks are the only source. For every notebook
``notebooks/NAME.ipynb`` (and the book's title page ``notebooks/index.md``)
this tool

1. extracts its markdown cells into the template
   ``translations/templates/NAME.pot`` (one entry per cell, the cell id as
   ``msgctxt``, so two equal cells stay two entries; for a Markdown page one
   entry per paragraph, fenced blocks such as the table of contents are
   copied as they are);
2. merges the template into every language's catalog
   ``translations/LANG/LC_MESSAGES/NAME.po`` as ``msgmerge --previous`` does:
   an unchanged cell keeps its translation, a changed cell keeps its old
   translation marked fuzzy (with the previous English text beside it), a new
   cell arrives untranslated, and a deleted cell's entry becomes obsolete;
   The words of a notebook's stored plots (SVG outputs whose labels are
   text, d2lmini/display.py) are entries too, context ``plot label``, one per
   label and notebook;
3. writes ``notebooks/LANG/NAME.ipynb`` (and ``notebooks/LANG/index.md``):
   the English notebook with each
   markdown cell replaced by its translation and relative links re-pointed
   one folder up (a figure ``img/NAME.svg`` to the language's own
   ``img/LANG/NAME.svg`` where tools/make_figures.py drew one; the catalogs
   keep the English target); code cells, outputs and cell ids are copied
   unchanged, except the words of the plots, which are replaced by their
   translations.

``--check`` writes nothing and lists every problem: a template or a
translated notebook that differs from what the tool would write, a catalog
that is refused (below), any entry that is missing, untranslated, fuzzy
or obsolete, and any piece of English that a language translates two ways
(tools/translation_memory.py).
A cell that has no translation yet (or only a fuzzy one) is
written in English, so a reader never gets an older edition of a cell, and
the check fails until a translator has caught up. Such a notebook lists
those cells in its metadata, ``"translation": {"shown_in_english": [{"cell":
ID, "reason": "untranslated" | "fuzzy"}, ...]}`` (absent when every cell is
translated); the site tells the reader from it (book/sitetools.py).

Catalogs are read and written with polib; any PO editor, Weblate or the
gettext tools work on them too.

A catalog is untrusted input (translations come from outside the core
team): a translation may change the prose, never the markup
(tools/catalog_safety.py), and a catalog is UTF-8 with ``charset=UTF-8`` in
its header. An unsafe entry or a catalog in another encoding is refused by
name: ``--check`` lists it, and nothing is written until it is fixed (this
tool never re-encodes a catalog).

Usage::

    python tools/translate.py                 # update templates, catalogs, notebooks
    python tools/translate.py --check         # exit 1 and list problems
    python tools/translate.py --add-language zh
    python tools/translate.py --language zh   # one language only
    python tools/translate.py --prune         # also drop obsolete entries
"""
from __future__ import annotations

import argparse
import copy
import html
import os
import re
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import nbformat
import polib

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))  # also when this file is loaded by path (the tests)
from catalog_safety import (control_characters, label_problems,  # noqa: E402
                            markup_changes, text_width)
from translation_memory import problems as memory_conflicts  # noqa: E402

# Markdown links and images, ![alt](target) / [text](target), and HTML src/href.
MD_TARGET = re.compile(r'(\]\()([^)\s]+)')
HTML_TARGET = re.compile(r'((?:src|href)=")([^"]+)')


def _sources(root: Path) -> List[Path]:
    """The English documents: every notebook and the Markdown pages beside them."""
    folder = root / "notebooks"
    return sorted(folder.glob("*.ipynb")) + sorted(folder.glob("*.md"))


def _md_blocks(text: str) -> List[str]:
    """A Markdown page cut into paragraphs; a fenced block stays one piece."""
    blocks, current, fenced = [], [], False
    for line in text.split("\n"):
        if line.startswith("```"):
            fenced = not fenced
        if not line.strip() and not fenced:
            if current:
                blocks.append("\n".join(current))
            current = []
            continue
        current.append(line)
    if current:
        blocks.append("\n".join(current))
    return blocks


def _md_units(path: Path) -> List[tuple]:
    """(context, paragraph, block index) for a Markdown page's prose; the
    paragraphs are numbered among themselves, so adding an example or a
    directive block (copied, never translated) renumbers nothing."""
    blocks = _md_blocks(path.read_text(encoding="utf-8"))
    prose = [(i, block) for i, block in enumerate(blocks) if not block.startswith("```")]
    return [(f"paragraph-{n}", block, i) for n, (i, block) in enumerate(prose)]


def _units(path: Path) -> List[tuple]:
    """(context, English text, index) for every piece a translator translates."""
    if path.suffix == ".md":
        return [(context, block, i) for context, block, i in _md_units(path)]
    nb = nbformat.read(str(path), as_version=4)
    units = [(cell.id, cell.source, i) for i, cell in enumerate(nb.cells)
             if cell.cell_type == "markdown" and cell.source.strip()]
    seen = set()
    for i, label in _plot_labels(nb):
        if label not in seen:  # one entry per label and notebook
            seen.add(label)
            units.append((PLOT_LABEL, label, i))
    return units


# The words of the stored plots. d2lmini shows a figure in Jupyter as SVG whose
# labels are text (d2lmini/display.py): matplotlib writes each title, axis
# label, legend entry and tick as <text ...>WORDS</text>, escaped; math and
# scientific ticks come as <tspan>s, and ticks have no letters: neither is a
# unit. Every label of a notebook is one catalog entry of this context.
PLOT_LABEL = "plot label"
SVG = "image/svg+xml"
SVG_TEXT = re.compile(r"(<text\b[^>]*>)([^<]*)(</text>)")


def _svg_outputs(cell) -> List[dict]:
    return [out for out in cell.get("outputs", [])
            if isinstance(out.get("data"), dict) and SVG in out["data"]]


def _label(escaped: str) -> Optional[str]:
    """The plot label an SVG <text> holds, or None for a number or a blank."""
    label = html.unescape(escaped).strip()
    return label if any(c.isalpha() for c in label) else None


def _plot_labels(nb) -> List[tuple]:
    """(cell index, label) for every word-bearing <text> of the SVG outputs."""
    found = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        for out in _svg_outputs(cell):
            for match in SVG_TEXT.finditer(out["data"][SVG]):
                label = _label(match.group(2))
                if label:
                    found.append((i, label))
    return found


SVG_SIZE = re.compile(r'<svg\b[^>]*?\bwidth="([0-9.]+)pt"[^>]*?\bviewBox="0 0 ([0-9.]+) ([0-9.]+)"')
UNROTATED_START = re.compile(r'font-size: ([0-9.]+)px;[^"]*text-anchor: start" x="([-0-9.]+)" '
                             r'y="[-0-9.]+" transform="rotate\(-0 ')


def translate_svg(svg: str, labels: Dict[str, str]) -> tuple:
    """``svg`` with each label found in ``labels`` replaced (XML-escaped), and
    the labels it left in English. A translation longer than the English may
    run past the right edge (a legend beside the axes): the drawing is then
    widened to hold it, never cut."""
    missing: List[str] = []
    right = 0.0

    def fix(match: re.Match) -> str:
        nonlocal right
        label = _label(match.group(2))
        if label is None:
            return match.group(0)
        if label not in labels:
            missing.append(label)
            return match.group(0)
        start = UNROTATED_START.search(match.group(1))
        if start:  # text that grows to the right only
            size, x = float(start.group(1)), float(start.group(2))
            right = max(right, x + text_width(labels[label], size))
        escaped = html.escape(labels[label], quote=False)
        return match.group(1) + escaped + match.group(3)
    svg = SVG_TEXT.sub(fix, svg)
    size = SVG_SIZE.search(svg)
    if size and right > float(size.group(2)):
        width, view = float(size.group(1)), float(size.group(2))
        # A little margin; never more than half as wide again (a label is
        # checked against 3 times the English width, this bounds the rest).
        grown = round(min(right + 4, 1.5 * view), 2)
        svg = (svg[:size.start()] + size.group(0)
               .replace(f'width="{size.group(1)}pt"', f'width="{width * grown / view:g}pt"')
               .replace(f'viewBox="0 0 {size.group(2)} ', f'viewBox="0 0 {grown:g} ')
               + svg[size.end():])
    return svg, missing


def languages(root: Path = ROOT) -> List[str]:
    """The languages that have a catalog folder."""
    base = root / "translations"
    return sorted(p.name for p in base.iterdir()
                  if (p / "LC_MESSAGES").is_dir()) if base.is_dir() else []


# -- templates ------------------------------------------------------------


def _new_catalog(language: Optional[str] = None) -> polib.POFile:
    po = polib.POFile(wrapwidth=78)
    po.metadata = {"Project-Id-Version": "d2lmini ResNet chapter",
                   "MIME-Version": "1.0",
                   "Content-Type": "text/plain; charset=UTF-8",
                   "Content-Transfer-Encoding": "8bit"}
    if language:
        po.metadata["Language"] = language
    return po


def extract(path: Path, root: Path = ROOT) -> polib.POFile:
    """The template of one document: an entry per markdown cell (notebook)
    or paragraph (Markdown page)."""
    pot = _new_catalog()
    rel = path.relative_to(root).as_posix()
    for context, text, index in _units(path):
        pot.append(polib.POEntry(msgctxt=context, msgid=text, msgstr="",
                                 occurrences=[(rel, str(index))]))
    return pot


# -- merging --------------------------------------------------------------


def _similar(old: str, new: str) -> bool:
    """Whether ``new`` reads as a revision of ``old`` (half its text or more in
    common, as difflib counts it), so that the old translation helps."""
    import difflib
    if max(len(old), len(new)) > 20000:  # no cell is this long: no revision
        return False
    matcher = difflib.SequenceMatcher(None, old, new)
    return (matcher.real_quick_ratio() >= 0.5 and matcher.quick_ratio() >= 0.5
            and matcher.ratio() >= 0.5)


def merge(po: polib.POFile, pot: polib.POFile, prune: bool = False) -> polib.POFile:
    """``po`` brought up to ``pot``, as ``msgmerge --previous`` would."""
    by_key = {(e.msgctxt, e.msgid): e for e in po if not e.obsolete}
    # A cell is known by its id even when its text changed; plot labels share
    # one context, so a label is known only by its words.
    by_ctxt = {e.msgctxt: e for e in po if not e.obsolete and e.msgctxt != PLOT_LABEL}
    by_text = {e.msgid: e for e in po if not e.obsolete and e.msgctxt != PLOT_LABEL
               and e.msgstr and "fuzzy" not in e.flags}
    out = _new_catalog(po.metadata.get("Language"))
    out.metadata.update(po.metadata)
    used = set()
    for ref in pot:
        entry = polib.POEntry(msgctxt=ref.msgctxt, msgid=ref.msgid, msgstr="",
                              occurrences=list(ref.occurrences))
        same = by_key.get((ref.msgctxt, ref.msgid))
        if same is None and ref.msgctxt != PLOT_LABEL:
            # The same English under another context (a paragraph renumbered,
            # a cell given a new id): its translation still holds.
            same = by_text.get(ref.msgid)
        moved = by_ctxt.get(ref.msgctxt) if same is None else None
        if moved is not None and not _similar(moved.msgid, ref.msgid):
            moved = None  # another text altogether: start afresh
        if same is not None:
            entry.msgstr, entry.flags = same.msgstr, list(same.flags)
            entry.previous_msgid = same.previous_msgid
            entry.tcomment = same.tcomment
            used.add(id(same))
        elif moved is not None and moved.msgstr:
            # The English cell changed: keep the old translation for the
            # translator to revise, but never show it as current.
            entry.msgstr, entry.flags = moved.msgstr, ["fuzzy"]
            entry.previous_msgid = moved.previous_msgid or moved.msgid
            entry.tcomment = moved.tcomment
            used.add(id(moved))
        out.append(entry)
    if not prune:
        for old in po:
            if id(old) not in used and old.msgstr and not old.obsolete:
                gone = copy.copy(old)
                gone.obsolete = True
                out.append(gone)
            elif old.obsolete:
                out.append(old)
    return out


# -- translated notebooks -----------------------------------------------------


# A figure of the chapter as notebooks/LANG/ sees it; tools/make_figures.py
# draws each language's own copy into img/LANG/.
FIGURE = re.compile(r"\.\./\.\./img/([\w.-]+\.svg)")


def _relink(text: str, language: Optional[str] = None, root: Path = ROOT) -> str:
    """Relative link targets seen from notebooks/LANG/ instead of notebooks/;
    with ``language``, a figure ``img/NAME.svg`` becomes ``img/LANG/NAME.svg``
    where that file exists (the catalogs keep the English target)."""
    def fix(match: re.Match) -> str:
        target = match.group(2)
        if re.match(r"^([a-z][a-z0-9+.-]*:|#|/)", target, re.I) or not target.startswith("../"):
            return match.group(0)  # URLs, anchors, absolute paths, sibling notebooks
        target = "../" + target
        figure = FIGURE.fullmatch(target)
        if (language and LANGUAGE_CODE.fullmatch(language) and figure
                and (root / "img" / language / figure.group(1)).is_file()):
            target = f"../../img/{language}/{figure.group(1)}"
        return match.group(1) + target
    return HTML_TARGET.sub(fix, MD_TARGET.sub(fix, text))


# The translated notebook's metadata key listing the cells shown in English
# (book/sitetools.py reads it: the page says so and marks those cells).
TRANSLATION_METADATA = "translation"
# The same record on a Markdown page: its first line, a MyST comment.
MD_RECORD = "% translation shown_in_english:"


def shown_in_english(entry: Optional[polib.POEntry]) -> Optional[str]:
    """Why a markdown cell is shown in English ("untranslated" or "fuzzy"),
    or None when its translation is current."""
    if entry is None or not entry.msgstr:
        return "untranslated"
    return "fuzzy" if "fuzzy" in entry.flags else None


def translated_cell_text(entry: Optional[polib.POEntry], english: str,
                         language: Optional[str] = None, root: Path = ROOT) -> str:
    """What a reader gets for one markdown cell (in ``language``: its figures)."""
    if entry is None or not entry.msgstr or "fuzzy" in entry.flags:
        return _relink(english, language, root)
    return _relink(entry.msgstr, language, root)


def build_document(path: Path, po: polib.POFile) -> str:
    """The translated document's text (nbformat JSON, or Markdown)."""
    entries = {(e.msgctxt, e.msgid): e for e in po if not e.obsolete}
    # notebooks/NAME.ipynb: the project is the folder above notebooks/
    language, root = po.metadata.get("Language"), path.resolve().parents[1]
    if path.suffix == ".md":
        out = _md_blocks(path.read_text(encoding="utf-8"))
        english = []
        for context, block, i in _md_units(path):
            entry = entries.get((context, block))
            if shown_in_english(entry):
                english.append(i)
            out[i] = translated_cell_text(entry, block, language, root)
        if not english:
            return "\n\n".join(out) + "\n"
        # The page opens with a comment (MyST's %, never rendered) giving the
        # lines of the paragraphs shown in English, for book/sitetools.py.
        starts, line = [], 3  # after the comment and its blank line
        for block in out:
            starts.append(line)
            line += block.count("\n") + 2
        ranges = " ".join(f"{starts[i]}-{starts[i] + out[i].count(chr(10))}" for i in english)
        return f"{MD_RECORD} {ranges}\n\n" + "\n\n".join(out) + "\n"
    nb = nbformat.read(str(path), as_version=4)
    labels = {e.msgid: e.msgstr for e in po if not e.obsolete and e.msgctxt == PLOT_LABEL
              and not shown_in_english(e)}
    in_english = []
    for cell in nb.cells:
        if cell.cell_type == "markdown" and cell.source.strip():
            entry = entries.get((cell.id, cell.source))
            reason = shown_in_english(entry)
            if reason:
                in_english.append({"cell": cell.id, "reason": reason})
            cell.source = translated_cell_text(entry, cell.source, language, root)
        missing = []
        for out in _svg_outputs(cell):
            out["data"][SVG], left = translate_svg(out["data"][SVG], labels)
            missing += left
        if any("image/png" in out.get("data", {}) and SVG not in out["data"]
               for out in cell.get("outputs", [])):
            missing.append(None)  # a picture whose words cannot be translated
        if missing:  # a plot with a label not (or no longer) translated
            reasons = {shown_in_english(entries.get((PLOT_LABEL, m))) if m else "untranslated"
                       for m in missing}
            in_english.append({"cell": cell.id,
                               "reason": "fuzzy" if reasons == {"fuzzy"} else "untranslated"})
    nb.metadata.pop(TRANSLATION_METADATA, None)
    if in_english:  # a complete translation carries no such record
        nb.metadata[TRANSLATION_METADATA] = {"shown_in_english": in_english}
    return nbformat.writes(nb) + "\n"


# -- untrusted catalogs -------------------------------------------------------


class CatalogError(Exception):
    """A catalog this tool refuses to read or to build from; says why and what to do."""


def _rel(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)


def read_catalog(path: Path, root: Path = ROOT) -> polib.POFile:
    """A catalog as polib reads it, if it is UTF-8 and says so.

    polib decodes a catalog with the charset its header declares, and this
    tool writes UTF-8: a catalog in any other encoding, or one whose header
    misstates it, would be re-encoded (or mangled) on every run.
    """
    rel = _rel(path, root)
    if path.is_symlink() or not path.resolve().is_relative_to(root.resolve()):
        raise CatalogError(f"{rel}: is a link or lies outside the project; a catalog must be "
                           "a plain file in translations/LANG/LC_MESSAGES/")
    raw = path.read_bytes()
    found = re.search(rb"Content-Type:[^\"\n]*charset=([^\s\"\\]+)", raw)
    declared = found.group(1).decode("ascii", "replace") if found else "UTF-8"
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        if declared.lower() not in ("utf-8", "utf8"):
            raise CatalogError(
                f"{rel}: its header declares charset={declared} and its text is not "
                "UTF-8, but catalogs are UTF-8: convert it "
                "(`msgconv --to-code=UTF-8`, or save it as UTF-8 in your PO editor); "
                "this tool does not rewrite it") from None
        line = raw[:exc.start].count(b"\n") + 1
        raise CatalogError(
            f"{rel}:{line}: is not valid UTF-8 (byte {raw[exc.start]:#04x}) although its "
            "header says so: convert it to UTF-8 from the encoding it was saved in "
            "(e.g. `iconv -f ISO-8859-9 -t UTF-8`); this tool does not rewrite it") from None
    if declared.lower() not in ("utf-8", "utf8"):
        raise CatalogError(
            f"{rel}: its header declares charset={declared}, but its text is UTF-8, as "
            "catalogs must be: correct the header to charset=UTF-8 without converting "
            "the text (converting would garble it); this tool does not rewrite it")
    po = parse_catalog_text(text, rel)
    language = po.metadata.get("Language")
    folder = path.parent.parent.name if path.parent.name == "LC_MESSAGES" else None
    if language is not None and (not LANGUAGE_CODE.fullmatch(language)
                                 or (folder is not None and language != folder)):
        raise CatalogError(f"{rel}: its header says Language: {language!r}, but a catalog in "
                           f"translations/{folder}/ must say Language: {folder}; correct the "
                           "header")
    return po


# A language code as folders, links and the site use it: "zh", "pt_BR".
LANGUAGE_CODE = re.compile(r"[a-z]{2,3}(?:_[A-Z]{2})?")


def parse_catalog_text(text: str, rel: str) -> polib.POFile:
    """polib's reading of a catalog's text, refusing text that is not one.

    polib takes any string that names an existing file for that file's name;
    a catalog whose whole content is a path would make it read another file.
    """
    if "\n" not in text or os.path.exists(text.strip()):
        raise CatalogError(f"{rel}: is not a PO file (its content is one line, "
                           "or names a file)")
    try:
        return polib.pofile(text, wrapwidth=78)
    except (OSError, ValueError) as exc:  # polib's word for a syntax error
        raise CatalogError(f"{rel}: is not a readable PO file: {exc}") from None


def _catalogs(root: Path, only: Optional[Sequence[str]] = None) -> List[Path]:
    return [path for lang in languages(root) if not only or lang in only
            for path in sorted((root / "translations" / lang / "LC_MESSAGES").glob("*.po"))]


def unsafe_catalogs(root: Path = ROOT,
                    only: Optional[Sequence[str]] = None) -> Dict[Path, List[str]]:
    """Every catalog that is unreadable, not UTF-8, or has an entry that
    changes markup, with one line per problem (file, line, entry, what changed)."""
    found: Dict[Path, List[str]] = {}
    for path in _catalogs(root, only):
        try:
            po = read_catalog(path, root)
        except CatalogError as exc:
            found[path] = [str(exc)]
            continue
        for e in po:
            # Fuzzy and obsolete entries are never shown: the English is.
            if e.obsolete or not e.msgstr or "fuzzy" in e.flags:
                continue
            if e.msgctxt == PLOT_LABEL:
                changes = label_problems(e.msgid, e.msgstr)
                rule = "a plot label is one line of plain words that keeps the English's numbers"
            else:
                changes = markup_changes(e.msgid, e.msgstr)
                rule = ("a translation may change the prose only: keep the English's "
                        "markup as it is")
                controls = control_characters(e.msgstr)
                if controls:
                    changes.append(f"has control characters ({' '.join(controls)}; a carriage "
                                   "return would shift every later line)")
            if changes:
                start = e.msgid.strip().splitlines()[0][:40] if e.msgid.strip() else ""
                found.setdefault(path, []).append(
                    f"{_rel(path, root)}:{e.linenum}: the translation of entry {e.msgctxt} "
                    f"({start!r}) {', '.join(changes)}; {rule}")
    return found


# -- the whole project --------------------------------------------------------


def _catalog_path(root: Path, lang: str, name: str) -> Path:
    return root / "translations" / lang / "LC_MESSAGES" / f"{name}.po"


def expected_files(root: Path = ROOT, prune: bool = False,
                   only: Optional[Sequence[str]] = None,
                   skip: Sequence[Path] = ()) -> Dict[Path, str]:
    """Every file this tool writes, with the text it should have (for the
    languages in ``only``, when given, and the templates); a catalog in
    ``skip`` is left out with its translated document."""
    files: Dict[Path, str] = {}
    for source in _sources(root):
        name = source.stem
        pot = extract(source, root)
        files[root / "translations" / "templates" / f"{name}.pot"] = str(pot) + "\n"
        for lang in languages(root):
            if only and lang not in only:
                continue
            path = _catalog_path(root, lang, name)
            if path in skip:
                continue
            current = read_catalog(path, root) if path.exists() else _new_catalog(lang)
            po = merge(current, pot, prune=prune)
            files[path] = str(po) + "\n"
            files[root / "notebooks" / lang / source.name] = build_document(source, po)
    return files


def problems(root: Path = ROOT, only: Optional[Sequence[str]] = None) -> List[str]:
    """Everything a translator or `make translations` still has to do."""
    unsafe = unsafe_catalogs(root, only)
    out = [line for lines in unsafe.values() for line in lines]
    # The same English unit gets the same translation (tools/translation_memory.py).
    out += memory_conflicts(root, only, skip=list(unsafe))
    # An unsafe catalog gets no "run `make translations`": that would refuse it.
    for path, text in expected_files(root, only=only, skip=list(unsafe)).items():
        rel = path.relative_to(root).as_posix()
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            out.append(f"out of date: {rel} (run `make translations`)")
        if path.suffix != ".po":
            continue
        po = polib.pofile(text, wrapwidth=78)
        for e in po:
            cell = (f"{rel}: plot label {e.msgid!r}" if e.msgctxt == PLOT_LABEL
                    else f"{rel}: cell {e.msgctxt}")
            if e.obsolete:
                out.append(f"{cell} is obsolete (the English cell is gone; "
                           "run `python tools/translate.py --prune`)")
            elif "fuzzy" in e.flags:
                out.append(f"{cell} is fuzzy (the English cell changed; revise "
                           "the translation and remove the fuzzy flag)")
            elif not e.msgstr:
                out.append(f"{cell} is not translated")
    return out


def write(root: Path = ROOT, prune: bool = False,
          only: Optional[Sequence[str]] = None) -> List[Path]:
    """Write every file that is not current; refuse (CatalogError, nothing
    written) while any catalog is unsafe or not UTF-8."""
    unsafe = unsafe_catalogs(root, only)
    if unsafe:
        raise CatalogError("\n".join(line for lines in unsafe.values() for line in lines))
    changed = []
    for path, text in expected_files(root, prune=prune, only=only).items():
        if path.exists() and path.read_text(encoding="utf-8") == text:
            continue
        write_file(path, text, root)
        changed.append(path)
    return changed


def write_file(path: Path, text: str, root: Path = ROOT) -> None:
    """Write ``text`` to ``path`` inside the project, never through a link."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.is_symlink() or not path.parent.resolve().is_relative_to(root.resolve()):
        raise CatalogError(f"{_rel(path, root)}: is a link or lies outside the project; "
                           "nothing was written there: replace it with a plain file")
    path.write_text(text, encoding="utf-8")


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/translate.py",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 and list what is missing or out of date")
    parser.add_argument("--add-language", metavar="LANG",
                        help="start catalogs for a new language (e.g. zh, ja, tr, vi)")
    parser.add_argument("--prune", action="store_true",
                        help="drop obsolete entries from the catalogs")
    parser.add_argument("--language", metavar="LANG", action="append",
                        help="only this language's catalogs and notebooks (repeatable)")
    parser.add_argument("--root", type=Path, default=ROOT)
    args = parser.parse_args(argv)
    root = args.root.resolve()
    if args.add_language:
        if not re.fullmatch(r"[a-z]{2,3}(_[A-Z]{2})?", args.add_language):
            parser.error(f"--add-language takes a language code such as zh or pt_BR, "
                         f"got {args.add_language!r}")
        (root / "translations" / args.add_language / "LC_MESSAGES").mkdir(
            parents=True, exist_ok=True)
    if args.language:
        unknown = sorted(set(args.language) - set(languages(root)))
        if unknown:
            parser.error(f"no catalogs for {', '.join(unknown)}; start them with --add-language")
    if args.check:
        found = problems(root, only=args.language)
        for line in found:
            print(line)
        return 1 if found else 0
    try:
        written = write(root, prune=args.prune, only=args.language)
    except CatalogError as exc:
        print(f"{exc}\nerror: nothing written: fix the catalogs above first", file=sys.stderr)
        return 1
    for path in written:
        print(f"wrote {path.relative_to(root).as_posix()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
