"""Hostile or damaged checkpoints given to ``resume=``: every field is checked
before anything is loaded (a refused file leaves the model's weights as they
were and prints no "Resuming"), a file is never unpacked past what the model
and optimizer can need, and a FIFO or device is refused without reading it.
Each crafted file starts from a real checkpoint of a small model."""
import os
import re
import shutil
import threading
import warnings
import zipfile

import pytest
import torch
from torch import nn

import d2lmini as d2l
from helpers import MLP, SyntheticData, make_model


class AdamMLP(MLP):
    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.lr)


class StepLRMLP(MLP):
    def configure_optimizers(self):
        optim = torch.optim.SGD(self.parameters(), lr=self.lr)
        return optim, torch.optim.lr_scheduler.StepLR(optim, step_size=100)


class ResizedData(SyntheticData):
    """Synthetic data that says which image size it resizes to, as FashionMNIST does."""

    def __init__(self, resize=(28, 28), **kwargs):
        super().__init__(**kwargs)
        self.resize = resize


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """``checkpoint(cls=MLP, lr=0.1, resized=False)``: the path of a real
    checkpoint of a 1-epoch run, made once per module (resuming only reads it)."""
    made = {}

    def make(cls=MLP, lr=0.1, resized=False):
        if (cls, lr, resized) not in made:
            path = str(tmp_path_factory.mktemp("run") / "ckpt.pt")
            data = ResizedData(n=200) if resized else SyntheticData(n=200)
            d2l.Trainer(max_epochs=1, seed=1, progress=False, checkpoint_path=path).fit(
                make_model(cls=cls, lr=lr), data)
            made[cls, lr, resized] = path
        return made[cls, lr, resized]
    return make


def _edited(tmp_path, path, edit, name="edited.pt"):
    """A copy of the checkpoint at ``path`` after ``edit(state)``."""
    state = torch.load(path, weights_only=True)
    edit(state)
    out = str(tmp_path / name)
    torch.save(state, out)
    return out


def _set(**changes):
    return lambda state: state.update(changes)


def _refused(model, path, match, capsys, data=None):
    """Resume ``model`` from ``path``: a CheckpointError naming the file, with
    the weights untouched and no "Resuming" printed."""
    weights = {k: v.clone() for k, v in model.state_dict().items()}
    capsys.readouterr()
    with pytest.raises(d2l.CheckpointError, match=match) as info:
        d2l.Trainer(max_epochs=2, progress=False).fit(model, data or SyntheticData(n=200),
                                                      resume=path)
    message = str(info.value)
    assert path in message
    assert re.search("nothing was (loaded|unpacked|read)", message, re.IGNORECASE)
    after = model.state_dict()
    assert all(torch.equal(after[k], v) for k, v in weights.items())
    assert "Resuming" not in capsys.readouterr().out
    return message


# -- the file itself ---------------------------------------------------------------

def _rezipped(src, dst):
    """``src`` (a torch zip) written again with deflate, member by member."""
    with zipfile.ZipFile(src) as zin, \
            zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as zout:
        for info in zin.infolist():
            with zin.open(info) as r, zout.open(info.filename, "w") as w:
                shutil.copyfileobj(r, w, 2**20)


def test_a_decompression_bomb_is_refused_before_it_is_unpacked(checkpoint, tmp_path, capsys,
                                                                monkeypatch):
    """The issue's bomb, scaled down: 24 MiB of zeros in the history, deflated to
    ~24 KB, where this model's checkpoint may unpack to about 16 MiB."""
    big = _edited(tmp_path, checkpoint(),
                  lambda s: s["history"][0].update(notes=torch.zeros(6 * 2**20)))
    bomb = str(tmp_path / "bomb.pt")
    _rezipped(big, bomb)
    assert os.path.getsize(bomb) < 2**20

    def unpacks(*args, **kwargs):
        raise AssertionError("torch.load was called: the bomb would be unpacked")
    monkeypatch.setattr(torch, "load", unpacks)
    message = _refused(make_model(), bomb, r"bomb\.pt: its members unpack to 24\.\d MiB",
                       capsys)
    assert "decompression bomb" in message and "without resume=" in message


def test_a_checkpoint_rezipped_with_deflate_still_resumes(checkpoint, tmp_path):
    """Compression itself is fine: only the unpacked size is bounded."""
    deflated = str(tmp_path / "deflated.pt")
    _rezipped(checkpoint(), deflated)
    with pytest.warns(d2l.ResumeWarning, match="max_epochs"):
        history = d2l.Trainer(max_epochs=2, seed=1, progress=False).fit(
            make_model(), SyntheticData(n=200), resume=deflated)
    assert len(history) == 2


