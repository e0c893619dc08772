"""Block variants (notebooks 08 and 11) and the 6n+2 plain and residual networks
(notebook 03, trained in notebook 12)."""
import pytest
import torch
from torch import nn
from torch.nn import functional as F

import d2lmini as d2l
from d2lmini.resnet_variants import (Inception, ParallelPaths, PreActResidual,
                                     PreActResNet, PreActResNet18)
from d2lmini.why_residual import (CifarBlock, CifarNet, CifarResNet, PlainNet,
                                  count_weight_layers)


def call_order(block: nn.Module, X: torch.Tensor) -> list:
    """Names of the direct submodules in the order the forward pass runs them."""
    order = []
    hooks = [m.register_forward_hook(lambda m, i, o, name=name: order.append(name))
             for name, m in block.named_children()]
    block(X)
    for h in hooks:
        h.remove()
    return order


# -- pre-activation ---------------------------------------------------------
@pytest.mark.parametrize("args, out_shape", [((3, 3), (4, 3, 6, 6)),
                                             ((3, 6, True, 2), (4, 6, 3, 3))])
def test_preact_block_shapes(args, out_shape):
    assert PreActResidual(*args)(torch.randn(4, 3, 6, 6)).shape == out_shape


def test_preact_applies_batch_norm_first():
    torch.manual_seed(0)
    X = torch.randn(4, 3, 6, 6)
    assert call_order(PreActResidual(3, 3), X) == ["bn1", "conv1", "bn2", "conv2"]
    # The projection reads the normalised input, so it still runs after bn1.
    assert call_order(PreActResidual(3, 6, True, 2), X)[0] == "bn1"
    # The first conv sees relu(bn1(X)), not X: check its input directly.
    blk = PreActResidual(3, 3)
    seen = {}
    blk.conv1.register_forward_hook(lambda m, i, o: seen.setdefault("x", i[0]))
    blk(X)
    torch.testing.assert_close(seen["x"], F.relu(blk.bn1(X)))


def test_preact_zero_branch_is_exact_identity():
    blk = PreActResidual(3, 3)
    nn.init.zeros_(blk.conv2.weight)
    nn.init.zeros_(blk.conv2.bias)
    X = torch.randn(2, 3, 5, 5)
    assert torch.equal(blk(X), X)  # negatives survive: no ReLU after the sum


def test_preact_rejects_shape_change_without_projection():
    with pytest.raises(ValueError, match="use_1x1conv=True"):
        PreActResidual(3, 6)
    with pytest.raises(ValueError, match="use_1x1conv=True"):
        PreActResidual(3, 3, strides=2)


def test_preact_resnet18_layout_and_output():
    model = PreActResNet18()
    model.eval()
    assert model(torch.randn(2, 1, 96, 96)).shape == (2, 10)
    assert count_weight_layers(model) - 3 == 18  # three 1x1 projections aside
    last = list(model.net.last)
    assert isinstance(last[0], nn.BatchNorm2d) and isinstance(last[1], nn.ReLU)
    # Same convolution/linear weights as the chapter's ResNet-18; only BN moves.
    conv = lambda m: sum(p.numel() for l in m.modules()
                         if isinstance(l, (nn.Conv2d, nn.Linear)) for p in l.parameters())
    assert conv(model) == conv(d2l.ResNet18())


def test_preact_resnet_inherits_the_chapter_resnet():
    # One skeleton: only the blocks and the extra BN + ReLU before pooling differ.
    assert issubclass(PreActResNet, d2l.ResNet)
    assert "forward" not in vars(PreActResNet) and "b1" not in vars(PreActResNet)
    model = PreActResNet18()
    assert model.min_size() == d2l.ResNet18().min_size() == 17
    blocks = [m for m in model.modules() if isinstance(m, (PreActResidual, d2l.Residual))]
    assert len(blocks) == 8 and all(isinstance(b, PreActResidual) for b in blocks)
    chapter = d2l.ResNet18()
    assert (d2l.count_parameters(model) - d2l.count_parameters(chapter)
            == 2 * 512 + sum(2 * (b.bn1.num_features - b.bn2.num_features) for b in blocks))


