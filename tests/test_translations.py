"""Gettext translations of the chapter (tools/translate.py): the rules on a
tiny notebook, and every committed language checked against the English."""
import importlib.util
import re
import sys
from collections import Counter
from decimal import Decimal
from pathlib import Path

import nbformat
import polib
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("translate_tool", ROOT / "tools" / "translate.py")
tr = sys.modules["translate_tool"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tr)

# Cells that read the same in every language (a bare name as a heading).
SAME_IN_EVERY_LANGUAGE = {"# ResNeXt", "## ResNeXt", "## ResNet-18"}


def spans(markdown: str) -> Counter:
    """What a translation must carry over unchanged: inline code, math, link
    and image targets."""
    found = re.findall(r"`[^`\n]+`", markdown)
    no_code = re.sub(r"`[^`\n]+`", "", markdown)
    found += re.findall(r"\$\$.+?\$\$|\$[^$\n]+\$", no_code, flags=re.S)
    found += [m.group(2) for m in tr.MD_TARGET.finditer(markdown)]
    found += [m.group(2) for m in tr.HTML_TARGET.finditer(markdown)]
    return Counter(found)


# Languages that write 0,920 and 12.800 where English writes 0.920 and 12,800.
COMMA_DECIMAL = {"tr", "vi"}
# Words that scale the number before them ("70 thousand" is "7万" in Chinese,
# "70 bin" in Turkish; "11.7 M" is "11,7 milyon", with or without a suffix).
SCALES = {"thousand": 3, "million": 6, "billion": 9, "bin": 3, "milyon": 6, "milyar": 9,
          "nghìn": 3, "ngàn": 3, "triệu": 6, "tỷ": 9, "千": 3, "万": 4, "億": 8, "亿": 8}
# Unit prefixes, which stand alone ("1.8 G MACs").
PREFIXES = {"k": 3, "M": 6, "G": 9}


def numbers(markdown: str, lang: str = "en") -> dict[str, Decimal]:
    """The numbers a reader sees in the prose (outside code, math and link
    targets), as {text as written: value}, read in the language's style."""
    prose = re.sub(r"`[^`\n]+`|\$\$.+?\$\$|\$[^$\n]+\$|\]\([^)]*\)|<[^>]+>", " ",
                   markdown, flags=re.S)
    group, point = (".", ",") if lang in COMMA_DECIMAL else (",", ".")
    g, p = re.escape(group), re.escape(point)
    number = rf"\d{{1,3}}(?:{g}\d{{3}})+(?:{p}\d+)?|\d+(?:{p}\d+)?"
    scale = "|".join(sorted(SCALES, key=len, reverse=True) + [rf"[{''.join(PREFIXES)}](?!\w)"])
    found = {}
    for m in re.finditer(rf"(?<![\w.,])({number})(?:\s*({scale}))?", prose):
        value = Decimal(m.group(1).replace(group, "").replace(point, "."))
        if m.group(2):
            value = value.scaleb({**SCALES, **PREFIXES}[m.group(2)])
        found[m.group(0)] = value.normalize()
    return found


def missing_numbers(english: str, translated: str, lang: str) -> list[str]:
    """English numbers the translation neither writes in its own style nor
    quotes as they are (a section number such as 4.2 stays 4.2)."""
    values = set(numbers(translated, lang).values())

    def quoted(text: str) -> bool:
        return re.search(rf"(?<![\d.,]){re.escape(text)}(?!\d)", translated) is not None

    return [text for text, value in numbers(english).items()
            if value not in values and not quoted(text.split()[0])]


def _english_notebook(path: Path) -> None:
    nb = new_notebook()
    code = new_code_cell("x = 6 * 7\nx", execution_count=1)
    code.outputs = [new_output("execute_result", data={"text/plain": "42"}, execution_count=1)]
    nb.cells = [
        new_markdown_cell("# Residual Networks"),
        new_markdown_cell("A block computes $f(x) = g(x) + x$ with `Residual`.\n\n"
                          "![A residual block.](../img/residual-block.svg)"),
        code,
        new_markdown_cell("See [the next page](02_next.ipynb)."),
    ]
    nbformat.write(nb, str(path))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "notebooks").mkdir()
    _english_notebook(tmp_path / "notebooks" / "01_intro.ipynb")
    assert tr.main(["--root", str(tmp_path), "--add-language", "xx"]) == 0
    return tmp_path


def _catalog(project: Path) -> polib.POFile:
    return polib.pofile(str(project / "translations/xx/LC_MESSAGES/01_intro.po"))


