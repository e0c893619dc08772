"""The translation memory check: one English sentence, one translation.

The chapter repeats itself on purpose: each answer page opens by quoting its
exercise from the list in ``07_summary``, headings such as "Summary" recur on
every page, link texts name the same notebooks. A language's catalogs must
translate every recurring piece of English the same way, and this check makes
that hold by construction instead of by care.

Each translated entry (msgid and msgstr) is cut into *units* that both sides
have by construction, by MyST's own markdown-it parser (the one of
``catalog_safety``):

* **blocks**: every paragraph and heading, also inside list items and
  blockquotes, and every table cell; the pairs are taken in order, and only
  when the two texts have the same block structure (a translator may restyle,
  and then the entry has no block units);
* **exercise items**: an item of the exercise list ("N. text
  ([answer](…))") and the exercise quoted at the top of its answer page
  ("> **Exercise N.** text") are blocks that the normalisation below makes
  one unit;
* **link and image texts**: the text of a link (or an image's alt text) in a
  block pair, paired by its target where each side has that target once;
* **sentences**: the sentences of a block pair, split only where both sides
  have as many sentences and each sentence pair carries the same markup (code,
  math, links: ``catalog_safety.markup``), so that a wrong alignment is
  refused rather than reported.

Markup that differs by position is normalised away on both sides: the bold
"**Exercise N.**" label and what punctuates it, the "([answer](…))" link,
blockquote markers and list indentation (the parser drops them), line breaks
and runs of spaces (and a space between two CJK characters, which a line
break leaves).

A *conflict* is an English unit that has two or more different translations
in one language; it is reported with the file and cell of every variant.
``tools/translate.py --check`` fails on one. Fuzzy, untranslated and
obsolete entries are never shown, so they are not counted.

Usage::

    python tools/translation_memory.py               # list conflicts, exit 1 if any
    python tools/translation_memory.py --language zh
"""
from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import polib

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
from catalog_safety import _parser, markup  # noqa: E402

# The label of a quoted exercise, "**Exercise 3.**", at the start of a block.
EXERCISE_LABEL = re.compile(r"^\*\*Exercises? \d+[.:]?\*\*[.:]?\s*")
# A translated label: any bold run at the start, then its punctuation.
ANY_LABEL = re.compile(r"^\*\*[^*]+\*\*[\s.:。．：、，,]*")
# The link of an exercise to its answer, "([answer](08_x.ipynb))", anywhere.
ANSWER_LINK = re.compile(r"\s*\(\[answer\]\(([^)\s]+)\)\)")
CJK = "\u2e80-\u9fff\uf900-\ufaff\uff00-\uffef\u3000-\u303f"
SPACE_IN_CJK = re.compile(rf"(?<=[{CJK}]) (?=[{CJK}])")
# A sentence ends at . ? ! (or 。？！), with the closing quotes, brackets and
# emphasis markers after it; a Latin sentence only before a space and a capital,
# a digit, code, math or a link (checked in _sentences), and not after an
# abbreviation.
ABBREVIATIONS = ("e.g.", "i.e.", "et al.", "etc.", "vs.", "cf.", "Fig.", "Eq.", "No.")
LATIN_END = re.compile(r"[.?!][\"'”’)\]*_]*(?=\s+([\"'“‘(\[*_`$¿¡]*)(\S))")
CJK_END = re.compile(r"[。？！][”’」』）)*_]*")


@dataclass(frozen=True)
class Occurrence:
    """One translated unit: where it is and how it reads (normalised)."""
    english: str
    translation: str
    file: str   # the catalog, relative to the project
    cell: str   # the entry: "cell CONTEXT", or "line N" where it has no msgctxt


@dataclass(frozen=True)
class Conflict:
    """An English unit with more than one translation in a language."""
    language: str
    english: str
    variants: Tuple[Tuple[str, Tuple[Tuple[str, str], ...]], ...]  # (translation, ((file, cell), ...))

    def lines(self) -> List[str]:
        out = [f"{self.language}: {len(self.variants)} translations of the English "
               f"{_short(self.english)!r}:"]
        for text, where in self.variants:
            places = ", ".join(f"{file} {cell}" for file, cell in where)
            out.append(f"    {places}: {_short(text)!r}")
        return out


def _short(text: str, width: int = 160) -> str:
    return text if len(text) <= width else text[:width - 3] + "..."


def normalise(text: str) -> str:
    """Inline Markdown with line breaks, runs of spaces and the space a line
    break leaves between CJK characters made one canonical form."""
    text = re.sub(r"\s+", " ", text).strip()
    return SPACE_IN_CJK.sub("", text)


def _blocks(text: str) -> List[Tuple[tuple, str]]:
    """(structure, inline source) of every paragraph, heading and table cell.
    The structure is the chain of containers down to the block (blockquote,
    list item, ...), without the list numbers."""
    out, stack = [], []
    for token in _parser().parse(text, {}):
        if token.nesting == 1:
            stack.append(token.tag or token.type)
        elif token.nesting == -1 and stack:
            stack.pop()
        elif token.type == "inline":
            out.append((tuple(stack), token.content))
    return out


def _strip_position_markup(english: str, translated: str) -> Tuple[str, str]:
    """Both texts without the exercise label and the answer link."""
    label = EXERCISE_LABEL.match(english)
    if label:
        english = english[label.end():]
        translated = ANY_LABEL.sub("", translated, count=1)
    for target in ANSWER_LINK.findall(english):
        translated = re.sub(
            rf"\s*[(（]\s*\[[^\]]*\]\({re.escape(target)}\)\s*[)）]", "", translated)
    english = ANSWER_LINK.sub("", english)
    return normalise(english), normalise(translated)


