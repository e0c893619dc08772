"""ResNeXtBlock (notebooks/06_resnext.ipynb -> d2lmini/resnext.py).

``groups`` is the number of groups (the cardinality). The block is checked
against hand formulas, against torchvision's ResNeXt bottleneck (same weights,
same outputs) and against the published d2l 1.0.3 block, whose ``groups``
argument is the width of a group.
"""
import pytest
import torch
from torch import nn

import d2lmini as d2l
from d2lmini.resnext import ResNeXtBlock


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


def test_package_name_resolves_to_the_main_text_block():
    assert d2l.ResNeXtBlock is ResNeXtBlock
    assert ResNeXtBlock.__module__ == "d2lmini.resnext"


def test_book_demo_keeps_the_shape():
    blk = ResNeXtBlock(32, 16, 1)
    X = torch.randn(4, 32, 96, 96)
    assert blk(X).shape == (4, 32, 96, 96)


def test_book_demo_with_projection_halves_height_and_width():
    blk = ResNeXtBlock(32, 16, 1, use_1x1conv=True, strides=2)
    X = torch.randn(4, 32, 96, 96)
    assert blk(X).shape == (4, 32, 48, 48)
    assert blk.conv2.stride == (2, 2) and blk.conv4.stride == (2, 2)


def test_projection_changes_the_number_of_channels():
    blk = ResNeXtBlock(64, 8, 0.5, use_1x1conv=True, input_channels=16)
    assert blk(torch.randn(2, 16, 9, 9)).shape == (2, 64, 9, 9)
    lazy = ResNeXtBlock(64, 8, 0.5, use_1x1conv=True, strides=2)
    assert lazy(torch.randn(2, 3, 9, 9)).shape == (2, 64, 5, 5)
    assert lazy.conv1.in_channels == 3 and lazy.conv4.in_channels == 3


