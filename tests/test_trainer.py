"""Trainer.fit: book semantics, progress, summary, history, seeding, bad args."""
import math
import re
import warnings

import pytest
import torch
from torch import nn

import d2lmini as d2l
from helpers import MLP, SyntheticData, losses, make_model


def test_fit_one_epoch_progress_summary_history(capsys):
    data, model = SyntheticData(), make_model()
    trainer = d2l.Trainer(max_epochs=1, seed=0)
    history = trainer.fit(model, data)
    out, err = capsys.readouterr()
    # tqdm bar on stderr, with the batch count and a loss readout
    assert "20/20" in err and "loss=" in err
    assert re.search(r"epoch 1/1: train loss \d\.\d{3}, val loss \d\.\d{3}, "
                     r"val acc \d\.\d{3}, [\d.]+ s, \d+ img/s", out), out
    assert history is trainer.history and len(history) == 1
    rec = history[-1]
    assert set(rec) >= {"epoch", "train_loss", "val_loss", "val_acc", "seconds", "images_per_s"}
    assert rec["epoch"] == 1 and rec["seconds"] > 0 and rec["images_per_s"] > 0
    # val accuracy is the exact count of correct predictions over 500 examples
    model.eval()
    with torch.no_grad():
        X, y = data.val
        correct = int((model(X).argmax(1) == y).sum())
    assert rec["val_acc"] == correct / 500
    # val loss is the exact example-weighted mean
    with torch.no_grad():
        expected = nn.functional.cross_entropy(model(X), y).item()
    assert rec["val_loss"] == pytest.approx(expected, rel=1e-5)
    assert history.column("epoch") == [1]


def test_book_attributes_and_board():
    data, model = SyntheticData(n=400), make_model()
    trainer = d2l.Trainer(max_epochs=2, progress=False)
    trainer.fit(model, data)
    assert model.trainer is trainer and trainer.model is model
    assert trainer.num_train_batches == 4 and trainer.num_val_batches == 5
    assert trainer.train_batch_idx == 8 and trainer.val_batch_idx == 10
    assert isinstance(trainer.optim, torch.optim.SGD)
    board = model.board
    assert board.xlabel == "epoch" and board.xlim == [0, 2]
    # plot_train_per_epoch=2 -> two train points per epoch; one val point per epoch
    assert [p[0] for p in board.data["train_loss"]] == [0.5, 1.0, 1.5, 2.0]
    assert [p[0] for p in board.data["val_loss"]] == [1, 2]
    assert [p[1] for p in board.data["val_acc"]] == trainer.history.column("val_acc")


def test_board_points_are_evenly_spaced_and_average_whole_windows():
    # 7 batches, 2 points per epoch: windows of 4 and 3 batches, never a lone tail batch
    data, model = SyntheticData(n=700), make_model()
    seen, step = [], model.training_step

    def recording_step(batch):
        loss = step(batch)
        seen.append(float(loss.detach()))
        return loss
    model.training_step = recording_step
    d2l.Trainer(max_epochs=1, progress=False).fit(model, data)
    assert len(seen) == 7
    points = model.board.data["train_loss"]
    assert [x for x, _ in points] == pytest.approx([4 / 7, 1.0])
    assert [y for _, y in points] == pytest.approx([sum(seen[:4]) / 4, sum(seen[4:]) / 3], rel=1e-5)


def test_progress_false_silences_bar(capsys):
    d2l.Trainer(max_epochs=1, progress=False).fit(make_model(), SyntheticData(n=400))
    out, err = capsys.readouterr()
    assert "batch" not in err and "epoch 1/1:" in out


def test_seeded_runs_identical():
    runs = []
    for _ in range(2):
        model = make_model(seed=7)
        h = d2l.Trainer(max_epochs=2, seed=3, progress=False).fit(model, SyntheticData(n=400))
        runs.append((losses(h), [p.clone() for p in model.parameters()]))
    assert runs[0][0] == runs[1][0]
    assert all(torch.equal(a, b) for a, b in zip(runs[0][1], runs[1][1]))
    # a different seed changes the shuffles and dropout masks
    model = make_model(seed=7)
    h = d2l.Trainer(max_epochs=2, seed=4, progress=False).fit(model, SyntheticData(n=400))
    assert losses(h) != runs[0][0]


class FirstWeights(MLP):
    """Remembers its weights as the first training step sees them."""

    def training_step(self, batch):
        if not hasattr(self, "first"):
            self.first = [p.detach().clone() for p in self.parameters()]
        return super().training_step(batch)


def test_the_seed_keeps_the_weights_a_model_already_has():
    """fit never re-initialises: the weights may have been loaded."""
    model = make_model(seed=1, cls=FirstWeights)
    built = [p.detach().clone() for p in model.parameters()]
    d2l.Trainer(max_epochs=1, seed=0, progress=False).fit(model, SyntheticData(n=200))
    assert all(torch.equal(a, b) for a, b in zip(model.first, built))


