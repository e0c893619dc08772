"""Where the memory of freed tensors goes while a CPU trains: back to the
operating system, or kept for the next step.

glibc's ``malloc`` serves every block above 32 MiB (and, until its adaptive
threshold has grown, smaller ones too) with a fresh ``mmap`` and hands it
back with ``munmap`` when the tensor is freed. A ResNet-18 step at 96x96 and
batch 128 allocates many such activations, so every step the kernel maps and
zero-fills hundreds of megabytes of pages anew, about a tenth of a float32
step on a 2-core CPU (measured in ``benchmarks/README.md``).
:func:`freed_memory_kept` tells glibc (``mallopt``) to serve them from the
heap and keep freed blocks there, so the next step reuses pages that are
already mapped. It is scoped: on leaving, glibc's defaults return and the
free memory the heap holds is offered back to the system (``malloc_trim``).
Elsewhere (macOS, Windows, musl) it does nothing.
"""
import contextlib
import ctypes
import os
import threading
from typing import Iterator, Optional

__all__ = ["freed_memory_kept", "glibc"]

# mallopt parameters and glibc's documented defaults (mallopt(3)).
M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4
DEFAULT_TRIM_THRESHOLD, DEFAULT_MMAP_MAX = 128 * 1024, 65536
KEEP_TRIM_THRESHOLD = 2 ** 31 - 1  # the largest value mallopt takes: never trim

_lock = threading.Lock()
_depth = 0  # nested or concurrent fits share one setting


def glibc() -> Optional[ctypes.CDLL]:
    """The running C library when it is glibc (the one ``mallopt`` tunes), else None."""
    try:
        if not os.confstr("CS_GNU_LIBC_VERSION"):
            return None
        return ctypes.CDLL("libc.so.6")
    except (AttributeError, ValueError, OSError):  # no confstr name, or no glibc
        return None


@contextlib.contextmanager
def freed_memory_kept(enabled: bool = True) -> Iterator[bool]:
    """Inside, freed memory stays in the process for reuse; yields whether
    that took effect (False where disabled or the C library is not glibc)."""
    global _depth
    libc = glibc() if enabled else None
    if libc is None:
        yield False
        return
    with _lock:
        if _depth == 0:
            libc.mallopt(M_MMAP_MAX, 0)  # big blocks from the heap, not fresh mappings
            libc.mallopt(M_TRIM_THRESHOLD, KEEP_TRIM_THRESHOLD)  # and kept there when freed
        _depth += 1
    try:
        yield True
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                libc.mallopt(M_MMAP_MAX, DEFAULT_MMAP_MAX)
                libc.mallopt(M_TRIM_THRESHOLD, DEFAULT_TRIM_THRESHOLD)
                libc.malloc_trim(0)
