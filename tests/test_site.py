"""The chapter's website (``make site``): built from fixture notebooks, read in Chromium.

The fixture is a small chapter: two English notebooks (math, a figure, a
citation, stored outputs; "bottleneck" only on the second page), the
repository's own title page ``notebooks/index.md``, a ``references.bib``, and
a Chinese translation in ``notebooks/zh/``. It is rendered once with
``tools/run_notebooks.py --no-execute`` (Sphinx, ``book/conf.py``, warnings
as errors); the browser tests open the result in headless Chromium through
Playwright and skip, saying why, where no Chromium is installed.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "run_notebooks.py"
sys.path.insert(0, str(ROOT / "book"))
sys.path.insert(0, str(ROOT / "tools"))

# As wide as the chapter's widest diagram (the ResNeXt block).
FIGURE = ('<svg xmlns="http://www.w3.org/2000/svg" width="960" height="240">'
          '<rect width="960" height="240" fill="#4a90d9"/></svg>')
BIB = """@inproceedings{he2016deep,
  author    = {He, Kaiming and Zhang, Xiangyu and Ren, Shaoqing and Sun, Jian},
  title     = {Deep Residual Learning for Image Recognition},
  booktitle = {Proceedings of the {IEEE} Conference on Computer Vision and Pattern Recognition},
  pages     = {770--778},
  year      = {2016}
}
"""
# What Jupyter writes into every notebook; myst-nb picks the code lexer from it.
PYTHON = {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
          "language_info": {"name": "python"}}
ZH_INDEX = """# 残差网络（ResNet）

本章介绍残差网络。

```{toctree}
:glob:
:numbered:

[0-9]*
```
"""

TR_INDEX = """# Artık Ağlar (ResNet)

Bu bölüm artık ağları anlatır.

