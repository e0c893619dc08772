"""Draw the chapter's figures into img/, and each translation's into img/LANG/ (``make figures``).

Seven SVGs:

- ``functionclasses.svg``: non-nested vs nested function classes (matplotlib).
- ``residual-block.svg``: a regular block beside a residual block (graphviz).
- ``resnet-block.svg``: the ResNet block without / with the 1x1 shortcut
  convolution (graphviz).
- ``resnet18.svg``: ResNet-18 stage by stage, read off ``d2lmini.ResNet18``
  and traced with forward hooks, so the figure cannot drift from the code
  (graphviz).
- ``resnext-block.svg``: the ResNeXt block, a bottleneck whose 3x3
  convolution is split into ``g`` groups (graphviz).
- ``preact-block.svg``: the original residual block beside the
  pre-activation one (graphviz).
- ``inception-block.svg``: the Inception block's four parallel paths
  (graphviz).

Every run writes byte-identical files for a given matplotlib and graphviz
version: matplotlib gets a fixed hash salt, no date and text as paths;
graphviz output loses its version comments. The versions used are written
into each file (``<!-- d2lmini-figures: ... -->``) so that the tests can tell
a drifted figure from a different toolchain.

Translations. Every word a reader sees in a figure is written ``_t("...")``
in the code below (``{name}`` marks a value the code fills in). This tool
extracts those labels into the template ``translations/templates/figures.pot``
and merges it into each language's catalog
``translations/LANG/LC_MESSAGES/figures.po`` (msgid: the English label), so a
new label arrives there untranslated; then it draws the English figures into
``img/`` and each language's into ``img/LANG/`` (same names), with the
catalog's labels. A label without a translation is drawn in English and
``--check`` reports it. Layer names are words too: ``3x3 conv`` is
``_t("{kernel} conv", kernel=...)``, so a translation can put the word
before the size. Notation stays as it is in every language: shapes and sizes
(the ``1x1`` and ``64`` of ``1x1 conv, 64``, ``64 x 24 x 24``, ``c -> b``),
math (*x*, *f*), ``ReLU``, code names. ``tools/translate.py`` points the
translated notebooks at ``img/LANG/NAME.svg`` where that file exists.

A catalog is untrusted input (tools/catalog_safety.py): a translation may
change the words of a label, never what the figure code makes of it. One
that carries markup or escapes (``<``, ``>``, ``&``, ``\\``, ``$``), loses
or invents a ``{name}`` placeholder, drops a number or an ``x``/arrow of the
English, changes the number of lines, or uses a character the language's
figure font lacks is refused by name, and nothing is drawn until it is fixed.
What is accepted is still escaped for graphviz's labels.

Fonts: DejaVu Sans (graphviz, and matplotlib's text drawn as paths), with a
CJK face for Chinese and Japanese (``LANGUAGE_FONTS``; Debian's
``fonts-noto-cjk``). The SVGs name a font stack that browsers can resolve.

Usage::

    python tools/make_figures.py               # catalogs updated, every figure drawn
    python tools/make_figures.py --check       # write nothing; exit 1 and list problems
    python tools/make_figures.py --language zh --only resnet18.svg
    python tools/make_figures.py --out DIR     # draw into DIR and DIR/LANG/ (catalogs
                                               # are read, not written)

``--language en`` is the English figures alone.
"""
from __future__ import annotations

import argparse
import ast
import contextlib
import re
import subprocess
import sys
import unicodedata
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Iterator, Optional, Sequence

ROOT = Path(__file__).resolve().parents[1]
ENGLISH = "en"

# One look for all the figures.
FONT = "DejaVu Sans"
# Browsers without DejaVu Sans fall back to Verdana (same wide metrics, so
# graphviz's box sizes still fit the text), then to any sans-serif.
FONT_STACK = "DejaVu Sans,Verdana,sans-serif"
# Languages whose script DejaVu Sans lacks: (the font graphviz and matplotlib
# draw with, the stack the SVG names). The stacks list the same design first
# (Source Han Sans is Noto Sans CJK under Adobe's name), then the system
# fonts with full-width CJK glyphs, so box sizes still fit.
LANGUAGE_FONTS = {
    "zh": ("Noto Sans CJK SC", "Noto Sans CJK SC,Source Han Sans SC,Source Han Sans CN,"
                               "PingFang SC,Microsoft YaHei,sans-serif"),
    "ja": ("Noto Sans CJK JP", "Noto Sans CJK JP,Source Han Sans JP,Source Han Sans,"
                               "Hiragino Sans,Yu Gothic,Meiryo,sans-serif"),
}
INK = "#333333"
COLORS = {  # (fill, border)
    "residual": ("#dbe8f6", "#4a78a8"),
    "weight": ("#dbe8f6", "#4a78a8"),   # weight layers / convolutions
    "norm": ("#e3f1dc", "#5b8c45"),     # batch normalization
    "act": ("#fdebd0", "#c1862d"),      # activation functions
    "pool": ("#ece4f4", "#7a5a9e"),     # pooling, flatten
    "add": ("#ffffff", INK),            # the addition of the shortcut
    "io": ("#ffffff", INK),
}
TRACE_INPUT = (1, 1, 96, 96)  # the chapter trains on 96x96 Fashion-MNIST
TIMES = "\u00d7"  # multiplication sign
MINUS = "\u2212"


def _kernel(k: int) -> str:
    """A kernel size as the figures write it: ``3x3`` (with the times sign)."""
    return f"{k}{TIMES}{k}"


# -- labels and their translations ---------------------------------------------

TEMPLATE = Path("translations") / "templates" / "figures.pot"
PLACEHOLDER = re.compile(r"\{(\w+)\}")
# What a translated label may not contain: markup or escapes that graphviz
# (HTML-like labels, entities, \n \l \N ...), matplotlib ($math$) or an SVG
# comment would act on, and control characters other than the line break.
FORBIDDEN = re.compile(r"[<>&\\$\x00-\x09\x0b-\x1f\x7f]")
# What a translation must keep from the English: numbers, times signs and arrows.
KEPT = re.compile(r"\d+|[\u00d7\u2192]")


