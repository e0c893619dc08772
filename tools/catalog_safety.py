"""What a translation may not change: everything but the prose.

Translations come from outside the core team, so a catalog is untrusted
input. A translated cell may reword, reorder and restyle the English prose
(headings, lists, emphasis); everything the site renders as more than prose
must be exactly the English's: raw HTML, MyST directives with their
arguments, options and bodies, roles, math, code spans and code blocks, link
and image targets (reference definitions included), labels and footnotes.

Both texts are parsed with MyST's own markdown-it parser, configured as the
site's (``book/conf.py``) plus colon fences, so what counts as markup here is
what Sphinx renders as markup; the prose-only tokens are listed, and any other
token, including one from a future extension, has to match. A textual scan for
HTML tags (``<tag``, ``</tag``, ``<!--``) backs the parser up.
"""
from __future__ import annotations

import ast
import re
from collections import Counter
from functools import lru_cache
from pathlib import Path
from typing import Iterable, List, Tuple

from markdown_it.renderer import RendererHTML
from myst_parser.config.main import MdParserConfig
from myst_parser.parsers.mdit import create_md_parser

SITE_CONF = Path(__file__).resolve().parents[1] / "book" / "conf.py"
# Stricter than the site where it differs: `:::{name}` is a directive here
# even while the site leaves colon fences off.
ALWAYS_PARSED = {"dollarmath", "amsmath", "colon_fence"}
# Tokens that carry prose or its layout only: a translation may add, drop or
# move them. Their text is compared nowhere; every other token is markup.
PROSE_TOKENS = {
    "inline", "text", "softbreak", "hardbreak", "hr", "link_close",
    *(f"{name}_{end}" for end in ("open", "close") for name in (
        "paragraph", "heading", "em", "strong", "s", "blockquote", "bullet_list",
        "ordered_list", "list_item", "table", "thead", "tbody", "tr", "th", "td")),
}
# An HTML tag or comment as a browser would start reading one.
HTML_TAG = re.compile(r"<!--|</?[A-Za-z][A-Za-z0-9-]*")
MATH_TOKENS = {"math_inline", "math_inline_double", "math_block", "math_block_label",
               "math_block_eqno", "amsmath"}

Item = Tuple[str, str]  # (what it is, its exact text)
# Readers' names for the tokens the catch-all meets most.
NAMES = {"myst_target": "label", "myst_line_comment": "comment",
         "footnote_ref": "footnote", "myst_block_break": "block break"}


def _site_extensions() -> set:
    """``myst_enable_extensions`` of book/conf.py, read without running it."""
    try:
        tree = ast.parse(SITE_CONF.read_text(encoding="utf-8"))
    except OSError:
        return set()
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                getattr(t, "id", None) == "myst_enable_extensions" for t in node.targets):
            return set(ast.literal_eval(node.value))
    return set()


@lru_cache(maxsize=None)
def _parser():
    config = MdParserConfig(enable_extensions=ALWAYS_PARSED | _site_extensions())
    return create_md_parser(config, RendererHTML)


def _token_items(tokens) -> Iterable[Item]:
    for t in tokens:
        if t.type == "link_open":
            yield "link target", t.attrs.get("href", "")
        elif t.type == "image":
            yield "image", str(t.attrs.get("src", ""))
        elif t.type in ("fence", "colon_fence") and t.info.strip().startswith("{"):
            yield "directive", f"{t.markup}{t.info}\n{t.content}{t.markup}"
        elif t.type in ("fence", "code_block"):
            yield "code block", f"{t.info}\n{t.content}"
        elif t.type == "code_inline":
            yield "code", t.content
        elif t.type in MATH_TOKENS:
            yield "math", f"{t.content} ({t.info})" if t.info else t.content
        elif t.type == "myst_role":
            yield "role", f"{{{t.meta.get('name', '')}}}`{t.content}`"
        elif t.type in ("html_block", "html_inline"):
            yield "raw HTML", t.content.strip()
        elif t.type not in PROSE_TOKENS:
            yield t.type, " ".join(filter(None, [t.info, t.content, str(t.meta or "")]))
        if t.children:  # inline content, and an image's alt text
            yield from _token_items(t.children)


def markup(text: str) -> Counter:
    """Every piece of markup in a MyST Markdown text, as (kind, exact text)."""
    env: dict = {}
    found = Counter(_token_items(_parser().parse(text, env)))
    for label, ref in sorted(env.get("references", {}).items()):
        found["link definition", f"[{label}]: {ref['href']}"] += 1
    return found


def _html_tags(text: str) -> Counter:
    return Counter(("raw HTML", tag) for tag in HTML_TAG.findall(text))


