"""Interrupts, checkpoints (atomic, resumable), divergence stop."""
import math
import os
import signal
import subprocess
import sys
import textwrap

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import d2lmini as d2l
import d2lmini.checkpoint as ckpt_mod
from helpers import BNMLP, MLP, Interrupting, SyntheticData, losses, make_model, params


def interrupting(stop_at: int) -> Interrupting:
    return make_model(cls=Interrupting, stop_at=stop_at)


def test_keyboard_interrupt_stops_cleanly(capsys, in_a_notebook):
    data = SyntheticData(n=400)  # 4 batches per epoch
    model = interrupting(stop_at=7)  # epoch 2, batch 3
    trainer = d2l.Trainer(max_epochs=5, progress=False)
    history = trainer.fit(model, data)  # returns instead of raising
    out = capsys.readouterr().out
    assert trainer.interrupted and len(history) == 1
    assert "interrupted at epoch 2, batch 3" in out and "checkpoint_path" in out
    assert model.board.data["val_loss"] and len(model.board.data["val_loss"]) == 1
    # the weights are those after the 6 finished updates: training goes on from them
    assert trainer.train_batch_idx == 6
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_resume_matches_uninterrupted_run(tmp_path, capsys, in_a_notebook):
    data = SyntheticData(n=400)
    full_model = make_model(seed=0)
    full = d2l.Trainer(max_epochs=3, seed=11, progress=False).fit(full_model, data)

    path = str(tmp_path / "run.pt")
    model = interrupting(stop_at=10)  # inside epoch 3
    trainer = d2l.Trainer(max_epochs=3, seed=11, progress=False, checkpoint_path=path)
    part = trainer.fit(model, data)
    assert len(part) == 2 and os.path.exists(path)
    assert f"resume={path!r}" in capsys.readouterr().out

    model.stop_at = -1  # no more interrupts
    resumed = d2l.Trainer(max_epochs=3, seed=11, progress=False,
                          checkpoint_path=path).fit(model, data, resume=path)
    assert losses(resumed) == losses(full)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), full_model.parameters()))
    # the board got its earlier curves back from the checkpoint
    assert [p[0] for p in model.board.data["val_loss"]] == [1, 2, 3]


def test_resume_without_seed_uses_saved_rng_states(tmp_path):
    data = SyntheticData(n=400)
    torch.manual_seed(99)
    full_model = make_model(seed=0)
    torch.manual_seed(99)
    full = d2l.Trainer(max_epochs=2, progress=False).fit(full_model, data)

    path = str(tmp_path / "r.pt")
    model = make_model(seed=0)
    torch.manual_seed(99)
    d2l.Trainer(max_epochs=1, progress=False, checkpoint_path=path).fit(model, data)
    torch.manual_seed(12345)  # disturb the global stream: the checkpoint restores it
    fresh = make_model(seed=5)
    with pytest.warns(d2l.ResumeWarning, match="max_epochs=1.*max_epochs=2"):
        resumed = d2l.Trainer(max_epochs=2, progress=False).fit(fresh, data, resume=path)
    assert losses(resumed) == losses(full)
    assert all(torch.equal(a, b) for a, b in zip(fresh.parameters(), full_model.parameters()))


def test_checkpoint_contents(tmp_path):
    path = str(tmp_path / "c.pt")
    model = make_model()
    d2l.Trainer(max_epochs=2, seed=1, progress=False, checkpoint_path=path).fit(
        model, SyntheticData(n=200))
    state = ckpt_mod.load_checkpoint(path)
    assert state["epoch"] == 2 and len(state["history"]) == 2
    assert set(state["rng"]) >= {"torch", "python", "numpy"}
    assert "optimizer" in state and all(
        torch.equal(state["model"][k], v) for k, v in model.state_dict().items())
    # no temporary files left; the board's picture sits beside the checkpoint
    assert sorted(os.listdir(tmp_path)) == ["c-board.png", "c.pt"]