def test_an_entry_larger_than_any_run_writes_is_refused(checkpoint, tmp_path, capsys):
    """Outside the model and optimizer a checkpoint holds a few MiB at most; this
    10 MiB entry is within what the file may unpack to for the model."""
    path = _edited(tmp_path, checkpoint(), _set(notes=torch.zeros(10 * 2**18)))
    _refused(make_model(), path, "its entry 'notes' holds more data than a checkpoint's "
                                 "history, board, counters and random states ever need",
             capsys)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this system")
def test_a_fifo_as_resume_is_refused_without_blocking(tmp_path):
    fifo = str(tmp_path / "pipe.pt")
    os.mkfifo(fifo)
    model = make_model()
    weights = [p.detach().clone() for p in model.parameters()]
    outcome = {}

    def resume():
        try:
            d2l.Trainer(max_epochs=1, progress=False).fit(model, SyntheticData(n=200),
                                                          resume=fifo)
        except BaseException as e:  # handed to the test's thread
            outcome["error"] = e
    worker = threading.Thread(target=resume, daemon=True)
    worker.start()
    worker.join(timeout=20)
    if worker.is_alive():  # blocked in open(): give it a writer, then EOF, so it ends
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass
        worker.join(timeout=20)
        pytest.fail("fit(resume=<a FIFO>) blocked waiting for a writer")
    error = outcome.get("error")
    assert isinstance(error, d2l.CheckpointError), error
    assert f"{fifo} is a FIFO (named pipe), not a checkpoint file" in str(error)
    assert all(torch.equal(p, w) for p, w in zip(model.parameters(), weights))


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="no /dev/zero on this system")
def test_a_device_as_resume_is_refused_as_not_a_file(capsys):
    message = _refused(make_model(), "/dev/zero",
                       "/dev/zero is a character device, not a checkpoint file", capsys)
    assert "could run code" not in message


# -- weights ---------------------------------------------------------------------

def _weight(value_of):
    def edit(state):
        state["model"]["net.0.weight"] = value_of(state["model"]["net.0.weight"])
    return edit


@pytest.mark.parametrize("edit, match", [
    (_weight(lambda w: w.to(torch.complex64)),
     "weight 'net.0.weight' is torch.complex64, where this model has torch.float32"),
    (_weight(lambda w: (w * 100).round().to(torch.int64)),
     "weight 'net.0.weight' is torch.int64, where this model has torch.float32"),
    (_weight(lambda w: w.index_fill(0, torch.tensor([3]), float("nan"))),
     "weight 'net.0.weight' holds NaN or infinite values"),
    (_weight(lambda w: torch.zeros(1).expand(32, 8)),
     r"weight 'net.0.weight' is a tensor of shape \(32, 8\) with strides \(0, 0\)"),
], ids=["complex", "int64", "nan", "stride-0"])
def test_weights_of_another_kind_or_layout_are_refused(checkpoint, tmp_path, capsys, edit,
                                                        match):
    _refused(make_model(), _edited(tmp_path, checkpoint(), edit), match, capsys)


class ChannelsLastConv(d2l.Classifier):
    """Convolution weights in NHWC are not contiguous, yet dense: they must pass."""

    def __init__(self, lr=0.01):
        super().__init__()
        self.save_hyperparameters()
        self.net = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                                 nn.Linear(4 * 6 * 6, 10))

    def configure_optimizers(self):
        return torch.optim.AdamW(self.parameters(), lr=self.lr, amsgrad=True)


def test_channels_last_weights_and_adamw_state_still_resume(tmp_path):
    X = torch.randn(64, 3, 8, 8, generator=torch.Generator().manual_seed(0))
    data = SyntheticData(n=64, n_val=16, batch_size=16)
    data.train = (X, data.train[1])
    data.val = (X[:16], data.val[1])
    path = str(tmp_path / "nhwc.pt")
    d2l.Trainer(max_epochs=1, seed=0, progress=False, channels_last=True,
                checkpoint_path=path).fit(make_model(cls=ChannelsLastConv), data)
    weight = torch.load(path, weights_only=True)["model"]["net.0.weight"]
    assert not weight.is_contiguous()  # NHWC: the case a contiguity test would refuse
    with pytest.warns(d2l.ResumeWarning, match="max_epochs"):
        history = d2l.Trainer(max_epochs=2, seed=0, progress=False, channels_last=True).fit(
            make_model(cls=ChannelsLastConv), data, resume=path)
    assert len(history) == 2


# -- optimizer state and settings ----------------------------------------------------

