"""The Table-1 ResNet family (d2lmini/resnet_family.py, from notebooks 09 and 13).

Reference: torchvision's ResNets, built with random weights (no download).
"""
import pytest
import torch
import torchvision
from torch import nn

import d2lmini as d2l
from d2lmini.resnet_family import (RESNET_LAYERS, from_torchvision_keys, resnet,
                                   to_torchvision_keys)

DEPTHS = [18, 34, 50, 101, 152]
# The round trip exercises each block kind once: a deeper network of the same
# kind only repeats the same key mapping, at many times the cost.
ROUND_TRIP_DEPTHS = [18, 50]
TORCHVISION_PARAMS = {18: 11_689_512, 34: 21_797_672, 50: 25_557_032,
                      101: 44_549_160, 152: 60_192_808}


def torchvision_resnet(depth: int, **kwargs) -> nn.Module:
    return getattr(torchvision.models, f"resnet{depth}")(weights=None, **kwargs)


def imagenet_resnet(depth: int) -> d2l.ResNetFamily:
    return resnet(depth, in_channels=3, num_classes=1000)


def perturb(model: nn.Module) -> nn.Module:
    """A random factor per parameter tensor (cheap, and tensors of equal shape
    become distinguishable), random batch-norm statistics: fresh batch norms
    are the identity in eval mode and would hide swapped keys."""
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(torch.empty(()).uniform_(0.5, 1.5))
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.bias.normal_(0, 0.1)
                m.running_mean.normal_(0, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return model


@pytest.mark.parametrize("depth", DEPTHS)
def test_parameter_counts_match_torchvision(depth):
    # Built on the meta device: shapes only, no memory, no init time.
    with torch.device("meta"):
        ours, theirs = imagenet_resnet(depth), torchvision_resnet(depth)
    assert d2l.count_parameters(ours) == d2l.count_parameters(theirs)
    assert d2l.count_parameters(ours) == TORCHVISION_PARAMS[depth]
    # Same tensors under the mapped names, with the same shapes.
    ours_shapes = {k: v.shape for k, v in ours.state_dict().items()}
    theirs_shapes = {k: v.shape for k, v in from_torchvision_keys(theirs.state_dict()).items()}
    assert ours_shapes == theirs_shapes


def outputs(*models: nn.Module, X: torch.Tensor):
    with torch.no_grad():
        return [m.eval()(X) for m in models]


@pytest.mark.parametrize("depth", ROUND_TRIP_DEPTHS)
def test_state_dict_round_trip_both_directions(depth):
    torch.manual_seed(depth)
    X = torch.randn(1, 3, 64, 64)
    theirs = perturb(torchvision_resnet(depth))
    ours = d2l.load_torchvision(imagenet_resnet(depth), theirs)
    y_ours, y_theirs = outputs(ours, theirs, X=X)
    assert (y_ours - y_theirs).abs().max().item() <= 1e-5
    # Back: new weights in ours must reach theirs and change its output.
    d2l.export_torchvision(perturb(ours), theirs)
    y_ours, y_theirs_new = outputs(ours, theirs, X=X)
    assert (y_ours - y_theirs_new).abs().max().item() <= 1e-5
    assert not torch.allclose(y_theirs_new, y_theirs)


def test_key_mapping_is_a_bijection():
    sd = torchvision_resnet(18).state_dict()
    back = to_torchvision_keys(from_torchvision_keys(sd))
    assert list(back) == list(sd)
    assert all(back[k] is sd[k] for k in sd)


def test_load_from_state_dict_and_module_agree():
    theirs = perturb(torchvision_resnet(18))
    a = d2l.load_torchvision(imagenet_resnet(18), theirs)
    b = d2l.load_torchvision(imagenet_resnet(18), theirs.state_dict())
    assert all(torch.equal(a.state_dict()[k], b.state_dict()[k]) for k in a.state_dict())


def test_wrong_depth_names_missing_keys():
    with pytest.raises(ValueError, match=r"missing keys \['net\.b2\.2\.") as info:
        d2l.load_torchvision(imagenet_resnet(34), torchvision_resnet(18))
    assert "96 missing keys" in str(info.value)
    assert "0 unexpected keys" in str(info.value)


def test_deeper_source_names_unexpected_keys():
    with pytest.raises(ValueError, match=r"0 missing keys.*unexpected keys \['net\.b2\.2\."):
        d2l.load_torchvision(imagenet_resnet(18), torchvision_resnet(34))


def test_basic_into_bottleneck_names_both():
    # Same number of blocks, but ResNet-50's blocks have a third conv + BN.
    with pytest.raises(ValueError, match=r"102 missing keys \['net\.b2\.0\.bn3\."):
        d2l.load_torchvision(imagenet_resnet(50), torchvision_resnet(34))


def test_foreign_keys_raise_key_error():
    sd = dict(torchvision_resnet(18).state_dict(), **{"classifier.weight": torch.zeros(1)})
    with pytest.raises(KeyError, match="classifier.weight"):
        from_torchvision_keys(sd)
    with pytest.raises(KeyError, match="122 keys .*conv1.weight"):
        to_torchvision_keys(torchvision_resnet(18).state_dict())


def test_shape_mismatch_is_an_error():
    # Same keys, but a 10-class head cannot take a 1000-class one.
    with pytest.raises(RuntimeError, match="size mismatch"):
        d2l.load_torchvision(resnet(18, in_channels=3), torchvision_resnet(18))


def test_basic_block_shapes():
    X = torch.randn(2, 64, 16, 16)
    assert d2l.BasicBlock(64, 64)(X).shape == (2, 64, 16, 16)
    assert d2l.BasicBlock(64, 64).downsample is None
    blk = d2l.BasicBlock(64, 128, stride=2)
    assert blk(X).shape == (2, 128, 8, 8)
    assert isinstance(blk.downsample[1], nn.BatchNorm2d)


def test_bottleneck_shapes_and_expansion():
    assert d2l.Bottleneck.expansion == 4 and d2l.BasicBlock.expansion == 1
    X = torch.randn(2, 64, 16, 16)
    blk = d2l.Bottleneck(64, 64)
    Y = blk(X)
    assert Y.shape == (2, 256, 16, 16)
    assert blk.conv1.out_channels == 64 and blk.conv3.out_channels == 256
    down = d2l.Bottleneck(256, 128, stride=2)
    assert down(Y).shape == (2, 512, 8, 8)
    # ResNet v1.5: the stride is on the 3x3 convolution, not on the 1x1s.
    assert down.conv2.stride == (2, 2) and down.conv1.stride == (1, 1)
    assert d2l.Bottleneck(256, 64).downsample is None


def test_bottleneck_is_cheaper_than_basic_block_of_same_width():
    bottleneck, basic = d2l.Bottleneck(256, 64), d2l.BasicBlock(256, 256)
    assert d2l.count_parameters(bottleneck) * 10 < d2l.count_parameters(basic)
    shape = (1, 256, 14, 14)
    assert d2l.count_macs(bottleneck, shape) * 10 < d2l.count_macs(basic, shape)


def test_count_macs_of_a_conv_and_a_linear():
    conv = nn.Conv2d(3, 8, kernel_size=3, padding=1, groups=1)
    assert d2l.count_macs(conv, (2, 3, 5, 5)) == 2 * 8 * 5 * 5 * 3 * 3 * 3
    grouped = nn.Conv2d(4, 8, kernel_size=1, groups=2)
    assert d2l.count_macs(grouped, (1, 4, 5, 5)) == 8 * 5 * 5 * 2
    assert d2l.count_macs(nn.Linear(7, 3), (1, 7)) == 21
    assert d2l.count_macs(nn.MaxPool2d(2), (1, 3, 4, 4)) == 0  # no parameters at all


def test_count_macs_resnet18_at_224():
    with torch.device("meta"):
        model = imagenet_resnet(18)
    assert d2l.count_macs(model, (1, 3, 224, 224)) == pytest.approx(1.82e9, rel=0.02)


def test_count_macs_restores_mode_and_removes_hooks():
    model = resnet(18)
    model.train()
    d2l.count_macs(model, (1, 1, 64, 64))
    assert model.training
    assert all(not m._forward_hooks for m in model.modules())


def test_chapter_size_model_matches_chapter_shape_flow():
    ours, chapter = resnet(18).eval(), d2l.ResNet18().eval()
    X = Y = torch.randn(1, 1, 96, 96)
    with torch.no_grad():
        for a, b in zip(ours.net, chapter.net, strict=True):
            X, Y = a(X), b(Y)
            assert X.shape == Y.shape
    assert X.shape == (1, 10)


def test_family_is_a_classifier_and_trains():
    torch.manual_seed(0)
    model = resnet(18)
    assert isinstance(model, d2l.Classifier) and model.lr == 0.1
    X, y = torch.randn(4, 1, 32, 32), torch.randint(0, 10, (4,))
    loss = model.loss(model(X), y)
    loss.backward()
    assert model.net.b1[0].weight.grad is not None
    assert model.net.b1[0].bias is None  # convolutions before BN have no bias


def test_table_and_unknown_depth():
    assert {d: layers for d, (_, layers) in RESNET_LAYERS.items()} == {
        18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 6, 3],
        101: [3, 4, 23, 3], 152: [3, 8, 36, 3]}
    assert resnet(50).block is d2l.Bottleneck and resnet(34).block is d2l.BasicBlock
    with pytest.raises(ValueError, match="ResNet-20"):
        resnet(20)
    with pytest.raises(ValueError, match="4 stages"):
        d2l.ResNetFamily(d2l.BasicBlock, [2, 2, 2])


