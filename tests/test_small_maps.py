"""SmallMapConv2d computes nn.Conv2d's function on 1x1 and 2x2 maps from the
weights that meet the pixels; the Trainer switches to it on a CPU."""
import copy

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import d2lmini as d2l
from d2lmini.small_maps import SmallMapConv2d, skip_padding_taps


def _pair(cin, cout, stride=1, groups=1, bias=True):
    torch.manual_seed(0)
    ref = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, groups=groups, bias=bias)
    fast = copy.deepcopy(ref)
    assert skip_padding_taps(fast) == 1
    return ref, fast


CASES = [
    (1, 1, 1, True), (1, 2, 1, False), (1, 1, 4, True),   # the centre weight
    (2, 2, 1, True), (2, 2, 2, False),                     # lower-right 2x2
    (2, 1, 1, True), (2, 1, 1, False),                     # 2x2 pixel links
    (2, 1, 4, True), (3, 1, 1, True), (4, 2, 1, False),    # plain nn.Conv2d
]


@pytest.mark.parametrize("side, stride, groups, bias", CASES)
@pytest.mark.parametrize("layout", [torch.contiguous_format, torch.channels_last])
def test_same_outputs_and_gradients_as_conv2d(side, stride, groups, bias, layout):
    ref, fast = _pair(8, 12, stride, groups, bias)
    ref, fast = ref.to(memory_format=layout), fast.to(memory_format=layout)
    x = torch.randn(5, 8, side, side).contiguous(memory_format=layout).requires_grad_(True)
    x2 = x.detach().clone().requires_grad_(True)
    y, y2 = ref(x), fast(x2)
    torch.testing.assert_close(y2, y, rtol=1e-5, atol=1e-6)
    # the output keeps the input's memory layout, as nn.Conv2d's does
    assert y2.is_contiguous(memory_format=layout)
    g = torch.randn_like(y)
    y.backward(g)
    y2.backward(g)
    torch.testing.assert_close(x2.grad, x.grad, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(fast.weight.grad, ref.weight.grad, rtol=1e-5, atol=1e-6)
    if bias:
        torch.testing.assert_close(fast.bias.grad, ref.bias.grad, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("side, stride, groups, bias", CASES)
def test_exact_in_float64(side, stride, groups, bias):
    ref, fast = _pair(8, 12, stride, groups, bias)
    ref, fast = ref.double(), fast.double()
    x = torch.randn(4, 8, side, side, dtype=torch.float64)
    torch.testing.assert_close(fast(x), ref(x), rtol=1e-12, atol=1e-12)
    ref(x).square().sum().backward()
    fast(x).square().sum().backward()
    torch.testing.assert_close(fast.weight.grad, ref.weight.grad, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("side, stride", [(1, 1), (2, 2)])
def test_weight_gradient_arrives_in_the_weights_memory_layout(side, stride):
    # Otherwise autograd copies it into the weight's NHWC layout every step.
    _, fast = _pair(8, 8, stride)
    fast = fast.to(memory_format=torch.channels_last)
    arrived = []
    fast.weight.register_hook(lambda g: arrived.append(g.stride()))
    x = torch.randn(3, 8, side, side).contiguous(memory_format=torch.channels_last)
    fast(x).sum().backward()
    assert arrived == [fast.weight.stride()]


@pytest.mark.parametrize("side, stride", [(1, 1), (2, 2), (2, 1), (8, 1)])
def test_unbatched_and_empty_batches_work_as_in_conv2d(side, stride):
    ref, fast = _pair(8, 12, stride)
    x = torch.randn(8, side, side)  # one image without a batch dimension
    torch.testing.assert_close(fast(x), ref(x), rtol=1e-5, atol=1e-6)
    empty = torch.randn(0, 8, side, side)
    assert fast(empty).shape == ref(empty).shape


@pytest.mark.filterwarnings("ignore::torch.jit.TracerWarning")  # shapes fixed
@pytest.mark.parametrize("side, stride", [(1, 1), (2, 2), (2, 1)])
def test_torch_func_and_tracing_compose(side, stride):
    ref, fast = _pair(8, 12, stride)
    x = torch.randn(5, 8, side, side)
    # vmap over single images and per-example gradients, as with nn.Conv2d
    y = torch.func.vmap(fast)(x[:, None])[:, 0]
    torch.testing.assert_close(y, ref(x), rtol=1e-5, atol=1e-6)
    params = dict(fast.named_parameters())

    def loss(p, xi):
        return torch.func.functional_call(fast, p, (xi[None],)).square().sum()

    grads = torch.func.vmap(torch.func.grad(loss), in_dims=(None, 0))(params, x)
    assert grads["weight"].shape == (5, *fast.weight.shape)
    traced = torch.jit.trace(fast, x[:2])  # traced at batch 2, run at 5
    torch.testing.assert_close(traced(x), ref(x), rtol=1e-5, atol=1e-6)


def test_weights_meeting_only_padding_get_exactly_zero_gradient():
    _, fast = _pair(4, 4)
    fast(torch.randn(3, 4, 1, 1)).sum().backward()
    g = fast.weight.grad
    assert g[:, :, 1, 1].abs().sum() > 0
    g = g.clone()
    g[:, :, 1, 1] = 0
    assert torch.count_nonzero(g) == 0


def test_state_dict_and_class_checks_are_unchanged():
    ref, fast = _pair(3, 6)
    assert isinstance(fast, nn.Conv2d) and type(fast) is SmallMapConv2d
    assert list(fast.state_dict()) == list(ref.state_dict())
    restored = nn.Conv2d(3, 6, 3, padding=1)
    restored.load_state_dict(fast.state_dict())  # loads into a plain conv


def test_only_plain_3x3_padding_1_convolutions_switch():
    class MyConv(nn.Conv2d):
        pass
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Conv2d(2, 2, 1),
                        nn.Conv2d(2, 2, 3, padding=2, dilation=2),
                        nn.Conv2d(2, 2, 3, padding=1, padding_mode="reflect"),
                        MyConv(2, 2, 3, padding=1), nn.Conv2d(2, 2, 7, padding=3))
    assert skip_padding_taps(net) == 1
    assert [type(m).__name__ for m in net] == [
        "SmallMapConv2d", "Conv2d", "Conv2d", "Conv2d", "MyConv", "Conv2d"]


def test_lazy_convolutions_switch_when_they_get_their_weights():
    net = nn.Sequential(nn.LazyConv2d(4, 3, padding=1), nn.LazyConv2d(4, 1))
    assert skip_padding_taps(net) == 1
    net(torch.randn(2, 3, 1, 1))
    assert type(net[0]) is SmallMapConv2d and type(net[1]) is nn.Conv2d


def test_resnet18_at_28x28_matches_the_plain_network():
    torch.manual_seed(0)
    ref = d2l.ResNet18(lr=0.1)
    ref(torch.zeros(2, 1, 28, 28))
    fast = copy.deepcopy(ref)
    assert skip_padding_taps(fast) > 0
    x = torch.randn(6, 1, 28, 28)
    for net in (ref, fast):
        net.train()
    y, y2 = ref(x), fast(x)
    torch.testing.assert_close(y2, y, rtol=1e-4, atol=1e-5)
    F.cross_entropy(y, torch.arange(6)).backward()
    F.cross_entropy(y2, torch.arange(6)).backward()
    # Batch norm amplifies rounding, and the biases before it have gradients
    # that are zero up to rounding: compare on the gradients' overall scale.
    scale = max(p.grad.abs().max().item() for p in ref.parameters())
    for p, q in zip(ref.parameters(), fast.parameters()):
        torch.testing.assert_close(q.grad, p.grad, rtol=0, atol=1e-3 * scale)


def _tiny_run(small_maps):
    torch.manual_seed(0)
    model = d2l.ResNet18(lr=0.01)
    model.board.display = False
    data = d2l.FashionMNIST(batch_size=16, resize=(28, 28), num_train=32, num_val=16, seed=0)
    trainer = d2l.Trainer(max_epochs=1, seed=0, progress=False, small_maps=small_maps)
    trainer.fit(model, data)
    return model


def test_trainer_switches_on_a_cpu_by_default_and_can_be_told_not_to():
    kinds = lambda m: {type(c).__name__ for c in m.modules() if isinstance(c, nn.Conv2d)}
    assert "SmallMapConv2d" in kinds(_tiny_run("auto"))
    assert "SmallMapConv2d" not in kinds(_tiny_run(False))


@pytest.mark.parametrize("bad", ["yes", 1.0, None])
def test_trainer_refuses_other_values(bad):
    with pytest.raises(ValueError, match="small_maps must be True, False or 'auto'"):
        d2l.Trainer(max_epochs=1, small_maps=bad)
