"""Which arithmetic the forward pass runs in: float32, or bf16 autocast."""
import contextlib
import warnings
from typing import Optional, Union

import torch

from . import devices
from .devices import FallbackWarning

__all__ = ["Precision"]


class Precision:
    """bf16 autocast where it pays off (CUDA, or a CPU with bf16 in
    hardware), float32 elsewhere. Weights and optimizer state stay float32.

    On CPUs without native bf16 (AVX2 only) autocast is emulated and slower
    than float32, so ``amp=True`` warns and trains in float32 there;
    ``amp="auto"`` makes the same choice without a warning (the choice is
    then the documented behaviour, not a fallback).
    """

    def __init__(self, device: torch.device, amp: Union[bool, str]):
        if not (amp is True or amp is False or amp == "auto"):
            raise ValueError(f"amp must be True, False or 'auto', got {amp!r}")
        self.device_type = self._autocast_device(device) if amp else None
        if amp is True and self.device_type is None:
            warnings.warn(f"amp=True needs CUDA or a CPU with bf16 in hardware (AVX512-BF16 "
                          f"or AMX); training on {device} in float32.", FallbackWarning,
                          stacklevel=3)

    @staticmethod
    def _autocast_device(device: torch.device) -> Optional[str]:
        if device.type == "cuda":
            return "cuda"
        if device.type == "cpu" and devices.cpu_has_native_bf16():
            return "cpu"
        return None

    @property
    def dtype(self) -> Optional[torch.dtype]:
        """``torch.bfloat16`` when autocast is on, else ``None`` (float32)."""
        return torch.bfloat16 if self.device_type is not None else None

    def autocast(self):
        """The context the forward pass and the loss run in."""
        if self.device_type is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=torch.bfloat16)
