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


# -- trainer engineer's fixtures ---------------------------------------------
@pytest.fixture(autouse=True)
def _board_runs_in_tmp(tmp_path_factory, monkeypatch):
    """Boards outside Jupyter save their picture in a run directory; in the
    tests those directories go under pytest's temporary root."""
    import d2lmini.board
    root = tmp_path_factory.getbasetemp() / "board-runs"
    root.mkdir(exist_ok=True)
    monkeypatch.setattr(d2lmini.board, "RUNS_ROOT", str(root))


@pytest.fixture
def in_a_notebook(monkeypatch):
    """Make the trainer behave as in a Jupyter kernel (Ctrl-C returns)."""
    import d2lmini.trainer
    monkeypatch.setattr(d2lmini.trainer, "in_notebook", lambda: True)