def _adam_entry(**changes):
    return lambda state: state["optimizer"]["state"][0].update(changes)


@pytest.mark.parametrize("edit, match", [
    (_adam_entry(exp_avg=torch.zeros(3, 3)),
     r"optimizer state of net\.0\.weight \['exp_avg'\] has shape \(3, 3\), but its "
     r"parameter has shape \(32, 8\)"),
    (_adam_entry(exp_avg=torch.zeros(1).expand(32, 8)),
     r"\['exp_avg'\] is a tensor of shape \(32, 8\) with strides \(0, 0\): its elements "
     "overlap"),
    (_adam_entry(exp_avg=torch.zeros(32, 8, dtype=torch.complex64)),
     r"\['exp_avg'\] is torch.complex64, where this model has torch.float32"),
    (_adam_entry(exp_avg_sq=torch.full((32, 8), float("nan"))),
     r"\['exp_avg_sq'\] holds NaN"),
    (_adam_entry(step="3"), r"\['step'\] is '3', where Adam keeps one number"),
    (_adam_entry(step=torch.tensor(-5.0)), r"\['step'\] is -5.0, not a count of steps"),
    (_adam_entry(momentum_buffer=torch.zeros(32, 8)),
     r"\['momentum_buffer'\] is not state that Adam keeps \(with these settings it keeps: "
     "exp_avg, exp_avg_sq, step"),
    (lambda s: s["optimizer"]["state"].update({99: {}}),
     "optimizer state has an entry for parameter 99, which no parameter group lists"),
    (lambda s: s["optimizer"]["param_groups"][0].update(betas=(0.9,)),
     r"optimizer setting 'betas' is \(0.9,\), expected a sequence of 2 like \(0.9, 0.999\)"),
], ids=["shape", "stride-0", "complex", "nan", "step-text", "step-negative", "foreign-entry",
        "unknown-param", "betas"])
def test_adam_state_that_would_crash_the_first_step_is_refused(checkpoint, tmp_path, capsys,
                                                                edit, match):
    path = _edited(tmp_path, checkpoint(cls=AdamMLP), edit)
    _refused(make_model(cls=AdamMLP), path, match, capsys)


@pytest.mark.parametrize("setting, value, match", [
    ("weight_decay", "abc", "optimizer setting 'weight_decay' is 'abc', expected a finite "
                            "number"),
    ("momentum", -1.0, r"optimizer has settings that SGD refuses \(ValueError: Invalid "
                       "momentum value: -1.0"),
    ("lr", -5, "optimizer setting 'lr' is -5; a learning rate must be a positive, finite "
               "number, as configure_optimizers requires"),
    ("lr", float("nan"), "optimizer setting 'lr' is nan, expected a finite number"),
    ("lr", "0.1", "optimizer setting 'lr' is '0.1', expected a finite number"),
    ("nesterov", "yes", "optimizer setting 'nesterov' is 'yes', expected True or False"),
])
def test_optimizer_settings_the_optimizer_would_refuse_are_refused(checkpoint, tmp_path, capsys,
                                                                     setting, value, match):
    edit = lambda s: s["optimizer"]["param_groups"][0].update({setting: value})  # noqa: E731
    _refused(make_model(), _edited(tmp_path, checkpoint(), edit), match, capsys)


@pytest.mark.parametrize("entry, value, match", [
    ("optimizer", "x", "scheduler entry 'optimizer' would replace one of the scheduler's "
                       "own attributes"),
    ("last_epoch", "x", "scheduler entry 'last_epoch' is 'x', expected a finite number"),
])
def test_scheduler_state_that_would_break_the_scheduler_is_refused(checkpoint, tmp_path, capsys,
                                                                     entry, value, match):
    edit = lambda s: s["scheduler"].update({entry: value})  # noqa: E731
    path = _edited(tmp_path, checkpoint(cls=StepLRMLP), edit)
    _refused(make_model(cls=StepLRMLP), path, match, capsys)


# -- the learning rate -------------------------------------------------------------

def test_the_checkpoints_learning_rate_wins_and_the_warning_names_both(checkpoint):
    path = checkpoint(lr=0.05)
    trainer = d2l.Trainer(max_epochs=2, progress=False)
    with pytest.warns(d2l.ResumeWarning, match=r"lr=0\.05 in the checkpoint, lr=0\.001 "
                                               r"configured now\)\. The resumed run goes on "
                                               "at the checkpoint's rate") as record:
        trainer.fit(make_model(lr=0.001), SyntheticData(n=200), resume=path)
    assert trainer.optim.param_groups[0]["lr"] == 0.05
    said = next(str(w.message) for w in record if "lr=0.05" in str(w.message))
    assert "fit without resume=" in said  # how to train at 0.001 instead


