"""Which ``checkpoint_path`` values can hold a checkpoint, checked before training.

A checkpoint is written to a temporary file and renamed over the path, so
whatever is at the path is replaced: a device, a FIFO or a socket there
would be swapped for a regular file (as root, ``/dev/null`` itself). A name
the filesystem cannot hold, or a path ending in a separator, would fail only
at the first save, after an epoch of training. Both are refused here.
"""
import os
import stat
from typing import Optional

from .checkpoint import CheckpointError

__all__ = ["checkpoint_file", "refuse_non_regular", "LOCK_SUFFIX", "name_max"]

# The run's lock file is PATH + LOCK_SUFFIX (d2lmini/run_lock.py): its name must fit too.
LOCK_SUFFIX = ".lock"

# What is at a path, for the messages (S_ISDIR is said apart: it has a hint of its own).
_KINDS = ((stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
          (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"))


def name_max(directory: str) -> int:
    """The longest file name, in bytes, the filesystem of ``directory`` (or of
    its nearest existing parent) allows; 255 where the system cannot say."""
    probe = os.path.abspath(directory)
    while not os.path.isdir(probe) and os.path.dirname(probe) != probe:
        probe = os.path.dirname(probe)
    try:
        return int(os.pathconf(probe, "PC_NAME_MAX"))
    except (OSError, ValueError, AttributeError, TypeError):  # no pathconf (Windows)
        return 255


def checkpoint_file(path) -> Optional[str]:
    """``path`` as a file name to write checkpoints to (``~`` expanded), or
    ``None`` for no checkpoints. Raise :class:`CheckpointError` (a
    ``ValueError``) for a path that could never hold one, whatever is on disk."""
    if path is None:
        return None
    if not isinstance(path, (str, bytes, os.PathLike)):
        raise TypeError(f"checkpoint_path must be a file name (str or os.PathLike) or None, "
                        f"got {type(path).__name__}")
    path = os.fsdecode(os.fspath(path))
    if not path:
        raise CheckpointError("checkpoint_path is empty, so no checkpoint could be written: "
                              "pass None (the default) to write none, or a file name such as "
                              "'runs/resnet18.pt'")
    path = os.path.expanduser(path)  # '~/runs/x.pt' means the home directory, not './~'
    name = os.path.basename(path)
    if path.endswith(tuple(s for s in (os.sep, os.altsep) if s)) or name in (".", ".."):
        raise CheckpointError(
            f"checkpoint_path {path} names a directory (it ends with "
            f"{'a path separator' if not name else repr(name)}); name a file in it, for "
            f"example {os.path.join(path, 'run.pt')}")
    limit = name_max(os.path.dirname(os.path.abspath(path)))
    for part in os.path.abspath(path).split(os.sep):
        if len(os.fsencode(part)) > limit:
            raise CheckpointError(
                f"checkpoint_path {_shortened(path)} has a name of {len(os.fsencode(part))} "
                f"bytes; this filesystem allows at most {limit}. Choose a shorter name.")
    if len(os.fsencode(name + LOCK_SUFFIX)) > limit:
        raise CheckpointError(
            f"checkpoint_path {_shortened(path)} has a file name of "
            f"{len(os.fsencode(name))} bytes; the run's lock file beside it adds "
            f"{LOCK_SUFFIX!r} and this filesystem allows at most {limit}. Choose a name of "
            f"at most {limit - len(LOCK_SUFFIX)} bytes.")
    return path


def _shortened(path: str) -> str:
    """``path`` with each overlong name cut, for a message one can read."""
    return os.sep.join(p if len(p) <= 40 else p[:24] + "..." + p[-8:] for p in path.split(os.sep))


def refuse_non_regular(path: str) -> None:
    """Raise :class:`CheckpointError` if something other than a regular file is
    at ``path`` (after following symlinks): saving would replace it.

    Nothing there, a regular file, or a symlink to one (the link is replaced,
    its target kept) is fine.
    """
    try:
        mode = os.stat(path).st_mode  # follows symlinks: a link to /dev/null is refused too
    except FileNotFoundError:  # nothing there (or a dangling link): the first save creates it
        return
    except OSError:  # e.g. a parent that is a file: the write probe after this says so
        return
    if stat.S_ISREG(mode):
        return
    target = os.path.realpath(path)
    where = f"{path}" + (f" (a link to {target})" if target != os.path.abspath(path) else "")
    if stat.S_ISDIR(mode):
        raise CheckpointError(f"checkpoint_path {where} is a directory; name a file in it, "
                              f"for example {os.path.join(path, 'run.pt')}")
    kind = next((what for test, what in _KINDS if test(mode)), "not a regular file")
    raise CheckpointError(
        f"checkpoint_path {where} is {kind}, not a regular file; saving a checkpoint would "
        "replace it. Name a regular file or a new one, for example 'runs/run.pt'.")
