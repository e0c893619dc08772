"""The chapter's figures: present, valid SVG, reproducible, true to the model."""
import importlib.util
import re
import shutil
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import d2lmini

ROOT = Path(__file__).resolve().parents[1]
IMG = ROOT / "img"
FIGURES = ["functionclasses.svg", "residual-block.svg", "resnet-block.svg", "resnet18.svg",
           "resnext-block.svg", "preact-block.svg", "inception-block.svg"]
SVG_NS = "{http://www.w3.org/2000/svg}"


def _load_tool():
    spec = importlib.util.spec_from_file_location("make_figures", ROOT / "tools" / "make_figures.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def tool():
    return _load_tool()


def _needs_model():
    if not hasattr(d2lmini, "ResNet18"):
        pytest.skip("d2lmini.ResNet18 is not exported yet (notebooks/04_resnet_model.ipynb)")
    return d2lmini.ResNet18


def _needs_toolchain(tool, name: str, language: str = "en") -> None:
    """Byte equality only means something with the toolchain that made the file."""
    pytest.importorskip("graphviz")
    if shutil.which("dot") is None:
        pytest.skip("graphviz's `dot` is not installed")
    path = IMG / name if language == "en" else IMG / language / name
    stamp = re.search(r"<!-- d2lmini-figures: made by .*? with (.*?) -->",
                      path.read_text(encoding="utf-8"))
    assert stamp, f"{path} lacks its toolchain comment: regenerate with `make figures`"
    try:
        here = tool._versions(language)
    except RuntimeError as exc:  # the language's figure font is not installed
        pytest.skip(str(exc))
    if stamp.group(1) != here:
        pytest.skip(f"{path.name} ({language}) was made with {stamp.group(1)}, "
                    f"this machine has {here}")


def _svg_text(path: Path) -> str:
    """All text content of an SVG, entities resolved."""
    return " ".join(t.strip() for t in ET.parse(path).getroot().itertext() if t.strip())


@pytest.mark.parametrize("name", FIGURES)
def test_figure_is_an_svg_with_a_size(name):
    path = IMG / name
    assert path.is_file(), f"img/{name} is missing: run `make figures`"
    root = ET.parse(path).getroot()
    assert root.tag == f"{SVG_NS}svg"
    assert root.get("viewBox") or (root.get("width") and root.get("height"))
    assert len(list(root.iter())) > 20  # a drawing, not an empty canvas


@pytest.mark.parametrize("name", FIGURES)
def test_regenerated_figure_is_byte_identical(tool, name, tmp_path):
    if name == "resnet18.svg":
        _needs_model()
    _needs_toolchain(tool, name)
    assert tool.main(["--out", str(tmp_path), "--only", name, "--language", "en"]) == 0
    fresh = (tmp_path / name).read_bytes()
    assert fresh == (IMG / name).read_bytes(), (
        f"img/{name} is stale or not deterministic: run `make figures` and commit")


def test_block_diagrams_name_their_layers():
    residual = _svg_text(IMG / "residual-block.svg")
    for label in ["weight layer", "activation function", "A regular block", "A residual block"]:
        assert label in residual
    block = _svg_text(IMG / "resnet-block.svg")
    for label in ["3\u00d73 conv", "1\u00d71 conv", "batch norm", "ReLU", "+"]:
        assert label in block


def test_resnext_block_shows_the_groups():
    text = _svg_text(IMG / "resnext-block.svg")
    for label in ["1\u00d71 conv, c \u2192 b", "1\u00d71 conv, b \u2192 c",
                  "grouped 3\u00d73 convolution", "group 1", "group 2", "group g",
                  "3\u00d73 conv, b/g \u2192 b/g", "concatenate the g groups: b channels",
                  "batch norm", "ReLU", "+", "identity, or 1\u00d71 conv"]:
        assert label in text, label
    # group 1, group 2, ..., group g from left to right
    root = ET.parse(IMG / "resnext-block.svg").getroot()
    xs = {t.text: float(t.get("x")) for t in root.iter(f"{SVG_NS}text")
          if t.text in ("group 1", "group 2", "group g")}
    assert xs["group 1"] < xs["group 2"] < xs["group g"]


def _layers_bottom_up(path: Path, x_lo: float, x_hi: float) -> list[str]:
    """The node labels between x_lo and x_hi, from the bottom of the figure up."""
    root = ET.parse(path).getroot()
    texts = [(float(t.get("y")), t.text) for t in root.iter(f"{SVG_NS}text")
             if t.text and x_lo <= float(t.get("x")) < x_hi]
    return [text for _, text in sorted(texts, reverse=True)]


def test_preact_block_moves_norm_and_relu_before_each_conv():
    path = IMG / "preact-block.svg"
    root = ET.parse(path).getroot()
    xs = {t.text: float(t.get("x")) for t in root.iter(f"{SVG_NS}text")
          if t.text in ("Original", "Pre-activation")}
    middle = (xs["Original"] + xs["Pre-activation"]) / 2
    conv, bn = "3\u00d73 conv", "batch norm"
    # Read upwards, as the data flows: the sum ends the pre-activation block.
    assert _layers_bottom_up(path, 0, middle) == [
        "Original", "x", conv, bn, "ReLU", conv, bn, "+", "ReLU"]
    assert _layers_bottom_up(path, middle, 1e9) == [
        "Pre-activation", "x", bn, "ReLU", conv, bn, "ReLU", conv, "+"]


def test_inception_block_shows_four_paths_and_the_concatenation():
    text = _svg_text(IMG / "inception-block.svg")
    for label in ["1\u00d71 conv", "3\u00d73 conv", "5\u00d75 conv", "3\u00d73 max-pool",
                  "concatenate along the channels", "input"]:
        assert label in text, label
    assert text.count("1\u00d71 conv") == 4  # one per path


def test_strided_blocks_put_the_stride_on_the_first_conv(tool):
    """Only the first 3x3 convolution of a downsampling block has stride 2."""
    model = _needs_model()()
    residual = [b for b in tool.trace_resnet(model, (1, 1, 96, 96)) if b.kind == "residual"]
    strided = [b for b in residual if "stride" in b.lines[1]]
    assert len(strided) == 3
    for box in strided:
        assert box.lines[1].startswith("3\u00d73 conv, stride 2 \u2192 3\u00d73 conv;"), box
        assert "convs, stride" not in box.lines[1]
    text = _svg_text(IMG / "resnet18.svg")
    assert "two 3\u00d73 convs, stride 2" not in text
    assert text.count("3\u00d73 conv, stride 2 \u2192 3\u00d73 conv") == 3


def test_trace_follows_the_model_and_the_input_size(tool):
    model = _needs_model()()
    boxes = tool.trace_resnet(model, (1, 1, 96, 96))
    residual = [b for b in boxes if b.kind == "residual"]
    assert len(residual) == 8  # ResNet-18: four stages of two blocks
    assert [b.shape for b in residual[1::2]] == [
        (64, 24, 24), (128, 12, 12), (256, 6, 6), (512, 3, 3)]
    assert boxes[-1].shape == (10,)
    assert sum("1\u00d71 conv shortcut" in b.lines[1] for b in residual) == 3
    big = tool.trace_resnet(model, (1, 1, 224, 224))
    assert [b.shape for b in big if b.kind == "residual"][-1] == (512, 7, 7)
    assert model.training  # the dry run leaves the mode as it found it


def test_resnet18_figure_shows_the_traced_shapes(tool):
    model = _needs_model()()
    text = _svg_text(IMG / "resnet18.svg")
    assert "1 \u00d7 1 \u00d7 96 \u00d7 96" in text  # says which input it traced
    for box in tool.trace_resnet(model, tool.TRACE_INPUT):
        assert tool._shape_text(box.shape) in text, box
        for line in box.lines:
            assert line in text, line
    assert "512 \u00d7 3 \u00d7 3" in text


# -- the figures of the translations ------------------------------------------

LANGS = _load_tool().languages(ROOT)[1:]  # every language with catalogs, English first
PAIRS = [(lang, name) for lang in LANGS for name in FIGURES]
# Notation that stays as it is in every language (tools/make_figures.py): ReLU,
# code names. (Kernel sizes such as 3x3 stay too, but not the layer's name.)
NOTATION = re.compile(r"ReLU|use_1x1conv=True|d2lmini\.ResNet18")
# The names of layers are words, whatever the catalog says: no translated
# figure may show them (the reviewers found "3x3 conv" and "3x3 max-pool"
# drawn in English in every language).
LAYER_WORDS = {"conv", "convs", "max-pool", "max", "pool"}


def _words(text: str) -> set[str]:
    """The English-looking words of a label (placeholders left out)."""
    return {w.lower() for w in re.findall(r"[A-Za-z][A-Za-z-]{2,}",
                                          re.sub(r"\{\w+\}", " ", text))}


def _seen_text(path: Path) -> str:
    """What a reader sees in a figure: graphviz's <text> elements, and the
    comments in which matplotlib names each text it draws as paths (node ids
    and <title>s are not shown)."""
    root = ET.parse(path).getroot()
    texts = [" ".join(t.itertext()) for t in root.iter(f"{SVG_NS}text")]
    comments = [c for c in re.findall(r"<!--(.*?)-->", path.read_text(encoding="utf-8"), re.S)
                if "d2lmini-figures" not in c]
    return "\n".join(texts + comments)


def test_every_language_has_figures():
    assert LANGS, "no translations found"
    for lang in LANGS:
        assert (ROOT / "translations" / lang / "LC_MESSAGES" / "figures.po").is_file(), lang


def test_figures_catalogs_are_current_and_complete(tool):
    """The template holds the code's labels, each catalog is merged from it
    (`make figures`), and every label is translated and accepted."""
    for path, text in tool.catalogs(ROOT).items():
        assert path.is_file() and path.read_text(encoding="utf-8") == text, (
            f"{path.relative_to(ROOT)} is out of date: run `make figures`")
    for lang in LANGS:
        assert tool.drawing(lang)[1] == []


@pytest.mark.parametrize("lang, name", PAIRS)
def test_translated_figure_is_an_svg(lang, name):
    path = IMG / lang / name
    assert path.is_file(), f"img/{lang}/{name} is missing: run `make figures`"
    root = ET.parse(path).getroot()
    assert root.tag == f"{SVG_NS}svg" and len(list(root.iter())) > 20


@pytest.mark.parametrize("lang, name", PAIRS)
def test_regenerated_translated_figure_is_byte_identical(tool, lang, name, tmp_path):
    if name == "resnet18.svg":
        _needs_model()
    _needs_toolchain(tool, name, lang)
    assert tool.main(["--out", str(tmp_path), "--only", name, "--language", lang]) == 0
    assert not (tmp_path / name).exists()  # the English stays out of it
    fresh = (tmp_path / lang / name).read_bytes()
    assert fresh == (IMG / lang / name).read_bytes(), (
        f"img/{lang}/{name} is stale or not deterministic: run `make figures` and commit")


@pytest.mark.parametrize("lang, name", PAIRS)
def test_translated_figure_has_no_translated_english_word(tool, lang, name):
    """No word of an English label that the catalog translates is left in the
    figure (words the translation itself keeps, and notation, aside), and no
    English name of a layer (conv, max-pool) at all."""
    import polib

    text = NOTATION.sub(" ", _seen_text(IMG / lang / name))
    po = polib.pofile(str(ROOT / "translations" / lang / "LC_MESSAGES" / "figures.po"))
    words = LAYER_WORDS | {word for e in po.translated_entries()
                           for word in _words(e.msgid) - _words(e.msgstr)}
    left = sorted(word for word in words
                  if re.search(rf"(?<![A-Za-z]){re.escape(word)}(?![A-Za-z])", text, re.I))
    assert left == [], f"img/{lang}/{name} still says {left}"


@pytest.mark.parametrize("lang", LANGS)
def test_translated_layer_names_come_from_the_catalog(lang):
    """A layer's name is the catalog's words around the kernel size, which
    stays as it is (the inception block: four 1x1 convolutions, one 3x3
    max-pooling)."""
    import polib

    po = {e.msgid: e.msgstr for e in polib.pofile(
        str(ROOT / "translations" / lang / "LC_MESSAGES" / "figures.po")).translated_entries()}
    text = _seen_text(IMG / lang / "inception-block.svg")
    conv = po["{kernel} conv"].replace("{kernel}", "1\u00d71")
    assert text.count(conv) == 4, (conv, text)
    assert po["{kernel} max-pool"].replace("{kernel}", "3\u00d73") in text
    block = _seen_text(IMG / lang / "resnext-block.svg")
    assert po["{kernel} conv, {channels}"].format(kernel="1\u00d71",
                                                   channels="c \u2192 b") in block


def test_translated_figures_name_a_font_with_their_script(tool):
    """Chinese and Japanese figures are drawn and named in a CJK font (boxes
    sized for its glyphs); the others keep DejaVu Sans."""
    for lang in LANGS:
        families = set(re.findall(r'font-family="([^"]*)"',
                                  (IMG / lang / "resnet-block.svg").read_text(encoding="utf-8")))
        want = tool.LANGUAGE_FONTS.get(lang, (tool.FONT, tool.FONT_STACK))[1]
        assert families == {want}, (lang, families)
    assert "NotoSansCJKsc" in (IMG / "zh" / "functionclasses.svg").read_text(encoding="utf-8")


@pytest.mark.parametrize("lang", LANGS)
def test_translated_labels_stay_legible_in_the_text_column(lang):
    """Longer labels make a wider figure, which the site shrinks to its text
    column (about 690 px at desktop width, tests/test_site.py measures it for
    the English): every graphviz label stays at least 10 px high there."""
    for svg in sorted((IMG / lang).glob("*.svg")):
        text = svg.read_text(encoding="utf-8")
        sizes = [float(s) for s in re.findall(r'font-size="([0-9.]+)', text)]
        if not sizes:
            continue  # matplotlib's text is drawn as paths
        width = float(re.search(r'<svg[^>]*\bwidth="([0-9.]+)pt"', text).group(1))
        view = float(re.search(r'viewBox="[-0-9. ]*? ([0-9.]+) [0-9.]+"', text).group(1))
        shown = min(width * 4 / 3, 690)
        assert min(sizes) * shown / view >= 10, (svg.name, min(sizes), shown)


def test_translated_pages_use_their_figures():
    """Every translated page shows its language's figure, never the English one
    (tools/translate.py re-points ../img/NAME.svg to img/LANG/NAME.svg)."""
    seen = set()
    for lang in LANGS:
        folder = ROOT / "notebooks" / lang
        for page in sorted(folder.glob("*.ipynb")) + sorted(folder.glob("*.md")):
            for target in re.findall(r"(?:\]\(|src=\\?\")([^)\s\"\\]*img/[^)\s\"\\]+)",
                                     page.read_text(encoding="utf-8")):
                assert target.startswith(f"../../img/{lang}/"), (
                    f"{page.relative_to(ROOT)} shows the English figure {target}")
                assert (folder / target).resolve().is_file(), target
                seen.add((lang, target.rsplit("/", 1)[-1]))
    # each figure is on some page of every language
    assert {name for _, name in seen} == set(FIGURES)
    assert {lang for lang, _ in seen} == set(LANGS)


def test_translate_keeps_the_english_figure_without_a_translated_one(tmp_path):
    spec = importlib.util.spec_from_file_location("translate_tool",
                                                  ROOT / "tools" / "translate.py")
    tr = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(tr)
    (tmp_path / "img" / "xx").mkdir(parents=True)
    (tmp_path / "img" / "xx" / "a.svg").write_text("<svg/>")
    text = "![A.](../img/a.svg) ![B.](../img/b.svg) [site](https://x.org/img/a.svg)"
    assert tr._relink(text, "xx", tmp_path) == (
        "![A.](../../img/xx/a.svg) ![B.](../../img/b.svg) [site](https://x.org/img/a.svg)")
    assert tr._relink(text) == "![A.](../../img/a.svg) ![B.](../../img/b.svg) " \
                               "[site](https://x.org/img/a.svg)"


# -- catalogs are untrusted input ---------------------------------------------


@pytest.mark.parametrize("english, translated, said", [
    ("batch norm", '<FONT COLOR="red">x</FONT>', "markup"),
    ("batch norm", "a &amp; b", "markup"),
    ("batch norm", "a \\l b", "markup"),
    ("batch norm", "$x$", "markup"),
    ("batch norm", "a\x07b", "markup"),
    ("stride {stride}", "stride", "placeholders"),
    ("stride {stride}", "{stride} {other}", "placeholders"),
    ("stride {stride}", "{stride.__class__}", "placeholders"),
    ("stride {stride}", "{stride} }", "brace"),
    ("Without the 1\u00d71 convolution", "without it", "drops"),
    ("batch norm", "batch\nnorm", "lines"),
    ("batch norm", "   ", "blank"),
    ("batch norm", "\u6279\u91cf", "lacks"),  # CJK in DejaVu Sans
    # "64" would read "46": direction overrides and invisible characters
    ("Residual block, {channels} channels", "Art\u0131k blok, \u202e{channels}\u202c kanal",
     "direction-changing"),
    ("batch norm", "batch\u200bnorm", "invisible"),
    ("batch norm", "batch\u2028norm", "invisible"),
    ("batch norm", "W" * 300, "too long"),
])
def test_label_problems_refuse_what_is_not_words(tool, english, translated, said):
    found = tool.label_problems(english, translated)
    assert any(said in line for line in found), found


def test_label_problems_accept_words(tool):
    assert tool.label_problems("stride {stride}", "uzun adım {stride}") == []
    assert tool.label_problems("Without the 1\u00d71 convolution", "Không có tích chập 1\u00d71") == []
    assert tool.label_problems("{kernel} conv, {channels}",
                               "tích chập {kernel}, {channels}") == []
    japanese = tool.label_problems("two {kernel} convs", "{kernel} \u7573\u307f\u8fbc\u307f 2 \u3064",
                                   "Noto Sans CJK JP")
    if any("not installed" in line for line in japanese):
        pytest.skip(japanese[0])
    assert japanese == []


def test_quotes_in_a_label_are_escaped(tool):
    pytest.importorskip("graphviz")
    if shutil.which("dot") is None:
        pytest.skip("graphviz's `dot` is not installed")
    labels = {"batch norm": 'a "b" c', "Original": "it's", "Pre-activation": "x; y=1 ]"}
    with tool._drawing(tool.Drawing("xx", labels)):
        svg = tool.preact_block()
    root = ET.fromstring(svg)
    texts = [t.text for t in root.iter(f"{SVG_NS}text")]
    assert 'a "b" c' in texts and "it's" in texts and "x; y=1 ]" in texts


def _project(tmp_path: Path, entries: dict) -> Path:
    import polib

    po = polib.POFile()
    po.metadata = {"Content-Type": "text/plain; charset=UTF-8", "Language": "xx"}
    for msgid, msgstr in entries.items():
        po.append(polib.POEntry(msgid=msgid, msgstr=msgstr))
    folder = tmp_path / "translations" / "xx" / "LC_MESSAGES"
    folder.mkdir(parents=True)
    po.save(str(folder / "figures.po"))
    return tmp_path


def test_a_hostile_catalog_draws_nothing(tool, tmp_path, capsys):
    project = _project(tmp_path, {"batch norm": '<FONT COLOR="red">x</FONT>'})
    out = tmp_path / "out"
    assert tool.main(["--root", str(project), "--out", str(out), "--only",
                      "preact-block.svg"]) == 1
    assert not out.exists()
    err = capsys.readouterr().err
    assert "figures.po" in err and "'batch norm'" in err and "markup" in err
    assert tool.main(["--root", str(project), "--check", "--language", "xx"]) == 1
    assert "markup" in capsys.readouterr().out


def test_a_new_label_arrives_untranslated(tool, tmp_path):
    project = _project(tmp_path, {"batch norm": "toplu normalleştirme"})
    how, todo = tool.drawing("xx", project)
    assert how.labels == {"batch norm": "toplu normalleştirme"}
    assert any("label 'weight layer' is not translated" in line for line in todo)
    source = tmp_path / "figure.py"
    source.write_text('def f():\n    return _t("a brand new label", note="for the test")\n')
    assert tool.extract_labels(source) == {
        "a brand new label": ["for the test", "drawn by f()"]}
    source.write_text("def f(label):\n    return _t(label)\n")
    with pytest.raises(ValueError, match="string literal"):
        tool.extract_labels(source)