@dataclass
class Drawing:
    """The language a figure is drawn in: its labels and its font."""

    language: str = ENGLISH
    labels: Optional[dict] = None  # English label -> translation (None: English)
    font: str = FONT
    stack: str = FONT_STACK


_DRAWING = Drawing()


@contextlib.contextmanager
def _drawing(drawing: Drawing) -> Iterator[None]:
    global _DRAWING
    saved, _DRAWING = _DRAWING, drawing
    try:
        yield
    finally:
        _DRAWING = saved


def _fill(text: str, fields: dict) -> str:
    return PLACEHOLDER.sub(lambda m: fields[m.group(1)], text)


def _t(label: str, note: str = "", **fields: str) -> str:
    """``label`` in the language being drawn, plain text, ``{name}`` filled in
    from ``fields``. ``note`` tells translators what the label is (it goes
    into the catalog). Every call must spell the English label as a literal:
    that is how the template finds it."""
    labels = _DRAWING.labels or {}
    return _fill(labels.get(label) or label, fields)


def _th(label: str, note: str = "", **html: str) -> str:
    """As ``_t``, for an HTML-like graphviz label: the label is escaped, the
    ``html`` fields (our own markup) go in as they are."""
    labels = _DRAWING.labels or {}
    # graphviz drops a space that follows markup: keep it as a no-break space
    text = re.sub(r"(\{\w+\}) ", r"\1&#160;", _html(labels.get(label) or label))
    return _fill(text, html)


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _plain(text: str) -> str:
    """A plain graphviz label: graphviz reads entities and backslash escapes
    in it, so ``&`` and ``\\`` are escaped (accepted translations have neither:
    this is the second line of defence)."""
    return text.replace("\\", "\\\\").replace("&", "&amp;")


def extract_labels(source: Optional[Path] = None) -> dict[str, list[str]]:
    """Every ``_t``/``_th`` label of the figure code, in order, with the
    comments for translators (where it is drawn, and its note)."""
    source = source or Path(__file__)
    tree = ast.parse(source.read_text(encoding="utf-8"))
    notes: dict[str, list[str]] = {}
    where: dict[str, list[str]] = {}

    def visit(node: ast.AST, function: str) -> None:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            function = node.name
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id in ("_t", "_th")):
            first = node.args[0] if node.args else None
            note = [kw.value for kw in node.keywords if kw.arg == "note"]
            if not (isinstance(first, ast.Constant) and isinstance(first.value, str)) or not all(
                    isinstance(n, ast.Constant) and isinstance(n.value, str) for n in note):
                raise ValueError(f"{source.name}:{node.lineno}: {node.func.id}() needs the "
                                 "English label and its note as string literals (the "
                                 "template reads them)")
            label = first.value
            for text, seen in ([n.value for n in note], notes.setdefault(label, [])), \
                              ([f"{function}()"], where.setdefault(label, [])):
                seen += [t for t in text if t and t not in seen]
        for child in ast.iter_child_nodes(node):
            visit(child, function)

    visit(tree, "")
    return {label: notes[label] + [f"drawn by {', '.join(where[label])}"] for label in notes}