def test_seed_everything_before_building_makes_runs_repeatable():
    """The documented recipe: seed, build, fit with the same seed."""
    def run(disturb):
        torch.manual_seed(disturb)  # whatever ran before in the process
        d2l.seed_everything(0)
        model = MLP()
        return losses(d2l.Trainer(max_epochs=1, seed=0, progress=False).fit(
            model, SyntheticData(n=200)))
    assert run(1) == run(2)


@pytest.mark.parametrize("seed", [2**64 - 1, -2**63, -1])
def test_seeds_at_the_ends_of_torchs_range_train(seed):
    """seed + epoch past 2**64 - 1 wraps to the same 64-bit seed torch would use."""
    history = d2l.Trainer(max_epochs=2, seed=seed, progress=False).fit(
        make_model(), SyntheticData(n=200, generator=True))
    assert len(history) == 2 and all(math.isfinite(r["train_loss"]) for r in history)


class LazyCNN(d2l.Classifier):
    """The review's model: lazy layers that no dry run has initialised."""

    def __init__(self, lr=0.1, net=None):
        super().__init__()
        self.save_hyperparameters(ignore=["net"])
        self.net = net or nn.Sequential(
            nn.LazyConv2d(8, 3, padding=1), nn.LazyBatchNorm2d(), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.LazyLinear(10))


class TinyImages:
    def __init__(self, n=64, batch_size=16):
        g = torch.Generator().manual_seed(0)
        self.X = torch.randn(n, 1, 12, 12, generator=g)
        self.y = torch.randint(0, 10, (n,), generator=g)
        self.batch_size = batch_size

    def train_dataloader(self):
        return torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(self.X, self.y), self.batch_size, shuffle=True)

    def val_dataloader(self):
        return torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(self.X, self.y), self.batch_size)


@pytest.mark.parametrize("check_every", [1, 3])
def test_lazy_layers_train_without_a_dry_run(check_every):
    runs = []
    for _ in range(2):
        model = LazyCNN()
        history = d2l.Trainer(max_epochs=2, seed=4, progress=False,
                              check_finite_every=check_every).fit(model, TinyImages())
        runs.append(losses(history))
    assert all(math.isfinite(r[0]) for r in runs[0])
    assert runs[0] == runs[1]  # the seed fixes the weights lazy layers create
    assert not any(nn.parameter.is_lazy(t) for t in model.state_dict().values())


class LazyNaNInput(LazyCNN):
    """NaN images at training batch ``bad``; keeps the lazily created weights
    as they were after the first forward pass (before any update)."""

    def __init__(self, bad):
        super().__init__()
        self.bad, self.calls = bad, 0

    def training_step(self, batch):
        self.calls += 1
        if self.calls == self.bad:
            batch = [torch.full_like(batch[0], float("nan")), batch[1]]
        loss = super().training_step(batch)
        if self.calls == 1:
            self.first = {k: p.detach().clone() for k, p in self.named_parameters()}
        return loss


@pytest.mark.parametrize("check_every, bad", [(1, 1), (3, 2)])
def test_divergence_in_the_first_steps_of_a_lazy_model_leaves_no_nan(check_every, bad):
    """Lazy tensors are created inside the first window: their first weights
    are restored and their batch-norm statistics start again from 0 and 1."""
    model = LazyNaNInput(bad)
    with pytest.raises(d2l.DivergenceError, match=f"batch {bad}: the loss was NaN"):
        d2l.Trainer(max_epochs=1, progress=False, check_finite_every=check_every).fit(
            model, TinyImages())
    assert all(torch.equal(p, model.first[k]) for k, p in model.named_parameters())
    bn = model.net[1]
    assert torch.equal(bn.running_mean, torch.zeros(8))
    assert torch.equal(bn.running_var, torch.ones(8)) and bn.num_batches_tracked == 0


@pytest.mark.parametrize("check_every", [1, 3])
def test_the_published_d2l_residual_trains(check_every):
    """d2l's own lazy Residual block (the reference package) in our Trainer."""
    d2l_ref = pytest.importorskip("d2l.torch")
    net = nn.Sequential(d2l_ref.Residual(8), d2l_ref.Residual(16, use_1x1conv=True, strides=2),
                        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.LazyLinear(10))
    history = d2l.Trainer(max_epochs=1, seed=0, progress=False,
                          check_finite_every=check_every).fit(LazyCNN(net=net), TinyImages())
    assert math.isfinite(history[-1]["train_loss"])


def test_seed_reaches_loader_generator():
    runs = [losses(d2l.Trainer(max_epochs=1, seed=5, progress=False).fit(
        make_model(), SyntheticData(n=400, generator=True))) for _ in range(2)]
    assert runs[0] == runs[1]


