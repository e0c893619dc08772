"""Resizing a whole batch of uint8 images the way the book's pipeline does.

The book resizes one PIL image at a time (``transforms.Resize``, bilinear)
and converts it with ``ToTensor``. PIL resizes horizontally, rounds to uint8,
then vertically and rounds again; :func:`to_float_images` does the same with
``F.interpolate``'s bilinear weights (antialiased when shrinking, as PIL is)
on a whole batch at once. How close the pixels come to PIL's, size by size,
is recorded in ``benchmarks/README.md`` (``benchmarks/resize_parity.py``).
"""
import functools
import numbers
from typing import Sequence, Tuple, Union

import torch
import torch.nn.functional as F

__all__ = ["Size", "as_size", "to_float_images"]

Size = Union[int, Sequence[int]]


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def as_size(resize: Size) -> Tuple[int, int]:
    """``28`` -> ``(28, 28)``; ``(h, w)`` -> ``(h, w)``.

    An int means a square, as ``transforms.Resize(int)`` gives for the square
    Fashion-MNIST images. Anything else (zero, negative, float, bool, string,
    an empty or longer sequence, a set or a dict) raises ``ValueError``.
    """
    if _is_int(resize):
        pair = (resize, resize)
    elif isinstance(resize, (tuple, list, torch.Size)) and len(resize) == 2 \
            and all(_is_int(v) for v in resize):
        pair = tuple(resize)
    else:
        pair = None
    if pair is None or min(pair) < 1:
        raise ValueError("resize must be a positive int or a pair (height, width) of "
                         f"positive ints, got {resize!r}")
    return int(pair[0]), int(pair[1])


def _round_levels(x: torch.Tensor) -> torch.Tensor:
    # Round half up to uint8 levels like PIL; the tiny offset catches ties
    # that float32 lands just below .5 where PIL's fixed point lands on it.
    return (x + (0.5 + 1e-3)).floor_().clamp_(0, 255)


@functools.lru_cache(maxsize=16)
def _resize_matrix(n_in: int, n_out: int, device: str) -> torch.Tensor:
    """``(n_in, n_out)`` matrix ``W`` with ``x @ W`` = bilinear resize of the last dim.

    Built by resizing the rows of an identity matrix, so the weights are
    exactly ``F.interpolate``'s (antialiased when shrinking, as PIL is).
    """
    eye = torch.eye(n_in).reshape(n_in, 1, 1, n_in)
    w = F.interpolate(eye, size=(1, n_out), mode="bilinear", align_corners=False,
                      antialias=n_out < n_in)
    return w.reshape(n_in, n_out).to(device)


def to_float_images(images: torch.Tensor, size: Tuple[int, int]) -> torch.Tensor:
    """uint8 ``(N, C, H, W)`` -> float32 in [0, 1] at ``size``, as PIL Resize + ToTensor.

    Two small matmuls, horizontal first, each giving ``F.interpolate``'s
    values along its axis and rounded to uint8 levels as PIL rounds.
    """
    x = images.float()
    h, w = size
    dev = str(x.device)
    if x.shape[-1] != w:
        x = _round_levels(x @ _resize_matrix(x.shape[-1], w, dev))
    if x.shape[-2] != h:
        x = _round_levels(_resize_matrix(x.shape[-2], h, dev).T @ x)
    return x.div_(255)
