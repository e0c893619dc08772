"""The functional training loop of the older edition (``train_ch6``).

Kept so the older chapter text runs unchanged; new code uses
:class:`~d2lmini.Trainer`. Differences from the published version: the
device defaults to ``d2l.try_gpu()``, the curves are drawn with
:class:`~d2lmini.ProgressBoard` (so they also work outside Jupyter), a tqdm
bar shows the batches, the final metrics are returned, nonsensical arguments
fail before training, and a NaN or infinite loss stops training with the
Trainer's :class:`~d2lmini.DivergenceError`.
"""
import time
from typing import Dict, List

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from .board import ProgressBoard
from .checks import check_non_negative_number, check_positive_int
from .devices import try_gpu
from .trainer import DivergenceError

__all__ = ["train_ch6", "evaluate_accuracy_gpu", "accuracy", "Accumulator", "Timer"]


class Accumulator:
    """Running sums of ``n`` numbers."""

    def __init__(self, n: int):
        self.data = [0.0] * n

    def add(self, *args) -> None:
        self.data = [a + float(b) for a, b in zip(self.data, args)]

    def reset(self) -> None:
        self.data = [0.0] * len(self.data)

    def __getitem__(self, idx):
        return self.data[idx]


class Timer:
    """Record several running times."""

    def __init__(self):
        self.times: List[float] = []
        self.start()

    def start(self) -> None:
        self.tik = time.time()

    def stop(self) -> float:
        self.times.append(time.time() - self.tik)
        return self.times[-1]

    def avg(self) -> float:
        return sum(self.times) / len(self.times)

    def sum(self) -> float:
        return sum(self.times)

    def cumsum(self) -> List[float]:
        return np.array(self.times).cumsum().tolist()


def accuracy(y_hat: torch.Tensor, y: torch.Tensor) -> float:
    """The number (not fraction) of correct predictions."""
    if y_hat.dim() > 1 and y_hat.shape[1] > 1:
        y_hat = y_hat.argmax(dim=1)
    return float((y_hat.type(y.dtype) == y).sum())


def evaluate_accuracy_gpu(net: nn.Module, data_iter, device=None) -> float:
    """Exact accuracy (correct / total) of ``net`` over ``data_iter``."""
    if isinstance(net, nn.Module):
        net.eval()
        if not device:
            device = next(iter(net.parameters())).device
    metric = Accumulator(2)  # correct predictions, predictions
    with torch.no_grad():
        for X, y in data_iter:
            X = [x.to(device) for x in X] if isinstance(X, list) else X.to(device)
            y = y.to(device)
            metric.add(accuracy(net(X), y), y.numel())
    if metric[1] == 0:
        raise ValueError("data_iter yielded no examples: accuracy is undefined")
    return metric[0] / metric[1]


def _init_weights(m: nn.Module) -> None:
    if type(m) in (nn.Linear, nn.Conv2d):
        nn.init.xavier_uniform_(m.weight)


def _check_not_empty(name: str, data_iter) -> None:
    """ValueError for a loader that is known (by its length) to hold no batch."""
    try:
        empty = len(data_iter) == 0
    except TypeError:  # an iterable without a length: found out when it runs
        return
    if empty:
        raise ValueError(f"{name} yields no batches; give it at least one example")


def _diverged(epoch: int, batch: int, loss: float) -> DivergenceError:
    """The Trainer's error for a NaN or infinite loss (epoch and batch from 1)."""
    return DivergenceError(epoch=epoch, batch=batch, loss=loss)


def train_ch6(net: nn.Module, train_iter, test_iter, num_epochs: int, lr: float,
              device=None) -> Dict[str, float]:
    """Train ``net`` with SGD and cross-entropy, the older edition's way.

    Prints ``training on <device>``, the final loss and accuracies and the
    throughput; returns them as a dict (``loss``, ``train_acc``,
    ``test_acc``, ``examples_per_sec``, ``device``).

    ``num_epochs`` below 1, a negative ``lr`` or an empty ``train_iter`` /
    ``test_iter`` raise ``ValueError`` before anything is trained. A NaN or
    infinite loss raises :class:`~d2lmini.DivergenceError` before that
    batch's update, with the batch-norm statistics its forward pass moved
    put back, so ``net`` holds the weights of the last good step.
    """
    check_positive_int("num_epochs", num_epochs)
    check_non_negative_number("lr", lr)
    _check_not_empty("train_iter", train_iter)
    _check_not_empty("test_iter", test_iter)
    if device is None:
        device = try_gpu()
    net.apply(_init_weights)
    print("training on", device)
    net.to(device)
    optimizer = torch.optim.SGD(net.parameters(), lr=lr)
    loss = nn.CrossEntropyLoss()
    # The book's limits start at epoch 1; one epoch would make them [1, 1], an
    # empty range (matplotlib warns), so it shows that epoch, from 0 to 1.
    board = ProgressBoard(xlabel="epoch", xlim=[1, num_epochs] if num_epochs > 1 else [0, 1])
    timer, num_batches = Timer(), len(train_iter)
    train_l = train_acc = test_acc = float("nan")
    metric = Accumulator(3)
    for epoch in range(num_epochs):
        metric = Accumulator(3)  # loss sum, correct predictions, examples
        net.train()
        bar = tqdm(total=num_batches, desc=f"epoch {epoch + 1}/{num_epochs}", leave=False)
        for i, (X, y) in enumerate(train_iter):
            timer.start()
            optimizer.zero_grad()
            X, y = X.to(device), y.to(device)
            buffers = [b.detach().clone() for b in net.buffers()]
            y_hat = net(X)
            l = loss(y_hat, y)
            if not torch.isfinite(l):
                with torch.no_grad():
                    for b, saved in zip(net.buffers(), buffers):
                        b.copy_(saved)
                bar.close()
                raise _diverged(epoch + 1, i + 1, float(l.detach()))
            l.backward()
            optimizer.step()
            with torch.no_grad():
                metric.add(l * X.shape[0], accuracy(y_hat, y), X.shape[0])
            timer.stop()
            train_l, train_acc = metric[0] / metric[2], metric[1] / metric[2]
            bar.set_postfix(loss=f"{train_l:.3f}", refresh=False)
            bar.update()
            if (i + 1) % max(num_batches // 5, 1) == 0 or i == num_batches - 1:
                x = epoch + (i + 1) / num_batches
                board.draw(x, train_l, "train loss")
                board.draw(x, train_acc, "train acc")
        bar.refresh()  # the final count and loss, whatever tqdm's refresh interval
        bar.close()
        if metric[2] == 0:
            raise ValueError("train_iter yielded no examples")
        test_acc = evaluate_accuracy_gpu(net, test_iter)
        board.draw(epoch + 1, test_acc, "test acc")
    board.flush()
    speed = metric[2] * num_epochs / timer.sum()
    print(f"loss {train_l:.3f}, train acc {train_acc:.3f}, test acc {test_acc:.3f}")
    print(f"{speed:.1f} examples/sec on {str(device)}")
    return {"loss": train_l, "train_acc": train_acc, "test_acc": test_acc,
            "examples_per_sec": speed, "device": str(device)}