def _translate_all(project: Path) -> None:
    po = _catalog(project)
    for e in po:
        e.msgstr = "XX " + e.msgid.replace("Residual Networks", "Redes residuales") \
            .replace("A block computes", "Un bloque calcula")
    po.save()
    tr.main(["--root", str(project)])


def _read(project: Path, lang: str = "xx"):
    return nbformat.read(str(project / "notebooks" / lang / "01_intro.ipynb"), as_version=4)


def test_new_language_starts_untranslated_and_reads_in_english(project, capsys):
    pot = polib.pofile(str(project / "translations/templates/01_intro.pot"))
    assert [e.msgctxt for e in pot] == [c.id for c in nbformat.read(
        str(project / "notebooks/01_intro.ipynb"), as_version=4).cells if c.cell_type == "markdown"]
    nb = _read(project)
    assert nb.cells[0].source == "# Residual Networks"  # English until translated
    assert "](../../img/residual-block.svg)" in nb.cells[1].source  # re-pointed
    assert "](02_next.ipynb)" in nb.cells[3].source  # sibling stays a sibling
    assert tr.main(["--root", str(project), "--check"]) == 1
    assert capsys.readouterr().out.count("is not translated") == 3


def test_translated_catalog_gives_translated_notebook_with_the_same_code(project):
    _translate_all(project)
    english = nbformat.read(str(project / "notebooks/01_intro.ipynb"), as_version=4)
    nb = _read(project)
    assert nb.cells[0].source == "XX # Redes residuales"
    assert [c.id for c in nb.cells] == [c.id for c in english.cells]
    assert nb.cells[2] == english.cells[2]  # code, outputs, id: unchanged
    assert tr.problems(project) == []


def test_language_option_touches_only_that_language(project, capsys):
    assert tr.main(["--root", str(project), "--add-language", "yy"]) == 0
    _translate_all(project)  # writes xx and yy
    yy = project / "translations/yy/LC_MESSAGES/01_intro.po"
    before = yy.read_text()
    path = project / "notebooks/01_intro.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    nb.cells[0].source = "# Residual Networks (ResNet)"
    nbformat.write(nb, str(path))
    assert tr.main(["--root", str(project), "--language", "xx"]) == 0
    assert "fuzzy" in _catalog(project)[0].flags and yy.read_text() == before
    capsys.readouterr()
    assert tr.main(["--root", str(project), "--check", "--language", "xx"]) == 1
    out = capsys.readouterr().out
    assert "xx/LC_MESSAGES" in out and "/yy/" not in out
    with pytest.raises(SystemExit):
        tr.main(["--root", str(project), "--language", "zz"])
    assert "no catalogs for zz" in capsys.readouterr().err


def test_changed_english_cell_makes_its_translation_fuzzy(project, capsys):
    _translate_all(project)
    path = project / "notebooks/01_intro.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    nb.cells[0].source = "# Residual Networks (ResNet)"
    nbformat.write(nb, str(path))
    assert tr.main(["--root", str(project), "--check"]) == 1
    assert "is fuzzy" in capsys.readouterr().out
    tr.main(["--root", str(project)])
    entry = next(e for e in _catalog(project) if e.msgctxt == nb.cells[0].id)
    assert "fuzzy" in entry.flags and entry.msgstr == "XX # Redes residuales"
    assert entry.previous_msgid == "# Residual Networks"
    # The reader never sees the stale translation: the new English shows instead.
    assert _read(project).cells[0].source == "# Residual Networks (ResNet)"
    entry.msgstr, entry.flags = "XX # Redes residuales (ResNet)", []
    po = _catalog(project)
    po.find(nb.cells[0].id, by="msgctxt").msgstr = entry.msgstr
    po.find(nb.cells[0].id, by="msgctxt").flags = []
    po.save()
    tr.main(["--root", str(project)])
    assert tr.problems(project) == []
    assert _read(project).cells[0].source == "XX # Redes residuales (ResNet)"


def test_deleted_cell_becomes_obsolete_until_pruned(project, capsys):
    _translate_all(project)
    path = project / "notebooks/01_intro.ipynb"
    nb = nbformat.read(str(path), as_version=4)
    del nb.cells[3]
    nbformat.write(nb, str(path))
    tr.main(["--root", str(project)])
    assert tr.main(["--root", str(project), "--check"]) == 1
    assert "is obsolete" in capsys.readouterr().out
    tr.main(["--root", str(project), "--prune"])
    assert tr.problems(project) == [] and len(_catalog(project)) == 2


def test_hand_edited_translated_notebook_is_out_of_date(project):
    _translate_all(project)
    nb = _read(project)
    nb.cells[2].source = "x = 0"
    nbformat.write(nb, str(project / "notebooks/xx/01_intro.ipynb"))
    assert tr.problems(project) == ["out of date: notebooks/xx/01_intro.ipynb "
                                    "(run `make translations`)"]


