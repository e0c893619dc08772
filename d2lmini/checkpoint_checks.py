"""Everything a loaded checkpoint holds, checked before any of it is applied.

``Checkpointer.restore`` calls :func:`check_contents` after the file has
passed the checks for another model or optimizer, and before it loads
weights, optimizer state, counters or random states, or prints "Resuming":
a refused file leaves the model, the optimizer and the trainer as they were.

What a checkpoint may hold:

* weights: dense CPU tensors of the live weights' dtype kind (no complex or
  integer values into float weights), finite where they are parameters;
* optimizer state: see :mod:`d2lmini.optimizer_state_checks`;
* everything else (history, board, counters, random states, scheduler):
  plain numbers, strings and short lists, within :data:`MAX_OBJECTS` objects
  and ``NON_MODEL_BYTES`` of tensors, of the types the trainer reads back.
"""
from typing import Any, Dict

import torch

from .checkpoint import SEED_MAX, SEED_MIN, CheckpointError
from .checkpoint_archive import NON_MODEL_BYTES
from .checkpoint_fields import (BadField, Budget, check_count, check_finite, check_kind,
                                check_plain, check_same_kind, check_tensor, is_real_number,
                                show)
from .optimizer_state_checks import check_optimizer_state

__all__ = ["check_contents"]

# With these, history and board pickle to about 4 MiB, within NON_MODEL_BYTES.
MAX_EPOCHS = 20_000          # history records (one per epoch)
MAX_RECORD_KEYS = 64         # metrics per history record
MAX_BOARD_CURVES = 64
MAX_BOARD_POINTS = 100_000   # a few per epoch and curve are drawn
MAX_OBJECTS = 2_000_000      # plain-data objects outside the model and optimizer
MAX_NAME = 200               # characters of a metric, curve or class name

# The entries checked one by one below; any other is plain data within the limits.
_KNOWN = {"model", "optimizer", "optimizer_class", "scheduler", "epoch", "history",
          "train_batch_idx", "val_batch_idx", "max_epochs", "seed", "rng", "generators",
          "board", "data"}


def _check_model(saved: Dict[str, Any], model: torch.nn.Module) -> None:
    """Names and shapes already match (``_model_mismatch``); here the tensors."""
    params = {name for name, _ in model.named_parameters(remove_duplicate=False)}
    for name, live in model.state_dict().items():
        field = f"weight {name!r}"
        if not isinstance(live, torch.Tensor):  # a module's extra state
            check_plain(field, saved[name], Budget(MAX_OBJECTS, NON_MODEL_BYTES))
            continue
        t = check_tensor(field, saved[name])
        check_kind(field, t, live.dtype)
        if name in params:  # buffers may hold inf on purpose (attention masks)
            check_finite(field, t)
    metadata = getattr(saved, "_metadata", None)  # module versions load_state_dict reads
    if metadata is not None:
        ok = isinstance(metadata, dict) and all(
            isinstance(k, str) and isinstance(v, dict)
            and isinstance(v.get("version", 0), int) for k, v in metadata.items())
        if not ok:
            raise BadField("model state_dict", "has module versions (_metadata) that are not "
                                               "a dict of {'version': int}")


def _check_progress(ckpt: Dict[str, Any], budget: Budget) -> None:
    epoch, history = ckpt["epoch"], ckpt["history"]
    check_count("'epoch'", epoch, 0, MAX_EPOCHS, "a count of epochs")
    if len(history) != epoch:
        raise BadField("'epoch'", f"is {epoch}, but its history records {len(history)} "
                                  "epoch(s): one of them was edited")
    for i, record in enumerate(history, start=1):
        field = f"history record {i}"
        budget.spend(field, objects=len(record))
        if len(record) > MAX_RECORD_KEYS:
            raise BadField(field, f"has {len(record)} entries, more than {MAX_RECORD_KEYS}")
        for key, value in record.items():
            if not isinstance(key, str) or len(key) > MAX_NAME:
                raise BadField(field, f"has a key that is {show(key)}, not a metric name")
            if value is not None and not is_real_number(value):
                raise BadField(f"{field} {key!r}", f"is {show(value)}, not a number")
        if record.get("epoch") != i:
            raise BadField(field, f"is for epoch {show(record.get('epoch'))}, expected {i}")
    for name in ("train_batch_idx", "val_batch_idx"):
        if name in ckpt:
            check_count(f"{name!r}", ckpt[name], 0, 2**63 - 1, "a count of batches")
    if "max_epochs" in ckpt:
        check_count("'max_epochs'", ckpt["max_epochs"], 1, None, "a number of epochs")
    if ckpt.get("seed") is not None:
        check_count("'seed'", ckpt["seed"], SEED_MIN, SEED_MAX, "a seed")
    name = ckpt.get("optimizer_class")
    if name is not None and not (isinstance(name, str) and len(name) <= MAX_NAME):
        raise BadField("'optimizer_class'", f"is {show(name)}, not a class name")