# -- Inception vs residual -------------------------------------------------------
def test_inception_concatenates_paths():
    inc = Inception(256, 64, (96, 128), (16, 32), 32)
    X = torch.randn(1, 256, 7, 7)
    Y = inc(X)
    assert Y.shape == (1, 256, 7, 7)
    torch.testing.assert_close(Y[:, :64], inc.p1(X))
    torch.testing.assert_close(Y, ParallelPaths(inc.p1, inc.p2, inc.p3, inc.p4)(X))


def test_inception_with_paths_removed_equals_residual():
    torch.manual_seed(0)
    res = d2l.Residual(8, 8)
    for bn in (res.bn1, res.bn2):  # non-trivial running statistics and affine
        bn.running_mean.uniform_(-0.5, 0.5)
        bn.running_var.uniform_(0.5, 2.0)
        nn.init.uniform_(bn.weight, 0.5, 1.5)
        nn.init.uniform_(bn.bias, -0.5, 0.5)
    path = nn.Sequential(res.conv1, res.bn1, nn.ReLU(), res.conv2, res.bn2)
    pruned = ParallelPaths(nn.Identity(), path, merge="add", activation=nn.ReLU())
    res.eval(), pruned.eval()
    X = torch.randn(3, 8, 6, 6)
    with torch.no_grad():
        expected = F.relu(X + res.bn2(res.conv2(F.relu(res.bn1(res.conv1(X))))))
        torch.testing.assert_close(pruned(X), expected)
        torch.testing.assert_close(pruned(X), res(X))
    with pytest.raises(ValueError, match="merge"):
        ParallelPaths(nn.Identity(), merge="mean")


