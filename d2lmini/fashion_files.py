"""Where the Fashion-MNIST files are, and reading them once they are found.

The one home for the four file names and for the lookup of the data
directory; the data modules, the benchmarks and the tests all use it.
"""
import functools
import os
import warnings
from pathlib import Path
from typing import Dict, List, Optional, Tuple, Union

import torch

from .idx import read_idx_images, read_idx_labels

__all__ = ["ENV_VAR", "DEBIAN_DIR", "TORCHVISION_SUBDIR", "FILES", "FILE_NAMES",
           "DatasetNotFoundError", "DatasetFallbackWarning", "default_root", "data_file",
           "find_fashion_mnist", "load_split"]

PathLike = Union[str, Path]

ENV_VAR = "D2LMINI_DATA"
DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")  # apt: dataset-fashion-mnist
DEFAULT_ROOT: Optional[Path] = None  # None: $XDG_CACHE_HOME/d2lmini/data
TORCHVISION_SUBDIR = Path("FashionMNIST") / "raw"

FILES: Dict[str, Tuple[str, str, int]] = {  # split -> (images, labels, count)
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", 60000),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte", 10000),
}
FILE_NAMES: Tuple[str, ...] = tuple(n for images, labels, _ in FILES.values()
                                    for n in (images, labels))


class DatasetNotFoundError(FileNotFoundError):
    """Fashion-MNIST is not where it was looked for and could not be downloaded."""


class DatasetFallbackWarning(UserWarning):
    """``$D2LMINI_DATA`` is set but lacks the files, so another copy is used."""


def default_root() -> Path:
    """Where torchvision's layout is looked for and downloads go:
    ``DEFAULT_ROOT`` if set, else ``$XDG_CACHE_HOME/d2lmini/data``
    (``~/.cache/d2lmini/data`` when the variable is unset)."""
    if DEFAULT_ROOT is not None:
        return Path(DEFAULT_ROOT)
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache) / "d2lmini" / "data"


