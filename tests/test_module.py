"""Module / Classifier parity with the published d2l package (the oracle),
and the legacy API's signatures."""
import contextlib
import inspect
import io
import os
import re

import pytest
import torch
from torch import nn

import d2lmini as d2l

oracle = pytest.importorskip("d2l.torch")


def make_classes(base):
    """The same class definition, on top of either library's Classifier."""
    class Net(base.Classifier):
        def __init__(self, num_classes=10, lr=0.1, _private=3, extra="x"):
            super().__init__()
            self.save_hyperparameters(ignore=["extra"])
            self.net = nn.Sequential(
                nn.LazyConv2d(6, kernel_size=5, padding=2), nn.Sigmoid(),
                nn.AvgPool2d(kernel_size=2, stride=2), nn.LazyConv2d(16, kernel_size=5),
                nn.LazyBatchNorm2d(), nn.Sigmoid(), nn.AvgPool2d(kernel_size=2, stride=2),
                nn.Flatten(), nn.LazyLinear(num_classes))
    return Net


def test_save_hyperparameters_parity():
    ours, theirs = make_classes(d2l)(lr=0.3), make_classes(oracle)(lr=0.3)
    assert ours.hparams == theirs.hparams == {"num_classes": 10, "lr": 0.3}
    for name in ("num_classes", "lr", "plot_train_per_epoch", "plot_valid_per_epoch"):
        assert getattr(ours, name) == getattr(theirs, name)
    assert not hasattr(ours, "extra") and not hasattr(ours, "_private")


def summary(model, shape) -> str:
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        torch.manual_seed(0)
        model.layer_summary(shape)
    return buf.getvalue()


def test_layer_summary_prints_same_lines_as_d2l():
    ours, theirs = make_classes(d2l)(), make_classes(oracle)()
    shape = (2, 1, 28, 28)
    a, b = summary(ours, shape), summary(theirs, shape)
    assert a == b and a.count("\n") == 9
    assert "Linear output shape:\t torch.Size([2, 10])" in a
    assert ours.training  # the summary leaves the mode as it found it


def test_apply_init_matches_d2l_and_materialises():
    X = torch.randn(2, 1, 28, 28)
    models = []
    for lib, init in ((d2l, d2l.init_cnn), (oracle, oracle.init_cnn)):
        torch.manual_seed(1)
        model = make_classes(lib)()
        model.apply_init([X], init)
        models.append(model)
    ours, theirs = models
    for p in ours.parameters():
        assert not isinstance(p, nn.parameter.UninitializedParameter)
    for (k, a), (_, b) in zip(ours.state_dict().items(), theirs.state_dict().items()):
        if "running" not in k and "num_batches" not in k:  # d2l's dry run is in train mode
            assert torch.equal(a, b), k
    # init really ran: a Xavier-uniform bound holds, the lazy default's would not matter
    w = ours.net[0].weight
    bound = (6 / (w.shape[1] * 25 + w.shape[0] * 25)) ** 0.5
    assert w.abs().max() <= bound
    # our dry run leaves batch-norm statistics alone
    assert torch.equal(ours.net[4].running_mean, torch.zeros(16))


def test_loss_and_accuracy_match_d2l():
    torch.manual_seed(0)
    Y_hat, Y = torch.randn(50, 10), torch.randint(0, 10, (50,))
    ours, theirs = make_classes(d2l)(), make_classes(oracle)()
    assert torch.equal(ours.loss(Y_hat, Y), theirs.loss(Y_hat, Y))
    assert torch.equal(ours.accuracy(Y_hat, Y), theirs.accuracy(Y_hat, Y))
    per_example = ours.accuracy(Y_hat, Y, averaged=False)
    assert per_example.shape == (50,) and per_example.sum() == d2l.accuracy(Y_hat, Y)
    assert d2l.accuracy(Y_hat, Y) == oracle.accuracy(Y_hat, Y)


def test_module_errors_are_explicit():
    class Bare(d2l.Module):
        pass
    m = Bare()
    with pytest.raises(RuntimeError, match="Trainer"):
        m.plot("loss", torch.tensor(1.0), train=True)
    with pytest.raises(NotImplementedError, match="Bare"):
        m.loss(None, None)
    with pytest.raises(AttributeError, match="net"):
        m(torch.zeros(1))


def shape_of(obj):
    """Parameter names, kinds and defaults (type annotations may differ)."""
    return [(p.name, p.kind, p.default) for p in inspect.signature(obj).parameters.values()]


@pytest.mark.parametrize("name", ["evaluate_accuracy_gpu", "accuracy", "Accumulator", "Timer"])
def test_legacy_signatures_match_d2l(name):
    assert shape_of(getattr(d2l, name)) == shape_of(getattr(oracle, name))
    if isinstance(getattr(oracle, name), type):  # classes: every public method too
        for meth in vars(getattr(oracle, name)):
            if not meth.startswith("_"):
                assert shape_of(getattr(getattr(d2l, name), meth)) == \
                    shape_of(getattr(getattr(oracle, name), meth)), meth


def test_train_ch6_signature_differs_only_in_device_default():
    ours = inspect.signature(d2l.train_ch6).parameters
    theirs = inspect.signature(oracle.train_ch6).parameters
    assert list(ours) == list(theirs)
    assert ours["device"].default is None and theirs["device"].default is inspect._empty


def test_trainer_signature_starts_like_d2l():
    ours = list(inspect.signature(d2l.Trainer).parameters.values())[:3]
    theirs = list(inspect.signature(oracle.Trainer).parameters.values())
    assert [(p.name, p.default) for p in ours] == [(p.name, p.default) for p in theirs]


def test_train_ch6_runs_and_reports(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # nothing may land in the working directory
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    X = torch.randn(200, 1, 8, 8, generator=g)
    y = (X.mean(dim=(1, 2, 3)) > 0).long()
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y), batch_size=50)
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(144, 2))
    result = d2l.train_ch6(net, loader, loader, num_epochs=2, lr=0.1)
    out, err = capsys.readouterr()
    assert out.startswith("training on cpu")
    assert f"test acc {result['test_acc']:.3f}" in out and "examples/sec on cpu" in out
    assert result["test_acc"] == d2l.evaluate_accuracy_gpu(net, loader)
    assert "4/4" in err  # the tqdm bar
    assert list(tmp_path.iterdir()) == []
    # the board went to a run directory it named
    saved = re.search(r"saving the curves to (\S+)", out).group(1)
    assert os.path.isfile(saved) and "d2lmini-run-" in saved


def test_dry_runs_restore_the_mode_even_when_they_fail():
    model = make_classes(d2l)()
    with pytest.raises(RuntimeError):
        model.apply_init([torch.randn(2, 1, 2, 2)])  # too small for the second convolution
    assert model.training
    with pytest.raises(RuntimeError):
        model.layer_summary((2, 1, 2, 2))
    assert model.training
    model.eval()
    model.apply_init([torch.randn(2, 1, 28, 28)])
    assert not model.training  # and an evaluation-mode model stays so
