"""Draw the chapter's figures into img/ (``make figures``).

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

Usage: ``python tools/make_figures.py [--out DIR] [--only NAME ...]``.
"""
from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

ROOT = Path(__file__).resolve().parents[1]

# One look for all the figures.
FONT = "DejaVu Sans"
# Browsers without DejaVu Sans fall back to Verdana (same wide metrics, so
# graphviz's box sizes still fit the text), then to any sans-serif.
FONT_STACK = "DejaVu Sans,Verdana,sans-serif"
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

# -- output helpers ----------------------------------------------------------


def _versions() -> str:
    """The toolchain that produced a figure, recorded inside the file."""
    import graphviz
    import matplotlib
    import numpy  # the plotted numbers are printed by NumPy (1.x and 2.x differ)

    return (f"matplotlib {matplotlib.__version__}; numpy {numpy.__version__}; "
            f"graphviz {'.'.join(map(str, graphviz.version()))}")


def _stamp(svg: str) -> str:
    """Insert the toolchain comment right after the XML declaration."""
    comment = f"<!-- d2lmini-figures: made by tools/make_figures.py with {_versions()} -->\n"
    if svg.startswith("<?xml"):
        end = svg.index("?>") + 2
        return svg[:end] + "\n" + comment + svg[end:].lstrip("\n")
    return comment + svg


def _write(path: Path, svg: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_stamp(svg).encode("utf-8"))


def _graphviz_svg(graph) -> str:
    """Render a graphviz graph to SVG text without run-dependent bits."""
    svg = graph.pipe(format="svg", encoding="utf-8")
    svg = re.sub(r"<!--.*?-->\n?", "", svg, flags=re.S)  # version and node comments
    return svg.replace(f'font-family="{FONT}"', f'font-family="{FONT_STACK}"')


