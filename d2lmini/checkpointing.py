"""Checkpoints of a training run: when to write them, what resuming restores
and checks, and what to tell the user after an interrupt. The file format
(atomic writes, safe loading, random states) lives in :mod:`d2lmini.checkpoint`."""
import os
import tempfile
import warnings
from typing import Any, Dict, List, Optional

import torch

from .checkpoint import (REQUIRED_KEYS, CheckpointError, get_rng_state, load_checkpoint,
                         save_checkpoint, set_rng_state)
from .history import History

__all__ = ["Checkpointer", "ResumeWarning", "generators_of"]

# Scheduler settings that fix how many steps a learning-rate schedule lasts.
_SCHEDULE_LENGTH_KEYS = ("total_steps", "T_max", "T_0", "total_iters", "step_size",
                         "milestones", "step_size_up", "step_size_down")


class ResumeWarning(UserWarning):
    """A run resumed with other settings than the run that wrote its checkpoint."""


def generators_of(*objs) -> List[torch.Generator]:
    """The distinct ``generator`` attributes of ``objs`` (data loaders, data)."""
    found: List[torch.Generator] = []
    for obj in objs:
        gen = getattr(obj, "generator", None)
        if isinstance(gen, torch.Generator) and all(gen is not g for g in found):
            found.append(gen)
    return found


def _schedule_length(scheduler) -> Optional[Dict[str, Any]]:
    if scheduler is None:
        return None
    state = scheduler.state_dict() if hasattr(scheduler, "state_dict") else scheduler
    return {k: state[k] for k in _SCHEDULE_LENGTH_KEYS if k in state}


class Checkpointer:
    """Writes the checkpoints of one trainer and restores them.

    ``path`` is where checkpoints go (``None``: nowhere), ``every`` how many
    epochs apart. A path that cannot be written fails in :meth:`check_writable`,
    before the first batch.
    """

    def __init__(self, path: Optional[str], every: int):
        self.path, self.every = path, every
        self.written = False       # has this fit written a checkpoint yet?
        self.resumed_from: Optional[str] = None
        self.epochs_saved = 0

    def start_fit(self) -> None:
        self.written, self.resumed_from, self.epochs_saved = False, None, 0

    def check_writable(self) -> None:
        if not self.path:
            return
        if os.path.isdir(self.path):
            raise CheckpointError(f"checkpoint_path {self.path} is a directory; name a file "
                                  f"in it, for example {os.path.join(self.path, 'run.pt')}")
        directory = os.path.dirname(os.path.abspath(self.path))
        try:
            os.makedirs(directory, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=".ckpt-", suffix=".tmp", dir=directory)
            os.close(fd)
            os.remove(probe)
        except OSError as e:
            raise CheckpointError(f"cannot write checkpoints to {self.path}: "
                                  f"{e.strerror or e}") from None

    def due(self, epochs_done: int, max_epochs: int) -> bool:
        return bool(self.path) and (epochs_done % self.every == 0 or epochs_done == max_epochs)

    def save(self, state: Dict[str, Any]) -> None:
        save_checkpoint(state, self.path)
        self.written, self.epochs_saved = True, state["epoch"]

    def restore(self, trainer, path: str) -> int:
        """Load ``path`` into ``trainer`` (model, optimizer, scheduler, history,
        counters, random states, board); return the number of epochs done.

        A checkpoint whose learning-rate schedule has another length than the
        model's refuses before anything is loaded; another ``max_epochs`` or
        ``seed`` gives a :class:`ResumeWarning`.
        """
        # Everything is read to the CPU: load_state_dict copies weights and
        # optimizer state to the model's device; RNG states must stay on the CPU.
        ckpt = load_checkpoint(path, map_location="cpu", required=REQUIRED_KEYS)
        self._compare(ckpt, trainer, path)
        trainer.model.load_state_dict(ckpt["model"])
        trainer.optim.load_state_dict(ckpt["optimizer"])
        if trainer.scheduler is not None:
            trainer.scheduler.load_state_dict(ckpt["scheduler"])
        trainer.history = History(ckpt["history"])
        trainer.train_batch_idx = ckpt.get("train_batch_idx", 0)
        trainer.val_batch_idx = ckpt.get("val_batch_idx", 0)
        set_rng_state(ckpt["rng"])
        for gen, state in zip(trainer.generators(), ckpt.get("generators", [])):
            gen.set_state(state)
        board = getattr(trainer.model, "board", None)
        if board is not None and ckpt.get("board"):
            board.data = {k: list(v) for k, v in ckpt["board"].items()}
        self.resumed_from, self.epochs_saved = path, ckpt["epoch"]
        if trainer.rank == 0:
            print(f"Resuming from {path}: {ckpt['epoch']} of {trainer.max_epochs} epochs done.")
        return ckpt["epoch"]

    @staticmethod
    def _compare(ckpt: Dict[str, Any], trainer, path: str) -> None:
        old, new = _schedule_length(ckpt.get("scheduler")), _schedule_length(trainer.scheduler)
        if old != new:
            describe = lambda s: "no scheduler" if s is None else f"a schedule with {s}"
            raise CheckpointError(
                f"{path} was written with {describe(old)}, but the model now configures "
                f"{describe(new)}; resuming would follow the wrong learning rates. Keep "
                "max_epochs and the data size of the first run, or start a new run.")
        changes = {"max_epochs": (trainer.max_epochs, "training now runs to epoch "
                                  f"{trainer.max_epochs}"),
                   "seed": (trainer.hparams["seed"], "the resumed epochs will not draw the "
                            "random numbers the first run would have drawn")}
        for name, (value, effect) in changes.items():
            if name in ckpt and ckpt[name] != value:
                warnings.warn(f"{path} was written by a run with {name}={ckpt[name]!r}; this "
                              f"trainer has {name}={value!r}: {effect}.", ResumeWarning,
                              stacklevel=4)

    @staticmethod
    def state(trainer) -> Dict[str, Any]:
        """What a checkpoint holds: weights, optimizer, progress, settings, randomness."""
        scheduler = trainer.scheduler
        return {"model": trainer.model.state_dict(), "optimizer": trainer.optim.state_dict(),
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "epoch": trainer.epoch + 1, "history": list(trainer.history),
                "train_batch_idx": trainer.train_batch_idx,
                "val_batch_idx": trainer.val_batch_idx,
                "max_epochs": trainer.max_epochs, "seed": trainer.hparams["seed"],
                "rng": get_rng_state(),
                "generators": [g.get_state() for g in trainer.generators()],
                "board": dict(getattr(getattr(trainer.model, "board", None), "data", {}) or {})}

    def resume_hint(self, max_epochs: int) -> Optional[str]:
        """How to continue after an interrupt, naming only this run's checkpoint."""
        source = self.path if self.written else self.resumed_from
        if source:
            return (f"Resume with trainer.fit(model, data, resume={source!r}) "
                    f"({self.epochs_saved} of {max_epochs} epochs saved there).")
        if not self.path:
            return None
        old = (f" (the file already at {self.path} is from an earlier run)"
               if os.path.exists(self.path) else "")
        return (f"No checkpoint of this run was written yet{old}; the first is written "
                f"after epoch {min(self.every, max_epochs)}. Calling fit again starts over.")