def _show(item: Item) -> str:
    kind, value = item
    value = value.strip().replace("\n", "\\n")
    return f'{NAMES.get(kind, kind)} "{value if len(value) <= 70 else value[:67] + "..."}"'


def markup_changes(english: str, translated: str) -> List[str]:
    """How the translation's markup differs from the English's, one phrase a
    difference ('adds raw HTML "<script>"', 'drops math "x + 1"'); empty when
    the translation changed prose only."""
    en, tl = markup(english), markup(translated)
    if en == tl:  # the parser saw the same markup: look for tags it did not
        en, tl = _html_tags(english), _html_tags(translated)
        return [f"adds {_show(item)}" for item in sorted((tl - en).elements())]
    return ([f"adds {_show(item)}" for item in sorted((tl - en).elements())]
            + [f"drops {_show(item)}" for item in sorted((en - tl).elements())])


# -- words in a stored plot ----------------------------------------------------

# A plot label is one line of plain text inside an SVG <text> element
# (d2lmini/display.py): no markup, no control characters.
LABEL_FORBIDDEN = re.compile(r"[<>&\x00-\x1f\x7f]")
# A translated label may be this many times as long as the English, plus 40,
# and this many times as wide (estimated at 10 px), plus 60 px.
MAX_LABEL_FACTOR = 4
MAX_WIDTH_FACTOR = 3
# Characters that draw nothing although they are not spaces (Hangul fillers,
# the blank Braille cell): a label of them would look empty.
BLANK_LOOKING = set("\u115f\u1160\u3164\uffa0\u2800")


def text_width(text: str, size: float) -> float:
    """About how wide ``text`` is at font size ``size``: matplotlib's own font
    (DejaVu Sans) measures the narrow characters, a wide East Asian one takes
    1 em (a CJK font's width), plus 5 % for a browser's other sans-serif."""
    import unicodedata
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    narrow = "".join(c for c in text if unicodedata.east_asian_width(c) not in "WF")
    wide = len(text) - len(narrow)
    width = TextToPath().get_text_width_height_descent(
        narrow, FontProperties(family="DejaVu Sans", size=size), ismath=False)[0] if narrow else 0
    return 1.05 * (width + wide * size)


def label_problems(english: str, translated: str) -> List[str]:
    """Why ``translated`` may not stand for the plot label ``english`` (empty: it may)."""
    import unicodedata

    found = []
    # (Written escaped, < > & could do no harm; a label that has none in
    # English has no reason to gain any.)
    bad = sorted(set(LABEL_FORBIDDEN.findall(translated)) - set(english) | set(
        c for c in LABEL_FORBIDDEN.findall(translated) if ord(c) < 32 or c == "\x7f"))
    if bad:
        found.append(f"has markup, a line break or control characters "
                     f"({' '.join(map(repr, bad))})")
    if not translated.strip() or set(translated) <= BLANK_LOOKING | {" "}:
        found.append("is blank")
    # Bidi overrides and zero-width characters render out of order or
    # invisibly: they could make "56" read "65" in a legend; unassigned code
    # points, controls and U+FFFE/U+FFFF are not even valid in an SVG.
    hidden = sorted({f"U+{ord(c):04X}" for c in translated
                     if unicodedata.category(c) in ("Cf", "Zl", "Zp", "Co", "Cs", "Cn", "Cc")
                     or c in BLANK_LOOKING})
    if hidden:
        found.append(f"has invisible, unassigned or direction-changing characters "
                     f"({' '.join(hidden)})")
    if re.search(r"(?:[\u0300-\u036f\u1ab0-\u1aff\u20d0-\u20ff]{4,})", translated):
        found.append("stacks more than three combining marks on one letter")
    lost = Counter(re.findall(r"\d+", english)) - Counter(re.findall(r"\d+", translated))
    if lost:
        found.append(f"drops {', '.join(repr(k) for k in sorted(lost.elements()))} of the English")
    if len(translated) > MAX_LABEL_FACTOR * len(english) + 40:
        found.append(f"is {len(translated)} characters long, too long for a label of "
                     f"{len(english)} in English")
    elif text_width(translated, 10) > MAX_WIDTH_FACTOR * text_width(english, 10) + 60:
        found.append(f"is about {text_width(translated, 10):.0f} px wide at 10 px, too wide "
                     f"for a label of {text_width(english, 10):.0f} px in English")
    return found


def control_characters(translated: str) -> List[str]:
    """The control characters of a prose translation other than the line
    break and the tab (a carriage return would move every later line)."""
    return sorted({f"U+{ord(c):04X}" for c in translated
                   if (ord(c) < 32 and c not in "\n\t") or 0x7f <= ord(c) < 0xa0
                   or c in "\ufffe\uffff"})
