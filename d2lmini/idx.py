"""Read and verify the IDX files of (Fashion-)MNIST, gzipped or unpacked.

The format is tiny: a big-endian header (magic number, item count and, for
images, rows and columns) followed by one unsigned byte per label or pixel.
Every check here fails loudly: a truncated download must never turn into a
silently smaller data set.
"""
import gzip
import struct
import zlib
from pathlib import Path
from typing import Optional, Union

import torch

__all__ = ["CorruptDatasetError", "IMAGES_MAGIC", "LABELS_MAGIC", "read_idx_bytes",
           "read_idx_images", "read_idx_labels"]

IMAGES_MAGIC = 2051  # 0x00000803: unsigned bytes, 3 dimensions
LABELS_MAGIC = 2049  # 0x00000801: unsigned bytes, 1 dimension

PathLike = Union[str, Path]


class CorruptDatasetError(ValueError):
    """A data file exists but is damaged (truncated, wrong header, bad gzip)."""

    def __init__(self, path: PathLike, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(
            f"corrupt data file {self.path}: {problem}. Delete it and install the files "
            "again (apt-get install --reinstall dataset-fashion-mnist) or let "
            "torchvision download them again.")


def read_idx_bytes(path: PathLike) -> bytes:
    """The whole file, decompressed when its name ends in ``.gz`` (the gzip
    stream must decompress to its very end)."""
    path = Path(path)
    try:
        if path.name.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                return f.read()
        return path.read_bytes()
    except EOFError:
        raise CorruptDatasetError(path, "the gzip stream ends early (truncated file)") from None
    except (gzip.BadGzipFile, zlib.error) as e:
        raise CorruptDatasetError(path, f"not a valid gzip file ({e})") from None


def _header(path: Path, data: bytes, magic: int, ndim: int) -> tuple:
    size = 4 * (1 + ndim)
    if len(data) < size:
        raise CorruptDatasetError(path, f"{len(data)} bytes, shorter than the {size}-byte header")
    fields = struct.unpack(f">{1 + ndim}I", data[:size])
    if fields[0] != magic:
        raise CorruptDatasetError(path, f"magic number {fields[0]}, expected {magic}")
    return fields[1:]


def _check_size(path: Path, data: bytes, header: int, body: int) -> None:
    if len(data) != header + body:
        raise CorruptDatasetError(
            path, f"{len(data)} bytes after decompression, the header promises "
                  f"exactly {header + body}")


def _check_count(path: Path, count: int, expected: Optional[int]) -> None:
    if expected is not None and count != expected:
        raise CorruptDatasetError(path, f"holds {count} items, expected {expected}")


def read_idx_images(path: PathLike, expected_count: Optional[int] = None,
                    shape: tuple = (28, 28)) -> torch.Tensor:
    """Images as one uint8 tensor ``(N, 1, rows, cols)``, after every check."""
    path = Path(path)
    data = read_idx_bytes(path)
    count, rows, cols = _header(path, data, IMAGES_MAGIC, 3)
    if (rows, cols) != tuple(shape):
        raise CorruptDatasetError(path, f"images are {rows}x{cols}, expected "
                                        f"{shape[0]}x{shape[1]}")
    _check_count(path, count, expected_count)
    _check_size(path, data, 16, count * rows * cols)
    pixels = torch.frombuffer(bytearray(data[16:]), dtype=torch.uint8)
    return pixels.reshape(count, 1, rows, cols)


def read_idx_labels(path: PathLike, expected_count: Optional[int] = None,
                    num_classes: int = 10) -> torch.Tensor:
    """Labels as an int64 tensor ``(N,)``; every label must be in ``0..num_classes-1``."""
    path = Path(path)
    data = read_idx_bytes(path)
    (count,) = _header(path, data, LABELS_MAGIC, 1)
    _check_count(path, count, expected_count)
    _check_size(path, data, 8, count)
    labels = torch.frombuffer(bytearray(data[8:]), dtype=torch.uint8).long()
    if count and int(labels.max()) >= num_classes:
        raise CorruptDatasetError(path, f"label {int(labels.max())} is outside "
                                        f"0..{num_classes - 1}")
    return labels
