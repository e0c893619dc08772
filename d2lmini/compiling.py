"""``Trainer(compile=True)``: the model's forward and backward compiled by
``torch.compile``, whose inductor backend fuses batch norm, ReLU and the
residual add into fewer kernels. Compiling costs time at the first steps
(and again when the model switches to evaluation); ``make bench`` reports it
separately from the steady-state speed.
"""
import os
import shutil
import warnings
from typing import Optional

import torch
from torch import nn

from .devices import FallbackWarning

__all__ = ["cxx_compiler", "compile_model"]


def cxx_compiler() -> Optional[str]:
    """The C++ compiler inductor would call for CPU code, if one is installed."""
    for name in (os.environ.get("CXX"), "g++", "c++", "clang++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


def compile_model(model: nn.Module, device: torch.device) -> bool:
    """Compile ``model`` in place (its ``state_dict`` keeps its keys);
    return False, with a :class:`FallbackWarning`, where it cannot be."""
    if device.type == "cpu" and cxx_compiler() is None:
        warnings.warn("compile=True: torch.compile needs a C++ compiler for CPU code "
                      "(install g++ or set CXX); training without compiling.",
                      FallbackWarning, stacklevel=4)
        return False
    model.compile()
    return True