def _link_texts(text: str) -> Dict[str, List[str]]:
    """{target: [text of each link or image alt with that target]}."""
    found: Dict[str, List[str]] = defaultdict(list)
    # A target holds no brackets or parentheses: the match fails at once
    # instead of rescanning the rest of the text from every "[" (quadratic).
    for m in re.finditer(r"!?\[((?:[^\[\]]|\[[^\[\]]*\])*)\]\(([^()\[\]\s]+)\)", text):
        found[m.group(2)].append(normalise(m.group(1)))
    return found


def _sentences(text: str) -> List[str]:
    cjk = re.search(f"[{CJK}]", text) is not None
    parts, start = [], 0
    for m in (CJK_END if cjk else LATIN_END).finditer(text):
        if not cjk and (text[:m.start() + 1].endswith(ABBREVIATIONS) or not (
                set(m.group(1)) & set("`$[") or m.group(2).isupper()
                or m.group(2).isdigit() or m.group(2) == "\\")):
            continue
        parts.append(text[start:m.end()])
        start = m.end()
    parts.append(text[start:])
    return [p for p in (normalise(p) for p in parts) if p]


def units(english: str, translated: str) -> List[Tuple[str, str]]:
    """(English, translation) of every unit the two texts share, normalised."""
    en_blocks, tl_blocks = _blocks(english), _blocks(translated)
    if [s for s, _ in en_blocks] != [s for s, _ in tl_blocks]:
        return []
    out = []
    for (_, en), (_, tl) in zip(en_blocks, tl_blocks):
        en, tl = _strip_position_markup(en, tl)
        if not en:
            continue
        out.append((en, tl))
        en_links, tl_links = _link_texts(en), _link_texts(tl)
        for target, texts in en_links.items():
            if len(texts) == 1 and len(tl_links.get(target, ())) == 1 and texts[0]:
                out.append((texts[0], tl_links[target][0]))
        en_sents, tl_sents = _sentences(en), _sentences(tl)
        if len(en_sents) > 1 and len(en_sents) == len(tl_sents) and all(
                markup(a) == markup(b) for a, b in zip(en_sents, tl_sents)):
            out.extend(zip(en_sents, tl_sents))
    return list(dict.fromkeys(out))


def catalog_occurrences(po: polib.POFile, file: str) -> List[Occurrence]:
    """Every unit of every entry a reader is shown (translated, not fuzzy)."""
    return [Occurrence(en, tl, file, f"cell {entry.msgctxt}" if entry.msgctxt
                       else f"line {entry.linenum}")
            for entry in po
            if entry.msgstr and not entry.obsolete and "fuzzy" not in entry.flags
            for en, tl in units(entry.msgid, entry.msgstr)]


def find_conflicts(occurrences: Iterable[Occurrence], language: str) -> List[Conflict]:
    """The English units of one language that have more than one translation."""
    by_english: Dict[str, Dict[str, List[Tuple[str, str]]]] = defaultdict(dict)
    for occ in occurrences:
        places = by_english[occ.english].setdefault(occ.translation, [])
        if (occ.file, occ.cell) not in places:
            places.append((occ.file, occ.cell))
    return [Conflict(language, english, tuple((text, tuple(where))
                                              for text, where in sorted(variants.items())))
            for english, variants in sorted(by_english.items()) if len(variants) > 1]


def _read(path: Path) -> Optional[polib.POFile]:
    """A catalog, or None where it is not readable UTF-8 (the safety check of
    tools/translate.py reports that one)."""
    try:
        text = path.read_bytes().decode("utf-8")
        if path.is_symlink() or "\n" not in text:
            return None  # not a catalog: the safety check of translate.py says so
        return polib.pofile(text, wrapwidth=78)
    except (OSError, ValueError):
        return None


def conflicts(root: Path = ROOT, only: Optional[Sequence[str]] = None,
              skip: Sequence[Path] = ()) -> List[Conflict]:
    """Every conflict in the committed catalogs of ``root`` (the languages in
    ``only``, when given; catalogs in ``skip`` left out)."""
    base = root / "translations"
    found = []
    for folder in sorted(base.glob("*/LC_MESSAGES")) if base.is_dir() else []:
        language = folder.parent.name
        if only and language not in only:
            continue
        occurrences = []
        for path in sorted(folder.glob("*.po")):
            po = None if path in skip else _read(path)
            if po is not None:
                occurrences += catalog_occurrences(po, path.relative_to(root).as_posix())
        found += find_conflicts(occurrences, language)
    return found


def problems(root: Path = ROOT, only: Optional[Sequence[str]] = None,
             skip: Sequence[Path] = ()) -> List[str]:
    """The conflicts as lines for ``tools/translate.py --check``."""
    return [line for c in conflicts(root, only, skip) for line in
            [f"translation memory: {c.lines()[0]} (use one wording everywhere)",
             *c.lines()[1:]]]


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python tools/translation_memory.py",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--language", metavar="LANG", action="append",
                        help="only this language (repeatable)")
    parser.add_argument("--root", type=Path, default=ROOT)
    args = parser.parse_args(argv)
    found = problems(args.root.resolve(), only=args.language)
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
