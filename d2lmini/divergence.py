"""The divergence guard: stop at the first NaN or infinite loss or gradient
and put the model back to its last good state."""
import math
from typing import Any, Dict, Optional

import torch
from torch import nn

from . import distributed as dist_utils

__all__ = ["DivergenceError", "DivergenceGuard"]

# What went wrong, coded so that one on-device integer can carry it.
_KINDS = {1: ("loss", float("nan")), 2: ("loss", float("inf")),
          3: ("gradient", float("nan")), 4: ("gradient", float("inf"))}


class DivergenceError(RuntimeError):
    """Training produced a NaN or infinite loss (or gradient).

    ``epoch`` and ``batch`` (from 1) say where, ``loss`` holds the bad value,
    ``source`` is ``'loss'`` or ``'gradient'`` and ``restored`` says which
    state the model was put back to.
    """

    def __init__(self, epoch: int, batch: int, loss: float, source: str = "loss",
                 restored: Optional[str] = None):
        self.epoch, self.batch, self.loss, self.source = epoch, batch, loss, source
        self.restored = restored or "the model holds the weights from before that update"
        kind = "NaN" if math.isnan(loss) else "infinite" if math.isinf(loss) else repr(loss)
        super().__init__(
            f"training diverged at epoch {epoch}, batch {batch}: the {source} was {kind}; "
            f"{self.restored}. Try a smaller learning rate or gradient_clip_val.")


def _clone(obj):
    if isinstance(obj, torch.Tensor):
        return obj.detach().clone()
    if isinstance(obj, dict):
        return {k: _clone(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clone(v) for v in obj]
    return obj


class DivergenceGuard:
    """Watches every loss and gradient of an epoch.

    With ``every=1`` (the CPU default, where reading a value is free) each
    step is checked before its update: a bad step is never applied and the
    batch-norm statistics its forward pass moved are put back. With
    ``every=n`` (accelerators, torchrun) the values are flagged on the
    device and read every n steps, so no step waits for the host; a bad
    window is undone by restoring the weights, buffers and optimizer state
    saved at its start.
    """

    def __init__(self, every: int, distributed: bool = False):
        self.every, self.distributed = every, distributed
        self.windowed = every > 1 or distributed  # under torchrun all ranks stop together

    def start_epoch(self, model: nn.Module, optim: torch.optim.Optimizer, epoch: int) -> None:
        self.model, self.optim, self.epoch = model, optim, epoch
        self.device = next(model.parameters()).device
        self._flag: Optional[torch.Tensor] = None
        self._window_start = 1
        self._snapshot = self._take_snapshot() if self.windowed else None

    def before_step(self) -> None:
        """Remember the buffers a forward pass may move (per-step checks)."""
        if not self.windowed:
            self._buffers = [b.detach().clone() for b in self.model.buffers()]

    def check_loss(self, loss: torch.Tensor, step: int) -> None:
        self._watch(loss.detach(), step, offset=0)

    def check_gradients(self, step: int) -> None:
        """Before the update: a finite loss can still give non-finite gradients."""
        grads = [p.grad for p in self.model.parameters() if p.grad is not None]
        if grads:  # the sum of the norms is NaN or inf exactly when one norm is
            self._watch(torch.stack(torch._foreach_norm(grads)).sum(), step, offset=2)

    def after_step(self, step: int, last: bool) -> None:
        """Read the window's flag at its end (one small sync per window)."""
        if self.windowed and (step % self.every == 0 or last):
            flag = self._flag if self._flag is not None else torch.zeros(
                (), dtype=torch.int64, device=self.device)
            if self.distributed:  # every rank learns the earliest bad step on any rank
                flag = dist_utils.earliest_flag(flag)
            flag, self._flag = int(flag), None
            if flag == 0:
                self._snapshot, self._window_start = self._take_snapshot(), step + 1
                return
            self.model.load_state_dict(self._snapshot["model"])
            self.optim.load_state_dict(self._snapshot["optim"])
            source, value = _KINDS[flag % 8]
            raise DivergenceError(
                self.epoch, flag // 8, value, source,
                f"the weights, batch-norm statistics and optimizer state were restored "
                f"to the start of the checked window, before batch {self._window_start}")

    def finish_epoch(self) -> None:
        """Check a window left open (when the epoch's last batch was skipped)."""
        if self.windowed and self._flag is not None:
            self.after_step(0, last=True)

    def _watch(self, value: torch.Tensor, step: int, offset: int) -> None:
        if not self.windowed:
            v = float(value)
            if not math.isfinite(v):
                for b, saved in zip(self.model.buffers(), self._buffers):
                    b.copy_(saved)
                raise DivergenceError(
                    self.epoch, step, v, _KINDS[offset + 1][0],
                    "the update was not applied: the weights and batch-norm statistics "
                    "are those of the step before")
            return
        code = torch.where(torch.isnan(value), offset + 1,
                           torch.where(torch.isinf(value), offset + 2, 0))
        new = torch.where(code > 0, code + 8 * step, 0)
        self._flag = new if self._flag is None else torch.where(self._flag > 0, self._flag, new)

    def _take_snapshot(self) -> Dict[str, Any]:
        return {"model": _clone(self.model.state_dict()),
                "optim": _clone(self.optim.state_dict())}
