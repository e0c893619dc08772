"""The two things the chapter's site needs that its libraries do not offer.

1. Figures. The notebooks embed a figure as a markdown image alone in its
   paragraph, ``![Caption sentence.](../img/name.svg)``: that is what renders
   in Jupyter. MyST turns it into an inline image, which Sphinx does not
   number. ``ImageParagraphToFigure`` turns such a paragraph into a docutils
   ``figure`` whose caption is the image's description, so that ``numfig``
   numbers it like any ``{figure}`` directive ("Fig. 2.1"). ``$...$`` in the
   description becomes inline math.
2. Languages. Each language is its own Sphinx build (its own ``language``
   for the interface strings); ``site_languages`` lists them all, and every
   page gets ``site_language_links``: for each language the relative link to
   the same page there (to its title page when that translation lacks the
   page). ``_templates/language-switch.html`` shows them in the sidebar.
   (A Chinese build also gets a search page that works: see
   ``chinese_search_fix``.)

3. Export directives. ``#| default_exp NAME`` tells ``tools/export.py``
   where a notebook's ``#@save`` cells go; ``HideExportDirectives`` drops
   such lines from the code the site shows (Jupyter still shows them).
   Cells tagged ``remove-cell`` (checks attached with ``d2l.guard``) are
   left out by myst-nb itself.

It also finds ``references.bib`` for sphinxcontrib-bibtex in the nearest
folder above the notebooks (the repository root), and titles each build
after the first heading of its title page ``index.md``.
"""
from __future__ import annotations

import posixpath
import re
from pathlib import Path

from docutils import nodes
from sphinx.application import Sphinx
from sphinx.errors import ConfigError
from sphinx.transforms import SphinxTransform

BIBLIOGRAPHY = "references.bib"
# Pages that every build writes without a source file.
GENERATED_PAGES = {"search", "genindex"}
INLINE_MATH = re.compile(r"(?<!\\)\$([^$]+?)(?<!\\)\$")
RAW_IMAGE = re.compile(r"!\[(.*)\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)", re.DOTALL)


def caption_nodes(text: str) -> list[nodes.Node]:
    """Text nodes with ``$...$`` spans turned into inline math nodes (``\\$`` is a dollar)."""
    parts: list[nodes.Node] = []
    last = 0

    def plain(piece: str) -> None:
        if piece:
            parts.append(nodes.Text(piece.replace("\\$", "$")))

    for match in INLINE_MATH.finditer(text):
        plain(text[last:match.start()])
        parts.append(nodes.math(match.group(0), match.group(1)))
        last = match.end()
    plain(text[last:])
    return parts


class ImageParagraphToFigure(SphinxTransform):
    """A paragraph holding nothing but one described image becomes a figure.

    Runs before Sphinx's ``AutoNumbering`` (priority 210), which gives the new
    figures their ids and so their numbers.
    """

    default_priority = 200

    def apply(self, **kwargs) -> None:
        for para in list(self.document.findall(nodes.paragraph)):
            children = [c for c in para.children
                        if not (isinstance(c, nodes.Text) and not c.astext().strip())]
            if len(children) != 1 or not isinstance(children[0], nodes.image):
                continue
            image = children[0]
            description = image.get("alt", "").strip()
            # MyST keeps only the text of the description in ``alt`` (math is
            # dropped); the paragraph's raw source still holds it whole.
            raw = RAW_IMAGE.fullmatch(para.rawsource.strip())
            if raw and "$" in raw.group(1):
                description = raw.group(1).strip()
                image["alt"] = INLINE_MATH.sub(lambda m: m.group(1), description)
            if not description:
                continue  # an image without a description stays a plain image
            figure = nodes.figure("", classes=["chapter-figure"])
            figure.source, figure.line = para.source, para.line
            image.parent.remove(image)
            figure += image
            caption = nodes.caption(description, "", *caption_nodes(description))
            caption.source, caption.line = para.source, para.line
            figure += caption
            stem = Path(image.get("uri", "")).stem
            if stem:
                figure["names"].append(nodes.fully_normalize_name(f"fig-{stem}"))
                self.document.note_implicit_target(figure, figure)
            para.replace_self(figure)


NBDEV_DIRECTIVE = re.compile(r"^#\|[^\n]*\n?", re.MULTILINE)