def test_markdown_title_page_translates_paragraphs_and_keeps_fences(project):
    (project / "notebooks" / "index.md").write_text(
        "# Residual Networks\n\nEvery section is a notebook.\n\n"
        "```{toctree}\n:glob:\n\n[0-9]*\n```\n", encoding="utf-8")
    tr.main(["--root", str(project)])
    po = polib.pofile(str(project / "translations/xx/LC_MESSAGES/index.po"))
    assert [e.msgid for e in po] == ["# Residual Networks", "Every section is a notebook."]
    for e in po:
        e.msgstr = "XX " + e.msgid
    po.save()
    tr.main(["--root", str(project)])
    page = (project / "notebooks" / "xx" / "index.md").read_text(encoding="utf-8")
    assert page == ("XX # Residual Networks\n\nXX Every section is a notebook.\n\n"
                    "```{toctree}\n:glob:\n\n[0-9]*\n```\n")


def test_numbers_are_read_in_each_languages_style():
    english = "It ends at 0.920 after 12,800 images, 11.7 M weights, Section 4.2."
    assert missing_numbers(english, "12.800 görüntüden sonra 0,920, 11,7 milyon ağırlık, "
                                    "4.2. bölüm.", "tr") == []
    assert missing_numbers(english, "12,800 张图像后为 0.920，1170 万个权重，第 4.2 节。", "zh") == []
    # An older edition's figure, or English style in a comma-decimal language.
    assert missing_numbers(english, "12.800 görüntüden sonra 0,874, 11,7 milyon, 4.2.", "tr") \
        == ["0.920"]
    assert missing_numbers("About 70 thousand weights.", "Yaklaşık 7 bin ağırlık.", "tr") \
        == ["70 thousand"]


def test_spans_catch_a_changed_formula():
    english = "A block computes $f(x) = g(x) + x$ with `Residual`."
    assert spans("Un bloque calcula $f(x) = g(x) + x$ con `Residual`.") == spans(english)
    assert spans("Un bloque calcula $f(x) = g(x)$ con `Residual`.") != spans(english)


# -- the committed translations -----------------------------------------------

LANGS = tr.languages(ROOT)
PAIRS = [(lang, p.name) for lang in LANGS for p in sorted((ROOT / "notebooks").glob("*.ipynb"))]
NAMES = [p.name for p in sorted((ROOT / "notebooks").glob("*.ipynb"))]


def test_templates_catalogs_and_notebooks_are_complete_and_current():
    """Every catalog has every entry of the current English template,
    translated, none fuzzy or obsolete; every generated file is current."""
    assert tr.problems(ROOT) == []


@pytest.mark.parametrize("lang, name", PAIRS)
def test_translated_notebook_keeps_code_and_spans(lang, name):
    english = nbformat.read(str(ROOT / "notebooks" / name), as_version=4)
    translated = nbformat.read(str(ROOT / "notebooks" / lang / name), as_version=4)
    assert [c.id for c in translated.cells] == [c.id for c in english.cells]
    # A label may stay English where the language's own prose uses the word
    # as it is (Vietnamese writes "epoch"): the plot and the text agree.
    prose = re.sub(r"`[^`]*`|\$[^$]*\$", " ", " ".join(
        c.source for c in translated.cells if c.cell_type == "markdown"))
    for en, tl in zip(english.cells, translated.cells):
        assert tl.cell_type == en.cell_type
        if en.cell_type == "code":
            assert tl.source == en.source
            assert without_plot_words(tl.outputs) == without_plot_words(en.outputs)
            for label in plot_words(tl.outputs):
                kept = re.search(rf"(?<!\w){re.escape(label)}(?!\w)", prose)
                assert label not in english_labels(en) or is_a_name(label) or kept, (
                    f"cell {en.id} shows the English plot label {label!r}")
            continue
        if not en.source.strip():
            continue
        # (the translated page shows its language's figures: img/LANG/NAME.svg)
        assert spans(tl.source) == spans(tr._relink(en.source, lang)), f"cell {en.id}"
        if en.source.strip() not in SAME_IN_EVERY_LANGUAGE:
            assert tl.source != tr._relink(en.source, lang), f"cell {en.id} is left in English"
        assert missing_numbers(en.source, tl.source, lang) == [], f"cell {en.id}"


def plot_words(outputs) -> list[str]:
    return [tr._label(m.group(2)) for out in outputs
            if tr.SVG in out.get("data", {})
            for m in tr.SVG_TEXT.finditer(out["data"][tr.SVG]) if tr._label(m.group(2))]


