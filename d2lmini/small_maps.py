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
to floating-point rounding) are those of ``nn.Conv2d``; on any other input
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
        n, c, h, w = x.shape
        if not _skippable(self) or (h, w) not in ((1, 1), (2, 2)):
            return super()._conv_forward(x, weight, bias)
        if self.groups > 1:  # one output pixel: a 1x1 or 2x2 grouped conv
            if h == 1:
                return F.conv2d(x, _taps(weight, 1, 2), bias, 1, 0, 1, self.groups)
            if self.stride == (2, 2):
                return F.conv2d(x, _taps(weight, 1, 3), bias, 1, 0, 1, self.groups)
            return super()._conv_forward(x, weight, bias)
        if h == 1:  # any stride: one output pixel, the centre weight
            return _maps(F.linear(_pixels(x), _taps(weight, 1, 2)[:, :, 0, 0],
                                  bias), x, 1)
        if self.stride == (2, 2):  # one output pixel, the lower-right weights
            W = _taps(weight, 1, 3).permute(0, 2, 3, 1).reshape(len(weight), -1)
            return _maps(F.linear(_pixels(x), W, bias), x, 1)
        if self.stride == (1, 1):
            b = None if bias is None else bias.repeat(4)
            return _maps(F.linear(_pixels(x), _pixel_links(weight), b), x, 2)
        return super()._conv_forward(x, weight, bias)


def _skippable(conv: nn.Conv2d) -> bool:
    return (conv.kernel_size == (3, 3) and conv.padding == (1, 1)
            and conv.dilation == (1, 1) and conv.padding_mode == "zeros")


def _pixels(x: torch.Tensor) -> torch.Tensor:
    """(n, c, h, w) -> (n, h*w*c): the channels of each pixel in turn."""
    return x.permute(0, 2, 3, 1).reshape(len(x), -1)


def _maps(y: torch.Tensor, x: torch.Tensor, side: int) -> torch.Tensor:
    """(n, side*side*c) -> (n, c, side, side), in the memory layout of x."""
    y = y.view(len(y), side, side, -1).permute(0, 3, 1, 2)
    if x.is_contiguous(memory_format=torch.channels_last):
        return y  # already NHWC in memory
    return y.contiguous()


class _Taps(torch.autograd.Function):
    """``weight[:, :, a:b, a:b]``, whose gradient has the strides of
    ``weight`` (a sliced view's would be copied into them every step)."""

    @staticmethod
    def forward(ctx, weight, a, b):
        ctx.a, ctx.b = a, b
        ctx.layout = (weight.shape, weight.stride(), weight.dtype, weight.device)
        return weight[:, :, a:b, a:b]

    @staticmethod
    def backward(ctx, grad):
        shape, stride, dtype, device = ctx.layout
        full = torch.empty_strided(shape, stride, dtype=dtype, device=device)
        full.zero_()
        full[:, :, ctx.a:ctx.b, ctx.a:ctx.b] = grad
        return full, None, None


def _taps(weight: torch.Tensor, a: int, b: int) -> torch.Tensor:
    return _Taps.apply(weight, a, b)


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