def test_crash_during_save_keeps_old_checkpoint(tmp_path, monkeypatch):
    path = str(tmp_path / "c.pt")
    ckpt_mod.save_checkpoint({"epoch": 1, "w": torch.arange(3)}, path)
    real_save = torch.save

    def crashing_save(obj, f, *a, **k):
        f.write(b"half a checkpoint")  # bytes hit the disk, then the process dies
        raise OSError("disk full")
    monkeypatch.setattr(torch, "save", crashing_save)
    with pytest.raises(OSError):
        ckpt_mod.save_checkpoint({"epoch": 2, "w": torch.zeros(3)}, path)
    monkeypatch.setattr(torch, "save", real_save)
    state = ckpt_mod.load_checkpoint(path)
    assert state["epoch"] == 1 and torch.equal(state["w"], torch.arange(3))
    assert os.listdir(tmp_path) == ["c.pt"]


def test_resume_from_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        d2l.Trainer(max_epochs=1, progress=False).fit(
            make_model(), SyntheticData(n=200), resume=str(tmp_path / "none.pt"))


class NaNAt(MLP):
    """Its loss becomes NaN at training batch ``bad`` (counted from 1)."""

    def __init__(self, bad: int, **kwargs):
        super().__init__(**kwargs)
        self.bad, self.calls, self.before_bad = bad, 0, None

    def training_step(self, batch):
        self.calls += 1
        if self.calls == 5:  # the first batch of epoch 2 = start of the 3-batch window
            self.window_start = [p.detach().clone() for p in self.parameters()]
        loss = super().training_step(batch)
        if self.calls == self.bad:
            self.before_bad = [p.detach().clone() for p in self.parameters()]
            loss = loss * float("nan")
        return loss


@pytest.mark.parametrize("check_every", [1, 3])
def test_nan_loss_stops_and_restores(check_every):
    model = make_model(cls=NaNAt, bad=6)  # epoch 2 (4 batches per epoch), batch 2
    trainer = d2l.Trainer(max_epochs=3, progress=False, check_finite_every=check_every)
    with pytest.raises(d2l.DivergenceError, match="epoch 2, batch") as info:
        trainer.fit(model, SyntheticData(n=400))
    assert isinstance(info.value, RuntimeError) and info.value.epoch == 2
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert len(trainer.history) == 1
    assert info.value.batch == 2
    assert "the loss was NaN" in str(info.value)
    if check_every == 1:  # checked before every update: exactly the last good weights
        assert all(torch.equal(a, b) for a, b in zip(model.parameters(), model.before_bad))
        assert "not applied" in str(info.value) and "the step before" in str(info.value)
    else:  # restored to the snapshot at the start of the 3-batch window holding the NaN
        assert all(torch.equal(a, b) for a, b in zip(model.parameters(), model.window_start))
        assert "start of the checked window, before batch 1" in str(info.value)


def test_inf_loss_also_stops():
    class InfLoss(MLP):
        def loss(self, y_hat, y, averaged=True):
            return super().loss(y_hat, y) + float("inf")
    model = make_model(cls=InfLoss)
    with pytest.raises(d2l.DivergenceError, match="epoch 1, batch 1: the loss was infinite"):
        d2l.Trainer(max_epochs=1, progress=False).fit(model, SyntheticData(n=200))


class InOrder(SyntheticData):
    """SyntheticData without shuffling, so that row i is in batch i // 100 + 1."""

    def train_dataloader(self):
        return DataLoader(TensorDataset(*self.train), self.batch_size, shuffle=False)


class Recording(BNMLP):
    """Keeps the weights and buffers as they were before each training step."""

    def training_step(self, batch):
        self.before = (params(self), [b.clone() for b in self.buffers()])
        return super().training_step(batch)


