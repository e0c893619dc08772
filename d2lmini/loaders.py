"""In-memory datasets and the loader that cuts batches out of them.

A split of Fashion-MNIST is one uint8 tensor ``(N, 1, 28, 28)`` with int64
labels; :class:`BatchLoader` slices a batch out of it and resizes the whole
batch at once. No worker processes: for data already in memory they only
add start-up cost.
"""
import math
from typing import Optional, Sequence, Tuple, Union

import torch

from .checks import check_positive_int
from .resize import to_float_images

__all__ = ["ImageSplit", "BatchLoader"]


class ImageSplit(torch.utils.data.Dataset):
    """One split in memory: ``ds[i]`` is ``(float image (C, H, W) in [0, 1], int label)``."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, size: Tuple[int, int]):
        if images.dtype != torch.uint8 or images.dim() != 4 or len(images) != len(labels):
            raise ValueError("images must be uint8 (N, C, H, W) with one label each, got "
                             f"{images.dtype} {tuple(images.shape)} and {len(labels)} labels")
        self.images, self.labels, self.size = images, labels, tuple(size)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> Tuple[torch.Tensor, int]:
        i = range(len(self))[i]  # bounds and negative indices as for a list
        return to_float_images(self.images[i:i + 1], self.size)[0], int(self.labels[i])

    def batch(self, idx) -> Tuple[torch.Tensor, torch.Tensor]:
        """Images and labels at ``idx`` (a slice or an index tensor)."""
        return to_float_images(self.images[idx], self.size), self.labels[idx]

    def take(self, n: int) -> "ImageSplit":
        """The first ``n`` examples (views: nothing is copied)."""
        check_positive_int("the number of examples", n)
        if n > len(self):
            raise ValueError(f"asked for {n} examples, the split has {len(self)}")
        return ImageSplit(self.images[:n], self.labels[:n], self.size)

    def to(self, device) -> "ImageSplit":
        """The same split with its tensors on ``device``."""
        return ImageSplit(self.images.to(device), self.labels.to(device), self.size)


class BatchLoader:
    """Iterates over batches cut from in-memory tensors, like a ``DataLoader``.

    ``source`` is an :class:`ImageSplit` (batches are resized on the fly) or a
    tuple of tensors indexed along their first dimension. Shuffling draws
    ``torch.randperm`` from ``generator``, or from torch's global generator
    like ``DataLoader`` when it is None, so ``torch.manual_seed`` reproduces
    the order.
    """

    def __init__(self, source: Union[ImageSplit, Sequence[torch.Tensor]], batch_size: int,
                 shuffle: bool = False, generator: Optional[torch.Generator] = None,
                 drop_last: bool = False):
        check_positive_int("batch_size", batch_size)
        self.batch_size = batch_size
        if isinstance(source, ImageSplit):
            self.dataset, self._fetch = source, source.batch
            self._device = source.images.device
        else:
            tensors = tuple(source)
            if not tensors or any(len(t) != len(tensors[0]) for t in tensors):
                raise ValueError("tensors must be non-empty and share their first dimension")
            self.dataset = torch.utils.data.TensorDataset(*tensors)
            self._fetch = lambda idx: tuple(t[idx] for t in tensors)
            self._device = tensors[0].device
        self.shuffle, self.generator, self.drop_last = shuffle, generator, drop_last
        if drop_last and len(self.dataset) < batch_size:  # no batch at all, not an empty epoch
            raise ValueError(
                f"drop_last=True with {len(self.dataset)} example(s) and batch_size="
                f"{batch_size} gives no batch: use a smaller batch_size, more "
                "examples, or drop_last=False")

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self):
        n, bs = len(self.dataset), self.batch_size
        order = torch.randperm(n, generator=self.generator).to(self._device) if self.shuffle else None
        for start in range(0, len(self) * bs, bs):
            stop = min(start + bs, n)
            yield self._fetch(slice(start, stop) if order is None else order[start:stop])
