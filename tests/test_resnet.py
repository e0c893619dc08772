"""ResNet of d2lmini.resnet: shapes, identity, parameter counts, input checks."""
import pytest
import torch
import torchvision
from torch import nn
from torch.nn import functional as F

import d2lmini as d2l


@pytest.fixture(scope="module")
def resnet18() -> d2l.ResNet18:
    torch.manual_seed(0)
    return d2l.ResNet18().eval()


@pytest.mark.parametrize("args, kwargs, out_shape", [
    ((3, 3), {}, (4, 3, 6, 6)),
    ((3, 6), {"use_1x1conv": True, "strides": 2}, (4, 6, 3, 3)),
])
def test_residual_shapes(args, kwargs, out_shape):
    torch.manual_seed(0)
    assert d2l.Residual(*args, **kwargs)(d2l.randn(4, 3, 6, 6)).shape == out_shape


def test_zero_branch_is_identity_on_nonnegative_input():
    torch.manual_seed(0)
    blk = d2l.Residual(3, 3)
    X = F.relu(d2l.randn(4, 3, 6, 6))
    assert not torch.equal(blk(X), X)  # an ordinary block changes its input
    with torch.no_grad():
        blk.bn2.weight.zero_()
        blk.bn2.bias.zero_()
    assert torch.equal(blk(X), X)
    assert torch.equal(blk(-X), torch.zeros_like(X))  # ReLU(0 + x) for x <= 0


def test_resnet18_output_and_min_size(resnet18):
    assert resnet18(d2l.randn(2, 1, 96, 96)).shape == (2, 10)
    assert resnet18.min_size() == 17
    # 17 pixels still pass, through five halvings: 17 -> 9 -> 5 -> 3 -> 2 -> 1.
    assert resnet18(d2l.randn(1, 1, 17, 17)).shape == (1, 10)


def test_hyperparameters_and_init():
    torch.manual_seed(0)
    model = d2l.ResNet18(num_classes=5, lr=0.05)
    assert (model.num_classes, model.lr) == (5, 0.05)
    assert model.net.last[-1].out_features == 5
    # Xavier-uniform bound for the head: sqrt(6 / (fan_in + fan_out)).
    bound = (6 / (512 + 5)) ** 0.5
    w = model.net.last[-1].weight
    assert w.abs().max() <= bound and w.abs().max() > 0.9 * bound


def test_parameter_count_against_torchvision(resnet18):
    tv = torchvision.models.resnet18(num_classes=10)
    tv.conv1 = nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3, bias=False)
    conv_biases = sum(m.bias.numel() for m in resnet18.modules() if isinstance(m, nn.Conv2d))
    assert all(m.bias is None for m in tv.modules() if isinstance(m, nn.Conv2d))
    # torchvision normalizes the 1x1 downsampling shortcut; the book does not.
    shortcut_bn = sum(d2l.count_parameters(m.downsample[1]) for m in tv.modules()
                      if getattr(m, "downsample", None) is not None)
    assert (conv_biases, shortcut_bn) == (4800, 1792)
    assert d2l.count_parameters(resnet18) == d2l.count_parameters(tv) + conv_biases - shortcut_bn == 11_178_378