```{toctree}
:glob:
:numbered:

[0-9]*
```
"""


def first_notebook(figure: str, title: str, words: str) -> nbformat.NotebookNode:
    return new_notebook(metadata=PYTHON, cells=[
        new_markdown_cell(f"# {title}\n\n{words} A residual block computes "
                          "$f(\\mathbf{x}) = g(\\mathbf{x}) + \\mathbf{x}$, "
                          "as in {cite:p}`he2016deep`.\n\n"
                          f"$$\\mathcal{{F}} \\subseteq \\mathcal{{F}}'$$\n\n"
                          f"![A block whose input is added to its output $x + g(x)$.]({figure})"),
        new_code_cell("print(6 * 7)", execution_count=1,
                      outputs=[new_output("stream", name="stdout", text="42\n")]),
        # Two prints of one cell, stored as two stream outputs (as Jupyter does).
        new_code_cell("print('first line')\nprint('second line')", execution_count=2,
                      outputs=[new_output("stream", name="stdout", text="first line\n"),
                               new_output("stream", name="stdout", text="second line\n")]),
        new_markdown_cell("## Shapes\n\nThe output keeps the shape $(n, c, h, w)$."),
        # An export target and a hidden cell, as the chapter's notebooks have them.
        new_code_cell("#| default_exp demo\nimport math  #@save", execution_count=3),
        new_code_cell("GUARDED = 'attached checks'", execution_count=4,
                      metadata={"tags": ["remove-cell"]}),
    ])


def second_notebook(title: str, words: str) -> nbformat.NotebookNode:
    return new_notebook(metadata=PYTHON, cells=[
        new_markdown_cell(f"# {title}\n\n{words}"),
        new_code_cell("1 + 1", execution_count=1,
                      outputs=[new_output("execute_result", data={"text/plain": "2"},
                                          execution_count=1)]),
        new_markdown_cell("## References\n\n```{bibliography}\n```"),
    ])


def make_chapter(root: Path) -> Path:
    """The fixture chapter under ``root``; returns its notebooks folder."""
    (root / "img").mkdir()
    (root / "img" / "box.svg").write_text(FIGURE)
    (root / "references.bib").write_text(BIB)
    nbs = root / "notebooks"
    zh = nbs / "zh"
    zh.mkdir(parents=True)
    shutil.copy(ROOT / "notebooks" / "index.md", nbs / "index.md")
    nbformat.write(second_notebook("Deeper networks",
                                   "Deeper networks use a bottleneck block of three "
                                   "convolutions."), nbs / "02_second.ipynb")
    nbformat.write(first_notebook("../img/box.svg", "Function classes",
                                  "Nested classes only grow."), nbs / "01_first.ipynb")
    (zh / "index.md").write_text(ZH_INDEX, encoding="utf-8")
    nbformat.write(first_notebook("../../img/box.svg", "函数类", "嵌套的函数类只会变大。"),
                   zh / "01_first.ipynb")
    nbformat.write(second_notebook("更深的网络", "更深的网络使用瓶颈块（bottleneck）。"), zh / "02_second.ipynb")
    tr = nbs / "tr"
    tr.mkdir()
    (tr / "index.md").write_text(TR_INDEX, encoding="utf-8")
    nbformat.write(first_notebook("../../img/box.svg", "Fonksiyon sınıfları",
                                  "İç içe sınıflar yalnızca büyür."), tr / "01_first.ipynb")
    nbformat.write(second_notebook("Daha derin ağlar", "Daha derin ağlar darboğaz "
                                   "(bottleneck) bloğu kullanır."), tr / "02_second.ipynb")
    return nbs


def render(notebooks: Path, out: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(TOOL), "--no-execute",
                           "--notebooks", str(notebooks), "--out", str(out)],
                          capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """The fixture chapter rendered once; returns its ``build/html`` folder."""
    root = tmp_path_factory.mktemp("chapter")
    proc = render(make_chapter(root), root / "build")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return root / "build" / "html"


# ---------------------------------------------------------------- the files


def test_one_page_per_notebook_and_language(site):
    for folder in (site, site / "zh"):
        for page in ("index.html", "01_first.html", "02_second.html", "search.html",
                     "searchindex.js"):
            assert (folder / page).is_file(), folder / page
    assert (site / "_static" / "mathjax" / "tex-chtml.js").is_file()  # MathJax ships with the site
    assert not (site / "jupyter_execute").exists() and not (site / "zh" / "jupyter_execute").exists()
    assert '<html lang="en"' in (site / "index.html").read_text()
    zh_index = (site / "zh" / "index.html").read_text(encoding="utf-8")
    assert '<html lang="zh-CN"' in zh_index
    assert "<title>残差网络（ResNet）" in zh_index  # the translated title page names the site


def test_stored_outputs_figure_caption_and_citation_are_rendered(site):
    page = (site / "01_first.html").read_text()
    assert re.search(r"<pre>(<span></span>)?42\s*</pre>", page)  # the stored output, not executed again
    caption = re.search(r'<figure class="chapter-figure[^"]*" id="fig-box">(.*?)</figure>',
                        page, re.S).group(1)
    assert "Fig. 1.1" in caption
    assert "A block whose input is added to its output" in caption
    assert 'alt="A block whose input is added to its output x + g(x)."' in caption
    assert r'<span class="math notranslate nohighlight">\(x + g(x)\)</span>' in caption
    # Numbered like the reference list; the link's title gives the whole entry.
    cite = re.search(r'\[<a class="reference internal" href="02_second.html#[^"]+" '
                     r'title="Kaiming He, [^"]*Deep residual learning[^"]*">1</a>\]', page)
    assert cite, "the citation links to the bibliography on the second page"
    assert "deep residual learning for image recognition" in (site / "02_second.html").read_text().lower()


def test_each_page_links_its_notebook(site):
    page = (site / "01_first.html").read_text()
    assert 'href="_sources/01_first.ipynb"' in page
    notebook = json.loads((site / "_sources" / "01_first.ipynb").read_text())
    assert "".join(notebook["cells"][1]["outputs"][0]["text"]) == "42\n"


def test_toctree_follows_the_files_not_a_list(site):
    index = (ROOT / "notebooks" / "index.md").read_text()
    assert "01_" not in index and ":glob:" in index  # nothing to edit when a notebook is added
    page = (site / "index.html").read_text()
    body = page[page.index('<div class="toctree-wrapper'):]
    links = re.findall(r'<a class="reference internal" href="([^"#]+)">', body)
    assert links[:2] == ["01_first.html", "02_second.html"]


def test_language_switch_links_the_same_page(site):
    en = (site / "02_second.html").read_text()
    zh = (site / "zh" / "02_second.html").read_text(encoding="utf-8")
    assert re.search(r'<a class="language-link" href="zh/02_second.html" hreflang="zh"', en)
    assert re.search(r'<a class="language-link" href="../02_second.html" hreflang="en"', zh)
    assert ">中文<" in en and ">English<" in zh


def test_a_broken_chapter_fails_the_build_and_every_problem_is_named(tmp_path):
    nbs = make_chapter(tmp_path)
    shutil.rmtree(nbs / "zh")
    nbformat.write(new_notebook(metadata=PYTHON, cells=[new_markdown_cell(
        "# Broken\n\nAs shown by {cite:p}`nobody1999missing`, see {ref}`no-such-label`.\n\n"
        "![A figure that is not there.](../img/missing.svg)")]), nbs / "03_broken.ipynb")
    proc = render(nbs, tmp_path / "build")
    assert proc.returncode == 1
    assert "nobody1999missing" in proc.stderr
    assert "no-such-label" in proc.stderr
    assert "missing.svg" in proc.stderr
    assert "the site for 'en'" in proc.stderr
    assert not (tmp_path / "build" / "html" / "index.html").exists()


def test_a_language_folder_needs_its_title_page(tmp_path):
    nbs = make_chapter(tmp_path)
    (nbs / "zh" / "index.md").unlink()
    proc = render(nbs, tmp_path / "build")
    assert proc.returncode == 1
    assert f"{nbs / 'zh' / 'index.md'} is missing" in proc.stderr


def test_caption_math_and_language_names():
    import sitetools
    from docutils import nodes

    parts = sitetools.caption_nodes("the $1 \\times 1$ convolution costs \\$5")
    assert [type(p) for p in parts] == [nodes.Text, nodes.math, nodes.Text]
    assert parts[1].astext() == "1 \\times 1"
    assert parts[2].astext() == " convolution costs $5"
    assert sitetools._display_name("zh") == "中文"
    assert sitetools._display_name("en") == "English"

    import run_notebooks

    assert run_notebooks.sphinx_language("zh") == "zh_CN"  # Sphinx names its catalogue zh_CN
    assert run_notebooks.sphinx_language("ja") == "ja"


# -------------------------------------------------------------- the browser


def _chromium() -> str:
    pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (make venv)")
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.skip("no Chromium installed (make test installs it with apt where it can)")
    return path


@pytest.fixture(scope="module")
def browser_page(site):
    """A Chromium page and the console errors of everything it opened."""
    from playwright.sync_api import sync_playwright

    executable = _chromium()
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        errors: list[str] = []
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("requestfailed", lambda r: errors.append(f"failed to load {r.url}"))
        page.set_default_timeout(20_000)
        yield page, errors
        browser.close()


def _open(page, path: Path) -> None:
    page.goto(path.as_uri())
    page.wait_for_load_state("load")


def test_browser_index_lists_every_notebook(site, browser_page):
    page, errors = browser_page
    _open(page, site / "index.html")
    entries = page.locator("article .toctree-wrapper li.toctree-l1 > a")
    assert entries.evaluate_all("els => els.map(e => e.getAttribute('href'))") == [
        "01_first.html", "02_second.html"]
    assert entries.all_inner_texts() == ["1. Function classes", "2. Deeper networks"]
    assert errors == []


def test_browser_math_figures_and_next_link(site, browser_page):
    page, errors = browser_page
    _open(page, site / "01_first.html")
    page.wait_for_function("() => window.MathJax && MathJax.startup && MathJax.startup.promise")
    page.evaluate("() => MathJax.startup.promise")
    article = page.locator("article.bd-article")
    text = article.inner_text()
    assert "$" not in text and "\\(" not in text and "\\[" not in text
    assert page.locator("article mjx-container").count() >= 4  # inline, display, caption, heading text
    assert page.locator("article figure mjx-container").count() == 1  # math inside the caption
    images = page.evaluate("() => Array.from(document.images).map(i => [i.src, i.complete, i.naturalWidth])")
    assert any(src.endswith("box.svg") for src, _, _ in images)
    assert all(done and width > 0 for _, done, width in images), images
    assert page.locator("figure figcaption").inner_text().startswith("Fig. 1.1")
    # The sidebar lists the chapter in order with this page current; "next" leads on.
    nav = page.locator("nav.bd-docs-nav li.toctree-l1 > a")
    assert nav.evaluate_all("els => els.map(e => e.getAttribute('href'))")[-2:] == [
        "#", "02_second.html"]
    page.locator("a.right-next").click()
    page.wait_for_load_state("load")
    assert page.url.endswith("/02_second.html")
    assert "Deeper networks" in page.locator("h1").first.inner_text()
    assert errors == []


def test_browser_search_finds_the_right_page(site, browser_page):
    page, errors = browser_page
    page.goto((site / "search.html").as_uri() + "?q=bottleneck")
    results = page.locator("#search-results ul.search li")
    results.first.wait_for()
    hrefs = results.locator("a").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    pages = {h.split("?")[0].split("#")[0] for h in hrefs}
    # The second notebook (and the title page, which mentions bottleneck blocks), not the first.
    assert "02_second.html" in pages and "01_first.html" not in pages, hrefs
    assert errors == []


def test_browser_search_works_in_the_translation(site, browser_page):
    page, errors = browser_page
    page.goto((site / "zh" / "search.html").as_uri() + "?q=bottleneck")
    results = page.locator("#search-results ul.search li")
    results.first.wait_for()
    hrefs = results.locator("a").evaluate_all("els => els.map(e => e.getAttribute('href'))")
    assert [h.split("?")[0].split("#")[0] for h in hrefs] == ["02_second.html"]
    assert errors == []


def test_browser_language_switch_keeps_the_page(site, browser_page):
    page, errors = browser_page
    _open(page, site / "02_second.html")
    page.locator(".language-switch a[hreflang='zh']").click()
    page.wait_for_load_state("load")
    assert page.url.endswith("/zh/02_second.html")
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert "更深的网络" in page.locator("h1").first.inner_text()
    page.locator(".language-switch a[hreflang='en']").click()
    page.wait_for_load_state("load")
    assert page.url == (site / "02_second.html").as_uri()
    assert errors == []


def test_export_directives_and_hidden_cells_stay_off_the_page(site):
    page = (site / "01_first.html").read_text()
    assert "import" in page and "math" in page  # the cell itself is shown
    assert "default_exp" not in page
    assert "attached checks" not in page and "GUARDED" not in page


def test_prints_of_one_cell_show_as_one_output_block(site):
    page = (site / "01_first.html").read_text()
    assert re.search(r"<pre>(<span></span>)?first line\nsecond line\s*</pre>", page)


def test_browser_phone_menu_and_desktop_sidebar_buttons_work(site, browser_page):
    page, errors = browser_page
    page.set_viewport_size({"width": 390, "height": 800})
    try:
        _open(page, site / "02_second.html")
        assert page.locator(".language-switch:visible").count() == 0  # folded away
        page.locator(".primary-toggle:visible").first.click()
        # The chapter's navigation, with the language switch, opens.
        page.locator(".language-switch:visible").first.wait_for()
        page.set_viewport_size({"width": 1280, "height": 900})
        _open(page, site / "02_second.html")
        sidebar = page.locator(".bd-sidebar-primary")
        assert sidebar.is_visible()
        page.locator(".primary-toggle:visible").first.click()
        sidebar.wait_for(state="hidden")  # the desktop button collapses it
    finally:
        page.set_viewport_size({"width": 1280, "height": 900})
    assert errors == []


def test_browser_download_saves_the_notebook(site, browser_page):
    page, errors = browser_page
    _open(page, site / "02_second.html")
    link = page.locator("a.btn-download-source-button")
    assert link.get_attribute("download") == "02_second.ipynb"
    assert link.get_attribute("target") is None
    assert errors == []


def test_browser_search_reports_its_results_in_every_language(site, browser_page):
    # Sphinx's Turkish catalog has empty messages and a true/false plural rule.
    page, errors = browser_page
    for folder in (site / "tr", site / "zh", site):
        page.goto((folder / "search.html").as_uri() + "?q=bottleneck")
        page.locator("#search-results ul.search li").first.wait_for()
        status = page.locator("#search-results p.search-summary")
        page.wait_for_function("() => document.querySelector('#search-results p.search-summary')"
                               "?.innerText.trim().length > 0")
        assert "page" in status.inner_text() or "页面" in status.inner_text()
    assert errors == []


def test_browser_wide_figures_scroll_on_a_phone_instead_of_shrinking(site, browser_page):
    page, errors = browser_page
    width = "() => document.querySelector('figure.chapter-figure img').getBoundingClientRect().width"
    _open(page, site / "01_first.html")
    assert page.evaluate(width) <= 900  # the desktop column: shrunk to fit
    page.set_viewport_size({"width": 390, "height": 800})
    try:
        _open(page, site / "01_first.html")
        assert page.evaluate(width) == 0.8 * 960  # legible: 4/5 of its own size
        assert page.evaluate("() => { const f = document.querySelector('figure.chapter-figure');"
                             " return f.scrollWidth > f.clientWidth; }")  # and it scrolls
    finally:
        page.set_viewport_size({"width": 1280, "height": 900})
    assert errors == []
