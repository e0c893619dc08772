"""Sphinx configuration of the chapter's website (``make site``, ``make run``).

The source folder is a notebooks folder: ``notebooks/`` for English, a
translation ``notebooks/<lang>/``, or the executed copy ``build/notebooks/``.
It holds ``index.md`` (the chapter's title page, whose toctree globs the
``NN_name`` notebooks) and the notebooks, rendered with their stored outputs.
``tools/run_notebooks.py`` calls Sphinx once per language with this folder as
its configuration folder; see CONTRIBUTING.md ("The book website").
"""
import importlib
import sys
from pathlib import Path

from sphinx.util.nodes import make_refnode

sys.path.insert(0, str(Path(__file__).resolve().parent))
# The library reference (notebooks/api.md) documents the repository's own
# d2lmini, whatever copy is installed: autodoc imports it from here.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

project = "Residual Networks (ResNet)"
author = "the d2lmini authors"
copyright = "the d2lmini authors"
# The footer of every page, in the page's language (_templates/site-footer.html);
# a language missing here gets the English line.
site_footer_lines = {
    "en": "© The d2lmini authors",
    "zh": "© d2lmini 作者",
    "ja": "© d2lmini 著者一同",
    "tr": "© d2lmini yazarları",
    "vi": "© Các tác giả d2lmini",
}

extensions = [
    "myst_nb",                 # notebooks and MyST markdown as Sphinx documents
    "sphinxcontrib.bibtex",    # {cite:p}`key` against references.bib
    "sphinx-mathjax-offline",  # MathJax bundled into _static: formulas offline
    "sitetools",               # book/sitetools.py: image paragraphs -> figures, language switch
    "sphinx.ext.autodoc",      # the library reference (api.md) from d2lmini's docstrings
]

# Notebooks are rendered as stored: `make run` executes them beforehand with
# its own runner, `make site` shows the committed outputs.
nb_execution_mode = "off"
# Consecutive prints of one cell show as one output block, as in Jupyter.
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3

# Translations live in subfolders of the English notebooks folder; a build
# reads the pages of one folder only ("*" does not cross "/").
include_patterns = ["*.md", "*.ipynb"]
exclude_patterns = ["**/.ipynb_checkpoints"]

# Numbered pages (the toctree of index.md) and numbered figures "Fig. 2.1".
numfig = True
numfig_secnum_depth = 1

# The bibliography file is found above the source folder (the repository
# root holds references.bib); see sitetools.find_bibliography.
bibtex_bibfiles = []
# Numbered citations, matching the numbered reference list: author-year text
# cannot tell two papers of the same first author and year apart. Numbered in
# the order a reader meets them (pages in book order, then within each page):
# "unsrt" keeps sphinxcontrib-bibtex's citation order, "plain" would sort the
# list by author and make the first citation of the book [13].
bibtex_reference_style = "label"
bibtex_default_style = "unsrt"

# Every warning is an error (tools/run_notebooks.py passes -W --keep-going -n).
nitpicky = True

# The library reference (api.md): signatures as the chapter writes its calls,
# without type annotations (those would link to torch and typing, which this
# offline site does not document), and members in the order of the source.
autodoc_typehints = "none"
autodoc_member_order = "bysource"


def _exists(dotted: str) -> bool:
    """Whether ``dotted`` (``d2lmini.heap``, ``d2lmini.layout.channels_last_pays``) imports."""
    parts = dotted.split(".")
    for i in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:i]))
        except ImportError:
            continue
        try:
            for attr in parts[i:]:
                obj = getattr(obj, attr)
        except AttributeError:
            return False
        return True
    return False


def docstring_reference(app, env, node, contnode):
    """Resolve a reference in d2lmini's docstrings that Sphinx could not.

    The library reference documents each public name once, as ``d2lmini.NAME``,
    while a docstring names it as its own module sees it (``DatasetNotFoundError``,
    ``train_dataloader``): such a reference links to the one documented object
    of that name. A reference to an internal of d2lmini that the page does not
    document (``d2lmini.heap``) shows as code, if it exists; any other stays
    a warning, which fails the build.
    """
    if node.get("refdomain") != "py":
        return None
    target = node["reftarget"]
    found = [(name, entry) for name, entry in env.get_domain("py").find_obj(
        env, node.get("py:module"), node.get("py:class"), target, node["reftype"],
        searchmode=1) if not entry.aliased]
    if len(found) == 1:
        name, entry = found[0]
        return make_refnode(app.builder, node["refdoc"], entry.docname, entry.node_id,
                            contnode, name)
    if target.startswith("d2lmini.") and _exists(target):
        return contnode
    return None


def setup(app):
    app.connect("missing-reference", docstring_reference)


html_theme = "sphinx_book_theme"
html_title = "Residual Networks (ResNet)"
html_static_path = ["_static"]
html_css_files = ["sitetools.css"]
html_js_files = ["sitetools.js"]  # sidebar buttons, notebook download, figure links, search
templates_path = ["_templates"]
html_copy_source = True       # _sources/NAME.ipynb: the download button's notebook
html_sourcelink_suffix = ""  # _sources/NAME.ipynb is the notebook itself
# Search results with an excerpt of the page around the word found. Sphinx
# fetches each found page to cut the excerpt, which a page opened from disk
# (file://) may not do: the build also writes every page's text into
# searchtexts.js (sitetools.py), which the search page loads
# (_templates/search.html) and answers those fetches from (sitetools.js).
html_show_search_summary = True
# Japanese words are split by Sphinx's own TinySegmenter (no dictionary to
# install), which sitetools.JapaneseSplitter teaches the katakana words inside
# compounds (ボトルネックブロック is found by ボトルネック); Chinese ones by
# jieba, which sitetools.py requires for a zh build.
html_search_options = {"type": "sitetools.JapaneseSplitter"}
html_last_updated_fmt = None
html_theme_options = {
    "use_download_button": True,      # download the page's .ipynb
    "use_sidenotes": False,
    "show_toc_level": 2,
    "home_page_in_toc": True,
    "navigation_with_keys": False,
    # One search field on a desktop page, the sidebar's: no header bar with a
    # second one (the article header keeps its search icon for phones).
    "navbar_persistent": [],
    # The footer: one line in the page's language, not "By the d2lmini authors".
    "footer_content_items": ["site-footer.html"],
}
# Light or dark after the reader's system setting; left empty, the theme's
# script logs an error on every page.
html_context = {"default_mode": "auto"}
html_sidebars = {
    # The search page has its own search field.
    "search": ["navbar-logo.html", "language-switch.html", "sbt-sidebar-nav.html"],
    "**": [
        "navbar-logo.html",
        "language-switch.html",
        "search-button-field.html",
        "sbt-sidebar-nav.html",
    ]
}
