"""Reading what a model's ``configure_optimizers`` returns."""
import math
from typing import Any, Optional, Tuple

import torch

__all__ = ["configure_optimizers", "check_lr"]


def check_lr(lr) -> None:
    """Raise ``ValueError`` unless ``lr`` is a positive, finite number."""
    if isinstance(lr, torch.Tensor):
        lr = float(lr)
    if isinstance(lr, bool) or not (isinstance(lr, (int, float)) and lr > 0
                                    and math.isfinite(lr)):
        raise ValueError(f"the learning rate must be a positive number, got lr={lr!r}")


def configure_optimizers(model) -> Tuple[torch.optim.Optimizer, Optional[Any]]:
    """Call ``model.configure_optimizers()``; return ``(optimizer, scheduler)``.

    The model returns an optimizer (the book's way), or ``(optimizer,
    scheduler)`` or ``{"optimizer": ..., "lr_scheduler": ...}``; the trainer
    steps a scheduler after every batch (one-cycle and cosine schedules
    count in steps). ``scheduler`` is ``None`` when there is none.
    """
    # Check the model's lr first: torch's own message for a negative lr
    # does not say where the value came from.
    if hasattr(model, "lr"):
        check_lr(model.lr)
    configured = model.configure_optimizers()
    scheduler = None
    if isinstance(configured, dict):
        optim, scheduler = configured["optimizer"], configured.get("lr_scheduler")
    elif isinstance(configured, (tuple, list)):
        if len(configured) != 2:
            raise ValueError("configure_optimizers() must return an optimizer or "
                             f"(optimizer, scheduler), got {len(configured)} items")
        optim, scheduler = configured
    else:
        optim = configured
    if not isinstance(optim, torch.optim.Optimizer):
        raise TypeError("configure_optimizers() must return a torch.optim.Optimizer, "
                        f"got {type(optim).__name__}")
    for group in optim.param_groups:
        if "lr" in group:
            check_lr(group["lr"])
    return optim, scheduler