@pytest.mark.parametrize("check_every", [1, 2])
def test_nan_input_restores_batch_norm_statistics(check_every):
    data = InOrder(n=400)
    data.train[0][250] = float("nan")  # in batch 3
    model = make_model(cls=Recording)
    trainer = d2l.Trainer(max_epochs=1, progress=False, check_finite_every=check_every)
    window_start = {}
    step = model.training_step
    def remember(batch):  # the state when the window holding batch 3 opened
        if not window_start and len(getattr(model, "seen", [])) == 2:
            window_start.update(p=params(model), b=[b.clone() for b in model.buffers()])
        model.seen = getattr(model, "seen", []) + [1]
        return step(batch)
    model.training_step = remember
    with pytest.raises(d2l.DivergenceError, match="batch 3: the loss was NaN"):
        trainer.fit(model, data)
    weights, buffers = (model.before if check_every == 1
                        else (window_start["p"], window_start["b"]))
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), weights))
    assert all(torch.equal(a, b) for a, b in zip(model.buffers(), buffers))
    model.eval()
    with torch.no_grad():
        assert torch.isfinite(model(data.val[0])).all()  # later predictions still work


class NaNGradient(MLP):
    """A finite loss whose gradient is NaN at training batch ``bad``:
    0 * sqrt(0) is 0, its derivative 0 * inf is NaN."""

    def __init__(self, bad: int, **kwargs):
        super().__init__(**kwargs)
        self.bad, self.calls = bad, 0

    def training_step(self, batch):
        self.calls += 1
        self.before = params(self)
        loss = super().training_step(batch)
        if self.calls == self.bad:
            loss = loss + 0 * torch.sqrt(self.net[0].weight.sum() * 0)
            assert torch.isfinite(loss)
        return loss


@pytest.mark.parametrize("check_every", [1, 4])
def test_finite_loss_with_nan_gradient_is_never_applied(check_every):
    model = make_model(cls=NaNGradient, bad=3)
    trainer = d2l.Trainer(max_epochs=1, progress=False, check_finite_every=check_every)
    with pytest.raises(d2l.DivergenceError, match="batch 3: the gradient was NaN") as info:
        trainer.fit(model, SyntheticData(n=400))
    assert info.value.source == "gradient" and info.value.batch == 3
    assert all(torch.isfinite(p).all() for p in model.parameters())
    if check_every == 1:  # the bad update never happened
        assert all(torch.equal(a, b) for a, b in zip(model.parameters(), model.before))


class HugeInputAt(Recording):
    """At training batch ``bad`` the inputs are scaled by 1e30: batch norm's
    running variance overflows to inf while its normalised output, and so the
    loss, stays finite."""

    def __init__(self, bad: int, **kwargs):
        super().__init__(**kwargs)
        self.bad, self.calls = bad, 0

    def training_step(self, batch):
        self.calls += 1
        if self.calls == self.bad - 1:
            self.window_start = (params(self), [b.clone() for b in self.buffers()])
        if self.calls == self.bad:
            batch = [batch[0] * 1e30, batch[1]]
        loss = super().training_step(batch)
        assert torch.isfinite(loss)
        return loss


@pytest.mark.parametrize("check_every", [1, 2])
def test_non_finite_batch_norm_statistics_stop_like_a_nan_loss(check_every):
    model = make_model(cls=HugeInputAt, bad=4)
    trainer = d2l.Trainer(max_epochs=1, progress=False, check_finite_every=check_every)
    with pytest.raises(d2l.DivergenceError,
                       match="batch 4: a batch-norm running mean or variance was inf") as info:
        trainer.fit(model, InOrder(n=400))
    assert info.value.source == "statistics" and info.value.batch == 4
    # the same restore as for a bad loss: the step before, or the window's start
    weights, buffers = model.before if check_every == 1 else model.window_start
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), weights))
    assert all(torch.equal(a, b) for a, b in zip(model.buffers(), buffers))


