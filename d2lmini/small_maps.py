"""3x3 convolutions on feature maps of one or two pixels, as matrix products.

At 28x28 inputs ResNet-18's last two stages work on 2x2 and 1x1 feature maps.
A 3x3 convolution with zero padding 1 on a 1x1 map multiplies eight of its
nine weights by padding zeros: only the centre weight meets the pixel. On a
2x2 map each output pixel meets four of the nine weights. CPU convolution
kernels compute all nine products anyway, and their gradients, on maps too
small to keep the vector units busy: in a float32 training step at 28x28
these two stages took most of the time (``benchmarks/README.md``).

:class:`SmallMapConv2d` computes the same function as one matrix product
with only the weights that meet pixels: the centre weight on a 1x1 map, the
lower-right 2x2 weights for a stride-2 convolution of a 2x2 map, and for a
stride-1 convolution of a 2x2 map a dense matrix that links each of the four
input pixels to each of the four output pixels through its weight (16 blocks
of weights instead of 36). The parameters, the state dict and the result (up
to floating-point rounding; a weight that is already infinite gives NaN
rather than inf on a 2x2 map) are those of ``nn.Conv2d``; on any other input
(and for grouped convolutions on 2x2 maps at stride 1) it is ``nn.Conv2d``.
:func:`skip_padding_taps` switches the plain (and lazy) 3x3 convolutions of a
model to it; the ``Trainer`` does so on a CPU (its ``small_maps`` argument).
"""
from typing import Optional

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["SmallMapConv2d", "skip_padding_taps"]


class SmallMapConv2d(nn.Conv2d):
    """``nn.Conv2d`` that skips the weights meeting only zero padding on
    1x1 and 2x2 maps, for 3x3 kernels with padding 1."""

    def _conv_forward(self, x: torch.Tensor, weight: torch.Tensor,
                      bias: Optional[torch.Tensor]) -> torch.Tensor:
        if x.dim() != 4 or not _skippable(self):
            return super()._conv_forward(x, weight, bias)
        size, groups = tuple(x.shape[-2:]), self.groups
        # Weights as (c_out, 3, 3, c_in): for an NHWC weight that view is
        # contiguous, and a slice's gradient comes back in the weight's layout.
        taps = weight.permute(0, 2, 3, 1)
        if size == (1, 1):  # any stride: one output pixel, the centre weight
            if groups > 1:
                return F.conv2d(x, weight[:, :, 1:2, 1:2], bias, 1, 0, 1, groups)
            return _one_pixel(F.linear(x.flatten(1), taps[:, 1, 1, :], bias))
        if size == (2, 2) and self.stride == (2, 2):  # one output pixel
            if groups > 1:
                return F.conv2d(x, weight[:, :, 1:, 1:], bias, 1, 0, 1, groups)
            W = taps[:, 1:, 1:, :].flatten(1)  # the lower-right 2x2 weights
            return _one_pixel(F.linear(_pixels(x), W, bias))
        if size == (2, 2) and self.stride == (1, 1) and groups == 1:
            b = None if bias is None else bias.repeat(4)
            y = F.linear(_pixels(x), _pixel_links(weight), b)
            y = y.unflatten(1, (2, 2, -1)).permute(0, 3, 1, 2)  # NHWC in memory
            return y.contiguous() if x.is_contiguous() else y
        return super()._conv_forward(x, weight, bias)


def _skippable(conv: nn.Conv2d) -> bool:
    return (conv.kernel_size == (3, 3) and conv.padding == (1, 1)
            and conv.dilation == (1, 1) and conv.padding_mode == "zeros")


def _one_pixel(y: torch.Tensor) -> torch.Tensor:
    """(n, c) -> (n, c, 1, 1) with NHWC strides: the layers after it pick
    their kernels by the strides, so these keep a run's results unchanged."""
    return y.unflatten(1, (1, 1, -1)).permute(0, 3, 1, 2)


def _pixels(x: torch.Tensor) -> torch.Tensor:
    """(n, c, h, w) -> (n, h*w*c): the channels of each pixel in turn."""
    return x.permute(0, 2, 3, 1).flatten(1)


def _links() -> torch.Tensor:
    """(16, 9) 0/1 matrix: row 4*o + i picks the kernel position that links
    input pixel i to output pixel o on a 2x2 map (stride 1, padding 1)."""
    links = torch.zeros(16, 9)
    for o in range(4):
        for i in range(4):
            dy, dx = i // 2 - o // 2, i % 2 - o % 2
            links[4 * o + i, (dy + 1) * 3 + (dx + 1)] = 1
    return links


_LINKS = _links()


def _pixel_links(weight: torch.Tensor) -> torch.Tensor:
    """The (4*c_out, 4*c_in) matrix of a 3x3 convolution on a 2x2 map:
    block (o, i) is the weight linking input pixel i to output pixel o."""
    c_out, c_in = weight.shape[:2]
    taps = weight.permute(2, 3, 0, 1).reshape(9, -1)
    links = _LINKS.to(weight.device, weight.dtype)
    blocks = (links @ taps).view(4, 4, c_out, c_in)  # (o, i, c_out, c_in)
    return blocks.permute(0, 2, 1, 3).reshape(4 * c_out, 4 * c_in)


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
