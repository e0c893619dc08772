"""Read and verify the IDX files of (Fashion-)MNIST, gzipped or unpacked.

The format is tiny: a big-endian header (magic number, item count and, for
images, rows and columns) followed by one unsigned byte per label or pixel.
Every check here fails loudly: a truncated download must never turn into a
silently smaller data set.
"""
import gzip
import math
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
    stream must decompress to its very end). For files already checked: it
    reads however much there is, while the readers below stop where the
    header says the data ends."""
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


# The body is read in pieces of this size, so memory follows the bytes that
# are really there, never a count a damaged header claims.
_CHUNK = 1 << 20


def _open(path: Path):
    return gzip.open(path, "rb") if path.name.endswith(".gz") else open(path, "rb")


def _read_at_most(f, limit: int) -> bytearray:
    """Up to ``limit`` bytes of ``f``: fewer only when the stream ends first."""
    data = bytearray()
    while len(data) < limit:
        piece = f.read(min(_CHUNK, limit - len(data)))
        if not piece:
            break
        data += piece
    return data


def _read_checked(path: Path, magic: int, ndim: int, check_header) -> tuple:
    """``(header fields after the magic number, body)`` of an IDX file.

    The header is read and checked first (``check_header(fields)`` may raise);
    then at most the body it promises plus one byte is decompressed. A
    decompression bomb behind a valid header (a small gzip that expands to
    gigabytes) is refused after that one extra byte, not after the gigabytes.
    """
    size = 4 * (1 + ndim)
    try:
        with _open(path) as f:
            head = f.read(size)
            if len(head) < size:
                raise CorruptDatasetError(
                    path, f"{len(head)} bytes, shorter than the {size}-byte header")
            fields = struct.unpack(f">{1 + ndim}I", head)
            if fields[0] != magic:
                raise CorruptDatasetError(path, f"magic number {fields[0]}, expected {magic}")
            check_header(fields[1:])
            promised = math.prod(fields[1:])
            # One byte past the promise is enough to know the file holds more.
            body = _read_at_most(f, promised + 1)
    except EOFError:
        raise CorruptDatasetError(path, "the gzip stream ends early (truncated file)") from None
    except (gzip.BadGzipFile, zlib.error) as e:
        raise CorruptDatasetError(path, f"not a valid gzip file ({e})") from None
    if len(body) > promised:
        raise CorruptDatasetError(
            path, f"more than {size + promised} bytes after decompression (reading "
                  f"stopped there), the header promises exactly {size + promised}")
    if len(body) < promised:
        raise CorruptDatasetError(
            path, f"{size + len(body)} bytes after decompression, the header promises "
                  f"exactly {size + promised}")
    return fields[1:], body


def _as_uint8(body: bytearray) -> torch.Tensor:
    # torch.frombuffer refuses an empty buffer; an empty file is still valid.
    return torch.frombuffer(body, dtype=torch.uint8) if body else torch.empty(0, dtype=torch.uint8)


def _check_count(path: Path, count: int, expected: Optional[int]) -> None:
    if expected is not None and count != expected:
        raise CorruptDatasetError(path, f"holds {count} items, expected {expected}")


def read_idx_images(path: PathLike, expected_count: Optional[int] = None,
                    shape: tuple = (28, 28)) -> torch.Tensor:
    """Images as one uint8 tensor ``(N, 1, rows, cols)``, after every check."""
    path = Path(path)

    def check(fields):  # before a byte of the body is read
        count, rows, cols = fields
        if (rows, cols) != tuple(shape):
            raise CorruptDatasetError(path, f"images are {rows}x{cols}, expected "
                                            f"{shape[0]}x{shape[1]}")
        _check_count(path, count, expected_count)

    (count, rows, cols), body = _read_checked(path, IMAGES_MAGIC, 3, check)
    return _as_uint8(body).reshape(count, 1, rows, cols)


def read_idx_labels(path: PathLike, expected_count: Optional[int] = None,
                    num_classes: int = 10) -> torch.Tensor:
    """Labels as an int64 tensor ``(N,)``; every label must be in ``0..num_classes-1``."""
    path = Path(path)

    def check(fields):  # before a byte of the body is read
        _check_count(path, fields[0], expected_count)

    (count,), body = _read_checked(path, LABELS_MAGIC, 1, check)
    labels = _as_uint8(body).long()
    if count and int(labels.max()) >= num_classes:
        raise CorruptDatasetError(path, f"label {int(labels.max())} is outside "
                                        f"0..{num_classes - 1}")
    return labels
