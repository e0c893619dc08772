"""Resuming from a checkpoint of another model or optimizer, or a damaged one,
refuses with a CheckpointError before anything is modified."""
import pytest
import torch
from torch import nn

import d2lmini as d2l
from helpers import BNMLP, MLP, SyntheticData, losses, make_model


class WideMLP(MLP):
    """The MLP's layer names with another hidden width (other shapes)."""

    def __init__(self, lr: float = 0.1):
        super().__init__(lr=lr)
        self.net = nn.Sequential(nn.Linear(8, 64), nn.ReLU(), nn.Dropout(0.1), nn.Linear(64, 10))


class AdamMLP(MLP):
    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.lr)


class TwoGroupMLP(MLP):
    def configure_optimizers(self):
        first, last = self.net[0], self.net[3]
        return torch.optim.SGD([{"params": first.parameters()},
                                {"params": last.parameters(), "lr": self.lr / 10}], lr=self.lr)


def _checkpoint(tmp_path, name="ckpt.pt", cls=MLP):
    path = str(tmp_path / name)
    d2l.Trainer(max_epochs=1, seed=1, progress=False, checkpoint_path=path).fit(
        make_model(cls=cls), SyntheticData(n=200))
    return path


REMOVE = object()


def _edited(tmp_path, path, **changes):
    """A copy of the checkpoint at ``path`` with entries replaced (or REMOVEd)."""
    state = torch.load(path, weights_only=True)
    for key, value in changes.items():
        if value is REMOVE:
            del state[key]
        else:
            state[key] = value
    out = str(tmp_path / "edited.pt")
    torch.save(state, out)
    return out


def _refused(model, path, match):
    """Resume ``model`` from ``path``: a CheckpointError naming the file and the
    way out, with the weights, the new optimizer and the random streams untouched."""
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    fresh_optim = model.configure_optimizers().state_dict()
    rng = torch.get_rng_state()
    trainer = d2l.Trainer(max_epochs=2, progress=False)
    with pytest.raises(d2l.CheckpointError, match=match) as info:
        trainer.fit(model, SyntheticData(n=200), resume=path)
    message = str(info.value)
    assert path in message and "without resume=" in message and "Nothing was loaded" in message
    after = model.state_dict()
    assert after.keys() == weights.keys()
    assert all(torch.equal(after[k], v) for k, v in weights.items())
    assert trainer.optim.state_dict() == fresh_optim  # no settings or moments loaded
    assert torch.equal(torch.get_rng_state(), rng)
    return message


def test_another_architecture_names_the_differing_weights(tmp_path):
    path = _checkpoint(tmp_path)
    message = _refused(make_model(cls=WideMLP), path, "another model")
    assert "other shapes: net.0.weight 32x8 (here 64x8), net.0.bias 32 (here 64)" in message
    message = _refused(make_model(cls=BNMLP), path, "another model")
    assert "missing in the file: net.1.weight" in message  # BatchNorm1d where Dropout was


def test_another_optimizer_class_is_refused(tmp_path):
    path = _checkpoint(tmp_path)
    message = _refused(make_model(cls=AdamMLP), path, "another model|optimizer")
    assert "optimizer state comes from SGD; the model now configures Adam" in message


def test_another_optimizer_in_a_checkpoint_that_does_not_name_its_class(tmp_path):
    """Checkpoints written before the class was recorded: the settings differ."""
    path = _edited(tmp_path, _checkpoint(tmp_path), optimizer_class=REMOVE)
    message = _refused(make_model(cls=AdamMLP), path, "optimizer was not Adam")
    assert "betas" in message and "momentum" in message


def test_other_parameter_groups_are_refused(tmp_path):
    path = _checkpoint(tmp_path)
    _refused(make_model(cls=TwoGroupMLP), path, "1 parameter group.*this one 2")


@pytest.mark.parametrize("change, match", [
    (dict(optimizer={}), "not an optimizer state_dict"),
    (dict(model=[1, 2]), "not a state_dict"),
    (dict(history=None), "history is not a list"),
    (dict(epoch="one"), "epoch is 'one'"),
    (dict(board=[1]), "board curves"),
    (dict(generators=torch.zeros(3)), "generator states"),
])
def test_malformed_entries_are_refused(tmp_path, change, match):
    path = _edited(tmp_path, _checkpoint(tmp_path), **change)
    _refused(make_model(), path, match)


def test_damaged_random_states_are_refused_and_leave_the_streams_alone(tmp_path):
    good = torch.load(_checkpoint(tmp_path), weights_only=True)
    no_numpy = {k: v for k, v in good["rng"].items() if k != "numpy"}
    path = _edited(tmp_path, _checkpoint(tmp_path), rng=no_numpy)
    import random
    python = random.getstate()
    _refused(make_model(), path, "random states cannot be restored.*numpy")
    assert random.getstate() == python  # torch's and Python's states were put back
    short = dict(good["rng"], torch=good["rng"]["torch"][:10])
    _refused(make_model(), _edited(tmp_path, path, rng=short), "random states")


def test_a_checkpoint_without_the_optimizer_class_still_resumes_exactly(tmp_path):
    """Files written before optimizer_class was recorded resume as before."""
    data = SyntheticData(n=400)
    full = d2l.Trainer(max_epochs=2, seed=7, progress=False).fit(make_model(), data)
    path = str(tmp_path / "old.pt")
    d2l.Trainer(max_epochs=1, seed=7, progress=False, checkpoint_path=path).fit(
        make_model(), data)
    assert torch.load(path, weights_only=True)["optimizer_class"] == "SGD"
    old = _edited(tmp_path, path, optimizer_class=REMOVE)
    with pytest.warns(d2l.ResumeWarning, match="max_epochs"):  # the run is extended
        resumed = d2l.Trainer(max_epochs=2, seed=7, progress=False).fit(make_model(), data,
                                                                         resume=old)
    assert losses(resumed) == losses(full)


class LazyNet(d2l.Classifier):
    def __init__(self, lr=0.1):
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.LazyLinear(16), nn.LazyBatchNorm1d(), nn.ReLU(),
                                 nn.LazyLinear(10))


def test_a_lazy_model_resumes_into_a_fresh_lazy_model(tmp_path):
    """A lazy layer not run yet has no shape to compare; loading gives it one."""
    path = str(tmp_path / "lazy.pt")
    data = SyntheticData(n=400)
    torch.manual_seed(0)
    full = d2l.Trainer(max_epochs=2, seed=3, progress=False).fit(LazyNet(), data)
    torch.manual_seed(0)
    d2l.Trainer(max_epochs=1, seed=3, progress=False, checkpoint_path=path).fit(LazyNet(), data)
    with pytest.warns(d2l.ResumeWarning, match="max_epochs"):
        resumed = d2l.Trainer(max_epochs=2, seed=3, progress=False).fit(LazyNet(), data,
                                                                         resume=path)
    assert losses(resumed) == losses(full)
