"""The book's data modules: ``DataModule`` and ``FashionMNIST``, held in memory.

Same names and signatures as the book; what differs:

* The 70,000 images live in ONE uint8 tensor per split, and loaders
  (:mod:`d2lmini.loaders`) cut batches out of it and resize a whole batch at
  once (:mod:`d2lmini.resize`, the book's PIL resize reproduced).
* Shuffling draws from ``generator`` (``seed=``), or from torch's global
  generator like ``DataLoader`` when no seed is given.
* ``num_train`` / ``num_val`` (or ``take``) keep the FIRST n examples of each
  split, like ``Subset(ds, range(n))``; the files are well mixed, so a
  prefix holds every class (the counts are in ``benchmarks/README.md``).
* The files are found without a download when they are already on disk and
  are verified before use (:mod:`d2lmini.fashion_files`); each data module
  holds its own copy of the tensors.
"""
import os
from pathlib import Path
from typing import List, Optional, Sequence, Union

import torch

from .checkpoint import check_seed
from .checks import check_positive_int
from .hyperparameters import HyperParameters
from .loaders import BatchLoader, ImageSplit
from .resize import Size, as_size
# Re-exported: code written against the single data module keeps working.
from .fashion_files import (DEBIAN_DIR, ENV_VAR, FILE_NAMES, FILES,  # noqa: F401
                            TORCHVISION_SUBDIR, DatasetFallbackWarning,
                            DatasetNotFoundError, default_root,
                            find_fashion_mnist, load_split)
from .idx import CorruptDatasetError  # noqa: F401
from .resize import to_float_images  # noqa: F401

__all__ = ["DataModule", "FashionMNIST", "BatchLoader", "ImageSplit", "show_images",
           "load_data_fashion_mnist", "find_fashion_mnist", "default_root",
           "DatasetNotFoundError", "DatasetFallbackWarning", "CorruptDatasetError"]

TEXT_LABELS = ["t-shirt", "trouser", "pullover", "dress", "coat",
               "sandal", "shirt", "sneaker", "bag", "ankle boot"]


def _cap_workers(num_workers) -> int:
    check_positive_int("num_workers", num_workers, minimum=0)
    return min(num_workers, os.cpu_count() or 1)


class DataModule(HyperParameters):
    """The base class of data. ``num_workers`` is capped at the number of cores."""

    def __init__(self, root: Optional[Union[str, Path]] = None, num_workers: int = 0):
        self.save_hyperparameters()
        self.num_workers = _cap_workers(num_workers)
        self.generator: Optional[torch.Generator] = None  # None: torch's global one

    def get_dataloader(self, train: bool):
        raise NotImplementedError

    def train_dataloader(self):
        return self.get_dataloader(train=True)

    def val_dataloader(self):
        return self.get_dataloader(train=False)

    def get_tensorloader(self, tensors: Sequence[torch.Tensor], train: bool,
                         indices=slice(0, None)) -> BatchLoader:
        """Batches of ``tensors[indices]``, shuffled when ``train``."""
        tensors = tuple(a[indices] for a in tensors)
        return BatchLoader(tensors, self.batch_size, shuffle=train, generator=self.generator)