class HideExportDirectives(SphinxTransform):
    """Code cells lose their ``#| ...`` lines (nbdev's directives), which are
    for the export tool, not the reader."""
    default_priority = 400

    def apply(self, **kwargs) -> None:
        for block in list(self.document.findall(nodes.literal_block)):
            text = block.astext()
            if not text.startswith("#|"):
                continue
            kept = NBDEV_DIRECTIVE.sub("", text)
            block.rawsource = kept
            block[:] = [nodes.Text(kept)]


def locate_bibliography(src: Path) -> Path | None:
    """The nearest references.bib in ``src`` or a folder above it."""
    src = Path(src).resolve()
    for folder in [src, *src.parents]:
        if (folder / BIBLIOGRAPHY).is_file():
            return folder / BIBLIOGRAPHY
    return None


def find_bibliography(app: Sphinx, config) -> None:
    """Point sphinxcontrib-bibtex at the nearest references.bib above the source."""
    if config.bibtex_bibfiles:
        return
    found = locate_bibliography(app.srcdir)
    if found is None:
        raise ConfigError(f"no {BIBLIOGRAPHY} in {app.srcdir} or any folder above it "
                          "(the chapter's citations are resolved against it)")
    # An absolute path: sphinxcontrib-bibtex reads relative ones from the
    # configuration folder (book/), not from the source folder.
    config.bibtex_bibfiles = [str(found)]


def title_from_index(app: Sphinx, config) -> None:
    """The site's title is the title page's first heading, in the build's language."""
    index = Path(app.srcdir) / (config.root_doc + ".md")
    if not index.is_file():
        return
    for line in index.read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            config.project = config.html_title = line[2:].strip()
            return


def _languages(app: Sphinx) -> list[tuple[str, Path]]:
    """``site_languages`` entries ``code=source_folder``; the first is the root site."""
    out = []
    for entry in app.config.site_languages:
        code, _, folder = entry.partition("=")
        out.append((code.strip(), Path(folder.strip() or app.srcdir)))
    return out


def _display_name(code: str) -> str:
    """The language's own name for itself ("English", "中文"), from Babel."""
    from babel import Locale, UnknownLocaleError

    try:
        name = Locale.parse(code.replace("-", "_")).get_display_name()
    except (ValueError, UnknownLocaleError):
        return code
    return name[:1].upper() + name[1:] if name else code


def language_links(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    languages = _languages(app)
    current = app.config.site_language
    if len(languages) < 2 or current not in {code for code, _ in languages}:
        context["site_language_links"] = []
        return
    root = languages[0][0]
    base = {code: ("" if code == root else code) for code, _ in languages}
    here = posixpath.join(base[current], pagename + ".html")
    links = []
    for code, folder in languages:
        has_page = pagename in GENERATED_PAGES or any(
            (folder / (pagename + suffix)).is_file() for suffix in app.config.source_suffix)
        target = posixpath.join(base[code], (pagename if has_page else app.config.root_doc) + ".html")
        links.append({
            "code": code,
            "name": _display_name(code),
            "href": posixpath.relpath(target, posixpath.dirname(here) or "."),
            "current": code == current,
        })
    context["site_language_links"] = links


def chinese_search_fix() -> type | None:
    """Chinese search whose page script names the stemmer it really ships.

    Sphinx's Chinese search bundles the English stemmer script but tells the
    page to use ``ChineseStemmer``, which that script does not define: the
    search page of a Chinese build stops with a script error. Returns None
    where the Sphinx in use is not affected.
    """
    try:  # the layout of Sphinx's search package differs between versions
        from sphinx.search import _MINIFIED_JS_PATH
        from sphinx.search.zh import SearchChinese

        rawcode = SearchChinese.js_stemmer_rawcode
        script = (_MINIFIED_JS_PATH / rawcode).read_text(encoding="utf-8") if rawcode else ""
    except (ImportError, AttributeError, OSError):
        return None
    if not rawcode or SearchChinese.language_name + "Stemmer" in script:
        return None
    return type("SearchChineseEnglishStemmer", (SearchChinese,), {"language_name": "English"})


def setup(app: Sphinx) -> dict:
    fixed = chinese_search_fix()
    if fixed is not None:
        app.add_search_language(fixed)
    app.add_config_value("site_languages", [], "html", types=[list])
    app.add_config_value("site_language", "en", "html", types=[str])
    app.add_transform(ImageParagraphToFigure)
    app.add_transform(HideExportDirectives)
    app.connect("config-inited", find_bibliography, priority=400)
    app.connect("config-inited", title_from_index, priority=400)
    app.connect("html-page-context", language_links)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