def test_num_gpus_falls_back_to_cpu_with_a_warning(capsys, monkeypatch):
    monkeypatch.setattr(d2l.devices, "num_gpus", lambda: 0)
    with pytest.warns(d2l.devices.FallbackWarning, match="no GPU was found") as caught:
        t1 = d2l.Trainer(max_epochs=1, num_gpus=1)
    assert t1.device == torch.device("cpu") and t1.gpus == []
    assert caught[0].filename == __file__  # points at the caller's line
    assert capsys.readouterr().out == ""  # a warning, not a print


@pytest.mark.parametrize("kwargs, word", [
    (dict(max_epochs=0), "max_epochs"), (dict(max_epochs=-3), "max_epochs"),
    (dict(max_epochs=2.5), "max_epochs"), (dict(max_epochs=True), "max_epochs"),
    (dict(max_epochs=1, gradient_clip_val=-1), "gradient_clip_val"),
    (dict(max_epochs=1, device="gpu7"), "gpu7"),
    (dict(max_epochs=1, checkpoint_every=0), "checkpoint_every"),
    (dict(max_epochs=1, seed="x"), "seed"),
    (dict(max_epochs=1, seed=2**70), r"seed must be an int from -2\*\*63 to 2\*\*64 - 1"),
    (dict(max_epochs=1, seed=-2**63 - 1), r"seed .* got -9223372036854775809"),
])
def test_bad_arguments(kwargs, word):
    with pytest.raises(ValueError, match=word):
        d2l.Trainer(**kwargs)


@pytest.mark.parametrize("lr", [0, -0.1, float("nan")])
def test_bad_learning_rate(lr):
    with pytest.raises(ValueError, match=f"lr={lr}"):
        d2l.Trainer(max_epochs=1, progress=False).fit(make_model(lr=lr), SyntheticData(n=200))


def test_gradient_clipping_bounds_norm():
    model = make_model()
    for p in model.parameters():
        p.grad = torch.full_like(p, 10.0)
    d2l.Trainer(max_epochs=1).clip_gradients(1.0, model)
    norm = torch.sqrt(sum((p.grad ** 2).sum() for p in model.parameters()))
    assert norm == pytest.approx(1.0, rel=1e-4)


class ConvNet(d2l.Classifier):
    def __init__(self, lr=0.05):
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 4, 3), nn.ReLU(),
                                 nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 10))


class Images(SyntheticData):
    """Synthetic side x side images, one channel."""

    def __init__(self, side=8):
        super().__init__(n=64, n_val=32, batch_size=32, num_inputs=side * side)
        self.train = (self.train[0].reshape(-1, 1, side, side), self.train[1])
        self.val = (self.val[0].reshape(-1, 1, side, side), self.val[1])


def _nhwc(t):
    """Stored channels-last (compared by strides: with one channel both
    layouts count as contiguous)."""
    return t.stride() == t.contiguous(memory_format=torch.channels_last).stride() \
        != t.contiguous().stride()


def test_channels_last_conv_model():
    torch.manual_seed(0)
    model = ConvNet()
    trainer = d2l.Trainer(max_epochs=1, channels_last=True, progress=False)
    trainer.fit(model, Images())
    assert _nhwc(model.net[2].weight)
    # one channel: NCHW and NHWC are the same memory, so only contiguity is asked
    assert trainer.prepare_batch(next(iter(Images().train_dataloader())))[0] \
        .is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("side, nhwc", [(8, False), (64, True)])
def test_channels_last_auto_follows_the_rule_at_the_first_batch(side, nhwc):
    from d2lmini.layout import channels_last_pays
    assert channels_last_pays(side, side, torch.device("cpu")) is nhwc
    assert channels_last_pays(side, side, torch.device("cpu"), torch.bfloat16)  # oneDNN bf16
    assert channels_last_pays(side, side, torch.device("cuda"))
    torch.manual_seed(0)
    model = ConvNet()
    trainer = d2l.Trainer(max_epochs=1, channels_last="auto", progress=False, seed=0)
    trainer.fit(model, Images(side))
    assert trainer.layout.channels_last is nhwc
    assert _nhwc(model.net[2].weight) is nhwc
    # the same numbers as asking for that layout outright
    torch.manual_seed(0)
    fixed = ConvNet()
    h = d2l.Trainer(max_epochs=1, channels_last=nhwc, progress=False, seed=0).fit(fixed, Images(side))
    assert losses(h) == losses(trainer.history)


@pytest.mark.parametrize("kernels, nhwc_at_28", [("AVX512", True), ("AVX2", True),
                                                  ("DEFAULT", False)])
