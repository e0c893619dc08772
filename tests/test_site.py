"""The chapter's website (``make site``): built from fixture notebooks, read in Chromium.

The fixture is a small chapter: two English notebooks (math, a figure, two
citations, stored outputs, an 80-character code line, a training log and a
table; "bottleneck" only on the second page), the repository's own title page
``notebooks/index.md``, a ``references.bib``, and translations into Chinese,
Turkish, Japanese and Vietnamese (``notebooks/<lang>/``), each with a word of
its own to search for. It is rendered once with
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
BIB = """@book{zhang2023dive,
  author    = {Zhang, Aston and Lipton, Zachary C. and Li, Mu and Smola, Alexander J.},
  title     = {Dive into Deep Learning},
  publisher = {Cambridge University Press},
  year      = {2023}
}
@inproceedings{he2016deep,
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
JA_INDEX = ZH_INDEX.replace("残差网络（ResNet）", "残差ネットワーク（ResNet）").replace(
    "本章介绍残差网络。", "この章では残差ネットワークとボトルネックを説明します。")
VI_INDEX = TR_INDEX.replace("Artık Ağlar (ResNet)", "Mạng phần dư (ResNet)").replace(
    "Bu bölüm artık ağları anlatır.", "Chương này giới thiệu mạng phần dư.")

# Each language: its title page, the words of the two pages, a word only the
# first page and one only the second page uses (a search finds that page and
# no other), what the search page's status line says in that language, and
# the footer's line (book/conf.py).
LANGUAGES = {
    "en": dict(index=None, first=("Function classes", "Nested classes only grow."),
               second=("Deeper networks", "Deeper networks use a bottleneck block of three "
                                          "convolutions."),
               words=[("bottleneck", "02_second.html")], status="page",
               footer="© The d2lmini authors", plot="training loss"),
    "zh": dict(index=ZH_INDEX, first=("函数类", "嵌套的函数类只会变大。残差块把输入加到输出上。"),
               second=("更深的网络", "更深的网络使用瓶颈块（bottleneck）。"),
               words=[("残差", "01_first.html"), ("瓶颈", "02_second.html")], status="页面",
               footer="© d2lmini 作者", plot="训练损失"),
    "tr": dict(index=TR_INDEX, first=("Fonksiyon sınıfları", "İç içe sınıflar yalnızca büyür."),
               second=("Daha derin ağlar", "Daha derin ağlar darboğaz (bottleneck) bloğu "
                                           "kullanır."),
               words=[("bottleneck", "02_second.html")], status="sayfa",
               footer="© d2lmini yazarları", plot="eğitim kaybı"),
    # The second page says ボトルネック only inside the compound
    # ボトルネックブロック, which TinySegmenter keeps whole: found all the same.
    "ja": dict(index=JA_INDEX, first=("関数クラス", "入れ子の関数クラスは大きくなるだけです。"
                                                "残差ブロックは入力を出力に足します。"),
               second=("より深いネットワーク", "より深いネットワークはボトルネックブロックを"
                                              "使います。"),
               words=[("ボトルネック", "02_second.html")], status="ページ",
               footer="© d2lmini 著者一同", plot="訓練損失"),
    "vi": dict(index=VI_INDEX, first=("Các lớp hàm", "Các lớp hàm lồng nhau chỉ lớn dần."),
               second=("Mạng sâu hơn", "Mạng sâu hơn dùng khối nút cổ chai (bottleneck)."),
               words=[("bottleneck", "02_second.html")], status="trang",
               footer="© Các tác giả d2lmini", plot="mất mát huấn luyện"),
}
# Exactly 80 characters: the longest code line the chapter's notebooks have.
LINE_80 = "widths = [64 * 2 ** stage for stage in range(4)]  # channels of the four stages"
LINE_80 = LINE_80 + "#" * (80 - len(LINE_80))
# A training log line that once wrapped "img/s" onto a line of its own, a
# printed table, and a line longer than any column, which scrolls in its box.
TRAINING_LOG = ("epoch 1/3: train loss 1.014, val loss 0.548, val acc 0.821, 700.6 s, 87 img/s\n"
                "model        params     MACs   img/s\n"
                "ResNet-18     11.2M    1.82G    1520\n"
                "ResNeXt-50    25.0M    4.27G     610\n"
                "About this run: device: CPU (2 threads), torch 2.4, wall time 3 s since the "
                "first cell, mode: full, recipe: cpu.\n")


def plot_svg(label: str) -> str:
    """A stored plot as the chapter stores them (d2lmini/display.py: SVG whose
    words are text), with ``label`` on its y axis."""
    import matplotlib
    matplotlib.use("agg")
    from matplotlib.figure import Figure
    sys.path.insert(0, str(ROOT))
    from d2lmini.display import svg_bytes
    fig = Figure(figsize=(8, 3))
    ax = fig.add_subplot()
    ax.plot([1, 2, 3], [1.0, 0.5, 0.3])
    ax.set_ylabel(label)
    return svg_bytes(fig).decode()


def first_notebook(figure: str, title: str, words: str, plot: str) -> nbformat.NotebookNode:
    return new_notebook(metadata=PYTHON, cells=[
        new_markdown_cell(f"# {title}\n\n{words} Following the book {{cite:p}}`zhang2023dive`, "
                          "a residual block computes "
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
        new_code_cell(LINE_80 + "\nprint(widths)", execution_count=5,
                      outputs=[new_output("stream", name="stdout", text="[64, 128, 256, 512]\n")]),
        new_code_cell("trainer.fit(model, data)", execution_count=6,
                      outputs=[new_output("stream", name="stdout", text=TRAINING_LOG)]),
        new_code_cell("plt.show()", execution_count=7, outputs=[new_output(
            "display_data", data={"image/svg+xml": plot_svg(plot),
                                  "text/plain": "<Figure size 800x300 with 1 Axes>"})]),
    ])


def second_notebook(title: str, words: str) -> nbformat.NotebookNode:
    return new_notebook(metadata=PYTHON, cells=[
        new_markdown_cell(f"# {title}\n\n{words}"),
        new_code_cell("1 + 1", execution_count=1,
                      outputs=[new_output("execute_result", data={"text/plain": "2"},
                                          execution_count=1)]),
        new_markdown_cell("## References\n\n```{bibliography}\n```"),
    ])


def make_chapter(root: Path, languages=("zh", "tr", "ja", "vi")) -> Path:
    """The fixture chapter under ``root`` with these translations; returns its
    notebooks folder."""
    (root / "img").mkdir()
    (root / "img" / "box.svg").write_text(FIGURE)
    (root / "references.bib").write_text(BIB)
    nbs = root / "notebooks"
    nbs.mkdir()
    # The title page less the library reference's toctree: this chapter is
    # its two notebooks (the reference gets a site of its own, reference_site).
    index = (ROOT / "notebooks" / "index.md").read_text(encoding="utf-8")
    (nbs / "index.md").write_text(without_reference(index), encoding="utf-8")
    for code in ("en", *languages):
        lang = LANGUAGES[code]
        folder, figure = (nbs, "../img/box.svg") if code == "en" else (nbs / code, "../../img/box.svg")
        folder.mkdir(exist_ok=True)
        if lang["index"]:
            (folder / "index.md").write_text(lang["index"], encoding="utf-8")
        # Written second page first: the book's order comes from the names.
        nbformat.write(second_notebook(*lang["second"]), folder / "02_second.ipynb")
        nbformat.write(first_notebook(figure, *lang["first"], lang["plot"]),
                       folder / "01_first.ipynb")
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


def _folder(site: Path, code: str) -> Path:
    return site if code == "en" else site / code


def test_one_page_per_notebook_and_language(site):
    for code in LANGUAGES:
        folder = _folder(site, code)
        for page in ("index.html", "01_first.html", "02_second.html", "search.html",
                     "searchindex.js", "searchtexts.js"):
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
    # Numbered like the reference list, in the order the book cites them (the
    # book itself first, though He sorts before Zhang); the link's title gives
    # the whole entry.
    cite = re.search(r'\[<a class="reference internal" href="02_second.html#[^"]+" '
                     r'title="Kaiming He, [^"]*Deep residual learning[^"]*">2</a>\]', page)
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
    nbs = make_chapter(tmp_path, languages=("tr",))
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


def test_japanese_search_finds_katakana_words_inside_compounds(monkeypatch):
    import sitetools

    monkeypatch.setattr(sitetools.JapaneseSplitter, "words", {"ボトルネック", "ブロック"})
    splitter = sitetools.JapaneseSplitter({})
    words = splitter.split("ResNet のボトルネックブロックです")
    assert "ボトルネックブロック" in words  # TinySegmenter's word, kept
    assert {"ボトルネック", "ブロック"} <= set(words)  # and the known words inside it
    assert splitter.parts("ボトルネック") == []  # a known word is not split further
    assert splitter.parts("ネットワーク") == []  # nor a word made of unknown pieces


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


def test_each_language_shows_its_own_words_in_stored_plots(site):
    """A stored plot is an image file whose words are text: each page shows
    the plot of its own notebook, with its language's label."""
    for code, lang in LANGUAGES.items():
        page = (_folder(site, code) / "01_first.html").read_text(encoding="utf-8")
        images = [src for src in re.findall(r'<img[^>]*src="([^"]+\.svg)"', page)
                  if "box.svg" not in src]
        assert len(images) == 1, (code, images)
        svg = (_folder(site, code) / images[0]).read_text(encoding="utf-8")
        assert f">{lang['plot']}</text>" in svg, code
        if code != "en":
            assert ">training loss</text>" not in svg, code


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


# What each language's pages show, measured once per page (a page load is
# the slow part): the checks below read these measurements.
CODE_BLOCKS = """() => Array.from(document.querySelectorAll('div.highlight pre'))
    .filter(pre => !pre.closest('.cell_output'))
    .map(pre => {
      const style = getComputedStyle(pre);
      const probe = document.createElement('span');
      probe.textContent = 'x'.repeat(80);
      pre.append(probe);
      const eighty = probe.getBoundingClientRect().width;
      probe.remove();
      const room = pre.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
      return {text: pre.textContent, scroll: pre.scrollWidth, client: pre.clientWidth,
              eighty, room};
    })"""
FIRST_PAGE = """() => {
    const log = Array.from(document.querySelectorAll('div.cell_output pre'))
                     .find(p => p.textContent.includes('img/s'));
    const style = getComputedStyle(log);
    const height = log.clientHeight - parseFloat(style.paddingTop) - parseFloat(style.paddingBottom);
    const cites = Array.from(document.querySelectorAll('article span.bibtex-citation a'));
    return {
      footer: document.querySelector('footer.bd-footer-content').innerText.trim(),
      cites: cites.map(a => [a.innerText, a.title]),
      log: {whiteSpace: style.whiteSpace, rows: height / parseFloat(style.lineHeight),
            scroll: log.scrollWidth, client: log.clientWidth},
      page: document.documentElement.scrollWidth, window: window.innerWidth,
    };
}"""
FIGURE_FIT = """() => {
    const f = document.querySelector('figure.chapter-figure');
    const img = f.querySelector('img');
    const link = img.closest('a');
    return {img: img.getBoundingClientRect().width, figure: f.clientWidth,
            scrolls: f.scrollWidth > f.clientWidth,
            page: document.documentElement.scrollWidth, window: window.innerWidth,
            href: link && link.getAttribute('href'), target: link && link.target};
}"""
SEARCH_BOXES = "input[name=q], .search-button-field, .search-button"


def _visible_search_boxes(page) -> list[str]:
    return [box.evaluate("e => e.outerHTML.slice(0, 80)")
            for box in page.locator(SEARCH_BOXES).all() if box.is_visible()]


def _search(page, folder: Path, word: str) -> dict:
    """Search ``word`` on the search page: result pages, excerpts, status line."""
    page.goto((folder / "search.html").as_uri() + "?q=" + word)
    page.wait_for_function("() => document.querySelector('#search-results p.search-summary')"
                           "?.innerText.trim().length > 0")
    results = page.locator("#search-results ul.search li")
    count = results.count()
    # Excerpts arrive after the status line (one answered fetch per result).
    page.wait_for_function(f"() => document.querySelectorAll('#search-results li p.context')"
                           f".length >= {count}", timeout=5_000)
    return {
        "results": results.evaluate_all(
            "lis => lis.map(li => [li.querySelector('a').getAttribute('href'),"
            " li.querySelector('p.context')?.innerText || ''])"),
        "status": page.locator("#search-results p.search-summary").inner_text(),
        "boxes": _visible_search_boxes(page),
    }


@pytest.fixture(scope="module")
def book_pages(site, browser_page) -> dict:
    page, errors = browser_page
    seen = {}
    for code, lang in LANGUAGES.items():
        folder = _folder(site, code)
        _open(page, folder / "01_first.html")
        first = page.evaluate(FIRST_PAGE)
        first["code"] = page.evaluate(CODE_BLOCKS)
        first["boxes"] = _visible_search_boxes(page)
        first["figure"] = page.evaluate(FIGURE_FIT)
        _open(page, folder / "02_second.html")
        link = page.locator("a.btn-download-source-button")
        second = {"code": page.evaluate(CODE_BLOCKS),
                  "download": [link.get_attribute(a) for a in ("download", "target", "href")]}
        searches = {word: _search(page, folder, word) for word, _ in lang["words"]}
        seen[code] = {"first": first, "second": second, "search": searches}
    page.set_viewport_size({"width": 390, "height": 800})
    try:
        for code in LANGUAGES:
            _open(page, _folder(site, code) / "01_first.html")
            seen[code]["phone"] = page.evaluate(FIGURE_FIT)
    finally:
        page.set_viewport_size({"width": 1280, "height": 900})
    seen["errors"] = list(errors)
    return seen


def test_browser_download_saves_the_notebook(book_pages):
    for code in LANGUAGES:
        download, target, href = book_pages[code]["second"]["download"]
        assert (download, target, href) == ("02_second.ipynb", None, "_sources/02_second.ipynb"), code
    assert book_pages["errors"] == []


def test_browser_code_blocks_do_not_scroll_at_desktop_width(book_pages):
    for code in LANGUAGES:
        for name in ("first", "second"):
            blocks = book_pages[code][name]["code"]
            assert blocks, (code, name)
            for block in blocks:
                assert block["scroll"] <= block["client"], (code, name, block)
                assert block["eighty"] <= block["room"], (code, name, block)  # 80 columns fit
        assert any(LINE_80 in block["text"] for block in book_pages[code]["first"]["code"]), code
    assert book_pages["errors"] == []


def test_browser_outputs_keep_their_lines(book_pages):
    lines = TRAINING_LOG.rstrip("\n").split("\n")
    for code in LANGUAGES:
        first = book_pages[code]["first"]
        log = first["log"]
        assert log["whiteSpace"] == "pre", (code, log)  # no wrapping rule
        assert round(log["rows"]) == len(lines), (code, log)  # each line on one row
        assert log["scroll"] > log["client"], (code, log)  # the long line scrolls in its box,
        assert first["page"] <= first["window"], (code, first)  # not the page


def test_browser_search_finds_each_language_s_words_with_excerpts(book_pages):
    # Chinese words are split by jieba, Japanese ones by Sphinx's TinySegmenter;
    # each result shows an excerpt around the word (answered from
    # searchtexts.js: the page is opened from disk), and the status line is
    # in the page's language (Sphinx's Japanese, Turkish and Vietnamese
    # catalogs lack it; Turkish also has a true/false plural rule).
    for code, lang in LANGUAGES.items():
        for word, found in lang["words"]:
            search = book_pages[code]["search"][word]
            pages = {href.split("?")[0].split("#")[0]: excerpt
                     for href, excerpt in search["results"]}
            other = {"01_first.html", "02_second.html"} - {found}
            assert found in pages and not pages.keys() & other, (code, word, search)
            assert word.lower() in pages[found].lower(), (code, word, search)
            assert lang["status"] in search["status"], (code, search["status"])
            assert code == "en" or "Search finished" not in search["status"], code
    assert book_pages["errors"] == []


def test_browser_one_search_box_on_a_desktop_page(book_pages):
    for code, lang in LANGUAGES.items():
        assert len(book_pages[code]["first"]["boxes"]) == 1, (code, book_pages[code]["first"])
        for search in book_pages[code]["search"].values():
            assert len(search["boxes"]) == 1, (code, search["boxes"])  # the search page's own


def test_browser_footer_reads_in_the_page_language(book_pages):
    for code, lang in LANGUAGES.items():
        assert book_pages[code]["first"]["footer"] == lang["footer"], code


def test_browser_first_citation_is_number_one(book_pages):
    for code in LANGUAGES:
        cites = book_pages[code]["first"]["cites"]
        assert [number for number, _ in cites] == ["1", "2"], code  # in the order met
        assert cites[0][1].startswith("Aston Zhang"), code  # though He sorts first


def test_browser_figures_fit_a_phone_and_open_full_size(book_pages):
    desktop = book_pages["en"]["first"]["figure"]
    assert desktop["img"] <= desktop["figure"] < 960  # the desktop column: shrunk to fit
    for code in LANGUAGES:
        phone = book_pages[code]["phone"]
        assert phone["img"] <= phone["figure"] <= 390, (code, phone)  # whole, not cut off
        assert not phone["scrolls"] and phone["page"] <= phone["window"], (code, phone)
        assert phone["href"].endswith("box.svg") and phone["target"] == "_blank", (code, phone)
    assert book_pages["errors"] == []


def test_browser_figure_labels_are_legible_at_desktop_width(site, browser_page):
    """The chapter's own figures (img/*.svg, drawn by tools/make_figures.py):
    shrunk to the desktop column, every label is still at least 10 px high."""
    page, errors = browser_page
    _open(page, site / "01_first.html")
    column = page.evaluate("() => document.querySelector('figure.chapter-figure').clientWidth")
    checked = 0
    for svg in sorted((ROOT / "img").glob("*.svg")):
        text = svg.read_text(encoding="utf-8")
        sizes = [float(s) for s in re.findall(r'font-size="([0-9.]+)', text)]
        if not sizes:
            continue  # text drawn as paths (matplotlib): its sizes are in make_figures.py
        width = re.search(r'<svg[^>]*\bwidth="([0-9.]+)pt"', text)
        view = re.search(r'viewBox="[-0-9. ]*? ([0-9.]+) [0-9.]+"', text)
        natural = float(width.group(1)) * 4 / 3  # CSS pixels at the figure's own size
        shown = min(natural, column)
        px_per_unit = shown / float(view.group(1))
        assert min(sizes) * px_per_unit >= 10, (svg.name, min(sizes), shown)
        checked += 1
    assert checked >= 5
    assert errors == []


# ------------------------------------------ translations behind the English


def test_complete_translations_show_no_notice(site):
    """The fixture's translations are complete: no page has a notice or a
    cell marked as English (book/sitetools.py)."""
    pages = sorted(site.rglob("*.html"))
    assert len(pages) >= 20
    for path in pages:
        text = path.read_text(encoding="utf-8")
        assert "translation-notice" not in text and "translation-english" not in text, path


def test_translation_notice_reads_in_each_language():
    import sitetools

    assert sitetools.notice_text("zh", 3) == ("本页有 3 段尚未根据英文原文更新，暂以英文显示。",
                                              "查看英文原文")
    for code in ("ja", "tr", "vi"):
        text, link = sitetools.notice_text(code, 3)
        assert "3" in text and link and text != sitetools.notice_text("en", 3)[0], code
    assert sitetools.notice_text("en", 1)[0].startswith("1 part of this page has not")
    assert sitetools.notice_text("en", 2)[0].startswith("2 parts of this page have not")
    assert sitetools.notice_text("pt_BR", 2) == sitetools.notice_text("en", 2)  # no wording: English
    assert sitetools.notice_text("zh_CN", 1)[0].startswith("本页有 1 段")


def test_committed_site_marks_exactly_the_cells_shown_in_english():
    """Each committed translated page shows the notice (and marks cells as
    English) exactly where its catalog lacks a cell's translation or holds
    only a fuzzy one: while every translation is current, no page shows it."""
    import polib
    import sitetools
    import translate

    expected, shown = {}, {}
    for lang in translate.languages(ROOT):
        for source in sorted((ROOT / "notebooks").glob("*.ipynb")):
            path = ROOT / "translations" / lang / "LC_MESSAGES" / f"{source.stem}.po"
            po = translate.read_catalog(path, ROOT) if path.exists() else polib.POFile()
            entries = {(e.msgctxt, e.msgid): e for e in po if not e.obsolete}
            english = nbformat.read(str(source), as_version=4)
            page = f"notebooks/{lang}/{source.name}"
            expected[page] = [c.id for c in english.cells
                              if c.cell_type == "markdown" and c.source.strip()
                              and translate.shown_in_english(entries.get((c.id, c.source)))]
            committed = ROOT / page
            cells = nbformat.read(str(committed), as_version=4).cells if committed.exists() else []
            shown[page] = [cells[i].id for i in sitetools.english_cells(committed)]
        for source in sorted((ROOT / "notebooks").glob("*.md")):  # title page, reference
            path = ROOT / "translations" / lang / "LC_MESSAGES" / f"{source.stem}.po"
            po = translate.read_catalog(path, ROOT) if path.exists() else polib.POFile()
            entries = {(e.msgctxt, e.msgid): e for e in po if not e.obsolete}
            page = f"notebooks/{lang}/{source.name}"
            expected[page] = [ctxt for ctxt, text, _ in translate._md_units(source)
                              if translate.shown_in_english(entries.get((ctxt, text)))]
            shown[page] = [f"paragraph at lines {a}-{b}"
                           for a, b in sitetools.english_lines(ROOT / page)]
            if len(shown[page]) == len(expected[page]):
                shown[page] = expected[page]  # the lines are checked in test_translations
    stale = {page: len(ids) for page, ids in expected.items() if ids}
    wrong = sorted(page for page in expected if shown[page] != expected[page])
    assert not wrong, (f"the site would tell readers the wrong cells are in English on {wrong} "
                       f"(cells in English by the catalogs: {stale}); run `make translations`")
    for page, count in stale.items():
        text, _ = sitetools.notice_text(page.split("/")[1], count)
        assert str(count) in text, page
    for source in sorted((ROOT / "notebooks").glob("*.ipynb")):
        assert sitetools.english_cells(source) == [], source  # the English pages never


OUTPUT_BOXES = """() => Array.from(document.querySelectorAll(
        'article div.cell_output, article div.cell_output *'))
    .filter(e => ['auto', 'scroll'].includes(getComputedStyle(e).overflowX))
    .map(e => ({tag: e.tagName, text: e.textContent.slice(0, 30),
                wider: e.scrollWidth > e.clientWidth + 1, tabindex: e.getAttribute('tabindex'),
                role: e.getAttribute('role'), label: e.getAttribute('aria-label'),
                classes: e.className}))"""


def test_browser_wide_output_boxes_take_keyboard_focus(site, browser_page):
    """An output box whose lines are wider than the column scrolls sideways:
    it takes keyboard focus (the arrow keys scroll it), is a named region,
    and fades on the side where more lies hidden; a box that fits takes no
    focus. At a desktop's and a phone's width, in every language."""
    page, errors = browser_page
    try:
        for width in (1280, 390):
            page.set_viewport_size({"width": width, "height": 900})
            for code in LANGUAGES:
                _open(page, _folder(site, code) / "01_first.html")
                boxes = page.evaluate(OUTPUT_BOXES)
                wide = [box for box in boxes if box["wider"]]
                assert any("epoch 1/3" in box["text"] for box in wide), (code, width, boxes)
                for box in boxes:
                    if box["wider"]:
                        assert box["tabindex"] == "0", (code, width, box)
                        assert box["role"] == "region" and box["label"], (code, width, box)
                        assert "output-more-right" in box["classes"], (code, width, box)
                    else:
                        assert box["tabindex"] in (None, "-1"), (code, width, box)  # no Tab stop
        log = page.locator("div.cell_output pre", has_text="epoch 1/3")
        log.focus()
        page.keyboard.press("ArrowRight")
        page.wait_for_function("pre => pre.scrollLeft > 0 && "
                               "pre.classList.contains('output-more-left')", arg=log.element_handle())
        log.evaluate("pre => { pre.scrollLeft = pre.scrollWidth; }")
        page.wait_for_function("pre => !pre.classList.contains('output-more-right')",
                               arg=log.element_handle())
    finally:
        page.set_viewport_size({"width": 1280, "height": 900})
    assert errors == []


# ---------------------------------------------------- the library reference

# notebooks/api.md: d2lmini's public API. Its prose (title, headings, intros) is
# Markdown that tools/translate.py translates into notebooks/LANG/api.md; the
# docstrings (autodoc, in eval-rst blocks) and the examples (pycon blocks) are
# fenced blocks, the same English in every language.
REFERENCE = "api"
REFERENCE_TOCTREE = re.compile(r"\n*```\{toctree\}\n[^`]*?\n" + REFERENCE + r"\n```\n")


def without_reference(index: str) -> str:
    """A title page's text without the toctree that lists the library reference."""
    assert REFERENCE_TOCTREE.search(index), "the title page lists the library reference"
    return REFERENCE_TOCTREE.sub("\n", index)


def reference_headings(code: str) -> list[str]:
    """The title and group headings of the library reference as the committed
    page of a language writes them (``notebooks/[LANG/]api.md``), code spans
    as plain text."""
    folder = ROOT / "notebooks" if code == "en" else ROOT / "notebooks" / code
    text = (folder / f"{REFERENCE}.md").read_text(encoding="utf-8")
    prose = re.sub(r"^```.*?^```$", "", text, flags=re.M | re.S)  # fences hold no heading
    return [" ".join(h.replace("`", "").split())
            for h in re.findall(r"^#{1,2} (.+)$", prose, re.M)]


def make_reference_chapter(root: Path) -> Path:
    """A chapter of one short notebook per language around the repository's
    own title pages and library reference (``notebooks/[LANG/]index.md`` and
    ``api.md``); returns its notebooks folder."""
    (root / "references.bib").write_text(BIB)
    nbs = root / "notebooks"
    for code, lang in LANGUAGES.items():
        folder = nbs if code == "en" else nbs / code
        source = ROOT / "notebooks" if code == "en" else ROOT / "notebooks" / code
        folder.mkdir(parents=True)
        for page in ("index.md", f"{REFERENCE}.md"):
            shutil.copy(source / page, folder / page)
        title, words = lang["first"]
        notebook = new_notebook(metadata=PYTHON, cells=[new_markdown_cell(f"# {title}\n\n{words}")])
        nbformat.write(notebook, folder / "01_first.ipynb")
    return nbs


@pytest.fixture(scope="module")
def reference_site(tmp_path_factory) -> Path:
    """The reference chapter rendered once (autodoc imports d2lmini from the
    repository); returns its ``build/html`` folder."""
    root = tmp_path_factory.mktemp("reference")
    proc = render(make_reference_chapter(root), root / "build")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return root / "build" / "html"


def _page_text(page: str) -> str:
    """What a reader reads on a page: tags dropped, entities and spaces resolved."""
    import html

    return " ".join(html.unescape(re.sub(r"<[^>]+>", "", page)).split())


def test_library_reference_renders_the_docstrings_and_examples(reference_site):
    import d2lmini

    said = "Ctrl-C stops at the current batch and prints how to resume"
    assert said in " ".join(d2lmini.Trainer.__doc__.split())
    for code in LANGUAGES:
        page = (_folder(reference_site, code) / f"{REFERENCE}.html").read_text(encoding="utf-8")
        for name in ("Trainer", "FashionMNIST", "ResNet18", "seed_everything", "CheckpointError",
                     "count_parameters", "load_torchvision", "about_this_run"):
            assert f'id="d2lmini.{name}"' in page, (code, name)
        text = _page_text(page)
        assert "class d2lmini.Trainer(max_epochs, num_gpus=0, gradient_clip_val=0" in text, code
        assert said in text, code  # the docstring itself
        assert ">>> history = trainer.fit(model, data)" in text, code  # a worked example
        headings = reference_headings(code)
        assert len(headings) >= 6, (code, headings)  # a title and the groups: Markdown prose
        for heading in headings:  # in the page's own language where it is translated
            assert heading in text, (code, heading)
        # A Markdown page gets no notice (sitetools.english_cells reads notebooks only).
        assert "translation-notice" not in page, code


def test_library_reference_is_reachable_from_every_title_page(reference_site):
    import html

    for code in LANGUAGES:
        # The link reads as the page's title in that language ("Library reference").
        title = html.escape(reference_headings(code)[0], quote=False)
        link = f'<a class="reference internal" href="{REFERENCE}.html">{title}</a>'
        folder = _folder(reference_site, code)
        index = (folder / "index.html").read_text(encoding="utf-8")
        assert link in index[index.index("<article"):], code  # the title page's own list
        chapter = (folder / "01_first.html").read_text(encoding="utf-8")
        assert link in chapter[chapter.index("bd-docs-nav"):], code  # every page's navigation
