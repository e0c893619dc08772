"""3x3 convolutions on feature maps of one or two pixels, without the padding.

At 28x28 inputs ResNet-18's last stage works on 1x1 feature maps. A 3x3
convolution with zero padding 1 then multiplies eight of its nine weights by
padding zeros: only the centre weight meets the pixel. CPU kernels compute all
nine products anyway, and the gradients of all nine weights, on a map too
small to keep the vector units busy; in a float32 training step at 28x28
that stage took most of the time (``benchmarks/README.md``).

:class:`SmallMapConv2d` computes the same function from the weights that touch
the pixels (the centre weight for a 1x1 map; the lower-right 2x2 weights for
a stride-2 convolution of a 2x2 map), so the eight zero products and their
zero weight gradients are never formed. The parameters, the state dict and
the result (up to floating-point rounding) are those of ``nn.Conv2d``; on any
other input it is ``nn.Conv2d``. :func:`skip_padding_taps` switches the plain
(and lazy) 3x3 convolutions of a model to it; the ``Trainer`` does so on a
CPU (its ``small_maps`` argument).
"""
from typing import Optional

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["SmallMapConv2d", "skip_padding_taps"]


class SmallMapConv2d(nn.Conv2d):
    """``nn.Conv2d`` that skips the weights meeting only zero padding on
    1x1 maps (and on 2x2 maps at stride 2), for 3x3 kernels with padding 1."""

    def _conv_forward(self, x: torch.Tensor, weight: torch.Tensor,
                      bias: Optional[torch.Tensor]) -> torch.Tensor:
        h, w = x.shape[-2:]
        if _skippable(self):
            if h == 1 and w == 1:  # any stride: one output pixel, the centre
                return F.conv2d(x, weight[:, :, 1:2, 1:2], bias, 1, 0, 1, self.groups)
            if h == 2 and w == 2 and self.stride == (2, 2):  # one output pixel
                return F.conv2d(x, weight[:, :, 1:, 1:], bias, 1, 0, 1, self.groups)
        return super()._conv_forward(x, weight, bias)


def _skippable(conv: nn.Conv2d) -> bool:
    return (conv.kernel_size == (3, 3) and conv.padding == (1, 1)
            and conv.dilation == (1, 1) and conv.padding_mode == "zeros")


def skip_padding_taps(model: nn.Module) -> int:
    """Make each plain 3x3, padding-1 ``nn.Conv2d`` of ``model`` (and each
    ``nn.LazyConv2d``, once it has its weights) a :class:`SmallMapConv2d`, in
    place; returns how many convolutions were switched. Subclasses of
    ``nn.Conv2d`` are left alone: they may compute something else."""
    switched = 0
    for module in model.modules():
        if type(module) is nn.LazyConv2d and _skippable(module):
            module.cls_to_become = SmallMapConv2d  # applied at its first call
            switched += 1
        elif type(module) is nn.Conv2d and _skippable(module):
            module.__class__ = SmallMapConv2d
            switched += 1
    return switched
