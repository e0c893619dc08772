"""Seeding, RNG snapshots and atomic, safely loaded checkpoints for the Trainer.

A checkpoint holds only tensors and plain Python data (numbers, strings,
lists, tuples, dicts, ``None``), so it is read with
``torch.load(..., weights_only=True)``: a file crafted by someone else can
hold wrong numbers, but it cannot run code.
"""
import os
import pickle
import random
import secrets
import zipfile
from typing import Any, Dict, Optional, Tuple

import numpy as np
import torch

from .checkpoint_archive import ArchiveLimits, UnsafeArchive, check_archive, open_regular_file
from .checkpoint_temps import TEMP_SUFFIX, temp_prefix
from .checkpoint_write import RecordingWriter, write_failure

__all__ = ["seed_everything", "check_seed", "get_rng_state", "set_rng_state",
           "save_checkpoint", "load_checkpoint", "open_temp_file", "CheckpointError"]

# What every checkpoint written by Trainer.checkpoint_state holds.
REQUIRED_KEYS = ("model", "optimizer", "epoch", "history", "rng")


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used: unreadable, truncated, foreign,
    or holding objects other than tensors and plain data."""


# The seeds torch.manual_seed and torch.Generator.manual_seed accept (torch
# takes a negative seed as seed + 2**64).
SEED_MIN, SEED_MAX = -2**63, 2**64 - 1


def check_seed(seed, name: str = "seed") -> None:
    """Raise ``ValueError`` unless ``seed`` is an int that torch accepts."""
    if not isinstance(seed, int) or isinstance(seed, bool) or not SEED_MIN <= seed <= SEED_MAX:
        raise ValueError(f"{name} must be an int from -2**63 to 2**64 - 1 (the range "
                         f"torch.manual_seed accepts), got {seed!r}")


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy and torch (CPU and every CUDA device).

    Call it before building a model to make its initial weights repeatable.
    """
    check_seed(seed)  # before seeding anything, so no stream is left half-seeded
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds all CUDA devices


def _numpy_state() -> Dict[str, Any]:
    # NumPy's legacy state tuple holds an ndarray, which the safe loader
    # rejects; the same state as a dict of ints and lists loads safely.
    name, keys, pos, has_gauss, gauss = np.random.get_state()
    return {"name": name, "keys": keys.tolist(), "pos": int(pos),
            "has_gauss": int(has_gauss), "gauss": float(gauss)}


def _set_numpy_state(state: Dict[str, Any]) -> None:
    np.random.set_state((state["name"], np.asarray(state["keys"], dtype=np.uint32),
                         state["pos"], state["has_gauss"], state["gauss"]))


def get_rng_state() -> Dict[str, Any]:
    """Everything needed to continue the random streams exactly."""
    state = {"torch": torch.get_rng_state(), "python": random.getstate(),
             "numpy": _numpy_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _byte_tensor(t: torch.Tensor) -> torch.Tensor:
    # set_rng_state needs a CPU ByteTensor, whatever map_location was used.
    return t.detach().to("cpu", torch.uint8)


def set_rng_state(state: Dict[str, Any]) -> None:
    """Restore what :func:`get_rng_state` returned."""
    torch.set_rng_state(_byte_tensor(state["torch"]))
    python = state["python"]  # (version, tuple of ints, gauss or None)
    random.setstate((python[0], tuple(python[1]), python[2]))
    _set_numpy_state(state["numpy"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([_byte_tensor(t) for t in state["cuda"]])


def open_temp_file(directory: str, prefix: str, suffix: str) -> Tuple[int, str]:
    """Create a new file in ``directory`` for writing; return ``(fd, path)``.

    Like ``tempfile.mkstemp`` (exclusive creation, never through a symlink),
    but with the permissions a plain ``open()`` gives (0o666 less the umask)
    instead of 0o600: the file is renamed into place and must be readable by
    whoever could read any other file the user writes.
    """
    flags = (os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
             | getattr(os, "O_BINARY", 0))
    while True:
        path = os.path.join(directory, f"{prefix}{secrets.token_hex(8)}{suffix}")
        try:
            return os.open(path, flags, 0o666), path
        except FileExistsError:  # another writer drew the same name: draw again
            continue


def save_checkpoint(state: Dict[str, Any], path: str) -> None:
    """Write ``state`` to ``path`` atomically.

    The bytes go to a temporary file in the same directory, are flushed to
    disk, and only then renamed over ``path`` with ``os.replace`` (atomic on
    POSIX and Windows). A crash mid-save therefore leaves the previous
    checkpoint intact and loadable. The file gets the permissions of any file
    the user creates (0o666 less the umask). A failed write (a full disk, a
    file size limit) raises :class:`~d2lmini.checkpoint_write.CheckpointWriteError`
    naming ``path`` and the reason. The temporary file's name holds this
    process's id, so that a later run can remove it if this process is killed
    mid-write (:mod:`~d2lmini.checkpoint_temps`).
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = open_temp_file(directory, temp_prefix(path), TEMP_SUFFIX)
    writer = None
    try:
        with os.fdopen(fd, "wb") as f:
            writer = RecordingWriter(f)  # torch.save hides why a write failed
            torch.save(state, writer)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if os.path.exists(tmp):
            os.remove(tmp)
        failure = write_failure(e, writer.error if writer else None, path)
        if failure is e:
            raise
        raise failure from None


def load_checkpoint(path: str, map_location: Optional[torch.device] = None,
                    required: tuple = (), limits: Optional[ArchiveLimits] = None
                    ) -> Dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`, safely.

    Only tensors and plain data are unpickled (``weights_only=True``); any
    other object in the file, a truncated, empty or non-checkpoint file, a
    FIFO or device, a file that would unpack to more than ``limits`` allow
    (see :func:`~d2lmini.checkpoint_archive.archive_limits`), or a dict
    without the ``required`` keys raises :class:`CheckpointError` naming the
    file.
    """
    what = "a checkpoint written by d2lmini's Trainer (torch.save of a dict)"
    try:
        with open_regular_file(path) as f:  # a FIFO or device is refused unopened
            if limits is not None:
                check_archive(f, path, limits)  # before torch.load inflates anything
            state = torch.load(f, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise
    except UnsafeArchive as e:
        raise CheckpointError(str(e)) from None
    except pickle.UnpicklingError as e:
        # The safe loader refused an object type: the file could run code,
        # or was written by other software. Nothing from it was executed.
        raise CheckpointError(
            f"refusing to load {path}: it holds objects other than tensors and plain "
            f"data, so it was not written by d2lmini and loading it could run code "
            f"({str(e).splitlines()[0][:200]})") from None
    except (EOFError, RuntimeError, OSError, zipfile.BadZipFile, ValueError,
            UnicodeDecodeError, AttributeError, IndexError, KeyError) as e:
        raise CheckpointError(
            f"cannot read {path}: the file is empty, truncated or not a torch file; "
            f"expected {what} ({type(e).__name__}: {str(e).splitlines()[0][:200] if str(e) else ''})"
        ) from None
    if not isinstance(state, dict):
        raise CheckpointError(f"{path} holds a {type(state).__name__}, expected {what}")
    missing = [k for k in required if k not in state]
    if missing:
        hint = (" It looks like a bare model state_dict; load it with "
                "model.load_state_dict(torch.load(path, weights_only=True)) instead."
                if all(isinstance(v, torch.Tensor) for v in state.values()) else "")
        raise CheckpointError(f"{path} is not a Trainer checkpoint: missing "
                              f"{', '.join(missing)}; expected {what}.{hint}")
    return state
