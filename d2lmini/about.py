"""The "About this run" note that ends every notebook of the chapter.

The note is printed by a code cell of the run itself, so it is true for every
execution: the stored outputs, a reader's own run and the HTML build.
"""
import time
from typing import Optional

import torch

from .mode import fast_mode

__all__ = ["about_this_run"]

# The notebooks import d2lmini in their first code cell, so this is the
# moment the run started.
_IMPORTED_AT = time.perf_counter()


def _device_name() -> str:
    if torch.cuda.is_available():
        return f"GPU ({torch.cuda.get_device_name(0)})"
    threads = torch.get_num_threads()
    return f"CPU ({threads} thread{'s' if threads != 1 else ''})"


def about_this_run(recipe: Optional[str] = None, since: Optional[float] = None) -> None:
    """Print one line: device, torch version, wall time since the
    notebook's first cell (or since ``since``, a ``time.perf_counter()``
    value), the run mode and, if given, the training recipe."""
    start = _IMPORTED_AT if since is None else since
    parts = [f"device: {_device_name()}",
             f"torch {torch.__version__}",
             f"wall time {time.perf_counter() - start:.0f} s since the first cell",
             f"mode: {'fast' if fast_mode() else 'full'}"]
    if recipe is not None:
        parts.append(f"recipe: {recipe}")
    print("About this run: " + ", ".join(parts) + ".")
