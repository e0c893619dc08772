"""Fixtures shared by the test modules (append yours below, one idea each)."""
import os
from pathlib import Path

import pytest

FASHION_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                 "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")


def _real_fashion_dir() -> Path:
    """$D2LMINI_DATA if it holds the four .gz files, else Debian's directory."""
    for base in (os.environ.get("D2LMINI_DATA"), "/usr/share/datasets/fashion-mnist"):
        if base and all((Path(base) / f"{n}.gz").is_file() for n in FASHION_FILES):
            return Path(base)
    return Path("/usr/share/datasets/fashion-mnist")


@pytest.fixture(scope="session")
def fashion_dir() -> Path:
    """The directory holding the four real Fashion-MNIST .gz files; skips the
    test when they are absent (apt-get install dataset-fashion-mnist)."""
    d = _real_fashion_dir()
    if not all((d / f"{n}.gz").is_file() for n in FASHION_FILES):
        pytest.skip(f"Fashion-MNIST .gz files not found in {d}")
    return d


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