def _font_file(family: str, style: str = "Regular") -> tuple[str, int, str]:
    """(file, face index, version) of a face of ``family``, from fontconfig."""
    try:
        out = subprocess.run(
            ["fc-match", "--format=%{family}\n%{file}\n%{index}\n%{fontversion}",
             f"{family}:style={style}"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        out = ""
    lines = out.split("\n")
    if len(lines) < 4 or family not in lines[0].split(","):
        raise RuntimeError(f"the font {family!r} is not installed: the figures need it "
                           "(Debian: apt-get install fonts-noto-cjk, or `make data`)")
    return lines[1], int(lines[2] or 0), lines[3]


def _versions(language: str = ENGLISH) -> str:
    """The toolchain that produced a figure, recorded inside the file."""
    import graphviz
    import matplotlib
    import numpy  # the plotted numbers are printed by NumPy (1.x and 2.x differ)

    versions = (f"matplotlib {matplotlib.__version__}; numpy {numpy.__version__}; "
                f"graphviz {'.'.join(map(str, graphviz.version()))}")
    if language in LANGUAGE_FONTS:  # its glyphs are in the file
        family = LANGUAGE_FONTS[language][0]
        versions += f"; {family} {_font_file(family)[2]}"
    return versions


def _font(family: str, bold: bool = False):
    """The FT2Font of ``family`` (as fontconfig finds it for graphviz)."""
    from matplotlib.ft2font import FT2Font

    path, index, _ = _font_file(family, "Bold" if bold else "Regular")
    try:
        return FT2Font(path, face_index=index) if index else FT2Font(path)
    except TypeError:  # matplotlib < 3.10 reads the first face of a collection
        return FT2Font(path)  # (in Noto Sans CJK the same glyph set and widths)


def _text_width(text: str, size: float, bold: bool = False) -> float:
    """How wide ``text`` is in points in the current drawing's font."""
    font = _font(_DRAWING.font, bold)
    font.set_size(size, 72)
    font.set_text(text, 0.0)
    return font.get_width_height()[0] / 64


def _missing_glyphs(text: str, family: str) -> str:
    """The characters of ``text`` that ``family`` has no glyph for."""
    font = _font(family)
    return "".join(sorted({c for c in text if c != "\n" and not font.get_char_index(ord(c))}))


# A translated label may be this many times as long as the English, plus 40.
MAX_LABEL_FACTOR = 4


def label_problems(english: str, translated: str, family: str = FONT) -> list[str]:
    """Why ``translated`` may not stand for ``english`` in a figure (empty: it may)."""
    found = []
    bad = sorted(set(FORBIDDEN.findall(translated)))
    if bad:
        found.append(f"has markup or control characters ({' '.join(map(repr, bad))})")
    want, got = Counter(PLACEHOLDER.findall(english)), Counter(PLACEHOLDER.findall(translated))
    if set(want) != set(got):
        found.append(f"needs the placeholders {sorted('{' + n + '}' for n in want) or 'none'}, "
                     f"has {sorted('{' + n + '}' for n in got) or 'none'}")
    if any(c in PLACEHOLDER.sub("", translated) for c in "{}"):
        found.append("has a brace that is not a placeholder")
    if translated.count("\n") != english.count("\n"):
        found.append(f"has {translated.count(chr(10)) + 1} lines, the English "
                     f"{english.count(chr(10)) + 1}")
    lost = Counter(KEPT.findall(english)) - Counter(KEPT.findall(translated))
    if lost:
        found.append(f"drops {', '.join(repr(k) for k in sorted(lost.elements()))} of the English")
    if not translated.strip():
        found.append("is blank")
    # Bidi overrides, zero-width and line/paragraph separators render out of
    # order or invisibly: they could make "64" read "46" in a figure.
    hidden = sorted({f"U+{ord(c):04X}" for c in translated
                     if unicodedata.category(c) in ("Cf", "Zl", "Zp", "Co", "Cs")})
    if hidden:
        found.append(f"has invisible or direction-changing characters ({' '.join(hidden)})")
    if len(translated) > MAX_LABEL_FACTOR * len(english) + 40:
        found.append(f"is {len(translated)} characters long, too long for a label of "
                     f"{len(english)} in English")
    try:
        missing = _missing_glyphs(translated, family)
    except RuntimeError as exc:
        missing = ""
        found.append(str(exc))
    if missing:
        found.append(f"uses characters the figure font {family} lacks ({missing})")
    return found


def _catalog_path(root: Path, language: str) -> Path:
    return root / "translations" / language / "LC_MESSAGES" / "figures.po"


def _translate_tool():
    """tools/translate.py, for its catalog format and its UTF-8 rules."""
    if str(ROOT / "tools") not in sys.path:
        sys.path.insert(0, str(ROOT / "tools"))
    import translate

    return translate


def template() -> "polib.POFile":  # noqa: F821
    """The figures' template, from the code's labels."""
    import polib

    pot = _translate_tool()._new_catalog()
    for label, notes in extract_labels().items():
        pot.append(polib.POEntry(msgid=label, msgstr="", comment="\n".join(notes)))
    return pot


def merge(po, pot, prune: bool = False):
    """``po`` brought up to ``pot``: a label's translation stays with it, a
    new label arrives untranslated, a label the code no longer draws keeps
    its translation as an obsolete entry (dropped with ``prune``)."""
    import copy

    import polib

    out = _translate_tool()._new_catalog(po.metadata.get("Language"))
    out.metadata.update(po.metadata)
    old = {e.msgid: e for e in po if not e.obsolete and not e.msgctxt}
    used = set()
    for ref in pot:
        entry = polib.POEntry(msgid=ref.msgid, msgstr="", comment=ref.comment)
        same = old.get(ref.msgid)
        if same is not None:
            entry.msgstr, entry.flags = same.msgstr, list(same.flags)
            entry.tcomment = same.tcomment
            used.add(id(same))
        out.append(entry)
    if not prune:
        for e in po:
            if e.obsolete or (id(e) not in used and e.msgstr):
                gone = copy.copy(e)
                gone.obsolete = True
                out.append(gone)
    return out


def catalogs(root: Path = ROOT, prune: bool = False,
             only: Optional[Sequence[str]] = None) -> dict[Path, str]:
    """The template and every language's figures catalog as this tool writes them."""
    tr = _translate_tool()
    pot = template()
    files = {root / TEMPLATE: str(pot) + "\n"}
    for language in tr.languages(root):
        if only and language not in only:
            continue
        path = _catalog_path(root, language)
        current = tr.read_catalog(path, root) if path.exists() else tr._new_catalog(language)
        files[path] = str(merge(current, pot, prune)) + "\n"
    return files


def drawing(language: str, root: Path = ROOT) -> tuple[Drawing, list[str]]:
    """How ``language``'s figures are drawn (its current labels and font), and
    the problems of its catalog: refused translations first, then labels
    still in English."""
    if language == ENGLISH:
        return Drawing(), []
    import polib

    family, stack = LANGUAGE_FONTS.get(language, (FONT, FONT_STACK))
    path = _catalog_path(root, language)
    rel = path.relative_to(root).as_posix()
    text = catalogs(root, only=[language])[path]
    labels, refused, todo = {}, [], []
    for e in polib.pofile(text, wrapwidth=78):
        if e.obsolete:
            todo.append(f"{rel}: label {e.msgid!r} is obsolete (the code no longer draws it; "
                        "run `python tools/make_figures.py --prune`)")
        elif not e.msgstr:
            todo.append(f"{rel}: label {e.msgid!r} is not translated")
        elif "fuzzy" in e.flags:
            todo.append(f"{rel}: label {e.msgid!r} is fuzzy (revise it, remove the flag)")
        else:
            why = label_problems(e.msgid, e.msgstr, family)
            if why:
                refused.append(f"{rel}: the translation of label {e.msgid!r} ({e.msgstr!r}) "
                               f"{'; '.join(why)}: a translation may change the words only")
            else:
                labels[e.msgid] = e.msgstr
    return Drawing(language, labels, family, stack), refused + todo


# -- output helpers ----------------------------------------------------------


def _stamp(svg: str, language: str = ENGLISH) -> str:
    """Insert the toolchain comment right after the XML declaration."""
    comment = (f"<!-- d2lmini-figures: made by tools/make_figures.py with "
               f"{_versions(language)} -->\n")
    if svg.startswith("<?xml"):
        end = svg.index("?>") + 2
        return svg[:end] + "\n" + comment + svg[end:].lstrip("\n")
    return comment + svg


def _graphviz_svg(graph) -> str:
    """Render a graphviz graph to SVG text without run-dependent bits."""
    svg = graph.pipe(format="svg", encoding="utf-8")
    svg = re.sub(r"<!--.*?-->\n?", "", svg, flags=re.S)  # version and node comments
    return svg.replace(f'font-family="{_DRAWING.font}"', f'font-family="{_DRAWING.stack}"')


def _digraph(name: str, **graph_attr: str):
    """A bottom-to-top digraph in the shared style (the book draws data flowing up)."""
    import graphviz

    font = _DRAWING.font
    g = graphviz.Digraph(name)
    attrs = dict(rankdir="BT", fontname=font, fontsize="13", fontcolor=INK,
                 nodesep="0.3", ranksep="0.28", newrank="true", bgcolor="white",
                 pad="0.15")
    g.attr(**{**attrs, **graph_attr})
    g.attr("node", shape="box", style="rounded,filled", fontname=font,
           fontsize="12", fontcolor=INK, height="0.36", margin="0.12,0.05",
           penwidth="1.2")
    g.attr("edge", color=INK, arrowsize="0.7", penwidth="1.1", fontname=font,
           fontsize="11", fontcolor=INK)
    return g


def _layer(g, name: str, label: str, kind: str, **attr: str) -> None:
    fill, border = COLORS[kind]
    g.node(name, label, fillcolor=fill, color=border, **attr)


def _add(g, name: str, **attr: str) -> None:
    _layer(g, name, "+", "add", shape="circle", width="0.32", height="0.32",
           fixedsize="true", fontsize="16", style="filled", **attr)


def _terminal(g, name: str, label: str = "", **attr: str) -> None:
    """A label-only node: the input at the bottom or an open arrow at the top."""
    if label:
        g.node(name, label, shape="plaintext", style="", fontsize="14", height="0.3",
               **attr)
    else:
        g.node(name, "", shape="point", style="invis", width="0", height="0", **attr)


def _titled(cluster, title: str) -> None:
    """A frameless cluster with its title underneath (the graph runs upwards)."""
    cluster.attr(label=title, labelloc="t", pencolor="transparent", fontsize="14",
                 margin="6")


# -- functionclasses.svg -----------------------------------------------------


def _matplotlib_svg(fig) -> str:
    import io

    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", pad_inches=0.05,
                metadata={"Date": None, "Creator": None})
    return buf.getvalue()


def _fit_titles(fig, axes) -> None:
    """Shrink a (translated) panel title that is wider than its panel."""
    renderer = fig.canvas.get_renderer()
    for ax in axes:
        title, width = ax.title, ax.get_window_extent(renderer).width
        while title.get_window_extent(renderer).width > width and title.get_fontsize() > 8:
            title.set_fontsize(title.get_fontsize() - 0.5)


def functionclasses() -> str:
    """Six growing function classes, not nested (left) and nested (right)."""
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib import font_manager
    from matplotlib.patches import Circle

    font = _DRAWING.font
    if font != FONT and font not in {f.name for f in font_manager.fontManager.ttflist}:
        # matplotlib's font list need not know the system's CJK faces
        font_manager.fontManager.addfont(_font_file(font)[0])
    with matplotlib.rc_context({"svg.hashsalt": "d2lmini", "svg.fonttype": "path",
                                "font.family": font, "mathtext.fontset": "dejavusans",
                                "path.simplify": False}):
        fig, axes = plt.subplots(1, 2, figsize=(8.0, 3.9))
        blues = matplotlib.colormaps["Blues"]
        # Each class: (centre, radius, where its label sits in degrees).
        # Non-nested: the classes grow but wander; F3 gets closest to f*,
        # the biggest one, F6, lies further away again.
        loose = [((1.3, 1.3), 0.8, 90), ((2.9, 2.4), 1.0, 90), ((5.6, 5.2), 1.3, 90),
                 ((1.9, 6.4), 1.5, 90), ((7.2, 1.9), 1.75, 90), ((3.2, 4.3), 2.1, 200)]
        # Nested: every class contains the one before (they touch at one
        # corner) and grows towards f*; the largest ones hold it.
        corner, radii = (1.35, 1.15), [0.75, 1.25, 1.8, 2.4, 3.05, 3.75]
        nested = [((corner[0] + r * 0.7071, corner[1] + r * 0.7071), r, 45) for r in radii]
        panels = [(axes[0], loose, (8.3, 7.6), _t("Non-nested function classes")),
                  (axes[1], nested, (3.2, 7.0), _t("Nested function classes"))]
        for ax, circles, (fx, fy), title in panels:
            for i, ((x, y), r, _) in reversed(list(enumerate(circles))):
                shade = blues(0.2 + 0.1 * i)
                ax.add_patch(Circle((x, y), r, facecolor=(*shade[:3], 0.45),
                                    edgecolor=blues(0.5 + 0.08 * i), linewidth=1.4))
            for i, ((x, y), r, angle) in enumerate(circles):
                # Label each class just inside its edge, in the given direction;
                # nested labels sit in the ring between their circle and the last.
                inset = 0.42 if i == 0 or ax is axes[0] else (r - radii[i - 1]) * 0.5 + 0.05
                t = np.radians(angle)
                ax.text(x + (r - inset) * np.cos(t), y + (r - inset) * np.sin(t),
                        rf"$\mathcal{{F}}_{i + 1}$", ha="center", va="center",
                        fontsize=13, color="#10304f")
            ax.plot([fx], [fy], marker="*", markersize=16, color="#c0392b",
                    markeredgecolor="white", markeredgewidth=0.8)
            ax.text(fx + 0.3, fy + 0.05, r"$f^*$", fontsize=15, color="#c0392b",
                    va="center")
            ax.set_title(title, fontsize=13, color=INK)
            ax.set_xlim(0, 9.4)
            ax.set_ylim(0, 9.0)
            ax.set_aspect("equal")
            ax.axis("off")
        fig.tight_layout(w_pad=2.0)
        if _DRAWING.labels:
            _fit_titles(fig, axes)
        svg = _matplotlib_svg(fig)
        plt.close(fig)
    return svg


# -- residual-block.svg ------------------------------------------------------


def residual_block() -> str:
    """A regular block (left) beside a residual block (right)."""
    g = _digraph("residual_block")
    fx = "<I>f</I>(<B>x</B>)"
    sides = {"l": (_th("A regular block"), fx),
             "r": (_th("A residual block"), f"<I>f</I>(<B>x</B>) {MINUS} <B>x</B>")}

    for s, (title, learns) in sides.items():
        note = _th("(the dotted box learns {mapping})", mapping=learns,
                   note="{mapping} is the formula f(x) or f(x) - x")
        with g.subgraph(name=f"cluster_{s}") as outer:
            _titled(outer, f'<{title}<BR/><FONT POINT-SIZE="12">{note}</FONT>>')
            _terminal(outer, f"{s}x", "<<B>x</B>>", group=s)
            with outer.subgraph(name=f"cluster_{s}box") as box:
                # The dotted box: the part of the block whose mapping is learned.
                # (labelloc "b" is the top edge: the graph runs bottom to top.)
                box.attr(label=f"<{learns}>", style="dotted,rounded",
                         pencolor="#666666", penwidth="1.6", labelloc="b",
                         labeljust="l", fontsize="12", margin="10")
                _layer(box, f"{s}w1", _plain(_t("weight layer")), "weight", group=s)
                _layer(box, f"{s}a1", _plain(_t("activation function")), "act", group=s)
                _layer(box, f"{s}w2", _plain(_t("weight layer")), "weight", group=s)
            _layer(outer, f"{s}a2", _plain(_t("activation function")), "act", group=s)
            _terminal(outer, f"{s}top", group=s)
            g.edge(f"{s}x", f"{s}w1")
            g.edge(f"{s}w1", f"{s}a1")
            g.edge(f"{s}a1", f"{s}w2")
            g.edge(f"{s}a2", f"{s}top")
    # Left: the layers' output is f(x) itself. Its edge spans two ranks so
    # that both activation functions line up across the figure.
    g.edge("lw2", "la2", label=f"  {fx}".join("<>"), minlen="2")
    # Right: the layers learn f(x) - x; the shortcut adds x back.
    with g.subgraph(name="cluster_r") as outer:
        _add(outer, "radd", group="r")
    g.edge("rw2", "radd")
    g.edge("rx", "radd", label="<  <B>x</B>>", penwidth="1.8", tailport="e", headport="e",
           constraint="false")
    g.edge("radd", "ra2", label=f"  {fx}".join("<>"))
    return _graphviz_svg(g)


# -- resnet-block.svg --------------------------------------------------------


def _block_column(g, s: str, title: str, input_label: str, chain, relu_after_sum: bool) -> None:
    """One titled column of a block diagram, drawn upwards: the input, the
    ``chain`` of (name, label, kind) layers, the sum (its shortcut is drawn by
    the caller), a ReLU if the block has one there, and an open arrow. Node
    names start with ``s``; labels are graphviz labels (escaped)."""
    with g.subgraph(name=f"cluster_{s}") as outer:
        _titled(outer, title)
        _terminal(outer, f"{s}x", input_label, group=s)
        for name, label, kind in chain:
            _layer(outer, f"{s}{name}", label, kind, group=s)
        _add(outer, f"{s}add", group=s)
        if relu_after_sum:
            _layer(outer, f"{s}out", "ReLU", "act", group=s)
        _terminal(outer, f"{s}top", group=s)
    names = (["x"] + [name for name, _, _ in chain] + ["add"]
             + (["out"] if relu_after_sum else []) + ["top"])
    for a, b in zip(names, names[1:]):
        g.edge(f"{s}{a}", f"{s}{b}")


def resnet_block() -> str:
    """The ResNet block without (left) and with (right) a 1x1 convolution."""
    g = _digraph("resnet_block")
    sides = {"l": _plain(_t("Without the 1\u00d71 convolution")),
             "r": _plain(_t("With the 1\u00d71 convolution"))}
    bn = _plain(_t("batch norm", note="batch normalization"))
    conv = _plain(_t("{kernel} conv", kernel=_kernel(3),
                     note="a convolutional layer; {kernel} is its kernel size, such as 3\u00d73"))
    chain = [("c1", conv, "weight"), ("n1", bn, "norm"),
             ("a1", "ReLU", "act"), ("c2", conv, "weight"),
             ("n2", bn, "norm")]
    for s, title in sides.items():
        _block_column(g, s, title, _plain(_t("input", note="the block's input")), chain,
                      relu_after_sum=True)
    # Shortcuts: the identity on the left, a 1x1 convolution on the right
    # (it matches channels and stride of the main path).
    g.edge("lx", "ladd", penwidth="1.8", tailport="e", headport="e", constraint="false")
    with g.subgraph(name="cluster_r") as outer:
        _layer(outer, "rc3", _plain(_t("{kernel} conv", kernel=_kernel(1))), "weight")
    g.edge("rx", "rc3", penwidth="1.8", tailport="e")
    g.edge("rc3", "radd", penwidth="1.8", headport="e")
    # Keep the 1x1 convolution level with the middle of the main path.
    with g.subgraph() as same:
        same.attr(rank="same")
        same.node("ra1")
        same.node("rc3")
    return _graphviz_svg(g)


# -- resnet18.svg ------------------------------------------------------------


@dataclass
class Traced:
    """One box of the ResNet-18 figure: what it computes and its output shape."""

    stage: str
    lines: list[str]
    shape: tuple[int, ...]
    kind: str


def _shape_text(shape: Iterable[int]) -> str:
    return f" {TIMES} ".join(str(n) for n in shape)


def _stride_text(stride: int) -> str:
    return _t("stride {stride}", stride=str(stride))


def _conv_text(conv, channels: bool = True) -> str:
    k, s = conv.kernel_size[0], conv.stride[0]
    if channels:
        text = _t("{kernel} conv, {channels}", kernel=_kernel(k),
                  channels=str(conv.out_channels),
                  note="a convolutional layer; {kernel} is its kernel size, such as "
                       "3\u00d73, {channels} its output channels (64) or its input and "
                       "output channels (c \u2192 b)")
    else:
        text = _t("{kernel} conv", kernel=_kernel(k))
    return text + (f", {_stride_text(s)}" if s != 1 else "")


def _is_residual(module) -> bool:
    return hasattr(module, "conv1") and hasattr(module, "conv2") and hasattr(module, "bn1")


def _leaf_text(module) -> tuple[str, str]:
    """(label, kind) of a single layer of the stem or the head."""
    from torch import nn

    if isinstance(module, nn.Conv2d):
        return _conv_text(module), "weight"
    if isinstance(module, nn.BatchNorm2d):
        return _t("batch norm", note="batch normalization"), "norm"
    if isinstance(module, nn.ReLU):
        return "ReLU", "act"
    if isinstance(module, nn.MaxPool2d):
        k, s = module.kernel_size, module.stride
        pool = _t("{kernel} max pool", kernel=_kernel(k),
                  note="max pooling; {kernel} is the window size, such as 3\u00d73")
        return f"{pool}, {_stride_text(s)}", "pool"
    if isinstance(module, nn.AdaptiveAvgPool2d):
        return _t("global average pool", note="global average pooling"), "pool"
    if isinstance(module, nn.Flatten):
        return _t("flatten", note="nn.Flatten"), "pool"
    if isinstance(module, nn.Linear):
        return _t("fully connected, {outputs} outputs", outputs=str(module.out_features),
                  note="the last layer, nn.Linear"), "weight"
    return type(module).__name__, "pool"


def trace_resnet(model, input_shape: tuple[int, ...] = TRACE_INPUT) -> list[Traced]:
    """Walk ``model.net`` and record every box of the figure with forward hooks.

    Residual blocks become one box each (their inside is drawn in
    resnet-block.svg); in the stem and the head, batch norm and ReLU join the
    box of the layer they follow. The lines are plain text, in the language
    being drawn.
    """
    import torch

    net = model.net
    shapes: dict[int, tuple[int, ...]] = {}
    hooks = [m.register_forward_hook(
        lambda mod, inp, out: shapes.__setitem__(id(mod), tuple(out.shape[1:]))
    ) for m in net.modules() if m is not net]
    was_training = model.training
    model.eval()  # the dry run must not touch batch-norm statistics
    try:
        with torch.no_grad():
            net(torch.zeros(input_shape))
    finally:
        for h in hooks:
            h.remove()
        model.train(was_training)

    boxes: list[Traced] = []
    children = list(net.named_children())
    for i, (name, child) in enumerate(children):
        stage = name if not name.isdigit() else f"b{i + 1}"
        blocks = list(child.children()) or [child]
        for block in blocks:
            shape = shapes[id(block)]
            if _is_residual(block):
                conv1, conv3 = block.conv1, getattr(block, "conv3", None)
                convs = [block.conv1, block.conv2]
                if all(c.stride[0] == 1 for c in convs) and len(
                        {c.kernel_size[0] for c in convs}) == 1:
                    k = conv1.kernel_size[0]
                    detail = _t("two {kernel} convs", kernel=_kernel(k),
                                note="{kernel} is a kernel size such as 3\u00d73")
                else:  # say which convolution carries the stride
                    detail = " \u2192 ".join(_conv_text(c, channels=False) for c in convs)
                if conv3 is not None:
                    k3, s3 = conv3.kernel_size[0], conv3.stride[0]
                    conv = _t("{kernel} conv", kernel=_kernel(k3))
                    detail += "; " + _t("{conv} shortcut", conv=conv,
                                        note="{conv} is a convolution such as 1\u00d71 conv")
                    detail += f", {_stride_text(s3)}" if s3 != 1 else ""
                else:
                    detail += "; " + _t("identity shortcut")
                title = _t("Residual block, {channels} channels",
                           channels=str(conv1.out_channels))
                boxes.append(Traced(stage, [title, detail], shape, "residual"))
                continue
            text, kind = _leaf_text(block)
            if kind in ("norm", "act") and boxes and boxes[-1].stage == stage:
                boxes[-1].lines[-1] += f" \u2192 {text}"  # joins the layer before
                boxes[-1].shape = shape
            else:
                boxes.append(Traced(stage, [text], shape, kind))
    return boxes


def _box_label(box: Traced) -> str:
    """A graphviz label: residual blocks get a bold title and small detail rows."""
    if box.kind != "residual":
        return _html(" \u2192 ".join(box.lines))
    rows = "".join(f'<TR><TD><FONT POINT-SIZE="11">{_html(line)}</FONT></TD></TR>'
                   for line in box.lines[1:])
    return (f'<<TABLE BORDER="0" CELLSPACING="0" CELLPADDING="2">'
            f'<TR><TD><B>{_html(box.lines[0])}</B></TD></TR>'
            f'{rows}</TABLE>>')


def _stage_margin(title: str, members: list[Traced]) -> str:
    """The margin of a stage's frame: 8 pt, or more where its title (in the
    top right corner) would otherwise reach the arrow up the middle."""
    widest = max(_text_width(line, 12 if k == 0 or box.kind != "residual" else 11,
                             bold=k == 0 and box.kind == "residual")
                 for box in members
                 for k, line in enumerate([" \u2192 ".join(box.lines)]
                                          if box.kind != "residual" else box.lines))
    node = widest + 2 * 0.12 * 72  # the nodes' margin is 0.12 inch a side
    need = _text_width(title, 11) + 8 + 6 - node / 2  # 8 pt inside the frame, 6 pt clear
    return "8" if need <= 8 else f"{need:.0f}"


def resnet18(model=None, input_shape: tuple[int, ...] = TRACE_INPUT) -> str:
    """ResNet-18 drawn from ``d2lmini.ResNet18`` with traced output shapes."""
    if model is None:
        import d2lmini

        model = d2lmini.ResNet18()
    boxes = trace_resnet(model, input_shape)
    size = f" {TIMES} ".join(map(str, input_shape))
    g = _digraph("resnet18", ranksep="0.22", labelloc="t", fontsize="12",
                 label=_plain(_t("Traced from d2lmini.ResNet18 on a {size} input;\n"
                                 "arrows show output shapes (channels \u00d7 height \u00d7 width)",
                                 size=size, note="{size} is the input's shape, "
                                 "such as 1 \u00d7 1 \u00d7 96 \u00d7 96")))
    g.node("input", _plain(_t("input image")), shape="plaintext", style="", fontsize="13")
    stage_titles = {"b1": _t("{stage} (stem)", stage="b1", note="{stage} is the stage's name"),
                    "last": _t("{stage} (head)", stage="last",
                               note="{stage} is the stage's name")}
    for stage in dict.fromkeys(b.stage for b in boxes):
        members = [(i, b) for i, b in enumerate(boxes) if b.stage == stage]
        title = stage_titles.get(stage, stage)
        with g.subgraph(name=f"cluster_{stage}") as c:
            c.attr(label=_plain(title), style="rounded,dashed", color="#999999",
                   labeljust="r", labelloc="b", fontsize="11",
                   margin=_stage_margin(title, [b for _, b in members]))
            for i, box in members:
                c.node(f"n{i}", _box_label(box), fillcolor=COLORS[box.kind][0],
                       color=COLORS[box.kind][1])
    # Each arrow carries the output shape of the box it leaves.
    prev, prev_shape = "input", input_shape[1:]
    for i, box in enumerate(boxes):
        g.edge(prev, f"n{i}", label=f"  {_shape_text(prev_shape)}")
        prev, prev_shape = f"n{i}", box.shape
    g.node("output", _plain(_t("class scores", note="the network's output")),
           shape="plaintext", style="", fontsize="13")
    g.edge(prev, "output", label=f"  {_shape_text(prev_shape)}")
    return _graphviz_svg(g)


# -- resnext-block.svg -------------------------------------------------------


def resnext_block() -> str:
    """The ResNeXt block: 1x1 conv down to b channels, a 3x3 convolution in g
    groups of b/g channels each, their outputs concatenated, 1x1 conv back up
    to c channels, and the shortcut added."""
    # The site's text column (about 690 px) shows it at 7/8 of its size: its
    # smallest labels (11 pt, 15 px) stay above 12 px. The shortcut sits
    # beside the upper layers, not beside the groups (the widest row).
    g = _digraph("resnext_block", nodesep="0.18", labelloc="t", fontsize="12",
                 label=_plain(_t("c input and output channels, b bottleneck channels,\n"
                                 "g groups of b/g channels",
                                 note="b, c and g are the symbols of the text: keep them")))
    bn = _plain(_t("batch norm", note="batch normalization"))
    _terminal(g, "x", _plain(_t("input (c channels)", note="c is a symbol: keep it")),
              group="main")
    chain_in = [("c1", _plain(_t("{kernel} conv, {channels}", kernel=_kernel(1),
                                 channels="c \u2192 b")), "weight"),
                ("n1", bn, "norm"), ("a1", "ReLU", "act")]
    concat = _t("concatenate the g groups: b channels", note="b and g are symbols: keep them")
    chain_out = [("cat", _plain(concat), "pool"),
                 ("n2", bn, "norm"), ("a2", "ReLU", "act"),
                 ("c3", _plain(_t("{kernel} conv, {channels}", kernel=_kernel(1),
                                  channels="b \u2192 c")), "weight"),
                 ("n3", bn, "norm")]
    for name, label, kind in chain_in + chain_out:
        _layer(g, name, label, kind, group="main")
    # The grouped 3x3 convolution: g parallel convolutions of the same shape,
    # each with its own weights and a slice of b/g channels.
    # Listed right to left, so that they read group 1, 2, ..., g from the left.
    groups = [("gg", "g"), ("gdots", ""), ("g2", "2"), ("g1", "1")]
    with g.subgraph(name="cluster_groups") as c:
        # (labelloc "t" is the bottom edge: the graph runs bottom to top.)
        c.attr(label=_plain(_t("grouped 3\u00d73 convolution")), style="rounded,dashed",
               color="#999999", labelloc="t", labeljust="l", fontsize="11",
               margin="8")
        for name, index in groups:
            if not index:
                c.node(name, "\u22ef", shape="plaintext", style="", fontsize="16")
                continue
            title = _th("group {index}", index=index, note="{index} is 1, 2 or g")
            conv = _html(_t("{kernel} conv, {channels}", kernel=_kernel(3),
                            channels="b/g \u2192 b/g"))
            _layer(c, name, f"<{title}<BR/><FONT POINT-SIZE=\"11\">{conv}</FONT>>", "weight")
    with g.subgraph() as same:
        same.attr(rank="same")
        for name, _ in groups:
            same.node(name)
    names = ["x"] + [n for n, _, _ in chain_in]
    for a, b in zip(names, names[1:]):
        g.edge(a, b)
    for name, _ in groups:
        style = {"style": "dotted"} if name == "gdots" else {}
        g.edge("a1", name, **style)
        g.edge(name, "cat", **style)
    names = [n for n, _, _ in chain_out] + ["add", "out", "top"]
    _add(g, "add", group="main")
    _layer(g, "out", "ReLU", "act", group="main")
    _terminal(g, "top", group="main")
    for a, b in zip(names, names[1:]):
        g.edge(a, b)
    # The shortcut: the identity, or a 1x1 convolution with batch norm when
    # the block changes the number of channels or the resolution.
    shortcut = _th("identity, or {conv}", conv=_html(_t("{kernel} conv", kernel=_kernel(1))),
                   note="the shortcut; {conv} is 1\u00d71 conv")
    _layer(g, "sc", f"<{shortcut}<BR/>+ {_html(_t('batch norm'))}<BR/>"
                    f"(use_1x1conv=True)>", "io", style="rounded,dashed")
    g.edge("x", "sc", penwidth="1.8", tailport="e")
    g.edge("sc", "add", penwidth="1.8", headport="e")
    with g.subgraph() as same:
        same.attr(rank="same")
        same.node("n2")  # beside the batch norm after the concatenation
        same.node("sc")
    return _graphviz_svg(g)


# -- preact-block.svg --------------------------------------------------------


def preact_block() -> str:
    """The original block (left): ReLU after the sum. The pre-activation block
    (right): batch norm and ReLU before each convolution, nothing after the
    sum, so the shortcut carries x unchanged from block to block."""
    g = _digraph("preact_block")
    bn = _plain(_t("batch norm", note="batch normalization"))
    conv = _plain(_t("{kernel} conv", kernel=_kernel(3)))
    sides = {
        "l": (_plain(_t("Original", note="the original residual block")),
              [("c1", conv, "weight"), ("n1", bn, "norm"),
               ("a1", "ReLU", "act"), ("c2", conv, "weight"),
               ("n2", bn, "norm")], True),
        "r": (_plain(_t("Pre-activation", note="the pre-activation residual block")),
              [("n1", bn, "norm"), ("a1", "ReLU", "act"),
               ("c1", conv, "weight"),
               ("n2", bn, "norm"), ("a2", "ReLU", "act"),
               ("c2", conv, "weight")], False),
    }
    for s, (title, chain, relu_after_sum) in sides.items():
        _block_column(g, s, title, "<<B>x</B>>", chain, relu_after_sum)
        g.edge(f"{s}x", f"{s}add", penwidth="1.8", tailport="e", headport="e",
               constraint="false")
    return _graphviz_svg(g)


# -- inception-block.svg -----------------------------------------------------


def inception_block() -> str:
    """GoogLeNet's Inception block: four paths side by side on the same input,
    their outputs concatenated along the channels."""
    g = _digraph("inception_block", nodesep="0.25")
    _terminal(g, "x", _plain(_t("input", note="the block's input")))
    conv = {k: (_plain(_t("{kernel} conv", kernel=_kernel(k))), "weight") for k in (1, 3, 5)}
    pool = (_plain(_t("{kernel} max-pool", kernel=_kernel(3),
                      note="max pooling; {kernel} is the window size, such as 3\u00d73")),
            "pool")
    paths = [
        ("p1", [conv[1]]),
        ("p2", [conv[1], conv[3]]),
        ("p3", [conv[1], conv[5]]),
        ("p4", [pool, conv[1]]),
    ]
    _layer(g, "cat", _plain(_t("concatenate along the channels")), "pool")
    _terminal(g, "top")
    for p, layers in paths:
        names = [f"{p}_{i}" for i in range(len(layers))]
        for name, (label, kind) in zip(names, layers):
            _layer(g, name, label, kind, group=p)
        g.edge("x", names[0])
        for a, b in zip(names, names[1:]):
            g.edge(a, b)
        # A one-layer path spans both ranks, so that the paths end level.
        g.edge(names[-1], "cat", **({"minlen": "2"} if len(layers) == 1 else {}))
    g.edge("cat", "top")
    with g.subgraph() as same:  # the paths' first layers side by side, in order
        same.attr(rank="same")
        for p, _ in paths:
            same.node(f"{p}_0")
    for (a, _), (b, _) in zip(paths, paths[1:]):
        g.edge(f"{a}_0", f"{b}_0", style="invis")
    return _graphviz_svg(g)


FIGURES: dict[str, Callable[[], str]] = {
    "functionclasses.svg": functionclasses,
    "residual-block.svg": residual_block,
    "resnet-block.svg": resnet_block,
    "resnet18.svg": resnet18,
    "resnext-block.svg": resnext_block,
    "preact-block.svg": preact_block,
    "inception-block.svg": inception_block,
}


# -- the whole run -------------------------------------------------------------


def languages(root: Path = ROOT) -> list[str]:
    """English first, then every language that has catalogs."""
    return [ENGLISH] + _translate_tool().languages(root)


def figure_path(out: Path, language: str, name: str) -> Path:
    """Where ``name`` in ``language`` goes under the English figures' folder ``out``."""
    return out / name if language == ENGLISH else out / language / name


def draw(language: str, names: Iterable[str], root: Path = ROOT) -> dict[str, str]:
    """The figures ``names`` in ``language``, as SVG text with the toolchain
    stamp; CatalogError (nothing drawn) when its catalog has a refused label."""
    how, found = drawing(language, root)
    # A refusal ends with this phrase; another problem may only quote it.
    refused = [line for line in found if line.endswith(": a translation may change the words only")]
    if refused:
        raise _translate_tool().CatalogError("\n".join(refused))
    with _drawing(how):
        return {name: _stamp(FIGURES[name](), language) for name in names}


def problems(root: Path = ROOT, out: Optional[Path] = None,
             only: Optional[Sequence[str]] = None) -> list[str]:
    """Everything ``make figures`` or a translator still has to do: catalogs
    not current, labels refused, untranslated, fuzzy or obsolete, figures
    missing or out of date (those made with another toolchain are not
    compared)."""
    tr = _translate_tool()
    out = out or root / "img"
    found = []
    for path, text in catalogs(root, only=only).items():
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            found.append(f"out of date: {path.relative_to(root).as_posix()} "
                         "(run `make figures`)")
    for language in languages(root):
        if only and language not in only:
            continue
        try:
            found += drawing(language, root)[1]
            svgs = draw(language, FIGURES, root)
        except tr.CatalogError:
            continue  # listed above
        for name, svg in svgs.items():
            path = figure_path(out, language, name)
            rel = path.relative_to(root).as_posix() if path.is_relative_to(root) else str(path)
            if not path.exists():
                found.append(f"missing: {rel} (run `make figures`)")
                continue
            old = path.read_text(encoding="utf-8")
            stamp = re.search(r"<!-- d2lmini-figures: made by .*? with (.*?) -->", old)
            if stamp and stamp.group(1) != _versions(language):
                continue  # another toolchain: its bytes tell nothing
            if old != svg:
                found.append(f"out of date: {rel} (run `make figures`)")
    return found


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None,
                        help="output folder (default: img/); the translations go into "
                             "OUT/LANG/, and the catalogs are read but not written")
    parser.add_argument("--only", nargs="+", choices=sorted(FIGURES), default=None,
                        help="draw only these figures")
    parser.add_argument("--language", action="append", metavar="LANG",
                        help="only this language (repeatable; en: the English figures)")
    parser.add_argument("--check", action="store_true",
                        help="write nothing; exit 1 and list what is missing or out of date")
    parser.add_argument("--prune", action="store_true",
                        help="drop obsolete entries from the figures catalogs")
    parser.add_argument("--root", type=Path, default=ROOT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    root = args.root.resolve()
    tr = _translate_tool()
    known = languages(root)
    unknown = sorted(set(args.language or []) - set(known))
    if unknown:
        parser.error(f"no catalogs for {', '.join(unknown)}; languages: {', '.join(known)}")
    wanted = [lang for lang in known if not args.language or lang in args.language]
    if args.check:
        found = problems(root, args.out, only=args.language)
        for line in found:
            print(line)
        return 1 if found else 0
    try:
        if args.out is None:  # the committed catalogs follow the code
            for path, text in catalogs(root, prune=args.prune, only=args.language).items():
                if not path.exists() or path.read_text(encoding="utf-8") != text:
                    tr.write_file(path, text, root)
                    print(f"wrote {path.relative_to(root).as_posix()}")
        drawn = {lang: draw(lang, args.only or FIGURES, root) for lang in wanted}
    except (tr.CatalogError, RuntimeError) as exc:
        print(f"{exc}\nerror: no figure written: fix the above first", file=sys.stderr)
        return 1
    out = args.out or root / "img"
    for language, svgs in drawn.items():
        for name, svg in svgs.items():
            path = figure_path(out, language, name)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(svg.encode("utf-8"))
            print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