def without_plot_words(outputs):
    """The outputs with every word of their plots blanked and the size of the
    drawing left out: what a translation must keep exactly (the drawing, the
    numbers, every other output)."""
    import copy
    outputs = copy.deepcopy(outputs)
    for out in outputs:
        if tr.SVG in out.get("data", {}):
            svg = tr.SVG_TEXT.sub(lambda m: m.group(0) if tr._label(m.group(2)) is None
                                  else m.group(1) + m.group(3), out["data"][tr.SVG])
            # (a longer translation may widen the drawing: its <svg> tag)
            out["data"][tr.SVG] = re.sub(r"<svg\b[^>]*>", "<svg>", svg, count=1)
    return outputs


def english_labels(cell) -> set[str]:
    return set(plot_words(cell.outputs))


def is_a_name(label: str) -> bool:
    """A label that is a name in every language: a model as the code calls it
    (plain-56, ResNet18), one word with a digit or an inner capital."""
    return " " not in label and bool(re.search(r"\d|\w[A-Z]", label))


def test_the_chapter_has_plots_whose_words_are_translated():
    """The stored plots are SVG with text labels, so each language shows its
    own words; the English plots are the source of the catalog entries."""
    labels = {name: [label for _, label in tr._plot_labels(
        nbformat.read(str(ROOT / "notebooks" / name), as_version=4))] for name in NAMES}
    assert sum(map(len, labels.values())) > 50, labels
    assert "epoch" in labels["05_training.ipynb"]
    pngs = [name for name in NAMES for cell in nbformat.read(
        str(ROOT / "notebooks" / name), as_version=4).cells
        for out in cell.get("outputs", []) if "image/png" in out.get("data", {})]
    assert pngs == []  # a PNG's words could not be translated


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("page", ["index.md", "api.md"])
def test_translated_markdown_page_keeps_every_number(lang, page):
    english = (ROOT / "notebooks" / page).read_text(encoding="utf-8")
    translated = (ROOT / "notebooks" / lang / page).read_text(encoding="utf-8")
    assert missing_numbers(english, translated, lang) == []


# -- the library reference: its prose is translated, its docstrings and examples not --

REFERENCE = ROOT / "notebooks" / "api.md"
FENCE = re.compile(r"^```.*?^```$", re.M | re.S)


def test_library_reference_gives_translators_its_prose_only():
    """notebooks/api.md is Markdown: its title, each group's heading and intro
    and the sentence before each example are translation units; the autodoc
    directives (eval-rst blocks, the docstrings stay English) and the doctest
    examples (pycon blocks) are fenced, copied unchanged into every language."""
    text = REFERENCE.read_text(encoding="utf-8")
    units = [e.msgid for e in tr.extract(REFERENCE)]
    headings = re.findall(r"^#{1,2} .+$", FENCE.sub("", text), re.M)
    assert headings[0] == "# Library reference" and len(headings) >= 6, headings
    assert [u for u in units if u.startswith("#")] == headings
    for heading in headings:  # the page's intro, each group's intro: prose to translate
        intro = units[units.index(heading) + 1]
        assert not intro.startswith("#") and len(intro.split()) >= 10, heading
    assert any("docstrings" in u and "English" in u for u in units)  # the intro says so
    for unit in units:
        for markup in (">>>", ".. auto", ".. py:", "currentmodule", "```"):
            assert markup not in unit, (markup, unit)
    # A complete translation changes every unit and nothing in a fence.
    po = tr._new_catalog("xx")
    for entry in tr.extract(REFERENCE):
        entry.msgstr = entry.msgid + " XX"
        po.append(entry)
    translated = tr.build_document(REFERENCE, po)
    assert FENCE.findall(translated) == FENCE.findall(text) and len(FENCE.findall(text)) >= 10
    assert translated.count(" XX\n") == len(units)


# -- cells shown in English: the notebook's metadata and the page's notice ------------


def _shown_in_english(project: Path, lang: str = "xx"):
    return _read(project, lang).metadata.get(tr.TRANSLATION_METADATA)


