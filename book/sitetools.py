"""What the chapter's site needs that its libraries do not offer.

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
   ``chinese_search_fix``; its words are split by jieba, which
   ``require_jieba`` insists on. Japanese words are split by Sphinx's
   TinySegmenter, which ``JapaneseSplitter`` teaches the katakana words
   inside compounds.) ``footer_line`` gives each page the footer line of its
   language (``site_footer_lines`` in conf.py).

3. Export directives. ``#| default_exp NAME`` tells ``tools/export.py``
   where a notebook's ``#@save`` cells go; ``HideExportDirectives`` drops
   such lines from the code the site shows (Jupyter still shows them).
   Cells tagged ``remove-cell`` (checks attached with ``d2l.guard``) are
   left out by myst-nb itself.

4. Search excerpts offline. Sphinx's search page fetches every page it
   found to cut an excerpt around the word, which a page opened from disk
   (file://) may not do. ``SearchTexts`` writes the text of every
   page into ``searchtexts.js``; the search page loads it and
   ``_static/sitetools.js`` answers those fetches from it.

5. Translations behind the English. A translated notebook whose catalog
   lacks a cell's translation, or holds only a fuzzy one, shows that cell in
   English and lists it in its metadata (``tools/translate.py``).
   ``MarkEnglishCells`` gives what such a cell renders into the classes
   ``translation-english`` (a side rule, ``_static/sitetools.css``) and
   ``language-en`` (which docutils writes as ``lang="en"``, so a screen
   reader reads it as English); ``translation_notice`` gives the page a
   notice in its own language that links to the English page
   (``_templates/translation-notice.html``, at the top of the article).
   A complete page shows neither.

It also finds ``references.bib`` for sphinxcontrib-bibtex in the nearest
folder above the notebooks (the repository root), and titles each build
after the first heading of its title page ``index.md``.
"""
from __future__ import annotations

import html
import json
import logging
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


def require_jieba(app: Sphinx, config) -> None:
    """A Chinese build splits its words with jieba; without it Sphinx quietly
    indexes only the Latin words, and searching 残差 finds nothing."""
    if not (config.language or "").startswith("zh"):
        return
    try:
        import jieba
    except ImportError:
        raise ConfigError("the Chinese site's search needs jieba to split words: install "
                          "the project's site extra (pip install -e .[site])") from None
    jieba.setLogLevel(logging.WARNING)  # no "Building prefix dict ..." on every build


def footer_line(app: Sphinx, pagename: str, templatename: str, context: dict, doctree) -> None:
    lines = app.config.site_footer_lines
    context["site_footer"] = lines.get(app.config.site_language, lines.get("en", ""))


SEARCH_TEXTS = "searchtexts.js"


def _skipped(node: nodes.Node) -> bool:
    """Nodes whose text is no part of an excerpt: cell outputs, comments, raw HTML."""
    if isinstance(node, (nodes.comment, nodes.raw, nodes.system_message, nodes.target)):
        return True
    return isinstance(node, nodes.Element) and "cell_output" in node.get("classes", [])


def excerpt_html(doctree: nodes.document) -> str:
    """The page's text as Sphinx's search cuts excerpts from it: a
    ``role="main"`` element whose sections keep their ids (a result found by a
    heading is cut from its own section), the rest plain text."""
    def text(node: nodes.Node) -> str:
        if _skipped(node):
            return ""
        if isinstance(node, nodes.Text):
            return html.escape(node.astext(), quote=False)
        # Inline pieces of a paragraph join as they are, blocks with a space.
        sep = "" if isinstance(node, nodes.TextElement) else " "
        inner = sep.join(text(child) for child in node.children)
        if isinstance(node, nodes.section):
            ids = node.get("ids") or [""]
            anchors = "".join(f'<span id="{html.escape(i)}"></span>' for i in ids[1:])
            return f' <section id="{html.escape(ids[0])}">{anchors}{inner}</section> '
        return inner

    return re.sub(r"\s+", " ", f'<div role="main">{text(doctree).strip()}</div>')


