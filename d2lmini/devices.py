"""Device helpers with the book's names; Apple's MPS counts as a GPU."""
import os
import warnings
from typing import List, Union

import torch

__all__ = ["cpu", "gpu", "num_gpus", "try_gpu", "try_all_gpus", "cpu_has_native_bf16",
           "resolve_device", "FallbackWarning"]


class FallbackWarning(UserWarning):
    """Something asked for is not available here and training goes on without
    it: no GPU (the CPU instead), no bf16 in hardware (float32 instead)."""


def _has_mps() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def cpu() -> torch.device:
    """The CPU device."""
    return torch.device("cpu")


def num_gpus() -> int:
    """How many accelerators are usable: CUDA devices, else 1 for MPS."""
    if torch.cuda.is_available():
        return torch.cuda.device_count()
    return 1 if _has_mps() else 0


def gpu(i: int = 0) -> torch.device:
    """The ``i``-th accelerator (CUDA, or MPS on Apple silicon)."""
    if not torch.cuda.is_available() and _has_mps():
        if i != 0:
            raise ValueError(f"MPS has a single device, got gpu({i})")
        return torch.device("mps")
    return torch.device(f"cuda:{i}")


def try_gpu(i: int = 0) -> torch.device:
    """``gpu(i)`` if it exists, otherwise ``cpu()``."""
    return gpu(i) if num_gpus() >= i + 1 else cpu()


def try_all_gpus() -> List[torch.device]:
    """All accelerators, or ``[cpu()]`` when there is none."""
    devices = [gpu(i) for i in range(num_gpus())]
    return devices if devices else [cpu()]


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 in hardware (AVX512-BF16 or AMX).

    Without it, bf16 autocast on the CPU is emulated and slower than float32,
    so the ``Trainer`` only autocasts on CPUs where this is true.
    """
    checks = [getattr(torch.cpu, name, None)
              for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    return any(bool(check()) for check in checks if check is not None)


def resolve_device(device: Union[str, torch.device, None], gpus_wanted: int,
                   distributed: bool = False) -> torch.device:
    """The device a ``Trainer`` trains on.

    An explicit ``device`` must exist; ``gpus_wanted > 0`` (the trainer's
    ``num_gpus``) picks the first GPU, or the CPU with a
    :class:`FallbackWarning` when there is none; under ``torchrun`` each
    process takes the GPU of its ``LOCAL_RANK``.
    """
    if distributed and device is None and gpus_wanted > 0 and torch.cuda.is_available():
        return torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}")
    if device is not None:
        try:
            dev = torch.device(device)
        except (RuntimeError, TypeError) as e:
            raise ValueError(f"unknown device {device!r}: {e}") from None
        if dev.type == "cuda" and (not torch.cuda.is_available()
                                   or (dev.index or 0) >= torch.cuda.device_count()):
            raise ValueError(f"device {device!r} was asked for but this machine has "
                             f"{torch.cuda.device_count()} CUDA device(s)")
        if dev.type == "mps" and num_gpus() == 0:
            raise ValueError(f"device {device!r} was asked for but MPS is not available")
        return dev
    if gpus_wanted > 0:
        if num_gpus() > 0:
            return gpu(0)
        warnings.warn(f"num_gpus={gpus_wanted} but no GPU was found; training on the CPU.",
                      FallbackWarning, stacklevel=3)
    return cpu()

