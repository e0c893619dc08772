"""The older edition's ``train_ch6``: arguments checked before training, and a
diverging loss stopped with the Trainer's ``DivergenceError``."""
import warnings

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import d2lmini as d2l


def toy_loader(n: int = 64, batch_size: int = 16, seed: int = 0) -> DataLoader:
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, 1, 6, 6, generator=g)
    y = (X.mean(dim=(1, 2, 3)) > 0).long()
    return DataLoader(TensorDataset(X, y), batch_size=batch_size)


def toy_net() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(),
                         nn.Linear(64, 2))


class Untouched:
    """A loader that fails the test if anything iterates over it."""

    def __init__(self, length: int):
        self.length = length

    def __len__(self):
        return self.length

    def __iter__(self):
        raise AssertionError("iterated before the arguments were checked")


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the board may save its picture here


@pytest.mark.parametrize("num_epochs", [0, -1, 1.5, True])
def test_num_epochs_below_one_raises_before_training(num_epochs, capsys):
    net = toy_net()
    before = [p.detach().clone() for p in net.parameters()]
    with pytest.raises(ValueError, match="num_epochs"):
        d2l.train_ch6(net, Untouched(4), Untouched(4), num_epochs=num_epochs, lr=0.1)
    assert all(torch.equal(p, q) for p, q in zip(net.parameters(), before))
    assert capsys.readouterr().out == ""  # not even "training on ..."


@pytest.mark.parametrize("which", ["train_iter", "test_iter"])
def test_empty_loader_raises_before_training(which, capsys):
    loaders = {"train_iter": Untouched(4), "test_iter": Untouched(4)}
    loaders[which] = DataLoader(TensorDataset(torch.zeros(0, 1, 6, 6),
                                              torch.zeros(0, dtype=torch.long)), batch_size=4)
    net = toy_net()
    before = [p.detach().clone() for p in net.parameters()]
    with pytest.raises(ValueError, match=f"{which} yields no batches"):
        d2l.train_ch6(net, loaders["train_iter"], loaders["test_iter"], num_epochs=1, lr=0.1)
    assert all(torch.equal(p, q) for p, q in zip(net.parameters(), before))
    assert capsys.readouterr().out == ""


def test_negative_learning_rate_raises():
    with pytest.raises(ValueError, match="lr"):
        d2l.train_ch6(toy_net(), Untouched(4), Untouched(4), num_epochs=1, lr=-0.1)


def test_accuracy_of_an_empty_iterable_is_an_error_not_a_division_by_zero():
    with pytest.raises(ValueError, match="no examples"):
        d2l.evaluate_accuracy_gpu(toy_net(), iter([]))


def test_nan_loss_raises_divergence_error_with_the_last_good_weights(monkeypatch):
    torch.manual_seed(0)
    good = toy_loader()
    X_bad, y_bad = next(iter(good))
    X_bad = X_bad.clone()
    X_bad[0, 0, 0, 0] = float("nan")  # the third batch of the second epoch
    batches = list(good)

    class SecondEpochGoesBad:
        def __init__(self):
            self.epoch = 0

        def __len__(self):
            return len(batches)

        def __iter__(self):
            self.epoch += 1
            for i, b in enumerate(batches):
                yield (X_bad, y_bad) if (self.epoch == 2 and i == 2) else b

    net = toy_net()
    states = []  # parameters and buffers after every optimizer step
    train_iter = SecondEpochGoesBad()
    real_sgd = torch.optim.SGD

    def recording_sgd(params, lr):
        opt = real_sgd(params, lr=lr)
        opt.register_step_post_hook(lambda *_: states.append(
            {k: v.clone() for k, v in net.state_dict().items()}))
        return opt

    monkeypatch.setattr(torch.optim, "SGD", recording_sgd)
    with pytest.raises(d2l.DivergenceError) as info:
        d2l.train_ch6(net, train_iter, good, num_epochs=3, lr=0.1, device="cpu")
    err = info.value
    assert (err.epoch, err.batch) == (2, 3)
    assert err.loss != err.loss  # NaN
    assert "epoch 2, batch 3" in str(err)
    # 4 steps in epoch 1 and 2 in epoch 2 ran; the bad batch changed nothing,
    # not even the batch-norm running statistics its forward pass touched.
    assert len(states) == 6
    for k, v in net.state_dict().items():
        assert torch.equal(v, states[-1][k]), k
        assert torch.isfinite(v.float()).all(), k


def test_infinite_loss_raises_too():
    net = nn.Sequential(nn.Flatten(), nn.Linear(36, 2))
    X, y = next(iter(toy_loader()))
    X = X.clone()
    X[1] = float("inf")
    with pytest.raises(d2l.DivergenceError, match="epoch 1, batch 1"):
        d2l.train_ch6(net, [(X, y)], toy_loader(), num_epochs=1, lr=0.1, device="cpu")


def test_one_epoch_draws_without_matplotlib_warnings():
    """The book's limits [1, num_epochs] are empty for one epoch, and matplotlib
    warns about identical xlims; one epoch is drawn from 0 to 1 instead."""
    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = d2l.train_ch6(toy_net(), toy_loader(), toy_loader(seed=1), num_epochs=1,
                               lr=0.1, device=torch.device("cpu"))
    assert 0 <= result["test_acc"] <= 1
