"""What the Trainer needs from a model, checked where a mistake would
otherwise surface as a raw torch error far from its cause.

Each check is a few comparisons of Python objects and shapes, with no read
from the device: a model without parameters at the start of ``fit``, the
loss ``training_step`` returns at the first step of each epoch, and the
output a :class:`~d2lmini.Classifier`'s loss is given at every call.
"""
import math

import torch

__all__ = ["check_has_parameters", "check_training_loss", "check_class_scores"]


def check_has_parameters(model) -> None:
    """``ValueError`` unless ``model`` has a parameter for the optimizer to
    train (torch's own error would be "optimizer got an empty parameter list")."""
    if next(iter(model.parameters()), None) is None:
        raise ValueError(
            f"{type(model).__name__} has no parameters, so training has nothing to "
            "change: build its layers in __init__ as attributes (self.net = "
            "nn.Sequential(...)), not in forward() or in a plain list.")


def check_training_loss(model, loss) -> None:
    """``training_step`` must return the loss as a one-element tensor that
    ``backward()`` can run through (not ``loss.item()``, nor a detached copy)."""
    name = f"{type(model).__name__}.training_step"
    if not isinstance(loss, torch.Tensor):
        raise TypeError(
            f"{name} returned {type(loss).__name__} {loss!r}, not a tensor: return the "
            "loss tensor itself (not loss.item() or float(loss)), so that the trainer "
            "can call backward() on it.")
    if loss.numel() != 1:
        raise ValueError(
            f"{name} returned a loss of shape {tuple(loss.shape)}: return one number, "
            "e.g. the mean of the per-example losses.")
    if not loss.requires_grad:
        raise ValueError(
            f"{name} returned a loss that does not depend on any trainable parameter "
            "(requires_grad is False): compute it from the model's output, outside "
            "torch.no_grad() and without .detach().")


def check_class_scores(model, Y_hat, Y) -> None:
    """The classifier's output must hold one row of class scores per label:
    ``(batch, num_classes)`` for labels ``(batch,)``, or more leading
    dimensions as long as they hold as many rows as there are labels."""
    name = type(model).__name__
    if not isinstance(Y_hat, torch.Tensor):
        raise TypeError(f"{name}'s output is a {type(Y_hat).__name__}; its loss expects "
                        "one tensor of class scores, shape (batch, num_classes).")
    if Y_hat.dim() >= 1 and math.prod(Y_hat.shape[:-1]) == Y.numel():
        return
    raise ValueError(
        f"{name}'s output has shape {tuple(Y_hat.shape)}, but the labels have shape "
        f"{tuple(Y.shape)}: the loss expects one row of class scores per label, shape "
        f"({Y.numel()}, num_classes). Check the model's last layers (e.g. nn.Flatten() "
        "then nn.LazyLinear(num_classes)) and that forward() keeps the batch dimension.")
