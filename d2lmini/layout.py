"""Which memory layout the convolutions see: NCHW (PyTorch's default) or
NHWC (``torch.channels_last``), chosen by the ``Trainer``'s ``channels_last``.

``channels_last=True`` or ``False`` is obeyed. ``"auto"`` applies the rule of
:func:`channels_last_pays` to the first batch's image size, which is what
``benchmarks/train_speed.py`` measured (tables in ``benchmarks/README.md``).
"""
from typing import Optional, Union

import torch
from torch import nn

__all__ = ["channels_last_pays", "MemoryLayout"]

# Smallest image side at which NHWC wins in float32 on a CPU, by the kernels
# torch runs there. Measured on ResNet-18 with freed memory kept, one table
# per host kind in benchmarks/README.md: NHWC is faster at 96x96 and at 28x28
# with AVX-512 kernels and with AVX2 kernels alike. Other CPUs (ARM, x86
# without AVX2) were not measured, so they get NHWC only from 64x64.
FLOAT32_CPU_MIN_SIDE = {"AVX512": 28, "AVX2": 28}
FLOAT32_CPU_MIN_SIDE_ELSEWHERE = 64


def channels_last_pays(height: int, width: int, device: torch.device,
                       autocast_dtype: Optional[torch.dtype] = None,
                       cpu_kernels: Optional[str] = None) -> bool:
    """Whether NHWC is expected to train a convolutional network faster.

    On GPUs and under bf16 autocast the convolution libraries work in NHWC
    natively (tensor cores, oneDNN's bf16 kernels), so it pays at every size.
    In float32 on a CPU it pays on large enough maps; how large depends on
    the vector kernels torch dispatches to (``cpu_kernels``, by default
    ``torch.backends.cpu.get_cpu_capability()``): on small maps the layout
    conversions around batch norm and pooling can cost more than the
    convolutions gain.
    """
    if device.type != "cpu" or autocast_dtype is not None:
        return True
    if cpu_kernels is None:
        cpu_kernels = torch.backends.cpu.get_cpu_capability()
    smallest = FLOAT32_CPU_MIN_SIDE.get(cpu_kernels, FLOAT32_CPU_MIN_SIDE_ELSEWHERE)
    return min(height, width) >= smallest


class MemoryLayout:
    """The trainer's layout decision: fixed, or made at the first batch."""

    def __init__(self, channels_last: Union[bool, str]):
        if channels_last not in (True, False, "auto"):
            raise ValueError(f"channels_last must be True, False or 'auto', got {channels_last!r}")
        self.channels_last: Optional[bool] = None if channels_last == "auto" else channels_last
        self.model: Optional[nn.Module] = None

    def prepare_model(self, model: nn.Module) -> None:
        """Remember the model; convert it now unless the choice waits for data."""
        self.model = model if any(isinstance(m, nn.Conv2d) for m in model.modules()) else None
        if self.channels_last and self.model is not None:
            self.model.to(memory_format=torch.channels_last)

    def batch(self, a: torch.Tensor, device: torch.device,
              autocast_dtype: Optional[torch.dtype]) -> torch.Tensor:
        """``a`` in the chosen layout (images only: 4-d floating tensors)."""
        if a.dim() != 4 or not a.is_floating_point():
            return a
        if self.channels_last is None:  # "auto": decide on the first image batch
            self.channels_last = channels_last_pays(a.shape[-2], a.shape[-1], device,
                                                    autocast_dtype)
            if self.channels_last and self.model is not None:
                self.model.to(memory_format=torch.channels_last)
        return a.contiguous(memory_format=torch.channels_last) if self.channels_last else a