def test_cells_shown_in_english_are_listed_in_the_notebook_metadata(project):
    # A new language: every markdown cell is untranslated, and listed so.
    english = nbformat.read(str(project / "notebooks/01_intro.ipynb"), as_version=4)
    assert _shown_in_english(project) == {"shown_in_english": [
        {"cell": c.id, "reason": "untranslated"} for c in english.cells
        if c.cell_type == "markdown"]}
    _translate_all(project)
    assert _shown_in_english(project) is None  # complete: no record at all
    # One English cell changes (its translation turns fuzzy), one is added.
    path = project / "notebooks/01_intro.ipynb"
    english.cells[0].source = "# Residual Networks (ResNet)"
    english.cells.append(new_markdown_cell("A new closing remark."))
    nbformat.write(english, str(path))
    tr.main(["--root", str(project)])
    assert _shown_in_english(project) == {"shown_in_english": [
        {"cell": english.cells[0].id, "reason": "fuzzy"},
        {"cell": english.cells[-1].id, "reason": "untranslated"}]}
    # The record is part of what the tool writes: a notebook without it is out of date.
    nb = _read(project)
    del nb.metadata[tr.TRANSLATION_METADATA]
    nbformat.write(nb, str(project / "notebooks/xx/01_intro.ipynb"))
    assert "out of date: notebooks/xx/01_intro.ipynb (run `make translations`)" \
        in tr.problems(project)
    # Translated again: the record goes.
    po = _catalog(project)
    for e in po:
        e.msgstr, e.flags = "XX " + e.msgid, []
    po.save()
    tr.main(["--root", str(project)])
    assert _shown_in_english(project) is None and tr.problems(project) == []


CHAPTER_INDEX = """# Residual Networks

```{toctree}
:glob:
:numbered:

[0-9]*
```
"""


def test_a_page_with_cells_in_english_says_so_on_the_site(tmp_path):
    """A Sphinx build (tools/run_notebooks.py) of one tiny page in Chinese
    with one fuzzy and one untranslated cell: the page says so in Chinese,
    links to the English page and marks those cells as English."""
    import subprocess

    (tmp_path / "notebooks").mkdir()
    (tmp_path / "notebooks" / "index.md").write_text(CHAPTER_INDEX, encoding="utf-8")
    (tmp_path / "references.bib").write_text(
        "@book{zhang2023dive, author = {Zhang, Aston}, title = {Dive into Deep Learning},"
        " publisher = {Cambridge University Press}, year = {2023}}\n", encoding="utf-8")
    english = new_notebook(metadata={"kernelspec": {"name": "python3", "language": "python",
                                                    "display_name": "Python 3"}})
    english.cells = [new_markdown_cell("# Residual Networks"),
                     new_markdown_cell("A block adds its input to its output."),
                     new_code_cell("print(6 * 7)", execution_count=1, outputs=[
                         new_output("stream", name="stdout", text="42\n")]),
                     new_markdown_cell("## Shapes\n\nThe shape stays the same.")]
    path = tmp_path / "notebooks" / "01_intro.ipynb"
    nbformat.write(english, str(path))
    assert tr.main(["--root", str(tmp_path), "--add-language", "zh"]) == 0
    zh = {"# Residual Networks": "# 残差网络", "A block adds its input to its output.":
          "残差块把输入加到输出上。", "## Shapes\n\nThe shape stays the same.": "## 形状\n\n形状不变。"}
    for name in ("01_intro", "index"):
        po = polib.pofile(str(tmp_path / f"translations/zh/LC_MESSAGES/{name}.po"))
        for e in po:
            e.msgstr = zh.get(e.msgid, "残差网络" if e.msgid.startswith("#") else e.msgid)
        po.save()
    english.cells[1].source = "A block adds its input to its output, as He et al. proposed."
    english.cells.append(new_markdown_cell("A closing remark, not yet translated."))
    nbformat.write(english, str(path))
    # An extra Markdown page (as the library reference is) with a paragraph
    # that changed after it was translated.
    extra = tmp_path / "notebooks" / "02_notes.md"
    extra.write_text("# Notes\n\nFirst words.\n\n```python\nx = 1\n```\n\nLast words.\n",
                     encoding="utf-8")
    assert tr.main(["--root", str(tmp_path)]) == 0
    po = polib.pofile(str(tmp_path / "translations/zh/LC_MESSAGES/02_notes.po"))
    for e in po:
        e.msgstr = {"# Notes": "# 笔记", "First words.": "开头。"}.get(e.msgid, "结尾。")
    po.save()
    extra.write_text(extra.read_text(encoding="utf-8").replace("Last words.", "Last words, revised."),
                     encoding="utf-8")
    assert tr.main(["--root", str(tmp_path)]) == 0
    written = (tmp_path / "notebooks" / "zh" / "02_notes.md").read_text(encoding="utf-8")
    assert written.startswith("% translation shown_in_english: 11-11\n\n# 笔记")
    assert written.splitlines()[10] == "Last words, revised."  # line 11 of the page
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "run_notebooks.py"),
                           "--no-execute", "--notebooks", str(tmp_path / "notebooks"),
                           "--out", str(tmp_path / "build")],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    html = tmp_path / "build" / "html"
    page = (html / "zh" / "01_intro.html").read_text(encoding="utf-8")
    notice = re.search(r'<div class="translation-notice" role="note"[^>]*>(.*?)</div>', page, re.S)
    assert notice, "the page has no notice"
    assert "本页有 2 段尚未根据英文原文更新，暂以英文显示。" in notice.group(1)
    assert re.search(r'<a [^>]*href="\.\./01_intro\.html" hreflang="en">', notice.group(1))
    article = page[page.index('<article class="bd-article">'):]
    assert article.index("translation-notice") < article.index("<h1")  # at the top
    marked = re.findall(r'<(\w+) class="translation-english" lang="en">(.*?)</\1>', page, re.S)
    assert [text for _, text in marked] == [
        "A block adds its input to its output, as He et al. proposed.",
        "A closing remark, not yet translated."]
    assert "形状不变。" in page and "残差网络" in page  # the current translations, unmarked
    notes = (html / "zh" / "02_notes.html").read_text(encoding="utf-8")
    assert "本页有 1 段尚未根据英文原文更新，暂以英文显示。" in notes
    assert re.findall(r'<(\w+) class="translation-english" lang="en">(.*?)</\1>', notes, re.S) \
        == [("p", "Last words, revised.")]
    assert "% translation" not in notes and "开头。" in notes
    # The English page and the title page (all current) show nothing.
    for other in (html / "01_intro.html", html / "zh" / "index.html"):
        text = other.read_text(encoding="utf-8")
        assert "translation-notice" not in text and "translation-english" not in text, other


