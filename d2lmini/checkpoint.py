"""Seeding, RNG snapshots and atomic checkpoints for the Trainer."""
import os
import random
import tempfile
from typing import Any, Dict, Optional

import numpy as np
import torch

__all__ = ["seed_everything", "get_rng_state", "set_rng_state",
           "save_checkpoint", "load_checkpoint"]


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy and torch (CPU and every CUDA device)."""
    if not isinstance(seed, int) or isinstance(seed, bool):
        raise ValueError(f"seed must be an int, got {seed!r}")
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)  # also seeds all CUDA devices


def get_rng_state() -> Dict[str, Any]:
    """Everything needed to continue the random streams exactly."""
    state = {"torch": torch.get_rng_state(), "python": random.getstate(),
             "numpy": np.random.get_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Dict[str, Any]) -> None:
    """Restore what :func:`get_rng_state` returned."""
    torch.set_rng_state(state["torch"])
    random.setstate(state["python"])
    np.random.set_state(state["numpy"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(state: Dict[str, Any], path: str) -> None:
    """Write ``state`` to ``path`` atomically.

    The bytes go to a temporary file in the same directory, are flushed to
    disk, and only then renamed over ``path`` with ``os.replace`` (atomic on
    POSIX and Windows). A crash mid-save therefore leaves the previous
    checkpoint intact and loadable.
    """
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".ckpt-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def load_checkpoint(path: str, map_location: Optional[torch.device] = None) -> Dict[str, Any]:
    """Read a checkpoint written by :func:`save_checkpoint`."""
    if not os.path.exists(path):
        raise FileNotFoundError(f"no checkpoint at {path}")
    # weights_only=False: the file holds RNG states and history (our own files).
    return torch.load(path, map_location=map_location, weights_only=False)