def test_other_buffers_may_hold_inf_on_purpose():
    """Only norm layers' statistics are watched: a mask buffer of -inf is fine."""
    model = make_model(cls=BNMLP)
    model.net[0].register_buffer("mask", torch.full((32,), float("-inf")))
    history = d2l.Trainer(max_epochs=1, progress=False).fit(model, SyntheticData(n=200))
    assert math.isfinite(history[-1]["train_loss"])


class ConvBN(d2l.Classifier):
    def __init__(self, lr: float):
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Sequential(
            torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
            torch.nn.Conv2d(8, 8, 3, padding=1), torch.nn.BatchNorm2d(8), torch.nn.ReLU(),
            torch.nn.AdaptiveAvgPool2d(1), torch.nn.Flatten(), torch.nn.Linear(8, 10))


class Images:
    def __init__(self, n: int = 64):
        g = torch.Generator().manual_seed(0)
        self.X = torch.randn(n, 1, 12, 12, generator=g)
        self.y = torch.randint(0, 10, (n,), generator=g)

    def train_dataloader(self):
        return DataLoader(TensorDataset(self.X, self.y), 16, shuffle=True)

    def val_dataloader(self):
        return DataLoader(TensorDataset(self.X, self.y), 16)


@pytest.mark.parametrize("check_every", [1, 2])
def test_a_huge_learning_rate_never_leaves_or_saves_a_nan_model(tmp_path, check_every):
    """The review's ResNet at lr=1e6, scaled down: the loss stayed finite while
    the running variances became inf, and the checkpoint predicted NaN. (At
    lr=1e3 this model goes wrong in epoch 2, after a checkpoint was written.)"""
    path = str(tmp_path / "c.pt")
    model = make_model(cls=ConvBN, lr=1e3)
    trainer = d2l.Trainer(max_epochs=3, seed=0, progress=False, checkpoint_path=path,
                          check_finite_every=check_every)
    with pytest.raises(d2l.DivergenceError):
        trainer.fit(model, Images())
    assert all(math.isfinite(r["val_loss"]) for r in trainer.history)
    saved = [ckpt_mod.load_checkpoint(path)["model"]] if os.path.exists(path) else []
    for state in [model.state_dict()] + saved:
        assert all(torch.isfinite(t).all() for t in state.values() if t.is_floating_point())
        model.load_state_dict(state)
        model.eval()
        with torch.no_grad():
            assert torch.isfinite(model(Images().X)).all()


SCRIPT = textwrap.dedent("""
    import sys
    sys.path.insert(0, {tests!r})
    import d2lmini as d2l
    from helpers import Interrupting, SyntheticData, make_model
    model = make_model(cls=Interrupting, stop_at=6)  # epoch 2, batch 2
    d2l.Trainer(max_epochs=3, progress=False, checkpoint_path={path!r}).fit(
        model, SyntheticData(n=400))
    print("fit returned")
""")


def test_ctrl_c_in_a_script_stops_the_script_after_saying_how_to_resume(tmp_path):
    path = str(tmp_path / "run.pt")
    script = tmp_path / "train.py"
    script.write_text(SCRIPT.format(tests=os.path.dirname(__file__), path=path))
    proc = subprocess.run(["bash", "-c", f"{sys.executable} {script}"], capture_output=True,
                          text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode in (130, -signal.SIGINT), proc.stderr[-2000:]
    assert "fit returned" not in proc.stdout
    assert "interrupted at epoch 2, batch 2" in proc.stdout
    assert f"resume={path!r}" in proc.stdout and "1 of 3 epochs saved" in proc.stdout
    assert "KeyboardInterrupt" in proc.stderr
    assert ckpt_mod.load_checkpoint(path)["epoch"] == 1


def test_interrupt_in_the_first_epoch_does_not_offer_an_older_checkpoint(
        tmp_path, capsys, in_a_notebook):
    path = tmp_path / "run.pt"
    path.write_bytes(b"from another run")
    model = interrupting(stop_at=2)
    d2l.Trainer(max_epochs=2, progress=False, checkpoint_path=str(path)).fit(
        model, SyntheticData(n=400))
    out = capsys.readouterr().out
    assert "resume=" not in out and "is from an earlier run" in out
    assert path.read_bytes() == b"from another run"


def test_resume_with_another_seed_warns(tmp_path):
    path = str(tmp_path / "c.pt")
    data = SyntheticData(n=200)
    d2l.Trainer(max_epochs=1, seed=1, progress=False, checkpoint_path=path).fit(
        make_model(), data)
    with pytest.warns(d2l.ResumeWarning, match="seed=1.*seed=2"):
        d2l.Trainer(max_epochs=1, seed=2, progress=False).fit(make_model(), data, resume=path)


class OneCycle(MLP):
    def configure_optimizers(self):
        opt = torch.optim.SGD(self.parameters(), lr=self.lr)
        steps = self.trainer.max_epochs * self.trainer.num_train_batches
        return opt, torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=self.lr, total_steps=steps)


