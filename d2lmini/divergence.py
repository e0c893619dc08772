"""The divergence guard: stop at the first NaN or infinite loss, gradient or
batch-norm running statistic and put the model back to its last good state."""
import math
from typing import Any, Dict, Optional

import torch
from torch import nn
from torch.nn.modules.batchnorm import _NormBase
from torch.nn.parameter import is_lazy

from . import distributed as dist_utils

__all__ = ["DivergenceError", "DivergenceGuard"]

# What went wrong, coded so that one on-device integer can carry it.
_KINDS = {1: ("loss", float("nan")), 2: ("loss", float("inf")),
          3: ("gradient", float("nan")), 4: ("gradient", float("inf")),
          5: ("statistics", float("nan")), 6: ("statistics", float("inf"))}
_WHAT = {"loss": "the loss", "gradient": "the gradient",
         "statistics": "a batch-norm running mean or variance"}


class DivergenceError(RuntimeError):
    """Training produced a NaN or infinite loss, gradient or batch-norm
    running statistic.

    ``epoch`` and ``batch`` (from 1) say where, ``loss`` holds the bad value,
    ``source`` is ``'loss'``, ``'gradient'`` or ``'statistics'`` and
    ``restored`` says which state the model was put back to.
    """

    def __init__(self, epoch: int, batch: int, loss: float, source: str = "loss",
                 restored: Optional[str] = None):
        self.epoch, self.batch, self.loss, self.source = epoch, batch, loss, source
        self.restored = restored or "the model holds the weights from before that update"
        kind = "NaN" if math.isnan(loss) else "infinite" if math.isinf(loss) else repr(loss)
        super().__init__(
            f"training diverged at epoch {epoch}, batch {batch}: "
            f"{_WHAT.get(source, source)} was {kind}; "
            f"{self.restored}. Try a smaller learning rate or gradient_clip_val.")


def _clone(obj):
    if isinstance(obj, torch.Tensor):
        return obj.detach().clone()
    if isinstance(obj, dict):  # a lazy layer's tensors have no values before its
        # first batch: there is nothing to keep yet
        return {k: _clone(v) for k, v in obj.items() if not is_lazy(v)}
    if isinstance(obj, list):
        return [_clone(v) for v in obj]
    return obj


def _reset_created_statistics(model: nn.Module, names) -> None:
    """Running statistics that a lazy norm layer created after the snapshot go
    back to the values it starts with (mean 0, variance 1): they had no
    earlier value, and the bad step may have left NaN in them."""
    for name in names:
        module = model.get_submodule(name.rpartition(".")[0])
        if hasattr(module, "reset_running_stats"):
            module.reset_running_stats()


class DivergenceGuard:
    """Watches every loss, gradient and batch-norm statistic of an epoch.

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
        self._stats: Optional[list] = None  # the running statistics, in place all epoch
        self._snapshot = self._take_snapshot() if self.windowed else None

    def before_step(self) -> None:
        """Remember the buffers a forward pass may move (per-step checks)."""
        if not self.windowed:  # lazy ones not created yet have no values to keep
            self._buffers = {name: b.detach().clone()
                             for name, b in self.model.named_buffers() if not is_lazy(b)}

    def check_loss(self, loss: torch.Tensor, step: int) -> None:
        if self.windowed and self._snapshot_lacks_weights:
            self._add_created_weights()
        self._watch(loss.detach(), step, offset=0)

    def check_statistics(self, step: int) -> None:
        """After the forward pass: batch norm can store an infinite variance
        while its normalised output, and so the loss, stays finite. (Only norm
        layers' statistics: other buffers, such as an attention mask, may
        hold -inf on purpose.)"""
        if self._stats is None or self._stats_lazy:  # once an epoch, once all exist
            stats = [t for m in self.model.modules() if isinstance(m, _NormBase)
                     for t in (m.running_mean, m.running_var) if t is not None]
            self._stats_lazy = any(is_lazy(t) for t in stats)
            self._stats = [t for t in stats if not is_lazy(t)]
        if self._stats:  # the largest |value| is finite exactly when every value is;
            # unlike a sum of squares it does not overflow for large finite values
            self._watch(torch.cat(self._stats).abs().max(), step, offset=4)

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
            # strict=False: statistics that lazy layers created in the window are
            # not in the snapshot; they start again from their initial values
            loaded = self.model.load_state_dict(self._snapshot["model"], strict=False)
            _reset_created_statistics(self.model, loaded.missing_keys)
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
                created = []
                for name, b in self.model.named_buffers():
                    if name in self._buffers:
                        b.copy_(self._buffers[name])
                    else:
                        created.append(name)
                _reset_created_statistics(self.model, created)
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
        state = self.model.state_dict()
        self._snapshot_lacks_weights = any(is_lazy(v) for v in state.values())
        return {"model": _clone(state), "optim": _clone(self.optim.state_dict())}

    def _add_created_weights(self) -> None:
        """Lazy layers created their weights in this forward pass, before any
        update: those first values belong to the window's starting state."""
        saved = self._snapshot["model"]
        for name, p in self.model.named_parameters():
            if name not in saved and not is_lazy(p):
                saved[name] = p.detach().clone()
        self._snapshot_lacks_weights = any(is_lazy(p) for p in self.model.parameters())
