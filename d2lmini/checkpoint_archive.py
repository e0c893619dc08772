"""What a checkpoint file must be before a byte of it is unpickled.

``resume=`` must name a regular file: a FIFO would block ``open`` forever and
a device such as ``/dev/zero`` is no checkpoint at all, so both are refused
from ``os.stat`` alone, without opening them. And the file's zip members
(``torch.save``'s format) may declare no more bytes than the model and its
optimizer can need: a 1 MB checkpoint re-zipped with deflate can otherwise
inflate to gigabytes inside ``torch.load``. The sizes come from the zip's
central directory, which is also what torch reads: a member whose data
inflates past its declared size is cut there, never allocated.
"""
import os
import stat
import zipfile
from dataclasses import dataclass
from typing import BinaryIO, Optional

import torch
from torch.nn.parameter import is_lazy

__all__ = ["UnsafeArchive", "ArchiveLimits", "archive_limits", "open_regular_file",
           "check_archive", "NON_MODEL_BYTES"]

# Everything a checkpoint holds besides the model's and optimizer's tensors
# (history, board, counters, random states, the pickled structure) fits in
# this: a real one takes tens of kilobytes, and the longest history and
# board that d2lmini.checkpoint_checks accepts take about 4 MiB.
NON_MODEL_BYTES = 8 * 2**20
# Bytes per model element a file may hold: the weights and up to four
# optimizer tensors of their shape (Adam with amsgrad keeps three), each at
# most 8 bytes per element (float64).
BYTES_PER_MODEL_ELEMENT = 5 * 8
# The pickle describes each tensor (its name, dtype, shape, storage key) in
# well under this many bytes.
PICKLE_BYTES_PER_TENSOR = 2048
_ZIP_MAGIC = b"PK\x03\x04"  # how torch.load tells its zip format from the legacy one


class UnsafeArchive(ValueError):
    """A file that may not be unpickled; the message names the file and why."""


@dataclass(frozen=True)
class ArchiveLimits:
    """Most bytes a checkpoint may unpack to: ``pickle_bytes`` for its pickled
    structure, ``total_bytes`` for all members (``None``: not bounded)."""
    pickle_bytes: int
    total_bytes: Optional[int]
    model_elements: Optional[int] = None


def archive_limits(model: torch.nn.Module) -> ArchiveLimits:
    """What a checkpoint of ``model`` may unpack to. A model with lazy layers
    not run yet has no size to bound by: only its pickle is bounded then."""
    tensors = [t for t in model.state_dict().values() if isinstance(t, torch.Tensor)]
    pickle_bytes = NON_MODEL_BYTES + PICKLE_BYTES_PER_TENSOR * 5 * len(tensors)
    if any(is_lazy(t) for t in tensors):
        return ArchiveLimits(pickle_bytes, None)
    elements = sum(t.numel() for t in tensors)
    total = BYTES_PER_MODEL_ELEMENT * elements + pickle_bytes + NON_MODEL_BYTES
    return ArchiveLimits(pickle_bytes, total, elements)


_FILE_KINDS = ((stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISCHR, "a character device"),
               (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"))


def _not_regular(path: str, mode: int) -> Optional[str]:
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return f"checkpoint path {path} is a directory, not a file"
    kind = next((name for test, name in _FILE_KINDS if test(mode)), "not a regular file")
    return (f"checkpoint path {path} is {kind}, not a checkpoint file; nothing was read "
            "from it. Pass the path of a file written by d2lmini's Trainer")


def open_regular_file(path: str) -> BinaryIO:
    """Open ``path`` for reading if it is a regular file (``FileNotFoundError``
    if nothing is there, :class:`UnsafeArchive` for a directory, FIFO, device
    or socket). Checked with ``os.stat`` before opening, so a FIFO never blocks
    and a device is never opened; checked again on the open file, in case the
    path was replaced in between."""
    try:
        problem = _not_regular(path, os.stat(path).st_mode)
    except FileNotFoundError:
        raise FileNotFoundError(f"no checkpoint at {path}") from None
    if problem:
        raise UnsafeArchive(problem)
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    fd = os.open(path, flags)
    problem = _not_regular(path, os.fstat(fd).st_mode)
    if problem:
        os.close(fd)
        raise UnsafeArchive(problem)
    return os.fdopen(fd, "rb")


def _mib(n: int) -> str:
    return f"{n / 2**20:.1f} MiB"


def check_archive(f: BinaryIO, path: str, limits: ArchiveLimits) -> None:
    """Raise :class:`UnsafeArchive` if the checkpoint open as ``f`` would
    unpack to more than ``limits`` allow; leave ``f`` at its start. A damaged
    zip raises ``zipfile.BadZipFile`` (the caller calls the file unreadable)."""
    magic = f.read(len(_ZIP_MAGIC))
    f.seek(0)
    advice = ("the file is damaged or crafted (a decompression bomb). Nothing was unpacked; "
              "resume from a checkpoint this model's Trainer wrote, or call fit without "
              "resume= to start a new run")
    if magic != _ZIP_MAGIC:  # torch.save's legacy format: a plain pickle, read as is
        size = os.fstat(f.fileno()).st_size
        if limits.total_bytes is not None and size > limits.total_bytes:
            raise UnsafeArchive(
                f"refusing to load {path}: it is {_mib(size)}, more than this model and its "
                f"optimizer can need ({_mib(limits.total_bytes)}); "
                + advice.replace("unpacked", "read"))
        return
    with zipfile.ZipFile(f) as archive:
        members = archive.infolist()
    f.seek(0)
    for m in members:
        if m.filename.endswith("data.pkl") and m.file_size > limits.pickle_bytes:
            raise UnsafeArchive(
                f"refusing to load {path}: its member {m.filename} unpacks to "
                f"{_mib(m.file_size)}, more than the {_mib(limits.pickle_bytes)} a "
                f"checkpoint's structure, history, board and counters can need; {advice}")
    total = sum(m.file_size for m in members)
    if limits.total_bytes is not None and total > limits.total_bytes:
        largest = max(members, key=lambda m: m.file_size)
        raise UnsafeArchive(
            f"refusing to load {path}: its members unpack to {_mib(total)} (the largest, "
            f"{largest.filename}, to {_mib(largest.file_size)}), more than the "
            f"{_mib(limits.total_bytes)} a checkpoint of this model "
            f"({limits.model_elements} weights and buffers) and its optimizer can need; "
            f"{advice}")