@pytest.mark.parametrize("groups", [1, 2, 4, 8, 16, 32])
def test_groups_is_the_number_of_groups(groups):
    blk = ResNeXtBlock(64, groups, 0.5)  # 32 bottleneck channels
    assert blk.bot_channels == 32
    assert blk.conv2.groups == groups
    assert tuple(blk.conv2.weight.shape) == (32, 32 // groups, 3, 3)


def test_groups_do_not_mix_in_the_grouped_convolution():
    blk = ResNeXtBlock(32, 4, 1).eval()
    Y = torch.randn(1, 32, 6, 6)
    Z = Y.clone()
    Z[:, :8] += 1.0  # change the inputs of the first group only
    with torch.no_grad():
        diff = (blk.conv2(Z) - blk.conv2(Y)).abs().sum(dim=(0, 2, 3))
    assert (diff[:8] > 0).all()
    assert torch.equal(diff[8:], torch.zeros(24))


def _expected_parameters(c, b, g, c_in):
    """Weights and biases of the three convolutions plus the scales and shifts
    of their batch norms: c_in -> b (1x1), b -> b in g groups (3x3), b -> c (1x1)."""
    convs = (c_in * b + b) + (9 * b * (b // g) + b) + (b * c + c)
    norms = 2 * (b + b + c)
    return convs + norms


@pytest.mark.parametrize("c, g, bot_mul", [(32, 16, 1), (256, 32, 0.5), (256, 1, 0.25),
                                           (256, 8, 0.4375), (48, 3, 0.25)])
def test_parameter_count_matches_the_formula(c, g, bot_mul):
    b = int(round(c * bot_mul))
    blk = ResNeXtBlock(c, g, bot_mul)
    assert d2l.count_parameters(blk) == _expected_parameters(c, b, g, c)
    proj = ResNeXtBlock(c, g, bot_mul, use_1x1conv=True, input_channels=16)
    shortcut = (16 * c + c) + 2 * c  # 1x1 conv 16 -> c and its batch norm
    assert d2l.count_parameters(proj) == _expected_parameters(c, b, g, 16) + shortcut


def test_grouped_convolution_costs_one_over_g():
    macs = {g: d2l.count_macs(ResNeXtBlock(256, g, 0.5).conv2, (1, 128, 14, 14))
            for g in (1, 2, 4, 8, 16, 32)}
    for g, m in macs.items():
        assert m == 9 * 128 * 128 * 14 * 14 // g


# -- torchvision's ResNeXt: same layer shapes, and the same function ---------


def test_grouped_conv_weight_matches_torchvision_resnext50_32x4d():
    torchvision = pytest.importorskip("torchvision")
    with torch.device("meta"):
        ref = torchvision.models.resnext50_32x4d()
    ours = ResNeXtBlock(256, 32, 0.5, use_1x1conv=True, input_channels=64)
    first = ref.layer1[0]
    assert ours.conv2.weight.shape == first.conv2.weight.shape == (128, 4, 3, 3)
    assert first.conv2.groups == ours.conv2.groups == 32
    for name in ("conv1", "conv3"):
        assert getattr(ours, name).weight.shape == getattr(first, name).weight.shape
    assert ours.conv4.weight.shape == first.downsample[0].weight.shape
    # Stage 3 halves the resolution in its grouped convolution, as ours does.
    down = ref.layer3[0]
    ours_down = ResNeXtBlock(1024, 32, 0.5, use_1x1conv=True, strides=2,
                             input_channels=512)
    assert ours_down.conv2.weight.shape == down.conv2.weight.shape == (512, 16, 3, 3)
    assert ours_down.conv2.stride == down.conv2.stride == (2, 2)


def _randomize_norms(model):
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.5, 0.5)
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)


@pytest.mark.parametrize("stride", [1, 2])
def test_same_outputs_as_torchvision_bottleneck(stride):
    resnet = pytest.importorskip("torchvision.models.resnet")
    downsample = nn.Sequential(resnet.conv1x1(64, 256, stride), nn.BatchNorm2d(256))
    ref = resnet.Bottleneck(64, 64, stride=stride, downsample=downsample,
                            groups=32, base_width=4)
    _randomize_norms(ref)
    ours = ResNeXtBlock(256, 32, 0.5, use_1x1conv=True, strides=stride,
                        input_channels=64)
    pairs = [("conv1", ref.conv1), ("conv2", ref.conv2), ("conv3", ref.conv3),
             ("conv4", ref.downsample[0]), ("bn1", ref.bn1), ("bn2", ref.bn2),
             ("bn3", ref.bn3), ("bn4", ref.downsample[1])]
    with torch.no_grad():
        for name, layer in pairs:
            mine = getattr(ours, name)
            if name.startswith("conv"):
                mine.weight.copy_(layer.weight)
                mine.bias.zero_()  # torchvision's convolutions have no bias
            else:
                mine.load_state_dict(layer.state_dict())
    ref.eval(), ours.eval()
    X = torch.randn(2, 64, 12, 12)
    with torch.no_grad():
        expected, got = ref(X), ours(X)
    assert got.shape == expected.shape == (2, 256, 12 // stride, 12 // stride)
    torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-5)


# -- the published d2l 1.0.3 block -------------------------------------------


@pytest.mark.parametrize("num_channels, groups, bot_mul, use_1x1conv, strides", [
    (32, 16, 1, False, 1),     # the book's demo: d2l's groups=2
    (32, 16, 1, True, 2),
    (64, 4, 0.5, False, 1),    # d2l's groups=8
])
def test_same_function_as_published_d2l_with_groups_translated(
        num_channels, groups, bot_mul, use_1x1conv, strides):
    ref_mod = pytest.importorskip("d2l.torch")
    bot = int(round(num_channels * bot_mul))
    # d2l passes bot_channels // groups to nn.Conv2d: its argument is the
    # width of a group, so ours with `groups` equals d2l's with bot // groups.
    ref = ref_mod.ResNeXtBlock(num_channels, bot // groups, bot_mul,
                               use_1x1conv=use_1x1conv, strides=strides)
    X = torch.randn(2, num_channels, 8, 8)
    ref(X)  # materialise d2l's lazy layers
    ours = ResNeXtBlock(num_channels, groups, bot_mul, use_1x1conv=use_1x1conv,
                        strides=strides, input_channels=num_channels)
    assert ref.conv2.groups == ours.conv2.groups == groups
    _randomize_norms(ref)
    ours.load_state_dict(ref.state_dict())  # same names, same shapes
    ref.eval(), ours.eval()
    with torch.no_grad():
        torch.testing.assert_close(ours(X), ref(X))


def test_published_d2l_groups_argument_is_the_group_width():
    """The book's demo: d2l's ResNeXtBlock(32, 16, 1) has 2 groups of 16."""
    ref_mod = pytest.importorskip("d2l.torch")
    ref = ref_mod.ResNeXtBlock(32, 16, 1)
    ref(torch.randn(1, 32, 4, 4))
    assert ref.conv2.groups == 2
    assert ResNeXtBlock(32, 16, 1).conv2.groups == 16


# -- errors --------------------------------------------------------------------


@pytest.mark.parametrize("args, kwargs, match", [
    ((32, 5, 1), {}, r"groups=5 must divide the 32 bottleneck channels"),
    ((32, 16, 0.25), {}, r"groups=16 must divide the 8 bottleneck channels"),
    ((32, 16, 0.01), {}, r"0 bottleneck channels"),
    ((32, 0, 1), {}, r"groups must be an int >= 1, got 0"),
    ((32, 2.0, 1), {}, r"groups must be an int >= 1, got 2.0"),
    ((0, 1, 1), {}, r"num_channels must be an int >= 1, got 0"),
    ((32, True, 1), {}, r"groups must be an int >= 1, got True"),
    ((32, 16, 0), {}, r"bot_mul must be a finite number > 0, got 0"),
    ((32, 16, -1.0), {}, r"bot_mul must be a finite number > 0"),
    ((32, 16, float("nan")), {}, r"bot_mul must be a finite number > 0"),
    ((32, 16, "1"), {}, r"bot_mul must be a finite number > 0"),
    ((32, 16, 1), {"strides": 0, "use_1x1conv": True}, r"strides must be an int >= 1"),
    ((32, 16, 1), {"strides": 2}, r"strides=2 needs use_1x1conv=True"),
    ((32, 16, 1), {"input_channels": 16}, r"input_channels=16 differs from num_channels=32"),
    ((32, 16, 1), {"use_1x1conv": True, "input_channels": 0},
     r"input_channels must be an int >= 1"),
])
def test_bad_arguments_raise_value_error(args, kwargs, match):
    with pytest.raises(ValueError, match=match):
        ResNeXtBlock(*args, **kwargs)


def test_bad_inputs_are_named():
    blk = ResNeXtBlock(32, 16, 1)
    with pytest.raises(ValueError, match=r"ResNeXtBlock expects 32 input channel"):
        blk(torch.randn(2, 16, 8, 8))
    with pytest.raises(ValueError, match=r"4-d batch"):
        blk(torch.randn(32, 8, 8))
    with pytest.raises(TypeError, match=r"torch.Tensor"):
        blk([[1.0]])


# -- the notebook --------------------------------------------------------------


def test_notebook_exports_the_block_and_ignores_only_the_run_note():
    import json
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "notebooks" / "06_resnext.ipynb"
    nb = json.loads(path.read_text(encoding="utf-8"))
    sources = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    assert any(s.startswith("#| default_exp resnext\n") for s in sources)
    code = [c for c in nb["cells"] if c["cell_type"] == "code"]
    ignored = [c for c in code if "nbval-ignore-output" in c["metadata"].get("tags", [])]
    # Everything but the run's clock is deterministic and compared exactly.
    assert len(ignored) == 1 and "".join(ignored[0]["source"]) == "d2l.about_this_run()"
    # The stored outputs come from an execution: every cell ran, and every
    # cell that is not a #@save definition or the imports-and-seed setup
    # shows something to check.
    assert all(c["execution_count"] for c in code), "execute the notebook before committing"

    def setup_only(source: str) -> bool:
        lines = [l.split("#")[0].strip() for l in source.splitlines()]
        return all(not l or l.startswith(("import ", "from ", "d2l.seed_everything("))
                   for l in lines)

    shown = [c for c in code if "#@save" not in "".join(c["source"])]
    assert all(c["outputs"] for c in shown if not setup_only("".join(c["source"])))
    assert sum(setup_only("".join(c["source"])) for c in shown) == 1
    assert not any(o["output_type"] == "error" for c in code for o in c["outputs"])


def test_lazy_block_checks_channels_after_loading_weights():
    torch.manual_seed(0)
    trained = d2l.ResNeXtBlock(16, 2, 0.5, use_1x1conv=True)
    trained(torch.randn(2, 4, 8, 8))  # the first batch sets 4 input channels
    loaded = d2l.ResNeXtBlock(16, 2, 0.5, use_1x1conv=True)
    loaded.load_state_dict(trained.state_dict())
    with pytest.raises(ValueError, match=r"ResNeXtBlock expects 4 input channel\(s\)"):
        loaded(torch.randn(2, 5, 8, 8))


def test_non_integer_or_infinite_sizes_are_refused_up_front():
    with pytest.raises(ValueError, match="input_channels must be an int >= 1, got 8.0"):
        d2l.ResNeXtBlock(8, 2, 1, input_channels=8.0)
    with pytest.raises(ValueError, match="bot_mul must be a finite number > 0, got inf"):
        d2l.ResNeXtBlock(8, 2, float("inf"))
