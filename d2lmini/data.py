"""Data modules: the book's ``DataModule`` and ``FashionMNIST``, held in memory.

Differences from the book (same names and signatures otherwise):

* The 70,000 images live in ONE uint8 tensor ``(N, 1, 28, 28)`` with int64
  labels; loaders cut batches out of it and resize a whole batch at once.
  No worker processes: for in-memory data they only add start-up cost.
* Resizing reproduces the book's ``transforms.Resize`` (PIL, bilinear) +
  ``ToTensor``: PIL resizes horizontally, rounds to uint8, then vertically and
  rounds again, so we do the same with ``F.interpolate``'s bilinear weights
  (antialiased when shrinking, as PIL is). Measured against the book's
  pipeline on 100 test images, square sizes 8..128 and 224: identical at 28,
  32, 56, 64, 224 and 16 more sizes; at 96 pixels 99.5% of pixels are
  identical and none is off by more than one grey level (1/255); the worst
  sizes (40, 48, 72, 120) are off by at most 2/255 on under 2% of pixels.
  The residue comes from PIL's fixed-point weights, which break some
  rounding ties the other way.
* Shuffling draws ``torch.randperm`` from ``generator`` (``seed=``), or from
  torch's global generator like ``DataLoader`` when no seed is given, so
  ``torch.manual_seed`` reproduces the order.
* ``num_train`` / ``num_val`` (or ``take``) keep the FIRST n examples of each
  split, like ``Subset(ds, range(n))``; the files are well mixed (the first
  2,000 training images hold 186-216 of each class, the first 500 test
  images 39-65).
* The files are found without a download when they are already on disk and
  are verified before use; see :func:`find_fashion_mnist`.
"""
import functools
import math
import os
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F

from .hyperparameters import HyperParameters
from .idx import CorruptDatasetError, read_idx_images, read_idx_labels

__all__ = ["DataModule", "FashionMNIST", "BatchLoader", "ImageSplit", "show_images",
           "load_data_fashion_mnist", "find_fashion_mnist", "default_root",
           "DatasetNotFoundError", "CorruptDatasetError"]

# -- where the files are looked for ------------------------------------------
ENV_VAR = "D2LMINI_DATA"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")  # apt: dataset-fashion-mnist
DEFAULT_ROOT: Optional[Path] = None  # None: $XDG_CACHE_HOME/d2lmini/data
TORCHVISION_SUBDIR = Path("FashionMNIST") / "raw"

FILES: Dict[str, Tuple[str, str, int]] = {  # split -> (images, labels, count)
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", 60000),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 10000),
}
TEXT_LABELS = ["t-shirt", "trouser", "pullover", "dress", "coat",
               "sandal", "shirt", "sneaker", "bag", "ankle boot"]

Size = Union[int, Sequence[int]]


class DatasetNotFoundError(FileNotFoundError):
    """Fashion-MNIST is in none of the places looked at and could not be downloaded."""


def default_root() -> Path:
    """Where torchvision's layout is looked for and downloads go:
    ``DEFAULT_ROOT`` if set, else ``$XDG_CACHE_HOME/d2lmini/data``
    (``~/.cache/d2lmini/data`` when the variable is unset)."""
    if DEFAULT_ROOT is not None:
        return Path(DEFAULT_ROOT)
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "d2lmini" / "data"


def _file_in(directory: Path, name: str) -> Optional[Path]:
    """The unpacked file if present (faster to read), else the .gz one."""
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _complete(directory: Path) -> bool:
    names = [n for images, labels, _ in FILES.values() for n in (images, labels)]
    return all(_file_in(directory, n) is not None for n in names)


def _candidates(root) -> List[Tuple[str, Path]]:
    """(why, directory) in lookup order."""
    places = []
    for why, base in (("root argument", root), (f"${ENV_VAR}", os.environ.get(ENV_VAR))):
        if base:
            places += [(why, Path(base)), (why, Path(base) / TORCHVISION_SUBDIR)]
    places.append(("default root", default_root() / TORCHVISION_SUBDIR))
    places.append(("Debian package dataset-fashion-mnist", Path(DEBIAN_DIR)))
    return places


def _download(root: Path) -> None:
    """torchvision's download (and unpacking) into ``root/FashionMNIST/raw``."""
    import torchvision
    for train in (True, False):
        torchvision.datasets.FashionMNIST(root=str(root), train=train, download=True)


def find_fashion_mnist(root: Optional[Union[str, Path]] = None, download: bool = True) -> Path:
    """The directory holding the four Fashion-MNIST files (.gz or unpacked).

    Looked for, in order: ``root`` (the files directly in it, or torchvision's
    ``root/FashionMNIST/raw``); the same under ``$D2LMINI_DATA``; torchvision's
    layout under :func:`default_root`; Debian's ``/usr/share/datasets/fashion-mnist``.
    Only then, if ``download``, torchvision downloads into the default root.
    Raises :class:`DatasetNotFoundError` naming every place and the fixes.
    """
    places = _candidates(root)
    for _, directory in places:
        if _complete(directory):
            return directory
    target = default_root()
    problem = "download disabled"
    if download:
        try:
            _download(target)
            if _complete(target / TORCHVISION_SUBDIR):
                return target / TORCHVISION_SUBDIR
            problem = "download finished without the four files"
        except Exception as e:  # network, mirrors, disk: all reported below
            problem = f"download failed: {type(e).__name__}: {e}"
    looked = "\n".join(f"  - {d} ({why})" for why, d in places)
    raise DatasetNotFoundError(
        "Fashion-MNIST not found. Looked in:\n" + looked +
        f"\n  - torchvision download into {target} ({problem})\n"
        "Fix it in one of two ways:\n"
        "  1. install the files: apt-get install dataset-fashion-mnist, or put "
        "train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz, "
        "t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz in a directory "
        f"and pass root=... or set {ENV_VAR};\n"
        "  2. connect to the network so that torchvision can download them.")