class FashionMNIST(DataModule):
    """The Fashion-MNIST dataset, in memory.

    ``train`` / ``val`` behave like datasets (``len``, ``ds[i] -> (image, label)``).
    ``resize`` is an int (a square) or a pair ``(height, width)``. Beyond the
    book: ``num_train`` / ``num_val`` keep the first n examples, ``seed``
    gives the shuffle its own generator, ``device`` keeps the uint8 images
    there (batches then come out on that device), and ``download=False``
    never touches the network. An explicit ``root`` must hold the files (or
    receive torchvision's download); see :func:`find_fashion_mnist`. Batches
    are cut as the book's ``DataLoader`` cuts them (the last, short batch is
    kept); a training set of one image, a lone batch the Trainer would skip,
    is a ``ValueError`` from :meth:`train_dataloader`.
    """

    def __init__(self, batch_size: int = 64, resize: Size = (28, 28),
                 root: Optional[Union[str, Path]] = None, num_workers: int = 0,
                 num_train: Optional[int] = None, num_val: Optional[int] = None,
                 seed: Optional[int] = None, device=None, download: bool = True):
        super().__init__(root=root, num_workers=num_workers)
        self.save_hyperparameters(ignore=["device"])  # hparams as the book's
        self.num_workers = _cap_workers(num_workers)  # saved uncapped just above
        check_positive_int("batch_size", batch_size)
        self.batch_size = batch_size
        self.resize = as_size(resize)
        if seed is not None:
            check_seed(seed)  # the Trainer's range: it reseeds this generator each epoch
            self.generator = torch.Generator().manual_seed(seed)
        for name, n in (("num_train", num_train), ("num_val", num_val)):
            if n is not None:
                check_positive_int(name, n)
        self.data_dir = find_fashion_mnist(root, download=download)
        self.train = self._split("train", device)
        self.val = self._split("test", device)
        self.take(num_train, num_val)

    def _split(self, name: str, device) -> ImageSplit:
        split = ImageSplit(*load_split(self.data_dir, name), self.resize)
        return split.to(device) if device is not None else split

    def take(self, num_train: Optional[int] = None, num_val: Optional[int] = None) -> "FashionMNIST":
        """Keep the first ``num_train`` training / ``num_val`` validation examples."""
        if num_train is not None:
            self.train = self.train.take(num_train)
        if num_val is not None:
            self.val = self.val.take(num_val)
        return self

    def text_labels(self, indices) -> List[str]:
        """Return text labels."""
        return [TEXT_LABELS[int(i)] for i in indices]

    def get_dataloader(self, train: bool):
        data = self.train if train else self.val
        if train and len(data) < 2:
            # The book's loader keeps the last, short batch (no drop_last), so
            # one image is one batch of one, which the Trainer skips (batch norm
            # cannot train on a single example): an epoch would train nothing.
            raise ValueError(
                f"the training set has {len(data)} image(s) (batch_size={self.batch_size}), "
                "too few for a training batch: a batch of one image is skipped, as "
                "batch norm needs two. Use num_train=2 or more (or leave it out).")
        if isinstance(data, ImageSplit):
            return BatchLoader(data, self.batch_size, shuffle=train, generator=self.generator)
        # Book code may swap in another dataset (e.g. a Subset): load it the book's way.
        return torch.utils.data.DataLoader(data, self.batch_size, shuffle=train,
                                           num_workers=self.num_workers, generator=self.generator)

    def visualize(self, batch, nrows: int = 1, ncols: int = 8, labels: Sequence[str] = []):
        X, y = batch
        if not labels:
            labels = self.text_labels(y)
        return show_images(X.squeeze(1), nrows, ncols, titles=labels)


def show_images(imgs, num_rows: int, num_cols: int, titles: Optional[Sequence[str]] = None,
                scale: float = 1.5):
    """Plot a list of images (tensors or arrays, ``(H, W)`` or ``(C, H, W)``)."""
    import matplotlib.pyplot as plt
    figsize = (num_cols * scale, num_rows * scale)
    _, axes = plt.subplots(num_rows, num_cols, figsize=figsize, squeeze=False)
    axes = axes.flatten()
    for i, (ax, img) in enumerate(zip(axes, imgs)):
        if isinstance(img, torch.Tensor):
            img = img.detach().cpu()
            if img.dim() == 3:  # channels first -> last, a single channel dropped
                img = img.permute(1, 2, 0).squeeze(-1)
            img = img.numpy()
        ax.imshow(img)
        ax.axes.get_xaxis().set_visible(False)
        ax.axes.get_yaxis().set_visible(False)
        if titles:
            ax.set_title(titles[i])
    return axes


def load_data_fashion_mnist(batch_size: int, resize: Optional[Size] = None,
                            root: Optional[Union[str, Path]] = None):
    """The older editions' helper: ``(train_iter, test_iter)``, train shuffled.

    ``resize=None`` keeps the 28x28 images; any other value is checked as
    :class:`FashionMNIST` checks it (``resize=0`` or ``()`` raise ``ValueError``).
    """
    data = FashionMNIST(batch_size=batch_size, resize=(28, 28) if resize is None else resize,
                        root=root)
    return data.train_dataloader(), data.val_dataloader()
