"""The evidence helpers of notebook 03 (why residual connections help), and
the claims the notebook reads from them, checked on seeded random batches."""
import pytest
import torch
from torch import nn
from torch.nn import functional as F

import d2lmini as d2l
from d2lmini.why_residual import (CifarBlock, CifarNet, CifarResNet, PlainNet,
                                  accuracy_on, calibrate, conv_gradient_norms,
                                  deletable_blocks, gradients_on_a_line,
                                  neighbour_correlation, with_new_blocks, without_block)


def _batch(n=16, size=14, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, 1, size, size, generator=g), torch.randint(0, 10, (n,), generator=g)


# -- gradients at initialisation -------------------------------------------------
def test_gradient_norms_are_those_autograd_gives_per_convolution():
    torch.manual_seed(0)
    model, (X, y) = CifarResNet(8), _batch()
    norms = conv_gradient_norms(model, X, y)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    assert len(norms) == len(convs) == 7  # the stem and two per block
    weights = [c.weight for c in convs]
    grads = torch.autograd.grad(F.cross_entropy(model(X), y), weights)
    assert norms == pytest.approx([g.norm().item() for g in grads], rel=1e-5)


def test_plain_56_gradients_explode_towards_the_input_and_residual_56_do_not():
    X, y = _batch(32)
    for seed in range(3):
        ratios = {}
        for Net in (PlainNet, CifarResNet):
            torch.manual_seed(seed)
            norms = conv_gradient_norms(Net(56), X, y)
            ratios[Net] = norms[0] / norms[-1]
        # measured: plain about 1000x from last to first layer, residual about 10x
        assert ratios[PlainNet] > 10 * ratios[CifarResNet], ratios


# -- shattered gradients ----------------------------------------------------------
def test_neighbour_correlation_of_known_rows():
    row = torch.randn(1, 50)
    assert neighbour_correlation(row.repeat(6, 1)) == pytest.approx(1.0)
    alternating = torch.cat([row, -row] * 3)
    assert neighbour_correlation(alternating) == pytest.approx(-1.0)
    torch.manual_seed(0)
    assert abs(neighbour_correlation(torch.randn(400, 2000))) < 0.01
    # a shift of every row by a constant does not count as correlation
    assert neighbour_correlation(row.repeat(6, 1) + torch.arange(6.0)[:, None]) == \
        pytest.approx(1.0)


def test_gradients_on_a_line_end_at_the_two_images():
    torch.manual_seed(0)
    X, _ = _batch(8)
    model = calibrate(CifarResNet(8), X)
    G = gradients_on_a_line(model, X[:1], X[1:2], steps=5)
    assert G.shape == (5, 14 * 14)
    for point, image in ((0, X[:1]), (-1, X[1:2])):
        x = image.clone().requires_grad_()
        model(x)[0, 0].backward()
        torch.testing.assert_close(G[point], x.grad.flatten())


def test_calibrate_uses_the_batch_statistics_and_leaves_eval_mode():
    torch.manual_seed(0)
    X, _ = _batch(8)
    model = CifarResNet(8)
    stem, bn = model.net[0], model.net[1]
    with torch.no_grad():
        bn.running_mean.fill_(5.0)
        expected = stem(X).mean(dim=(0, 2, 3))
    assert calibrate(model, X) is model and not model.training
    torch.testing.assert_close(bn.running_mean, expected)
    # in eval mode the network is a fixed function of each image
    with torch.no_grad():
        torch.testing.assert_close(model(X[:2]), model(X)[:2])


def test_plain_56_shatters_its_gradients_and_residual_56_does_not():
    X, _ = _batch(32)
    for seed in range(2):
        corr = {}
        for Net in (PlainNet, CifarResNet):
            torch.manual_seed(seed)
            model = calibrate(Net(56), X)
            corr[Net] = neighbour_correlation(gradients_on_a_line(model, X[:1], X[1:2], 64))
        assert corr[PlainNet] < 0.3 and corr[CifarResNet] > corr[PlainNet] + 0.3, corr


# -- deleting and inserting blocks -------------------------------------------------
def test_deletable_blocks_keep_their_input_shape():
    model = CifarResNet(20)
    blocks = [i for i, m in enumerate(model.net) if isinstance(m, CifarBlock)]
    assert len(blocks) == 9
    # the first block of stages 2 and 3 halves the resolution and widens
    assert deletable_blocks(model) == [blocks[i] for i in (0, 1, 2, 4, 5, 7, 8)]
    assert deletable_blocks(PlainNet(8)) == [3]


def test_without_block_copies_and_a_silent_residual_block_is_not_missed():
    torch.manual_seed(0)
    X, _ = _batch(4)
    model = CifarResNet(20).eval()
    i = deletable_blocks(model)[1]
    nn.init.zeros_(model.net[i].bn2.weight)  # this block's branch adds nothing
    smaller = without_block(model, i)
    assert isinstance(smaller.net[i], nn.Identity) and isinstance(model.net[i], CifarBlock)
    with torch.no_grad():
        assert torch.equal(smaller(X), model(X))
        other = without_block(model, deletable_blocks(model)[2])
        assert not torch.equal(other(X), model(X))


def test_new_identity_blocks_change_nothing_until_trained():
    torch.manual_seed(0)
    X, y = _batch(8)
    model = CifarResNet(8)
    grown = with_new_blocks(model, 3, 2)
    assert d2l.count_weight_layers(grown) == d2l.count_weight_layers(model) + 4
    assert len(model.net) == len(grown.net) - 2  # the original is untouched
    for mode in ("train", "eval"):
        model.train(mode == "train"), grown.train(mode == "train")
        with torch.no_grad():
            assert torch.equal(grown(X), model(X)), mode
    # the new blocks learn: their silent scale gets a gradient
    grown.train()
    F.cross_entropy(grown(X), y).backward()
    assert grown.net[4].bn2.weight.grad.abs().sum() > 0


def test_accuracy_on_counts_correct_predictions_and_keeps_the_mode():
    torch.manual_seed(0)
    model = CifarResNet(8).train()
    X, y = _batch(12)
    with torch.no_grad():
        model.eval()
        pred = model(X).argmax(1)
        model.train()
    y[:5] = pred[:5]
    y[5:] = (pred[5:] + 1) % 10
    loader = [(X[:6], y[:6]), (X[6:], y[6:])]
    assert accuracy_on(model, loader) == pytest.approx(5 / 12)
    assert model.training


# -- checks attached from outside the classes --------------------------------------
def test_guarded_classes_name_the_bad_argument_for_subclasses_too():
    with pytest.raises(ValueError, match=r"6n\+2"):
        PlainNet(21)
    with pytest.raises(ValueError, match=r"CifarBlock\(32, 16\) narrows"):
        CifarBlock(32, 16)
    with pytest.raises(ValueError, match="CifarResNet expects 1 input channel"):
        CifarResNet(8)(torch.zeros(2, 3, 14, 14))


def test_guarding_twice_wraps_once():
    class Block(nn.Module):
        def __init__(self, width=3):
            super().__init__()
            self.width = width

        def forward(self, X):
            return X

    calls = []
    for _ in range(2):
        d2l.guard(Block, arguments=lambda where, width: calls.append((where, width)),
                  inputs=lambda module, X: calls.append(tuple(X.shape)))
    Block(width=5)(torch.zeros(2))
    assert calls == [("Block", 5), (2,)]
    # an unguarded subclass inherits the checks and is named by its own name
    calls.clear()
    type("Wide", (Block,), {})()
    assert calls == [("Wide", 3)]
