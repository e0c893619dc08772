"""Fixtures shared by the test modules (append yours below, one idea each)."""
from pathlib import Path

import pytest

from d2lmini.fashion_files import DatasetNotFoundError, find_fashion_mnist


@pytest.fixture(scope="session")
def fashion_dir() -> Path:
    """The directory holding the four real Fashion-MNIST files (.gz or
    unpacked: open them with ``d2lmini.fashion_files.data_file``), found as
    the library finds them without a root (``$D2LMINI_DATA``, torchvision's
    default root, Debian's directory) and never downloaded; skips the test
    when they are absent (apt-get install dataset-fashion-mnist)."""
    try:
        return find_fashion_mnist(download=False)
    except DatasetNotFoundError as e:
        pytest.skip(f"Fashion-MNIST is not installed: {e}")
