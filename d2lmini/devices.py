"""Device helpers with the book's names; Apple's MPS counts as a GPU."""
from typing import List

import torch

__all__ = ["cpu", "gpu", "num_gpus", "try_gpu", "try_all_gpus", "cpu_has_native_bf16"]


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
