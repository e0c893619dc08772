"""Models: the book's ``Module`` and ``Classifier`` base classes."""
from typing import Callable, Optional, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from .board import ProgressBoard
from .checks import eval_mode
from .hyperparameters import HyperParameters
from .model_checks import check_class_scores

__all__ = ["Module", "Classifier", "Classification", "init_cnn"]


class Module(nn.Module, HyperParameters):
    """Base class of models: a network, its loss and its optimizer.

    A :class:`~d2lmini.Trainer` calls :meth:`training_step` and
    :meth:`validation_step`; both report numbers through :meth:`plot`, which
    hands them to the trainer (it keeps exact epoch totals and draws the
    board).
    """

    def __init__(self, plot_train_per_epoch: int = 2, plot_valid_per_epoch: int = 1):
        super().__init__()
        self.save_hyperparameters()
        self.board = ProgressBoard()

    def loss(self, y_hat, y):
        raise NotImplementedError(f"{type(self).__name__} must define loss(y_hat, y)")

    def forward(self, X):
        if not hasattr(self, "net"):
            raise AttributeError(f"{type(self).__name__} has no attribute 'net': set "
                                 "self.net in __init__ or override forward()")
        return self.net(X)

    def plot(self, key: str, value, train: bool) -> None:
        """Report ``value`` (a batch mean, or one value per example) as
        ``train_<key>`` or ``val_<key>`` to the trainer fitting this model."""
        trainer = getattr(self, "trainer", None)
        if trainer is None:
            raise RuntimeError("plot() reports to a Trainer: call "
                               "d2l.Trainer(...).fit(model, data) first")
        trainer.log(key, value, train)

    def training_step(self, batch):
        l = self.loss(self(*batch[:-1]), batch[-1])
        self.plot("loss", l, train=True)
        return l

    def validation_step(self, batch):
        l = self.loss(self(*batch[:-1]), batch[-1])
        self.plot("loss", l, train=False)

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.lr)

    def apply_init(self, inputs: Sequence[torch.Tensor],
                   init: Optional[Callable[[nn.Module], None]] = None) -> None:
        """Materialise lazy layers with a dry run on ``inputs``, then apply
        ``init`` to every submodule of ``self.net``.

        The dry run happens first on purpose: before it, lazy layers have no
        weights, so an ``init`` applied earlier would touch nothing.
        """
        with eval_mode(self), torch.no_grad():  # a dry run moves no statistics
            self.forward(*inputs)
        if init is not None:
            self.net.apply(init)


class Classifier(Module):
    """Base class of classification models."""

    def validation_step(self, batch):
        Y_hat = self(*batch[:-1])
        self.plot("loss", self.loss(Y_hat, batch[-1]), train=False)
        # One 0/1 value per example, so the trainer can count correct/total
        # exactly instead of averaging batch means.
        self.plot("acc", self.accuracy(Y_hat, batch[-1], averaged=False), train=False)

    def accuracy(self, Y_hat, Y, averaged: bool = True):
        """Fraction of correct predictions (or a 0/1 tensor per example)."""
        check_class_scores(self, Y_hat, Y)
        Y_hat = Y_hat.reshape((-1, Y_hat.shape[-1]))
        preds = Y_hat.argmax(dim=1).type(Y.dtype)
        compare = (preds == Y.reshape(-1)).type(torch.float32)
        return compare.mean() if averaged else compare

    def loss(self, Y_hat, Y, averaged: bool = True):
        check_class_scores(self, Y_hat, Y)  # shapes only: no read from the device
        Y_hat = Y_hat.reshape((-1, Y_hat.shape[-1]))
        Y = Y.reshape((-1,))
        try:
            return F.cross_entropy(Y_hat, Y, reduction="mean" if averaged else "none")
        except IndexError as e:  # on the CPU: a label >= the number of class scores
            raise ValueError(
                f"{type(self).__name__}'s output has {Y_hat.shape[-1]} class scores per "
                f"example, too few for the labels ({e}): build the model with "
                "num_classes= the number of classes of the data.") from e

    def layer_summary(self, X_shape) -> None:
        """Print each top-level layer of ``self.net`` with its output shape."""
        X = torch.randn(*X_shape)
        with eval_mode(self), torch.no_grad():
            for layer in self.net:
                X = layer(X)
                print(layer.__class__.__name__, "output shape:\t", X.shape)


# The English edition of the chapter calls the class by this name.
Classification = Classifier


def init_cnn(module: nn.Module) -> None:
    """Xavier-uniform initialisation for linear and convolutional layers."""
    if isinstance(module, (nn.Linear, nn.Conv2d)) and not isinstance(
            module, nn.modules.lazy.LazyModuleMixin):
        nn.init.xavier_uniform_(module.weight)