@functools.lru_cache(maxsize=4)
def _read_split(images: Path, labels: Path, count: int, _stamp: tuple) -> Tuple[torch.Tensor, torch.Tensor]:
    X = read_idx_images(images, expected_count=count)
    y = read_idx_labels(labels, expected_count=count)
    return X, y


def load_split(directory: Union[str, Path], split: str) -> Tuple[torch.Tensor, torch.Tensor]:
    """Verified ``(images uint8 (N,1,28,28), labels int64 (N,))`` of ``'train'``/``'test'``.

    Read once per process (cached on path, size and modification time);
    treat the returned tensors as read-only.
    """
    if split not in FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    directory = Path(directory)
    img_name, lbl_name, count = FILES[split]
    paths = [_file_in(directory, img_name), _file_in(directory, lbl_name)]
    for p, n in zip(paths, (img_name, lbl_name)):
        if p is None:
            raise DatasetNotFoundError(f"{directory / n}(.gz) does not exist")
    stamp = tuple((p.stat().st_size, p.stat().st_mtime_ns) for p in paths)
    return _read_split(paths[0].resolve(), paths[1].resolve(), count, stamp)


# -- argument checks -------------------------------------------------------
def _positive_int(name: str, value, allow_none: bool = False) -> Optional[int]:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return value


def _as_size(resize: Size) -> Tuple[int, int]:
    """``28`` or ``(28, 28)`` -> ``(28, 28)`` (an int means a square, as for
    the square Fashion-MNIST images ``transforms.Resize(int)`` gives)."""
    pair = (resize, resize) if isinstance(resize, int) and not isinstance(resize, bool) else resize
    try:
        h, w = pair
        return _positive_int("resize height", h), _positive_int("resize width", w)
    except (TypeError, ValueError):
        raise ValueError("resize must be a positive int or a pair (height, width) of "
                         f"positive ints, got {resize!r}") from None


def _cap_workers(num_workers) -> int:
    if isinstance(num_workers, bool) or not isinstance(num_workers, int) or num_workers < 0:
        raise ValueError(f"num_workers must be an int >= 0, got {num_workers!r}")
    return min(num_workers, os.cpu_count() or 1)


# -- batches -----------------------------------------------------------------
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

    Two small matmuls (same pixels as ``F.interpolate``, 1.6x faster on a
    CPU), horizontal first and rounded to uint8 levels after each, as PIL.
    """
    x = images.float()
    h, w = size
    dev = str(x.device)
    if x.shape[-1] != w:
        x = _round_levels(x @ _resize_matrix(x.shape[-1], w, dev))
    if x.shape[-2] != h:
        x = _round_levels(_resize_matrix(x.shape[-2], h, dev).T @ x)
    return x.div_(255)


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
        n = _positive_int("the number of examples", n)
        if n > len(self):
            raise ValueError(f"asked for {n} examples, the split has {len(self)}")
        return ImageSplit(self.images[:n], self.labels[:n], self.size)

    def to(self, device) -> "ImageSplit":
        """The same split with its tensors on ``device``."""
        return ImageSplit(self.images.to(device), self.labels.to(device), self.size)


class BatchLoader:
    """Iterates over batches cut from in-memory tensors, like a ``DataLoader``.

    ``source`` is an :class:`ImageSplit` (batches are resized on the fly) or a
    tuple of tensors indexed along their first dimension.
    """

    def __init__(self, source: Union[ImageSplit, Sequence[torch.Tensor]], batch_size: int,
                 shuffle: bool = False, generator: Optional[torch.Generator] = None,
                 drop_last: bool = False):
        self.batch_size = _positive_int("batch_size", batch_size)
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

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def __iter__(self):
        n, bs = len(self.dataset), self.batch_size
        order = torch.randperm(n, generator=self.generator).to(self._device) if self.shuffle else None
        for start in range(0, len(self) * bs, bs):
            stop = min(start + bs, n)
            yield self._fetch(slice(start, stop) if order is None else order[start:stop])


# -- the book's classes ------------------------------------------------------
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
    Beyond the book: ``num_train`` / ``num_val`` keep the first n examples,
    ``seed`` gives the shuffle its own generator, ``device`` keeps the uint8
    images there (batches then come out on that device), and ``download=False``
    never touches the network.
    """

    def __init__(self, batch_size: int = 64, resize: Size = (28, 28),
                 root: Optional[Union[str, Path]] = None, num_workers: int = 0,
                 num_train: Optional[int] = None, num_val: Optional[int] = None,
                 seed: Optional[int] = None, device=None, download: bool = True):
        super().__init__(root=root, num_workers=num_workers)
        self.save_hyperparameters(ignore=["device"])  # hparams as the book's
        self.num_workers = _cap_workers(num_workers)
        self.batch_size = _positive_int("batch_size", batch_size)
        self.resize = _as_size(resize)
        if seed is not None:
            self.generator = torch.Generator().manual_seed(_seed(seed))
        for name, n in (("num_train", num_train), ("num_val", num_val)):
            _positive_int(name, n, allow_none=True)
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


def _seed(seed) -> int:
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed must be an int, got {seed!r}")
    return seed


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
    """The older editions' helper: ``(train_iter, test_iter)``, train shuffled."""
    data = FashionMNIST(batch_size=batch_size, resize=resize or (28, 28), root=root)
    return data.train_dataloader(), data.val_dataloader()