def _functional_resnet18() -> nn.Sequential:
    b1 = nn.Sequential(nn.Conv2d(1, 64, kernel_size=7, stride=2, padding=3),
                       nn.BatchNorm2d(64), nn.ReLU(),
                       nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
    stages = [nn.Sequential(*d2l.resnet_block(64, 64, 2, first_block=True)),
              nn.Sequential(*d2l.resnet_block(64, 128, 2)),
              nn.Sequential(*d2l.resnet_block(128, 256, 2)),
              nn.Sequential(*d2l.resnet_block(256, 512, 2))]
    return nn.Sequential(b1, *stages, nn.AdaptiveAvgPool2d((1, 1)),
                         nn.Flatten(), nn.Linear(512, 10))


def test_resnet_block_is_a_list():
    blocks = d2l.resnet_block(64, 128, 3)
    assert isinstance(blocks, list) and len(blocks) == 3
    assert [b.conv3 is not None for b in blocks] == [True, False, False]


def test_resnet_block_method_and_function_build_the_same_stage():
    # ResNet.block wraps resnet_block's list: one loop for both styles.
    torch.manual_seed(0)
    stage = d2l.ResNet.block(None, 3, 64, 128)
    torch.manual_seed(0)
    listed = d2l.resnet_block(64, 128, 3)
    assert isinstance(stage, nn.Sequential) and len(stage) == len(listed) == 3
    for a, b in zip(stage.state_dict().values(), nn.Sequential(*listed).state_dict().values()):
        assert torch.equal(a, b)
    first = d2l.ResNet.block(None, 2, 64, 64, first_block=True)
    assert all(b.conv3 is None for b in first)


def test_functional_and_class_styles_are_the_same_network(resnet18):
    torch.manual_seed(1)
    net = _functional_resnet18().eval()
    assert d2l.count_parameters(net) == d2l.count_parameters(resnet18)
    rename = {f"b{i}": str(i - 1) for i in range(2, 6)}
    state = {}
    for key, value in resnet18.net.state_dict().items():
        head, rest = key.split(".", 1)
        if head == "last":
            index, rest = rest.split(".", 1)
            head = str(5 + int(index))
        state[f"{rename.get(head, head)}.{rest}"] = value
    net.load_state_dict(state, strict=True)
    X = d2l.randn(2, 1, 64, 64)
    with torch.no_grad():
        assert torch.equal(net(X), resnet18(X))


class _ConvCounter:
    """Forward hooks on every convolution, counting the calls."""

    def __init__(self, model: nn.Module):
        self.calls = 0
        self.handles = [m.register_forward_hook(self._hook)
                        for m in model.modules() if isinstance(m, nn.Conv2d)]

    def _hook(self, *args):
        self.calls += 1

    def remove(self):
        for h in self.handles:
            h.remove()


@pytest.mark.parametrize("X, expected, received", [
    (torch.zeros(1, 96, 96), "(N, 1, H, W)", "(1, 96, 96)"),
    (torch.zeros(2, 3, 96, 96), "(N, 1, H, W)", "(2, 3, 96, 96)"),
    (torch.zeros(2, 1, 96, 96, dtype=torch.uint8), "floating-point", "(2, 1, 96, 96)"),
    (torch.zeros(2, 1, 16, 16), "at least 17x17", "(2, 1, 16, 16)"),
    (torch.zeros(2, 1, 96, 16), "at least 17x17", "(2, 1, 96, 16)"),
])
def test_resnet_rejects_bad_input_before_any_conv(resnet18, X, expected, received):
    counter = _ConvCounter(resnet18)
    try:
        with pytest.raises(ValueError) as info:
            resnet18(X)
    finally:
        counter.remove()
    assert expected in str(info.value) and received in str(info.value)
    assert "ResNet18" in str(info.value)
    assert counter.calls == 0


@pytest.mark.parametrize("X, received", [
    (torch.zeros(3, 6, 6), "(3, 6, 6)"),
    (torch.zeros(4, 1, 6, 6), "(4, 1, 6, 6)"),
    (torch.zeros(4, 3, 6, 6, dtype=torch.int64), "(4, 3, 6, 6)"),
])
def test_residual_rejects_bad_input_before_any_conv(X, received):
    blk = d2l.Residual(3, 3)
    counter = _ConvCounter(blk)
    with pytest.raises(ValueError, match=r"^Residual") as info:
        blk(X)
    counter.remove()
    assert received in str(info.value) and counter.calls == 0
    if X.dim() == 4 and X.is_floating_point():
        assert "(N, 3, H, W)" in str(info.value)
