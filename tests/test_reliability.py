"""Interrupts, checkpoints (atomic, resumable), divergence stop."""
import os

import pytest
import torch

import d2lmini as d2l
import d2lmini.checkpoint as ckpt_mod
from test_trainer import MLP, SyntheticData, losses, make_model


class Interrupting(MLP):
    """Raises KeyboardInterrupt (as Ctrl-C would) at a given training batch."""

    def __init__(self, stop_at: int, **kwargs):
        super().__init__(**kwargs)
        self.stop_at, self.calls = stop_at, 0

    def training_step(self, batch):
        self.calls += 1
        if self.calls == self.stop_at:
            raise KeyboardInterrupt
        return super().training_step(batch)


def interrupting(stop_at: int) -> Interrupting:
    torch.manual_seed(0)
    model = Interrupting(stop_at)
    model.board.display = False
    return model


def params(model):
    return [p.detach().clone() for p in model.parameters()]


def test_keyboard_interrupt_stops_cleanly(capsys):
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


def test_resume_matches_uninterrupted_run(tmp_path, capsys):
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
    assert [f for f in os.listdir(tmp_path) if f != "c.pt"] == []  # no temp files left


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
    torch.manual_seed(0)
    model = NaNAt(bad=6)  # epoch 2 (4 batches per epoch), batch 2
    model.board.display = False
    trainer = d2l.Trainer(max_epochs=3, progress=False, check_finite_every=check_every)
    with pytest.raises(d2l.DivergenceError, match="epoch 2, batch") as info:
        trainer.fit(model, SyntheticData(n=400))
    assert isinstance(info.value, RuntimeError) and info.value.epoch == 2
    assert all(torch.isfinite(p).all() for p in model.parameters())
    assert len(trainer.history) == 1
    assert info.value.batch == 2
    if check_every == 1:  # checked before every update: exactly the last good weights
        assert all(torch.equal(a, b) for a, b in zip(model.parameters(), model.before_bad))
    else:  # restored to the snapshot at the start of the 3-batch window holding the NaN
        assert all(torch.equal(a, b) for a, b in zip(model.parameters(), model.window_start))


def test_inf_loss_also_stops():
    class InfLoss(MLP):
        def loss(self, y_hat, y, averaged=True):
            return super().loss(y_hat, y) + float("inf")
    torch.manual_seed(0)
    model = InfLoss()
    model.board.display = False
    with pytest.raises(d2l.DivergenceError, match="epoch 1, batch 1"):
        d2l.Trainer(max_epochs=1, progress=False).fit(model, SyntheticData(n=200))