class SearchTexts:
    """``searchtexts.js``: ``SITE_SEARCH_TEXTS[docname]``, each page's text as
    ``excerpt_html`` writes it, from its resolved doctree (citations numbered,
    the bibliography written out)."""

    def __init__(self) -> None:
        self.texts: dict[str, str] = {}

    def collect(self, app: Sphinx, doctree: nodes.document, docname: str) -> None:
        self.texts[docname] = excerpt_html(doctree)

    def write(self, app: Sphinx, exception) -> None:
        if exception is not None or app.builder.format != "html":
            return
        for docname in sorted(app.env.found_docs - self.texts.keys()):  # not rewritten this time
            self.texts[docname] = excerpt_html(app.env.get_and_resolve_doctree(docname, app.builder))
        texts = {name: self.texts[name] for name in sorted(self.texts)}
        script = ("// The text of every page, for the search page's excerpts "
                  "(book/sitetools.py).\nwindow.SITE_SEARCH_TEXTS = "
                  + json.dumps(texts, ensure_ascii=False, separators=(",", ":")) + ";\n")
        (Path(app.outdir) / SEARCH_TEXTS).write_text(script, encoding="utf-8")


KATAKANA_RUN = re.compile(r"[ァ-ヴー]{2,}")
KATAKANA_WORD = re.compile(r"[ァ-ヴー]+")


def _japanese_default_splitter() -> type:
    from sphinx.search.ja import DefaultSplitter

    return DefaultSplitter


class JapaneseSplitter:
    """Sphinx's TinySegmenter, which also finds katakana words inside compounds.

    TinySegmenter keeps a run of katakana whole: ボトルネックブロック is one
    word, and searching ボトルネック misses the pages that only use the
    compound. The katakana words the book uses on their own (collected by
    ``collect_katakana_words`` before any page is indexed) serve as the
    dictionary: a compound made of two or more of them is indexed under
    them too (ボトルネック, ブロック). Configured by ``html_search_options``'s
    ``type`` in conf.py.
    """

    words: set[str] = set()  # katakana words the book uses on their own

    def __init__(self, options: dict[str, str]) -> None:
        self.tiny = _japanese_default_splitter()(options)

    def split(self, input: str) -> list[str]:
        out = []
        for token in self.tiny.split(input):
            out.append(token)
            if KATAKANA_WORD.fullmatch(token):
                out += self.parts(token)
        return out

    def parts(self, word: str) -> list[str]:
        """``word`` as two or more known words (the fewest), or []."""
        best: dict[int, list[str]] = {0: []}  # prefix length -> fewest words making it
        for end in range(2, len(word) + 1):
            options = [best[start] + [word[start:end]] for start in range(end - 1)
                       if start in best and word[start:end] in self.words
                       and (start, end) != (0, len(word))]
            if options:
                best[end] = min(options, key=len)
        return best.get(len(word), [])


def collect_katakana_words(app: Sphinx, env) -> None:
    """The dictionary of ``JapaneseSplitter``: every katakana word that
    TinySegmenter finds in the book's pages (read before any is indexed)."""
    if not (app.config.language or "").startswith("ja"):
        return
    tiny = _japanese_default_splitter()({})
    words = set()
    for docname in env.found_docs:
        for text in env.get_doctree(docname).findall(nodes.Text):
            words.update(w for w in tiny.split(text.astext()) if KATAKANA_RUN.fullmatch(w))
    JapaneseSplitter.words = words


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


# The translated notebook's metadata key (tools/translate.py's TRANSLATION_METADATA).
TRANSLATION_METADATA = "translation"
# myst-nb numbers the lines of cell i from (i + 1) * 10000 (its nb_to_tokens).
CELL_LINES = 10000
# The notice on a page with cells shown in English, in the page's language:
# the sentence (one form, or singular and plural), then the link's words.
TRANSLATION_NOTICES = {
    "en": (("{n} part of this page has not yet been updated to match the English "
            "original and is shown in English.",
            "{n} parts of this page have not yet been updated to match the English "
            "original and are shown in English."),
           "Read the English page"),
    "zh": ("本页有 {n} 段尚未根据英文原文更新，暂以英文显示。", "查看英文原文"),
    "ja": ("このページには英語の原文に合わせてまだ更新されていない箇所が {n} か所あり、"
           "英語のまま表示しています。", "英語の原文を読む"),
    "tr": ("Bu sayfanın {n} bölümü henüz İngilizce aslına göre güncellenmedi ve şimdilik "
           "İngilizce gösteriliyor.", "İngilizce aslını okuyun"),
    "vi": ("Trang này có {n} đoạn chưa được cập nhật theo bản gốc tiếng Anh nên tạm "
           "hiển thị bằng tiếng Anh.", "Đọc bản gốc tiếng Anh"),
}


