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


def _needs_toolchain(tool, name: str) -> None:
    """Byte equality only means something with the toolchain that made the file."""
    pytest.importorskip("graphviz")
    if shutil.which("dot") is None:
        pytest.skip("graphviz's `dot` is not installed")
    stamp = re.search(r"<!-- d2lmini-figures: made by .*? with (.*?) -->",
                      (IMG / name).read_text(encoding="utf-8"))
    assert stamp, f"{name} lacks its toolchain comment: regenerate with `make figures`"
    if stamp.group(1) != tool._versions():
        pytest.skip(f"{name} was made with {stamp.group(1)}, this machine has {tool._versions()}")


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
    assert tool.main(["--out", str(tmp_path), "--only", name]) == 0
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
