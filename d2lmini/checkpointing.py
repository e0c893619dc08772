"""Checkpoints of a training run: when to write them, what resuming restores
and checks, and what to tell the user after an interrupt. The file format
(atomic writes, safe loading, random states) lives in :mod:`d2lmini.checkpoint`."""
import errno
import os
import tempfile
import warnings
from typing import Any, Dict, List, Optional

import torch
from torch.nn.parameter import is_lazy

from .checkpoint import (REQUIRED_KEYS, CheckpointError, get_rng_state, load_checkpoint,
                         save_checkpoint, set_rng_state)
from .checkpoint_paths import checkpoint_file, refuse_non_regular
from .checkpoint_temps import TEMP_SUFFIX, remove_stale_temporaries, temp_prefix
from .checkpoint_write import CheckpointWriteError
from .checkpoint_archive import archive_limits
from .checkpoint_checks import check_contents
from .history import History
from .resume_changes import data_settings, resume_changes
from .run_lock import RunLock

__all__ = ["Checkpointer", "ResumeWarning", "generators_of"]

# Scheduler settings that fix how many steps a learning-rate schedule lasts.
_SCHEDULE_LENGTH_KEYS = ("total_steps", "T_max", "T_0", "total_iters", "step_size",
                         "milestones", "step_size_up", "step_size_down")

# Optimizer param-group entries that are not settings.
_GROUP_BOOKKEEPING = {"params", "param_names"}


def _some(names: List[str], n: int = 3) -> str:
    """The first ``n`` names, and how many more."""
    shown = ", ".join(names[:n])
    return shown + (f" and {len(names) - n} more" if len(names) > n else "")


def _shape(t: torch.Tensor) -> str:
    return "x".join(map(str, t.shape)) or "scalar"


def _model_mismatch(saved, model: torch.nn.Module) -> Optional[str]:
    """How the saved state_dict differs from ``model``'s (None: it fits)."""
    if not isinstance(saved, dict):
        return "its 'model' entry is not a state_dict"
    current = model.state_dict()
    missing = [k for k in current if k not in saved]
    unexpected = [k for k in saved if k not in current]
    reshaped = []
    for k, v in current.items():
        if k not in saved or not isinstance(v, torch.Tensor):
            continue
        old = saved[k]
        if not isinstance(old, torch.Tensor):
            reshaped.append(f"{k} (a {type(old).__name__} in the file)")
        elif not is_lazy(v) and old.shape != v.shape:  # a lazy layer not run yet
            # has no shape to compare: loading gives it the saved one
            reshaped.append(f"{k} {_shape(old)} (here {_shape(v)})")
    problems = [f"{what}: {_some(names)}" for what, names in (
        ("missing in the file", missing), ("not in this model", unexpected),
        ("other shapes", reshaped)) if names]
    if problems:
        return "its weights belong to another model (" + "; ".join(problems) + ")"
    return None


def _optimizer_mismatch(saved, saved_class: Optional[str],
                        optim: torch.optim.Optimizer) -> Optional[str]:
    """How the saved optimizer state differs from ``optim`` (None: it fits)."""
    name = type(optim).__name__
    if saved_class is not None and saved_class != name:
        return f"its optimizer state comes from {saved_class}; the model now configures {name}"
    if not (isinstance(saved, dict) and isinstance(saved.get("state"), dict)
            and isinstance(saved.get("param_groups"), list)
            and all(isinstance(g, dict) and isinstance(g.get("params"), list)
                    for g in saved["param_groups"])):
        return "its 'optimizer' entry is not an optimizer state_dict"
    groups = optim.param_groups
    if len(saved["param_groups"]) != len(groups):
        return (f"its optimizer has {len(saved['param_groups'])} parameter group(s), this "
                f"one {len(groups)}")
    for i, (old, new) in enumerate(zip(saved["param_groups"], groups)):
        if len(old["params"]) != len(new["params"]):
            return (f"parameter group {i} of its optimizer holds {len(old['params'])} "
                    f"tensors, this one {len(new['params'])}")
        if saved_class is not None:
            continue  # the same class: settings another torch release added or
            # dropped are filled in by the optimizer's own load_state_dict
        old_keys, new_keys = set(old) - _GROUP_BOOKKEEPING, set(new) - _GROUP_BOOKKEEPING
        if old_keys != new_keys:  # e.g. SGD's momentum where Adam needs betas
            extra, lacking = sorted(old_keys - new_keys), sorted(new_keys - old_keys)
            return (f"its optimizer was not {name} (" + "; ".join(
                f"{what}: {_some(keys)}" for what, keys in (
                    (f"settings {name} does not have", extra),
                    (f"missing {name} settings", lacking)) if keys) + ")")
    return None