def english_cells(source: Path) -> list[int]:
    """The indices of the cells a translated notebook shows in English, as its
    metadata lists them; [] for a complete translation or another document."""
    source = Path(source)
    if source.suffix != ".ipynb" or not source.is_file():
        return []
    notebook = json.loads(source.read_text(encoding="utf-8"))
    record = notebook.get("metadata", {}).get(TRANSLATION_METADATA)
    listed = record.get("shown_in_english", []) if isinstance(record, dict) else []
    ids = {item.get("cell") for item in listed if isinstance(item, dict)}
    return [i for i, cell in enumerate(notebook.get("cells", [])) if cell.get("id") in ids]


# A translated Markdown page shows paragraphs in English: its first line is a
# MyST comment (tools/translate.py's MD_RECORD) with their line ranges.
MD_RECORD = re.compile(r"% translation shown_in_english:((?: \d+-\d+)+)\n")


def english_lines(source: Path) -> list[tuple[int, int]]:
    """The (first, last) source lines of the paragraphs a translated Markdown
    page shows in English; [] for a complete translation or a notebook."""
    source = Path(source)
    if source.suffix != ".md" or not source.is_file():
        return []
    with source.open(encoding="utf-8") as f:
        found = MD_RECORD.fullmatch(f.readline())
    return [tuple(map(int, r.split("-"))) for r in found.group(1).split()] if found else []


def notice_text(language: str, count: int) -> tuple[str, str]:
    """The notice's sentence for ``count`` cells shown in English, and its
    link's words, in ``language`` (English where there is no wording for it)."""
    sentence, link = TRANSLATION_NOTICES.get(language.replace("-", "_").split("_")[0],
                                             TRANSLATION_NOTICES["en"])
    if isinstance(sentence, tuple):
        sentence = sentence[0] if count == 1 else sentence[1]
    return sentence.format(n=count), link


class MarkEnglishCells(SphinxTransform):
    """What a cell shown in English renders into is marked as English.

    A markdown cell is not one node (its heading opens a section that goes on
    into the following cells), so each block that comes from the cell is
    marked: a heading, a paragraph, a list, a formula, a figure.
    """

    default_priority = 500

    def apply(self, **kwargs) -> None:
        source = self.env.doc2path(self.env.docname)
        cells, lines = set(english_cells(source)), english_lines(source)
        if cells:
            self._mark(self.document, lambda line: line // CELL_LINES - 1 in cells)
        elif lines:
            self._mark(self.document, lambda line: any(a <= line <= b for a, b in lines))

    def _mark(self, parent: nodes.Element, english) -> None:
        for node in parent.children:
            if isinstance(node, nodes.section):
                self._mark(node, english)
            elif (isinstance(node, nodes.Element) and not isinstance(node, nodes.Invisible)
                    and node.line and english(node.line)):
                node["classes"] += ["translation-english", "language-en"]


def translation_notice(app: Sphinx, pagename: str, templatename: str, context: dict,
                       doctree) -> None:
    """``translation_notice`` for ``_templates/translation-notice.html``: the
    sentence, the link's words and the English page's address, or None."""
    context["translation_notice"] = None
    if doctree is None or pagename not in app.env.found_docs:
        return
    source = app.env.doc2path(pagename)
    count = len(english_cells(source)) or len(english_lines(source))
    if not count:
        return
    text, link = notice_text(app.config.site_language, count)
    root = _languages(app)[0][0] if app.config.site_languages else None
    href = next((lang["href"] for lang in context.get("site_language_links", [])
                 if lang["code"] == root), None)
    context["translation_notice"] = {"count": count, "text": text, "link": link, "href": href}


def setup(app: Sphinx) -> dict:
    fixed = chinese_search_fix()
    if fixed is not None:
        app.add_search_language(fixed)
    app.add_config_value("site_languages", [], "html", types=[list])
    app.add_config_value("site_language", "en", "html", types=[str])
    app.add_config_value("site_footer_lines", {}, "html", types=[dict])
    app.add_transform(ImageParagraphToFigure)
    app.add_transform(HideExportDirectives)
    app.add_transform(MarkEnglishCells)
    app.connect("config-inited", find_bibliography, priority=400)
    app.connect("config-inited", title_from_index, priority=400)
    app.connect("config-inited", require_jieba, priority=400)
    app.connect("env-updated", collect_katakana_words)
    app.connect("html-page-context", language_links)
    app.connect("html-page-context", footer_line)
    # After language_links, whose link to the English page it gives.
    app.connect("html-page-context", translation_notice, priority=600)
    search_texts = SearchTexts()
    app.connect("doctree-resolved", search_texts.collect)
    app.connect("build-finished", search_texts.write)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