# -- a catalog cannot reach outside the project ---------------------------------


CATALOG = ('msgid ""\nmsgstr ""\n"Language: {lang}\\n"\n'
           '"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
           'msgctxt "c1"\nmsgid "Hello"\nmsgstr "Ni hao"\n')


def _hostile_catalog(tmp_path, folder="zh", lang="zh", text=None):
    path = tmp_path / "translations" / folder / "LC_MESSAGES" / "02_x.po"
    path.parent.mkdir(parents=True)
    path.write_text(text if text is not None else CATALOG.format(lang=lang), encoding="utf-8")
    return path


def test_a_catalog_reads_with_its_own_language(tmp_path):
    po = tr.read_catalog(_hostile_catalog(tmp_path), tmp_path)
    assert po.metadata["Language"] == "zh" and po[0].msgstr == "Ni hao"


@pytest.mark.parametrize("lang", ["../../../../tmp/evil", "ja", "zh/../..", "ZH"])
def test_a_language_header_that_is_not_its_folder_is_refused(tmp_path, lang):
    with pytest.raises(tr.CatalogError, match="Language"):
        tr.read_catalog(_hostile_catalog(tmp_path, lang=lang), tmp_path)


def test_a_figure_link_takes_no_language_that_is_not_a_code(tmp_path):
    (tmp_path / "img" / "zh").mkdir(parents=True)
    (tmp_path / "img" / "zh" / "a.svg").write_text("<svg/>")
    text = "![A.](../img/a.svg)"
    assert tr._relink(text, "zh", tmp_path) == "![A.](../../img/zh/a.svg)"
    assert tr._relink(text, "zh/../zh", tmp_path) == "![A.](../../img/a.svg)"


def test_a_catalog_that_names_another_file_is_not_read(tmp_path):
    other = tmp_path / "other.po"
    other.write_text(CATALOG.format(lang="zh") + '"X-Secret: yes\\n"\n', encoding="utf-8")
    path = _hostile_catalog(tmp_path, text=str(other))
    with pytest.raises(tr.CatalogError, match="not a PO file"):
        tr.read_catalog(path, tmp_path)


def test_a_linked_catalog_is_neither_read_nor_written(tmp_path):
    outside = tmp_path / "outside.po"
    outside.write_text(CATALOG.format(lang="zh"), encoding="utf-8")
    path = tmp_path / "project" / "translations" / "zh" / "LC_MESSAGES" / "02_x.po"
    path.parent.mkdir(parents=True)
    path.symlink_to(outside)
    with pytest.raises(tr.CatalogError, match="link"):
        tr.read_catalog(path, tmp_path / "project")
    with pytest.raises(tr.CatalogError, match="link"):
        tr.write_file(path, "changed", tmp_path / "project")
    assert outside.read_text(encoding="utf-8") == CATALOG.format(lang="zh")


# -- the words of stored plots ------------------------------------------------------

def _svg(*labels: str) -> str:
    """A matplotlib-style SVG (text as text) with these labels, a tick and math."""
    import html
    texts = "".join(f'<text style="font-size: 10px" x="{i}" y="5">{html.escape(t)}</text>'
                    for i, t in enumerate(labels))
    return ('<svg xmlns="http://www.w3.org/2000/svg">'
            '<path d="M 0 0 L 9 9"/><text x="1" y="1">0.25</text>'
            '<text><tspan x="0" y="0">α</tspan></text>' + texts + "</svg>")