@pytest.mark.parametrize("shape, message", [
    ((2, 3, 32, 32), r"expects 1 input channel\(s\).*\(2, 3, 32, 32\)"),
    ((1, 28, 28), r"4-d batch.*\(1, 28, 28\).*unsqueeze\(0\)"),
    ((2, 1, 16, 16), r"at least 17x17 pixels.*\(2, 1, 16, 16\)"),
])
def test_family_names_a_wrong_input_before_any_layer(shape, message):
    with pytest.raises(ValueError, match=message):
        resnet(18)(torch.zeros(shape))


def test_family_checks_channels_against_in_channels():
    assert resnet(50, in_channels=3).eval()(torch.zeros(1, 3, 17, 17)).shape == (1, 10)
    with pytest.raises(ValueError, match=r"ResNetFamily expects 3 input channel"):
        resnet(50, in_channels=3)(torch.zeros(1, 1, 64, 64))


def test_family_min_size_is_computed_from_its_halvings():
    model = resnet(18)
    assert model.min_size() == d2l.ResNet18().min_size() == d2l.min_input_size(5) == 17
    # 17 pixels go through all five halvings: 17 -> 9 -> 5 -> 3 -> 2 -> 1.
    assert model.eval()(torch.zeros(1, 1, 17, 17)).shape == (1, 10)