def test_channels_last_rule_in_float32_depends_on_the_cpu_kernels(kernels, nhwc_at_28):
    from d2lmini.layout import channels_last_pays
    cpu = torch.device("cpu")
    assert channels_last_pays(28, 28, cpu, cpu_kernels=kernels) is nhwc_at_28
    assert channels_last_pays(96, 96, cpu, cpu_kernels=kernels)
    assert not channels_last_pays(16, 16, cpu, cpu_kernels=kernels)
    assert channels_last_pays(16, 16, cpu, torch.bfloat16, cpu_kernels=kernels)


def test_channels_last_takes_true_false_or_auto():
    with pytest.raises(ValueError, match="True, False or 'auto'"):
        d2l.Trainer(max_epochs=1, channels_last="yes")


def test_compile_trains_to_the_same_losses_up_to_rounding():
    from d2lmini.compiling import cxx_compiler
    if cxx_compiler() is None:
        pytest.skip("no C++ compiler: torch.compile cannot build CPU kernels here")
    torch.manual_seed(0)
    eager = ConvNet()
    ref = d2l.Trainer(max_epochs=2, progress=False, seed=0).fit(eager, Images())
    torch.manual_seed(0)
    model = ConvNet()
    trainer = d2l.Trainer(max_epochs=2, progress=False, seed=0, compile=True)
    h = trainer.fit(model, Images())
    assert trainer.compile and model._compiled_call_impl is not None
    assert list(model.state_dict()) == list(eager.state_dict())  # checkpoints stay loadable
    flat = [v for epoch in losses(h) for v in epoch]
    assert flat == pytest.approx([v for epoch in losses(ref) for v in epoch], rel=1e-4)


def test_compile_without_a_cxx_compiler_warns_and_trains_eagerly(monkeypatch):
    import d2lmini.compiling as compiling
    monkeypatch.setattr(compiling, "cxx_compiler", lambda: None)
    model = ConvNet()
    with pytest.warns(d2l.devices.FallbackWarning, match="C\\+\\+ compiler"):
        h = d2l.Trainer(max_epochs=1, progress=False, compile=True).fit(model, Images())
    assert getattr(model, "_compiled_call_impl", None) is None
    assert math.isfinite(h[-1]["train_loss"])


class AutocastSpy(MLP):
    """Records the dtype of the first layer's output in every forward pass."""

    def forward(self, X):
        h = self.net[0](X)
        self.seen = getattr(self, "seen", []) + [h.dtype]
        return self.net[1:](h)


def test_amp_on_a_cpu_without_bf16_warns_and_trains_in_float32(monkeypatch):
    monkeypatch.setattr(d2l.devices, "cpu_has_native_bf16", lambda: False)
    with pytest.warns(d2l.devices.FallbackWarning, match="AVX512-BF16 or AMX"):
        trainer = d2l.Trainer(max_epochs=1, amp=True, progress=False)
    assert trainer.autocast_dtype is None
    model = make_model(cls=AutocastSpy)
    h = trainer.fit(model, SyntheticData(n=200))
    assert set(model.seen) == {torch.float32}
    assert math.isfinite(h[-1]["train_loss"])


def test_amp_on_a_bf16_cpu_autocasts_forward_and_keeps_float32_weights(capsys, monkeypatch):
    # Autocast also runs (slowly, emulated) on CPUs without bf16, so the test
    # exercises the same code path on every machine.
    monkeypatch.setattr(d2l.devices, "cpu_has_native_bf16", lambda: True)
    model = make_model(cls=AutocastSpy)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback warning here
        trainer = d2l.Trainer(max_epochs=2, amp=True, progress=False, seed=0)
    assert trainer.autocast_dtype == torch.bfloat16
    assert d2l.Trainer(max_epochs=1, progress=False).autocast_dtype is None
    h = trainer.fit(model, SyntheticData(n=400))
    # training and validation forward passes both ran in bf16
    assert set(model.seen) == {torch.bfloat16}
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert all(s["momentum_buffer"] is None or s["momentum_buffer"].dtype == torch.float32
               for s in trainer.optim.state.values())
    # it learns as float32 does, up to bf16 rounding
    fp32 = make_model(cls=AutocastSpy)
    ref = d2l.Trainer(max_epochs=2, progress=False, seed=0).fit(fp32, SyntheticData(n=400))
    assert set(fp32.seen) == {torch.float32}
    assert h[-1]["train_loss"] < h[0]["train_loss"]
    assert h[-1]["train_loss"] == pytest.approx(ref[-1]["train_loss"], rel=0.02)
    assert abs(h[-1]["val_acc"] - ref[-1]["val_acc"]) <= 0.02
    assert losses(h) != losses(ref)  # bf16 really changed the arithmetic
    # and stays deterministic on the CPU
    again = make_model(cls=AutocastSpy)
    h2 = d2l.Trainer(max_epochs=2, amp=True, progress=False, seed=0).fit(again, SyntheticData(n=400))
    assert losses(h2) == losses(h)