def test_resume_with_another_schedule_length_refuses_up_front(tmp_path):
    path = str(tmp_path / "c.pt")
    data = SyntheticData(n=200)
    d2l.Trainer(max_epochs=2, seed=0, progress=False, checkpoint_path=path).fit(
        make_model(cls=OneCycle), data)
    model = make_model(cls=OneCycle)
    before = params(model)
    with pytest.raises(d2l.CheckpointError, match="total_steps.: 4.*total_steps.: 6"):
        d2l.Trainer(max_epochs=3, seed=0, progress=False).fit(model, data, resume=path)
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), before))


class Counting(MLP):
    def training_step(self, batch):
        self.steps = getattr(self, "steps", 0) + 1
        return super().training_step(batch)


def test_a_checkpoint_path_that_cannot_be_written_fails_before_training(tmp_path):
    (tmp_path / "a_file").write_text("")
    for bad, why in ((tmp_path, "is a directory"),
                     (tmp_path / "a_file" / "run.pt", "cannot write checkpoints")):
        model = make_model(cls=Counting)
        with pytest.raises(d2l.CheckpointError, match=why):
            d2l.Trainer(max_epochs=1, progress=False, checkpoint_path=str(bad)).fit(
                model, SyntheticData(n=200))
        assert getattr(model, "steps", 0) == 0


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0,
                    reason="root can write into a read-only directory")
def test_a_read_only_checkpoint_directory_fails_before_training(tmp_path):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    model = make_model(cls=Counting)
    try:
        with pytest.raises(d2l.CheckpointError, match="cannot write checkpoints"):
            d2l.Trainer(max_epochs=1, progress=False, checkpoint_path=str(ro / "r.pt")).fit(
                model, SyntheticData(n=200))
    finally:
        ro.chmod(0o700)
    assert getattr(model, "steps", 0) == 0


def test_last_batch_of_one_example_does_not_crash_batch_norm():
    model = make_model(cls=BNMLP)
    trainer = d2l.Trainer(max_epochs=2, progress=False)
    history = trainer.fit(model, SyntheticData(n=401, n_val=301))  # 4 batches + 1 example
    assert trainer.train_batch_idx == 8  # the lone example is left out of training
    assert trainer.val_batch_idx == 8    # but validated (eval mode handles one example)
    assert history[-1]["train_loss"] < history[0]["train_loss"]
    assert all(torch.isfinite(p).all() for p in model.parameters())


def test_batches_of_one_example_are_an_error_not_an_epoch_without_training():
    # Every batch is skipped (batch norm cannot train on one example): the
    # epoch would report nothing and the model would never change.
    model = make_model(cls=BNMLP)
    before = [p.detach().clone() for p in model.parameters()]
    with pytest.raises(ValueError, match="no training step.*batch_size >= 2"):
        d2l.Trainer(max_epochs=1, progress=False).fit(
            model, SyntheticData(n=20, n_val=10, batch_size=1))
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
