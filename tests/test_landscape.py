"""The loss-landscape helpers of notebook 14: filter-normalised directions and
the loss on a line or plane through the trained weights (Li et al. 2018)."""
import copy

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import d2lmini as d2l
from d2lmini.landscape import loss_landscape, random_direction, set_weights


def _tiny():
    """Conv with bias, batch norm and a linear layer: every kind of tensor."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4),
                          nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3))
    with torch.no_grad():  # batch-norm statistics and affine terms that are
        model(torch.rand(8, 1, 6, 6))  # not the defaults
        model[1].weight.uniform_(0.5, 2)
        model[1].bias.uniform_(-1, 1)
    return model


def _batch(n=16, size=6, classes=3, seed=1):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 1, size, size, generator=g),
            torch.randint(0, classes, (n,), generator=g))


def _filter_norms(t):
    return t.flatten(1).norm(dim=1)


def _bits(model):
    """Parameters and buffers as raw bits (so -0.0 and 0.0 differ)."""
    return [t.detach().clone().view(torch.int32) if t.is_floating_point()
            else t.detach().clone() for t in model.state_dict().values()]


def _same_bits(a, b):
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))


# -- directions ---------------------------------------------------------------
@pytest.mark.parametrize("make", [_tiny, lambda: d2l.CifarResNet(8)])
def test_each_filter_of_a_direction_has_the_norm_of_the_models_filter(make):
    model = make()
    direction = random_direction(model)
    params = list(model.parameters())
    assert [d.shape for d in direction] == [p.shape for p in params]
    filters = [(p, d) for p, d in zip(params, direction) if p.dim() > 1]
    assert filters  # convolutions and linear layers
    for p, d in filters:
        torch.testing.assert_close(_filter_norms(d), _filter_norms(p))
        assert not d.requires_grad


def test_biases_and_batch_norm_parameters_get_a_zero_direction():
    model = _tiny()
    direction = random_direction(model)
    named = dict(zip((n for n, _ in model.named_parameters()), direction))
    for name in ("0.bias", "1.weight", "1.bias", "4.bias"):
        assert not named[name].any(), name
    for name in ("0.weight", "4.weight"):
        assert named[name].abs().min() > 0, name


def test_directions_are_random_and_follow_the_seed():
    model = _tiny()
    torch.manual_seed(3)
    a = random_direction(model)
    b = random_direction(model)
    torch.manual_seed(3)
    c = random_direction(model)
    assert not torch.equal(a[0], b[0])
    assert all(torch.equal(x, z) for x, z in zip(a, c))


# -- the loss on a line and a plane -----------------------------------------
def test_grid_shapes_follow_coords_and_the_number_of_directions():
    model, (X, y) = _tiny(), _batch()
    d1, d2 = random_direction(model), random_direction(model)
    coords = torch.linspace(-1, 1, 5)
    assert loss_landscape(model, X, y, [d1], coords).shape == (5,)
    assert loss_landscape(model, X, y, (d1, d2), coords).shape == (5, 5)
    one = torch.tensor([0.25])
    assert loss_landscape(model, X, y, [d1, d2], one).shape == (1, 1)


def test_loss_at_the_origin_is_the_models_own_loss_in_eval_mode():
    model, (X, y) = _tiny(), _batch()
    d1, d2 = random_direction(model), random_direction(model)
    coords = torch.tensor([-0.5, 0.0, 0.5])
    line = loss_landscape(model, X, y, [d1], coords)
    plane = loss_landscape(model, X, y, [d1, d2], coords)
    model.eval()
    with torch.no_grad():
        own = F.cross_entropy(model(X), y).item()
    assert line[1].item() == pytest.approx(own, rel=1e-6)
    assert plane[1, 1].item() == pytest.approx(own, rel=1e-6)
    assert plane[:, 1].tolist() == pytest.approx(line.tolist(), rel=1e-6)


def test_loss_away_from_the_origin_is_that_of_the_moved_weights():
    model, (X, y) = _tiny(), _batch()
    d1, d2 = random_direction(model), random_direction(model)
    plane = loss_landscape(model, X, y, [d1, d2], torch.tensor([0.3, -0.7]))
    moved = copy.deepcopy(model).eval()
    with torch.no_grad():
        for p, a, b in zip(moved.parameters(), d1, d2):
            p += 0.3 * a - 0.7 * b
        expected = F.cross_entropy(moved(X), y).item()
    assert plane[0, 1].item() == pytest.approx(expected, rel=1e-5)
    assert plane[0, 1] != plane[1, 0]  # the first axis is the first direction


def test_weights_buffers_and_mode_are_restored_bit_for_bit():
    model, (X, y) = _tiny(), _batch()
    with torch.no_grad():
        model[0].bias[0] = -0.0  # a negative zero must come back as such
    before = _bits(model)
    d1, d2 = random_direction(model), random_direction(model)
    loss_landscape(model, X, y, [d1, d2], torch.linspace(-1, 1, 3))
    assert _same_bits(_bits(model), before)
    assert model.training  # back in the mode it was in
    model.eval()
    loss_landscape(model, X, y, [d1], torch.linspace(-1, 1, 3))
    assert not model.training


class _FailsOnCall(nn.Module):
    """Wraps a model; its forward raises on call number ``fail_at``."""

    def __init__(self, model, fail_at):
        super().__init__()
        self.model, self.calls, self.fail_at = model, 0, fail_at

    def forward(self, X):
        self.calls += 1
        if self.calls == self.fail_at:
            raise RuntimeError("simulated failure")
        return self.model(X)


def test_weights_are_restored_when_the_evaluation_raises():
    model, (X, y) = _FailsOnCall(_tiny(), fail_at=3), _batch()
    before = _bits(model)
    direction = random_direction(model)
    with pytest.raises(RuntimeError, match="simulated failure"):
        loss_landscape(model, X, y, [direction], torch.tensor([0.5, 1.0, 2.0]))
    assert model.calls == 3
    assert _same_bits(_bits(model), before)
    assert model.training


def test_weights_are_restored_when_the_loss_raises():
    model, (X, _) = _tiny(), _batch()
    before = _bits(model)
    bad_labels = torch.full((len(X),), 7)  # the model has 3 classes
    with pytest.raises((IndexError, RuntimeError, ValueError)):
        loss_landscape(model, X, bad_labels, [random_direction(model)],
                       torch.tensor([1.0]))
    assert _same_bits(_bits(model), before)


def test_set_weights_adds_the_scaled_directions():
    model = _tiny()
    theta = [p.detach().clone() for p in model.parameters()]
    d1, d2 = random_direction(model), random_direction(model)
    set_weights(model, theta, [d1, d2], [2.0, -1.0])
    for p, t, a, b in zip(model.parameters(), theta, d1, d2):
        torch.testing.assert_close(p.detach(), t + 2 * a - b)
    set_weights(model, theta, [d1, d2], [0.0, 0.0])
    assert all(torch.equal(p, t) for p, t in zip(model.parameters(), theta))


# -- clear errors on bad inputs ---------------------------------------------
def test_random_direction_refuses_what_has_no_weight_space():
    with pytest.raises(TypeError, match="nn.Module"):
        random_direction([torch.zeros(3)])
    with pytest.raises(ValueError, match="no parameters"):
        random_direction(nn.ReLU())
    with pytest.raises(ValueError, match="lazy"):
        random_direction(nn.LazyLinear(3))


def _bad_calls():
    model, (X, y) = _tiny(), _batch()
    d = random_direction(model)
    coords = torch.linspace(-1, 1, 3)
    other = random_direction(nn.Linear(2, 2))
    nan = [t.clone() for t in d]
    nan[0][0, 0, 0, 0] = float("nan")
    return [
        ("X list", (model, X.tolist(), y, [d], coords), TypeError, "X must be"),
        ("X ints", (model, (X * 255).long(), y, [d], coords), ValueError,
         "floating-point"),
        ("y float", (model, X, y.float(), [d], coords), ValueError, "int64"),
        ("y short", (model, X, y[:-1], [d], coords), ValueError, "per input"),
        ("bare direction", (model, X, y, d, coords), ValueError, r"\[d\]"),
        ("three directions", (model, X, y, [d, d, d], coords), ValueError,
         "one direction"),
        ("other model", (model, X, y, [other], coords), ValueError,
         "random_direction"),
        ("wrong shape", (model, X, y, [[t.T if t.dim() == 2 else t for t in d]],
                         coords), ValueError, "does not fit parameter 4.weight"),
        ("nan direction", (model, X, y, [nan], coords), ValueError, "NaN"),
        ("coords list", (model, X, y, [d], [-1.0, 0.0, 1.0]), ValueError,
         "coords"),
        ("coords 2-d", (model, X, y, [d], coords[None]), ValueError, "1-d"),
        ("coords empty", (model, X, y, [d], coords[:0]), ValueError, "non-empty"),
        ("coords inf", (model, X, y, [d], torch.tensor([0.0, float("inf")])),
         ValueError, "finite"),
    ]


@pytest.mark.parametrize("case", _bad_calls(), ids=lambda case: case[0])
def test_loss_landscape_names_the_bad_argument(case):
    _, args, error, message = case
    model = args[0]
    before = _bits(model)
    with pytest.raises(error, match=message):
        loss_landscape(*args)
    assert _same_bits(_bits(model), before)