# -- degradation networks --------------------------------------------------------
@pytest.mark.parametrize("depth", [8, 20, 56])
@pytest.mark.parametrize("Net", [PlainNet, CifarResNet])
def test_cifar_nets_have_stated_depth(Net, depth):
    model = Net(depth)
    assert count_weight_layers(model) == depth == 6 * ((depth - 2) // 6) + 2
    assert sum(isinstance(m, CifarBlock) for m in model.modules()) == 3 * (depth - 2) // 6


def test_plain_and_residual_share_parameters_and_shapes():
    plain, res = PlainNet(20), CifarResNet(20)
    assert d2l.count_parameters(plain) == d2l.count_parameters(res)
    assert all(not b.shortcut for b in plain.modules() if isinstance(b, CifarBlock))
    assert all(b.shortcut for b in res.modules() if isinstance(b, CifarBlock))
    X = torch.randn(2, 1, 28, 28)
    assert plain(X).shape == res(X).shape == (2, 10)
    with pytest.raises(ValueError, match="6n\\+2"):
        CifarNet(21)


def test_zero_branch_residual_blocks_are_identity_on_nonnegative_input():
    X = torch.rand(2, 16, 8, 8)  # outputs of a ReLU are >= 0
    blk = CifarBlock(16, 16)
    nn.init.zeros_(blk.bn2.weight)  # branch output is bn2's bias, zero
    assert torch.equal(blk(X), X)
    # A downsampling block passes the subsampled input, zero-padded.
    down = CifarBlock(16, 32, strides=2)
    nn.init.zeros_(down.bn2.weight)
    Y = down(X)
    assert torch.equal(Y[:, :16], X[:, :, ::2, ::2]) and not Y[:, 16:].any()
    # A plain block has no such fallback: zeroing it kills the signal.
    plain = CifarBlock(16, 16, shortcut=False)
    nn.init.zeros_(plain.bn2.weight)
    assert not plain(X).any()


def test_zero_branch_residual_stage_is_identity():
    model = CifarResNet(20)
    for m in model.modules():
        if isinstance(m, CifarBlock):
            nn.init.zeros_(m.bn2.weight)
    stem, stage1 = model.net[:3], model.net[3:6]  # stem, then the 3 blocks of stage 1
    X = torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        H = stem(X)
        assert torch.equal(stage1(H), H)


def test_cifar_net_uses_paper_optimizer():
    opt = CifarResNet(8, lr=0.05, lr_drops=(), warmup=0).configure_optimizers()
    group = opt.param_groups[0]
    assert (group["lr"], group["momentum"], group["weight_decay"]) == (0.05, 0.9, 1e-4)
    with pytest.raises(RuntimeError, match="lr_drops"):
        CifarResNet(8).configure_optimizers()  # the drops need the trainer's step count


class _TinyImages(d2l.DataModule):
    """40 random 1x8x8 images in 10 batches of 4: enough to drive the schedule."""
    def __init__(self):
        super().__init__()
        self.batch_size = 4
        g = torch.Generator().manual_seed(0)
        self.X = torch.randn(40, 1, 8, 8, generator=g)
        self.y = torch.randint(0, 10, (40,), generator=g)

    def get_dataloader(self, train):
        return self.get_tensorloader((self.X, self.y), train, slice(0, 40 if train else 8))


def _lr_per_step(model) -> list:
    model.board.display = False
    seen = []
    step = model.training_step
    model.training_step = lambda batch: (seen.append(model.trainer.optim.param_groups[0]["lr"]),
                                         step(batch))[1]
    d2l.Trainer(max_epochs=2, progress=False).fit(model, _TinyImages())
    return seen


def test_cifar_net_drops_lr_tenfold_at_half_and_three_quarters():
    torch.manual_seed(0)
    seen = _lr_per_step(CifarResNet(8, lr=0.1, warmup=0))
    # 20 steps: 10 at 0.1, 5 at 0.01, 5 at 0.001 (the paper's 32k/48k of 64k)
    assert seen == pytest.approx([0.1] * 10 + [0.01] * 5 + [0.001] * 5)


def test_cifar_net_warms_up_linearly_from_a_tenth():
    torch.manual_seed(0)
    seen = _lr_per_step(CifarResNet(8, lr=0.1, warmup=0.2))  # 4 of 20 steps
    assert seen[:5] == pytest.approx([0.01, 0.0325, 0.055, 0.0775, 0.1])
    assert seen[5:] == pytest.approx([0.1] * 5 + [0.01] * 5 + [0.001] * 5)
    # the default: a 5% warm-up (1 step of 20), then the paper's drops
    torch.manual_seed(0)
    assert _lr_per_step(CifarResNet(8, lr=0.1)) == pytest.approx(
        [0.01] + [0.1] * 9 + [0.01] * 5 + [0.001] * 5)


@pytest.mark.parametrize("model, shape, message", [
    (lambda: PreActResNet18(), (2, 3, 32, 32), r"PreActResNet18 expects 1 input channel"),
    (lambda: PreActResNet18(), (2, 1, 16, 16), r"at least 17x17 pixels"),
    (lambda: CifarResNet(8), (2, 3, 28, 28), r"CifarResNet expects 1 input channel"),
    (lambda: PlainNet(8), (28, 28), r"PlainNet expects a 4-d batch.*\(28, 28\)"),
    (lambda: PlainNet(8), (2, 1, 28, 28), r"floating-point"),
])
def test_variant_models_name_a_wrong_input(model, shape, message):
    X = torch.zeros(shape, dtype=torch.uint8 if message == "floating-point" else torch.float32)
    with pytest.raises(ValueError, match=message):
        model()(X)
    if message.startswith("at least"):  # one pixel more is enough
        assert model().eval()(torch.zeros(2, 1, 17, 17)).shape == (2, 10)