def _check_board(board: Any, budget: Budget) -> None:
    if board is None:
        return
    if not isinstance(board, dict) or len(board) > MAX_BOARD_CURVES:
        raise BadField("board", f"is {show(board)}, not a dict of at most {MAX_BOARD_CURVES} "
                                "curves")
    points = 0
    for label, curve in board.items():
        field = f"board curve {show(label)}"
        if not isinstance(label, str) or len(label) > MAX_NAME:
            raise BadField("board", f"has a curve named {show(label)}, not a label")
        if not isinstance(curve, (list, tuple)):
            raise BadField(field, f"is {show(curve)}, not a list of (x, y) points")
        points += len(curve)
        if points > MAX_BOARD_POINTS:
            raise BadField("board", f"holds more than {MAX_BOARD_POINTS} points")
        budget.spend(field, objects=3 * len(curve))
        for point in curve:
            if not (isinstance(point, (list, tuple)) and len(point) == 2
                    and all(is_real_number(v) for v in point)):
                raise BadField(field, f"has a point that is {show(point)}, not a pair (x, y) "
                                      "of numbers")


def _check_data(data: Any, budget: Budget) -> None:
    """The data settings recorded since they are compared on resume."""
    if data is None:
        return
    if not isinstance(data, dict):
        raise BadField("data settings", f"are {show(data)}, not a dict")
    for key in ("batch_size", "num_train"):
        if data.get(key) is not None:
            check_count(f"data setting {key!r}", data[key], 1, None, "a size")
    resize = data.get("resize")
    if resize is not None:
        if not (isinstance(resize, (list, tuple)) and len(resize) == 2):
            raise BadField("data setting 'resize'", f"is {show(resize)}, not [height, width]")
        for v in resize:
            check_count("data setting 'resize'", v, 1, None, "a size in pixels")
    check_plain("data settings", {k: v for k, v in data.items()
                                  if k not in ("batch_size", "num_train", "resize")}, budget)


def _check_scheduler(saved: Any, live, budget: Budget) -> None:
    if saved is None or live is None:  # one without the other: _compare refuses it
        check_plain("scheduler state", saved, budget)
        return
    current = live.state_dict()
    for key, value in saved.items():
        field = f"scheduler entry {show(key)}"
        if key in current:
            check_same_kind(field, value, current[key], budget)
        elif not isinstance(key, str) or hasattr(live, key):
            # load_state_dict updates the scheduler's __dict__: 'optimizer' would go
            raise BadField(field, "would replace one of the scheduler's own attributes")
        else:
            check_plain(field, value, budget)


def _check_all(ckpt: Dict[str, Any], trainer) -> None:
    budget = Budget(MAX_OBJECTS, NON_MODEL_BYTES)
    model = trainer.model
    _check_model(ckpt["model"], model)
    names = {id(p): n for n, p in model.named_parameters()}
    check_optimizer_state(ckpt["optimizer"], trainer.optim, names, ckpt["model"],
                          trainer.scheduler is not None, budget)
    _check_progress(ckpt, budget)
    _check_board(ckpt.get("board"), budget)
    _check_data(ckpt.get("data"), budget)
    _check_scheduler(ckpt.get("scheduler"), trainer.scheduler, budget)
    # Random states: restoring them (done by _progress_damage) tests their
    # structure; here their size.
    check_plain("random states", ckpt["rng"], budget)
    check_plain("data generator states", ckpt.get("generators", []), budget)
    for key in ckpt.keys() - _KNOWN:
        check_plain(f"entry {show(key)}", ckpt[key], budget)


def check_contents(ckpt: Dict[str, Any], trainer, path: str) -> None:
    """Raise :class:`CheckpointError` naming ``path``, the field and what is
    wrong with it, unless every field of ``ckpt`` can be applied to
    ``trainer`` (its model, optimizer, scheduler, data) and trained on."""
    try:
        _check_all(ckpt, trainer)
    except BadField as e:
        raise CheckpointError(
            f"cannot resume from {path}: its {e.field} {e.problem}. The file is damaged or "
            "was not written by d2lmini's Trainer; resume from another checkpoint, or call "
            "fit without resume= to start a new run. Nothing was loaded.") from None