def data_file(directory: PathLike, name: str) -> Optional[Path]:
    """``directory/name`` if present (unpacked reads faster), else
    ``directory/name.gz``, else None."""
    for candidate in (Path(directory) / name, Path(directory) / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    return None


def _missing(directory: Path) -> List[str]:
    return [n for n in FILE_NAMES if data_file(directory, n) is None]


def _download(root: Path) -> None:
    """torchvision's download (and unpacking) into ``root/FashionMNIST/raw``."""
    import torchvision
    for train in (True, False):
        torchvision.datasets.FashionMNIST(root=str(root), train=train, download=True)


def _try_download(root: Path) -> Tuple[Optional[Path], str]:
    """(the directory with the files, or None; what happened).

    A failed attempt leaves no directories behind that it created (torchvision
    makes ``root/FashionMNIST/raw`` before it downloads): a mistyped root
    must not litter the working directory.
    """
    target = root / TORCHVISION_SUBDIR
    # Deepest first; the ones that do not exist yet are the attempt's to remove.
    created = [d for d in (target, *target.parents) if not os.path.lexists(d)]
    try:
        _download(root)
    except Exception as e:  # network, mirrors, disk: all reported by the caller
        _remove_empty(created)
        return None, f"download failed: {type(e).__name__}: {e}"
    if _missing(target):
        _remove_empty(created)
        return None, "download finished without the four files"
    return target, "downloaded"


def _remove_empty(directories: List[Path]) -> None:
    """Remove ``directories`` (deepest first) while they are empty.

    Only empty ones: a file in them may be another process's download into
    the same place, so a directory holding anything stays, and so do the
    directories above it.
    """
    for d in directories:
        try:
            d.rmdir()
        except FileNotFoundError:  # never made (the attempt failed before)
            continue
        except OSError:  # not empty, or not ours to remove
            return


def _in_root(root: Path, download: bool) -> Path:
    """The files in an explicit ``root`` (or its torchvision layout), or an error."""
    places = (root, root / TORCHVISION_SUBDIR)
    for directory in places:
        if not _missing(directory):
            return directory
    problem = "download disabled"
    if download:
        found, problem = _try_download(root)
        if found is not None:
            return found
    closest = min(places, key=lambda d: len(_missing(d)))
    raise DatasetNotFoundError(
        f"Fashion-MNIST not found in root={str(root)!r}: {closest} lacks "
        + ", ".join(f"{n}(.gz)" for n in _missing(closest))
        + f" (looked in {places[0]} and {places[1]}; torchvision download into "
        f"{root}: {problem}). Pass the directory that holds the four files, or leave "
        f"root out to search ${ENV_VAR}, {default_root() / TORCHVISION_SUBDIR} and "
        f"{DEBIAN_DIR}.")


def _search_order() -> List[Tuple[str, Path]]:
    """(why, directory) in lookup order when no root is given."""
    places = []
    env = os.environ.get(ENV_VAR)
    if env:
        places += [(f"${ENV_VAR}", Path(env)), (f"${ENV_VAR}", Path(env) / TORCHVISION_SUBDIR)]
    places.append(("default root", default_root() / TORCHVISION_SUBDIR))
    places.append(("Debian package dataset-fashion-mnist", Path(DEBIAN_DIR)))
    return places


def _warn_unless_env_copy(used: Path) -> None:
    """Say so when ``$D2LMINI_DATA`` is set but ``used`` is another copy.

    Whoever set the variable meant that copy: using another one silently
    would hide a typo or a half-finished copy. Not an error, because the
    variable may be set for several machines and another copy is as good.
    """
    env = os.environ.get(ENV_VAR)
    if not env:
        return
    places = (Path(env), Path(env) / TORCHVISION_SUBDIR)
    if used in places:
        return
    if Path(env).is_dir():
        closest = min(places, key=lambda d: len(_missing(d)))
        problem = f"{closest} lacks " + ", ".join(f"{n}(.gz)" for n in _missing(closest))
    else:
        problem = f"{env} is not a directory"
    warnings.warn(
        f"${ENV_VAR}={env} does not hold Fashion-MNIST ({problem}); using the copy in "
        f"{used} instead. Put the four files in {env} (or its {TORCHVISION_SUBDIR}), "
        f"point {ENV_VAR} at the copy you mean, or unset it.",
        DatasetFallbackWarning, stacklevel=3)


def find_fashion_mnist(root: Optional[PathLike] = None, download: bool = True) -> Path:
    """The directory holding the four Fashion-MNIST files (.gz or unpacked).

    With ``root``, only ``root`` itself and torchvision's ``root/FashionMNIST/raw``
    count: when neither holds the files, torchvision downloads into ``root``
    (if ``download``), and otherwise :class:`DatasetNotFoundError` names the
    root and the missing files.

    Without ``root``, looked for in order: ``$D2LMINI_DATA`` (the files
    directly in it, or torchvision's layout under it); torchvision's layout
    under :func:`default_root`; Debian's ``/usr/share/datasets/fashion-mnist``.
    Only then, if ``download``, torchvision downloads into the default root.
    The error names every place and the fixes. When ``$D2LMINI_DATA`` is set
    but another copy is used, a :class:`DatasetFallbackWarning` names both.
    """
    if root is not None:
        return _in_root(Path(root), download)
    places = _search_order()
    for _, directory in places:
        if not _missing(directory):
            _warn_unless_env_copy(directory)
            return directory
    target = default_root()
    problem = "download disabled"
    if download:
        found, problem = _try_download(target)
        if found is not None:
            _warn_unless_env_copy(found)
            return found
    looked = "\n".join(f"  - {d} ({why})" for why, d in places)
    raise DatasetNotFoundError(
        "Fashion-MNIST not found. Looked in:\n" + looked +
        f"\n  - torchvision download into {target} ({problem})\n"
        "Fix it in one of two ways:\n"
        "  1. install the files: apt-get install dataset-fashion-mnist, or put "
        + ", ".join(f"{n}.gz" for n in FILE_NAMES) +
        f" in a directory and pass root=... or set {ENV_VAR};\n"
        "  2. connect to the network so that torchvision can download them.")


@functools.lru_cache(maxsize=4)
def _read_split(images: Path, labels: Path, count: int,
                _stamp: tuple) -> Tuple[torch.Tensor, torch.Tensor]:
    return (read_idx_images(images, expected_count=count),
            read_idx_labels(labels, expected_count=count))


def load_split(directory: PathLike, split: str) -> Tuple[torch.Tensor, torch.Tensor]:
    """Verified ``(images uint8 (N,1,28,28), labels int64 (N,))`` of ``'train'``/``'test'``.

    The files are read and checked once per process (cached on path, size
    and modification time); every call returns its own copy, so changing
    one data module's tensors in place never shows in another's.
    """
    if split not in FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    directory = Path(directory)
    img_name, lbl_name, count = FILES[split]
    paths = [data_file(directory, img_name), data_file(directory, lbl_name)]
    for p, n in zip(paths, (img_name, lbl_name)):
        if p is None:
            raise DatasetNotFoundError(f"{directory / n}(.gz) does not exist")
    stamp = tuple((p.stat().st_size, p.stat().st_mtime_ns) for p in paths)
    X, y = _read_split(paths[0].resolve(), paths[1].resolve(), count, stamp)
    return X.clone(), y.clone()