def _digraph(name: str, **graph_attr: str):
    """A bottom-to-top digraph in the shared style (the book draws data flowing up)."""
    import graphviz

    g = graphviz.Digraph(name)
    attrs = dict(rankdir="BT", fontname=FONT, fontsize="13", fontcolor=INK,
                 nodesep="0.3", ranksep="0.28", newrank="true", bgcolor="white",
                 pad="0.15")
    g.attr(**{**attrs, **graph_attr})
    g.attr("node", shape="box", style="rounded,filled", fontname=FONT,
           fontsize="12", fontcolor=INK, height="0.36", margin="0.12,0.05",
           penwidth="1.2")
    g.attr("edge", color=INK, arrowsize="0.7", penwidth="1.1", fontname=FONT,
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


def functionclasses() -> str:
    """Six growing function classes, not nested (left) and nested (right)."""
    import matplotlib
    import numpy as np

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import Circle

    with matplotlib.rc_context({"svg.hashsalt": "d2lmini", "svg.fonttype": "path",
                                "font.family": FONT, "mathtext.fontset": "dejavusans",
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
        panels = [(axes[0], loose, (8.3, 7.6), "Non-nested function classes"),
                  (axes[1], nested, (3.2, 7.0), "Nested function classes")]
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
        svg = _matplotlib_svg(fig)
        plt.close(fig)
    return svg


# -- residual-block.svg ------------------------------------------------------


def residual_block() -> str:
    """A regular block (left) beside a residual block (right)."""
    g = _digraph("residual_block")
    fx = f"<<I>f</I>(<B>x</B>)>"
    sides = {"l": ("A regular block", fx),
             "r": ("A residual block", f"<<I>f</I>(<B>x</B>) {MINUS} <B>x</B>>")}
    note = '<BR/><FONT POINT-SIZE="12">(the dotted box learns {})</FONT>'

    for s, (title, learns) in sides.items():
        with g.subgraph(name=f"cluster_{s}") as outer:
            _titled(outer, f"<{title}{note.format(learns[1:-1])}>")
            _terminal(outer, f"{s}x", "<<B>x</B>>", group=s)
            with outer.subgraph(name=f"cluster_{s}box") as box:
                # The dotted box: the part of the block whose mapping is learned.
                # (labelloc "b" is the top edge: the graph runs bottom to top.)
                box.attr(label=learns, style="dotted,rounded",
                         pencolor="#666666", penwidth="1.6", labelloc="b",
                         labeljust="l", fontsize="12", margin="10")
                _layer(box, f"{s}w1", "weight layer", "weight", group=s)
                _layer(box, f"{s}a1", "activation function", "act", group=s)
                _layer(box, f"{s}w2", "weight layer", "weight", group=s)
            _layer(outer, f"{s}a2", "activation function", "act", group=s)
            _terminal(outer, f"{s}top", group=s)
            g.edge(f"{s}x", f"{s}w1")
            g.edge(f"{s}w1", f"{s}a1")
            g.edge(f"{s}a1", f"{s}w2")
            g.edge(f"{s}a2", f"{s}top")
    # Left: the layers' output is f(x) itself. Its edge spans two ranks so
    # that both activation functions line up across the figure.
    g.edge("lw2", "la2", label=f"  {fx[1:-1]}".join("<>"), minlen="2")
    # Right: the layers learn f(x) - x; the shortcut adds x back.
    with g.subgraph(name="cluster_r") as outer:
        _add(outer, "radd", group="r")
    g.edge("rw2", "radd")
    g.edge("rx", "radd", label="<  <B>x</B>>", penwidth="1.8", tailport="e", headport="e",
           constraint="false")
    g.edge("radd", "ra2", label=f"  {fx[1:-1]}".join("<>"))
    return _graphviz_svg(g)


# -- resnet-block.svg --------------------------------------------------------


def _block_column(g, s: str, title: str, input_label: str, chain, relu_after_sum: bool) -> None:
    """One titled column of a block diagram, drawn upwards: the input, the
    ``chain`` of (name, label, kind) layers, the sum (its shortcut is drawn by
    the caller), a ReLU if the block has one there, and an open arrow. Node
    names start with ``s``."""
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
    sides = {"l": f"Without the 1{TIMES}1 convolution",
             "r": f"With the 1{TIMES}1 convolution"}
    chain = [("c1", f"3{TIMES}3 conv", "weight"), ("n1", "batch norm", "norm"),
             ("a1", "ReLU", "act"), ("c2", f"3{TIMES}3 conv", "weight"),
             ("n2", "batch norm", "norm")]
    for s, title in sides.items():
        _block_column(g, s, title, "input", chain, relu_after_sum=True)
    # Shortcuts: the identity on the left, a 1x1 convolution on the right
    # (it matches channels and stride of the main path).
    g.edge("lx", "ladd", penwidth="1.8", tailport="e", headport="e", constraint="false")
    with g.subgraph(name="cluster_r") as outer:
        _layer(outer, "rc3", f"1{TIMES}1 conv", "weight")
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


def _conv_text(conv, channels: bool = True) -> str:
    k, s = conv.kernel_size[0], conv.stride[0]
    text = f"{k}{TIMES}{k} conv" + (f", {conv.out_channels}" if channels else "")
    return text + (f", stride {s}" if s != 1 else "")


def _is_residual(module) -> bool:
    return hasattr(module, "conv1") and hasattr(module, "conv2") and hasattr(module, "bn1")


def _leaf_text(module) -> tuple[str, str]:
    """(label, kind) of a single layer of the stem or the head."""
    from torch import nn

    if isinstance(module, nn.Conv2d):
        return _conv_text(module), "weight"
    if isinstance(module, nn.BatchNorm2d):
        return "batch norm", "norm"
    if isinstance(module, nn.ReLU):
        return "ReLU", "act"
    if isinstance(module, nn.MaxPool2d):
        k, s = module.kernel_size, module.stride
        return f"{k}{TIMES}{k} max pool, stride {s}", "pool"
    if isinstance(module, nn.AdaptiveAvgPool2d):
        return "global average pool", "pool"
    if isinstance(module, nn.Flatten):
        return "flatten", "pool"
    if isinstance(module, nn.Linear):
        return f"fully connected, {module.out_features} outputs", "weight"
    return type(module).__name__, "pool"


def trace_resnet(model, input_shape: tuple[int, ...] = TRACE_INPUT) -> list[Traced]:
    """Walk ``model.net`` and record every box of the figure with forward hooks.

    Residual blocks become one box each (their inside is drawn in
    resnet-block.svg); in the stem and the head, batch norm and ReLU join the
    box of the layer they follow.
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
                    detail = f"two {k}{TIMES}{k} convs"
                else:  # say which convolution carries the stride
                    detail = " \u2192 ".join(_conv_text(c, channels=False) for c in convs)
                if conv3 is not None:
                    k3, s3 = conv3.kernel_size[0], conv3.stride[0]
                    detail += f"; {k3}{TIMES}{k3} conv shortcut"
                    detail += f", stride {s3}" if s3 != 1 else ""
                else:
                    detail += "; identity shortcut"
                title = f"Residual block, {conv1.out_channels} channels"
                boxes.append(Traced(stage, [title, detail], shape, "residual"))
                continue
            text, kind = _leaf_text(block)
            if kind in ("norm", "act") and boxes and boxes[-1].stage == stage:
                boxes[-1].lines[-1] += f" \u2192 {text}"  # joins the layer before
                boxes[-1].shape = shape
            else:
                boxes.append(Traced(stage, [text], shape, kind))
    return boxes


def _html(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _box_label(box: Traced) -> str:
    """A graphviz label: residual blocks get a bold title and small detail rows."""
    if box.kind != "residual":
        return _html(" \u2192 ".join(box.lines))
    rows = "".join(f'<TR><TD><FONT POINT-SIZE="11">{_html(line)}</FONT></TD></TR>'
                   for line in box.lines[1:])
    return (f'<<TABLE BORDER="0" CELLSPACING="0" CELLPADDING="2">'
            f'<TR><TD><B>{_html(box.lines[0])}</B></TD></TR>'
            f'{rows}</TABLE>>')


def resnet18(model=None, input_shape: tuple[int, ...] = TRACE_INPUT) -> str:
    """ResNet-18 drawn from ``d2lmini.ResNet18`` with traced output shapes."""
    if model is None:
        import d2lmini

        model = d2lmini.ResNet18()
    boxes = trace_resnet(model, input_shape)
    size = f" {TIMES} ".join(map(str, input_shape))
    g = _digraph("resnet18", ranksep="0.22", labelloc="t", fontsize="12",
                 label=(f"Traced from d2lmini.ResNet18 on a {size} input;\n"
                        f"arrows show output shapes (channels {TIMES} height {TIMES} width)"))
    g.node("input", "input image", shape="plaintext", style="", fontsize="13")
    stage_titles = {"b1": "b1 (stem)", "last": "last (head)"}
    for stage in dict.fromkeys(b.stage for b in boxes):
        members = [(i, b) for i, b in enumerate(boxes) if b.stage == stage]
        title = stage_titles.get(stage, stage)
        with g.subgraph(name=f"cluster_{stage}") as c:
            c.attr(label=title, style="rounded,dashed", color="#999999",
                   labeljust="r", labelloc="b", fontsize="11", margin="8")
            for i, box in members:
                c.node(f"n{i}", _box_label(box), fillcolor=COLORS[box.kind][0],
                       color=COLORS[box.kind][1])
    # Each arrow carries the output shape of the box it leaves.
    prev, prev_shape = "input", input_shape[1:]
    for i, box in enumerate(boxes):
        g.edge(prev, f"n{i}", label=f"  {_shape_text(prev_shape)}")
        prev, prev_shape = f"n{i}", box.shape
    g.node("output", "class scores", shape="plaintext", style="", fontsize="13")
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
                 label=("c input and output channels, b bottleneck channels,\n"
                        "g groups of b/g channels"))
    _terminal(g, "x", "input (c channels)", group="main")
    chain_in = [("c1", f"1{TIMES}1 conv, c \u2192 b", "weight"),
                ("n1", "batch norm", "norm"), ("a1", "ReLU", "act")]
    chain_out = [("cat", "concatenate the g groups: b channels", "pool"),
                 ("n2", "batch norm", "norm"), ("a2", "ReLU", "act"),
                 ("c3", f"1{TIMES}1 conv, b \u2192 c", "weight"),
                 ("n3", "batch norm", "norm")]
    for name, label, kind in chain_in + chain_out:
        _layer(g, name, label, kind, group="main")
    # The grouped 3x3 convolution: g parallel convolutions of the same shape,
    # each with its own weights and a slice of b/g channels.
    # Listed right to left, so that they read group 1, 2, ..., g from the left.
    groups = [("gg", "group g"), ("gdots", ""), ("g2", "group 2"), ("g1", "group 1")]
    with g.subgraph(name="cluster_groups") as c:
        # (labelloc "t" is the bottom edge: the graph runs bottom to top.)
        c.attr(label=f"grouped 3{TIMES}3 convolution", style="rounded,dashed",
               color="#999999", labelloc="t", labeljust="l", fontsize="11",
               margin="8")
        for name, title in groups:
            if not title:
                c.node(name, "\u22ef", shape="plaintext", style="", fontsize="16")
                continue
            _layer(c, name, f"<{title}<BR/><FONT POINT-SIZE=\"11\">3{TIMES}3 conv, "
                            f"b/g \u2192 b/g</FONT>>", "weight")
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
    _layer(g, "sc", f"<identity, or 1{TIMES}1 conv<BR/>+ batch norm<BR/>"
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
    sides = {
        "l": ("Original", [("c1", f"3{TIMES}3 conv", "weight"), ("n1", "batch norm", "norm"),
                           ("a1", "ReLU", "act"), ("c2", f"3{TIMES}3 conv", "weight"),
                           ("n2", "batch norm", "norm")], True),
        "r": ("Pre-activation", [("n1", "batch norm", "norm"), ("a1", "ReLU", "act"),
                                 ("c1", f"3{TIMES}3 conv", "weight"),
                                 ("n2", "batch norm", "norm"), ("a2", "ReLU", "act"),
                                 ("c2", f"3{TIMES}3 conv", "weight")], False),
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
    _terminal(g, "x", "input")
    paths = [
        ("p1", [(f"1{TIMES}1 conv", "weight")]),
        ("p2", [(f"1{TIMES}1 conv", "weight"), (f"3{TIMES}3 conv", "weight")]),
        ("p3", [(f"1{TIMES}1 conv", "weight"), (f"5{TIMES}5 conv", "weight")]),
        ("p4", [(f"3{TIMES}3 max-pool", "pool"), (f"1{TIMES}1 conv", "weight")]),
    ]
    _layer(g, "cat", "concatenate along the channels", "pool")
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "img",
                        help="output folder (default: img/)")
    parser.add_argument("--only", nargs="+", choices=sorted(FIGURES), default=None,
                        help="draw only these figures")
    args = parser.parse_args(argv)
    for name in args.only or FIGURES:
        _write(args.out / name, FIGURES[name]())
        print(f"wrote {args.out / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