def test_the_same_learning_rate_says_nothing(checkpoint):
    path = checkpoint(lr=0.05)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        d2l.Trainer(max_epochs=2, seed=1, progress=False).fit(
            make_model(lr=0.05), SyntheticData(n=200), resume=path)
    assert not [w for w in record if "learning rate" in str(w.message)]


# -- counters, epoch, history, board ------------------------------------------------

@pytest.mark.parametrize("edit, match", [
    (_set(train_batch_idx="x"), "'train_batch_idx' is 'x', not a count of batches"),
    (_set(val_batch_idx=-1), "'val_batch_idx' is -1, not a count of batches"),
    (_set(train_batch_idx=torch.tensor(2)), "'train_batch_idx' is a torch.int64 tensor"),
    (_set(seed=torch.tensor(1)), r"'seed' is a torch.int64 tensor of shape \(\), not a seed"),
    (_set(max_epochs=torch.tensor(1)), "'max_epochs' is a torch.int64 tensor"),
    (_set(epoch=10**9), r"'epoch' is 1000000000, not a count of epochs \(an int from 0 to "),
    (_set(epoch=2), r"'epoch' is 2, but its history records 1 epoch\(s\)"),
    (_set(epoch=0), r"'epoch' is 0, but its history records 1 epoch\(s\)"),
    (lambda s: s["history"][0].update(epoch=5), "history record 1 is for epoch 5, expected 1"),
    (lambda s: s["history"][0].update(val_acc="high"),
     "history record 1 'val_acc' is 'high', not a number"),
    (lambda s: s["history"][0].update(notes=[0.0] * 10),
     "history record 1 'notes' is a list of 10 items, not a number"),
], ids=["idx-text", "idx-negative", "idx-tensor", "seed-tensor", "max-epochs-tensor",
        "epoch-huge", "epoch-ahead", "epoch-behind", "record-epoch", "record-text",
        "record-list"])
def test_counters_epoch_and_history_of_the_wrong_type_are_refused(checkpoint, tmp_path, capsys,
                                                                    edit, match):
    _refused(make_model(), _edited(tmp_path, checkpoint(), edit), match, capsys)


@pytest.mark.parametrize("board, match", [
    ({"train_loss": [1.0, 2.0]},
     "board curve 'train_loss' has a point that is 1.0, not a pair"),
    ({"train_loss": [(0.5, "x")]}, r"has a point that is \(0.5, 'x'\), not a pair \(x, y\)"),
    ({"train_loss": [(0.5, 1.0, 2.0)]}, r"has a point that is \(0.5, 1.0, 2.0\), not a pair"),
    ({3: [(0.5, 1.0)]}, "board has a curve named 3, not a label"),
    ({"train_loss": [(0.5, 1.0)] * 100_001}, "board holds more than 100000 points"),
], ids=["numbers", "text", "triple", "label", "too-long"])
def test_board_curves_that_are_not_points_are_refused(checkpoint, tmp_path, capsys, board, match):
    path = _edited(tmp_path, checkpoint(), _set(board=board))
    _refused(make_model(), path, match, capsys)


# -- data settings -----------------------------------------------------------------

@pytest.mark.parametrize("later, match", [
    (dict(batch_size=50), "batch_size=100; this data has batch_size=50"),
    (dict(n=400), "200 training examples; this data has 400"),
    (dict(resize=(32, 32)), "images resized to 28x28; this data resizes them to 32x32"),
], ids=["batch-size", "num-train", "resize"])
def test_resuming_with_other_data_settings_warns(checkpoint, later, match):
    path = checkpoint(resized=True)
    with pytest.warns(d2l.ResumeWarning, match=match):
        d2l.Trainer(max_epochs=2, seed=1, progress=False).fit(
            make_model(), ResizedData(**{"n": 200, **later}), resume=path)


def test_a_checkpoint_without_data_settings_still_resumes(checkpoint, tmp_path):
    """Files written before the data settings were recorded: no comparison."""
    path = checkpoint(resized=True)
    assert torch.load(path, weights_only=True)["data"] == {
        "batch_size": 100, "num_train": 200, "resize": [28, 28]}
    old = _edited(tmp_path, path, lambda s: s.pop("data"))
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        history = d2l.Trainer(max_epochs=2, seed=1, progress=False).fit(
            make_model(), ResizedData(n=200, batch_size=50), resume=old)
    assert len(history) == 2
    assert not [w for w in record if "batch_size" in str(w.message)]