def _progress_damage(ckpt: Dict[str, Any], trainer) -> Optional[str]:
    """What is malformed in the epoch, history, random states or board (None: all fine)."""
    epoch = ckpt["epoch"]
    if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
        return f"its epoch is {epoch!r}, not a count of epochs"
    history = ckpt["history"]
    if not isinstance(history, list) or not all(isinstance(r, dict) for r in history):
        return "its history is not a list of per-epoch records"
    board = ckpt.get("board")
    if board is not None and not (isinstance(board, dict) and all(
            isinstance(v, (list, tuple)) for v in board.values())):
        return "its board curves are not a dict of lists"
    if not isinstance(ckpt.get("generators", []), (list, tuple)):
        return "its data generator states are not a list"
    if not isinstance(ckpt.get("scheduler"), (dict, type(None))):
        return "its scheduler entry is not a state_dict"
    # Restoring the random states is the exact test of their structure; try
    # it now and put the current states back, so that nothing changes yet.
    current = get_rng_state()
    generators = [(g, g.get_state()) for g in trainer.generators()]
    try:
        set_rng_state(ckpt["rng"])
        for (gen, _), state in zip(generators, ckpt.get("generators", [])):
            gen.set_state(state)
    except (KeyError, IndexError, TypeError, ValueError, RuntimeError, AttributeError) as e:
        return f"its random states cannot be restored ({type(e).__name__}: {e})"
    finally:
        set_rng_state(current)
        for gen, state in generators:
            gen.set_state(state)
    return None


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

    ``path`` is where checkpoints go (``None``: nowhere; ``~`` is expanded),
    ``every`` how many epochs apart. A path that could never hold a file fails
    here; one that cannot be written now fails in :meth:`check_writable`,
    before the first batch, which also locks it until :meth:`end_fit`.
    """

    def __init__(self, path: Optional[str], every: int):
        self.path, self.every = checkpoint_file(path), every
        self._lock: Optional[RunLock] = None
        self.written = False       # has this fit written a checkpoint yet?
        self.resumed_from: Optional[str] = None
        self.epochs_saved = 0

    def start_fit(self) -> None:
        self.written, self.resumed_from, self.epochs_saved = False, None, 0

    def check_writable(self, rank: int = 0) -> None:
        """Fail now if checkpoints cannot be written to ``path`` (a directory,
        device, FIFO or socket there; no permission). On rank 0, which writes
        them, lock ``path`` for this run and remove the temporary files that a
        killed run left there."""
        if not self.path:
            return
        refuse_non_regular(self.path)  # saving would replace it
        directory = os.path.dirname(os.path.abspath(self.path))
        try:
            os.makedirs(directory, exist_ok=True)
            fd, probe = tempfile.mkstemp(prefix=temp_prefix(self.path), suffix=TEMP_SUFFIX,
                                         dir=directory)
            os.close(fd)
            os.remove(probe)
        except OSError as e:
            raise CheckpointError(f"cannot write checkpoints to {self.path}: "
                                  f"{e.strerror or e}") from None
        if rank == 0:
            self.end_fit()
            self._lock = RunLock.acquire(self.path)  # another live run there: an error
            remove_stale_temporaries(self.path)

    def end_fit(self) -> None:
        """Unlock ``path`` (at the end of ``fit``, however it ends)."""
        lock, self._lock = self._lock, None
        if lock is not None:
            lock.release()

    def due(self, epochs_done: int, max_epochs: int) -> bool:
        return bool(self.path) and (epochs_done % self.every == 0 or epochs_done == max_epochs)

    def save(self, state: Dict[str, Any]) -> None:
        try:
            save_checkpoint(state, self.path)
        except CheckpointWriteError as e:
            self._explain_failed_save(e, state)
            raise
        self.written, self.epochs_saved = True, state["epoch"]

    def _explain_failed_save(self, err: CheckpointWriteError, state: Dict[str, Any]) -> None:
        """Add to ``err`` what the run still has: the file, how to resume, the history."""
        err.history = History(state.get("history", []))
        kept = ("The file there is left as it was." if os.path.exists(self.path)
                else "Nothing was written there.")
        if self.written or self.resumed_from:
            hint = self.resume_hint(state.get("max_epochs", state.get("epoch", 0)))
        else:
            hint = "This run had saved no checkpoint yet."
        full = (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC))  # disk or quota
        fix = ("Free some space there" if err.errno in full else
               "Raise the file size limit (ulimit -f)" if err.errno == errno.EFBIG else
               "Fix that")
        err.message += (f" {kept} {hint} {fix}, or pass another checkpoint_path, before "
                        f"going on. The history of the {len(err.history)} finished epoch(s) "
                        "is in this error's .history (and in trainer.history).")

    def restore(self, trainer, path: str) -> int:
        """Load ``path`` into ``trainer`` (model, optimizer, scheduler, history,
        counters, random states, board); return the number of epochs done.

        A checkpoint whose learning-rate schedule has another length than the
        model's, or with any field that could not be applied and trained on
        (:mod:`~d2lmini.checkpoint_checks`), refuses before anything is loaded;
        another ``max_epochs``, ``seed``, learning rate (the checkpoint's wins),
        batch size, training-set size or image size gives a :class:`ResumeWarning`.
        """
        # Everything is read to the CPU: load_state_dict copies weights and
        # optimizer state to the model's device; RNG states must stay on the CPU.
        # The file may unpack to no more than this model and optimizer need.
        ckpt = load_checkpoint(path, map_location="cpu", required=REQUIRED_KEYS,
                               limits=archive_limits(trainer.model))
        self._check_fits(ckpt, trainer, path)  # before anything is loaded
        check_contents(ckpt, trainer, path)  # every field, before anything is loaded
        self._compare(ckpt, trainer, path)
        for message in resume_changes(ckpt, trainer, path):
            warnings.warn(message, ResumeWarning, stacklevel=4)
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
    def _check_fits(ckpt: Dict[str, Any], trainer, path: str) -> None:
        foreign = (_model_mismatch(ckpt["model"], trainer.model)
                   or _optimizer_mismatch(ckpt["optimizer"], ckpt.get("optimizer_class"),
                                          trainer.optim))
        if foreign:
            raise CheckpointError(
                f"cannot resume from {path}: {foreign}. Resume with the model and the "
                "optimizer of the run that wrote it, or call fit without resume= to start "
                "a new run. Nothing was loaded.")
        damage = _progress_damage(ckpt, trainer)
        if damage:
            raise CheckpointError(
                f"cannot resume from {path}: {damage}; the file is damaged or was not "
                "written by d2lmini's Trainer. Resume from another checkpoint, or call fit "
                "without resume= to start a new run. Nothing was loaded.")

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
                "optimizer_class": type(trainer.optim).__name__,  # checked on resume
                "scheduler": scheduler.state_dict() if scheduler is not None else None,
                "epoch": trainer.epoch + 1, "history": list(trainer.history),
                "train_batch_idx": trainer.train_batch_idx,
                "val_batch_idx": trainer.val_batch_idx,
                "max_epochs": trainer.max_epochs, "seed": trainer.hparams["seed"],
                "rng": get_rng_state(),
                "generators": [g.get_state() for g in trainer.generators()],
                "board": dict(getattr(getattr(trainer.model, "board", None), "data", {}) or {}),
                "data": data_settings(trainer)}  # compared on resume; older files lack it

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