@pytest.fixture
def plotted(tmp_path: Path) -> Path:
    (tmp_path / "notebooks").mkdir()
    nb = new_notebook()
    plot = new_code_cell("plot()", execution_count=1)
    plot.outputs = [new_output("display_data", data={
        "image/svg+xml": _svg("epoch", "train loss", "plain-56", "epoch", "a & <b>"),
        "text/plain": "<Figure size 500x300 with 1 Axes>"})]
    nb.cells = [new_markdown_cell("# Curves"), plot]
    nbformat.write(nb, str(tmp_path / "notebooks" / "01_intro.ipynb"))
    assert tr.main(["--root", str(tmp_path), "--add-language", "xx"]) == 0
    return tmp_path


def _translate_labels(project: Path, **words: str) -> None:
    po = _catalog(project)
    for e in po:
        e.msgstr = words.get(e.msgid, "XX " + e.msgid)
    po.save()
    assert tr.main(["--root", str(project)]) == 0


def test_plot_labels_are_entries_once_each_numbers_and_math_are_not(plotted):
    pot = polib.pofile(str(plotted / "translations/templates/01_intro.pot"))
    labels = [e.msgid for e in pot if e.msgctxt == tr.PLOT_LABEL]
    assert labels == ["epoch", "train loss", "plain-56", "a & <b>"]  # unescaped, no 0.25, no α
    assert [e.occurrences for e in pot if e.msgid == "epoch"] == [[("notebooks/01_intro.ipynb", "1")]]


def test_translated_plot_shows_translated_words_and_keeps_the_drawing(plotted):
    _translate_labels(plotted, **{"epoch": "époque", "a & <b>": "x & <y>"})
    svg = _read(plotted).cells[1].outputs[0]["data"]["image/svg+xml"]
    assert svg.count(">époque</text>") == 2 and ">XX train loss</text>" in svg
    assert ">x &amp; &lt;y&gt;</text>" in svg  # written escaped
    assert '<path d="M 0 0 L 9 9"/>' in svg and ">0.25</text>" in svg and ">α</tspan>" in svg
    assert "translation" not in _read(plotted).metadata


def test_an_untranslated_label_keeps_the_english_and_the_page_says_so(plotted, capsys):
    po = _catalog(plotted)
    for e in po:
        e.msgstr = "" if e.msgid == "train loss" else "XX " + e.msgid
    po.save()
    tr.main(["--root", str(plotted)])
    nb = _read(plotted)
    svg = nb.cells[1].outputs[0]["data"]["image/svg+xml"]
    assert ">train loss</text>" in svg and ">XX epoch</text>" in svg
    assert nb.metadata["translation"] == {"shown_in_english": [
        {"cell": nb.cells[1].id, "reason": "untranslated"}]}
    assert tr.main(["--root", str(plotted), "--check"]) == 1
    assert "plot label 'train loss' is not translated" in capsys.readouterr().out


@pytest.mark.parametrize("bad, why", [
    ("<script>alert(1)</script>", "markup"),
    ("plain-\u202e65", "direction-changing"),
    ("plain", "drops '56'"),
    ("line\nbreak-56", "line break"),
    ("x" * 100 + "56", "too long"),
    ("plain\uffff56", "unassigned"),
    ("\u3164\u3164\u3164-56", "invisible"),
    ("pla\u0301\u0301\u0301\u0301in-56", "combining"),
    ("\u2031" * 30 + "56", "too wide"),
])
def test_a_hostile_plot_label_is_refused_and_nothing_is_written(plotted, bad, why, capsys):
    po = _catalog(plotted)
    for e in po:
        e.msgstr = bad if e.msgid == "plain-56" else "XX " + e.msgid
    po.save()
    before = (plotted / "notebooks/xx/01_intro.ipynb").read_text()
    assert tr.main(["--root", str(plotted)]) == 1
    assert why in capsys.readouterr().err
    assert (plotted / "notebooks/xx/01_intro.ipynb").read_text() == before


def test_a_new_label_arrives_untranslated_not_with_another_labels_words(plotted):
    _translate_labels(plotted)
    nb = nbformat.read(str(plotted / "notebooks/01_intro.ipynb"), as_version=4)
    nb.cells[1].outputs[0]["data"]["image/svg+xml"] = _svg("epoch", "val loss")
    nbformat.write(nb, str(plotted / "notebooks/01_intro.ipynb"))
    tr.main(["--root", str(plotted)])
    po = _catalog(plotted)
    new = [e for e in po if e.msgid == "val loss"]
    assert len(new) == 1 and new[0].msgstr == "" and "fuzzy" not in new[0].flags
    assert [e.msgstr for e in po if e.msgid == "epoch"] == ["XX epoch"]


def test_merge_keeps_a_renumbered_paragraph_and_drops_an_unrelated_one():
    """A translation follows its English text to a new context; a context whose
    text was rewritten keeps its old translation (fuzzy) only when the new
    text is a revision of the old, never another paragraph's words."""
    po = tr._new_catalog("xx")
    for ctxt, en, xx in [("paragraph-0", "One small step.", "XX one"),
                         ("paragraph-1", "Residual blocks add their input.", "XX two"),
                         ("paragraph-2", "A completely different sentence.", "XX three"),
                         ("paragraph-3", "The stem has 64 channels.", "XX four")]:
        po.append(polib.POEntry(msgctxt=ctxt, msgid=en, msgstr=xx))
    pot = tr._new_catalog()
    for ctxt, en in [("paragraph-0", "A new first paragraph about nothing alike."),
                     ("paragraph-1", "One small step."),
                     ("paragraph-2", "Residual blocks add their inputs."),
                     ("paragraph-3", "The stem has 32 channels.")]:
        pot.append(polib.POEntry(msgctxt=ctxt, msgid=en, msgstr=""))
    merged = {e.msgctxt: e for e in tr.merge(po, pot) if not e.obsolete}
    assert merged["paragraph-0"].msgstr == ""                      # unrelated: afresh
    assert (merged["paragraph-1"].msgstr, merged["paragraph-1"].flags) == ("XX one", [])
    assert merged["paragraph-2"].msgstr == ""  # not paragraph-2's old words
    assert (merged["paragraph-3"].msgstr, merged["paragraph-3"].flags) == ("XX four", ["fuzzy"])
    assert merged["paragraph-3"].previous_msgid == "The stem has 64 channels."


def test_a_longer_label_beside_the_axes_widens_the_drawing_instead_of_being_cut():
    """A legend beside the axes (the training board's) grows to the right: the
    SVG is widened to hold the translation; a shorter one changes nothing."""
    import matplotlib
    matplotlib.use("agg")
    sys.path.insert(0, str(ROOT))
    import d2lmini as d2l
    board = d2l.ProgressBoard("epoch", display=False)
    for x in range(5):
        board.draw(x, 1 / (x + 1), "val_acc")
    board._update_lines()
    svg = d2l.display.svg_bytes(board.fig).decode()
    width = lambda s: float(re.search(r'viewBox="0 0 ([0-9.]+) ', s).group(1))
    short, _ = tr.translate_svg(svg, {"val_acc": "准确率", "epoch": "轮"})
    assert width(short) == width(svg)
    long, missing = tr.translate_svg(svg, {"val_acc": "doğrulama doğruluğu", "epoch": "dönem"})
    assert missing == [] and ">doğrulama doğruluğu</text>" in long
    x = float(re.search(r'text-anchor: start" x="([0-9.]+)"[^>]*>doğrulama', long).group(1))
    assert width(long) >= x + tr.text_width("doğrulama doğruluğu", 8.33) > width(svg)
    points = lambda s: float(re.search(r'<svg[^>]*\bwidth="([0-9.]+)pt"', s).group(1))
    assert points(long) / width(long) == pytest.approx(points(svg) / width(svg))  # same scale


def test_a_carriage_return_in_a_translation_is_refused(project, capsys):
    """A CR reads as a line break to Sphinx but not to the line count of the
    Markdown record: it would move the marking of a stale paragraph."""
    po = _catalog(project)
    po[0].msgstr = "# Redes residuales" + "\r" * 6
    po.save()
    before = (project / "notebooks/xx/01_intro.ipynb").read_text()
    assert tr.main(["--root", str(project)]) == 1
    assert "U+000D" in capsys.readouterr().err
    assert (project / "notebooks/xx/01_intro.ipynb").read_text() == before


def test_a_png_plot_is_listed_as_shown_in_english(plotted):
    """A PNG's words cannot be translated: the page says that cell is English."""
    nb = nbformat.read(str(plotted / "notebooks/01_intro.ipynb"), as_version=4)
    nb.cells[1].outputs = [new_output("display_data", data={
        "image/png": "iVBORw0KGgo=", "text/plain": "<Figure size 500x300 with 1 Axes>"})]
    nbformat.write(nb, str(plotted / "notebooks/01_intro.ipynb"))
    _translate_labels(plotted)
    assert _read(plotted).metadata["translation"] == {"shown_in_english": [
        {"cell": nb.cells[1].id, "reason": "untranslated"}]}
