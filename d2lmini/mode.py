"""Run modes: the full recipe, or the fast one used by the tests."""
import os

__all__ = ["fast_mode"]


def fast_mode() -> bool:
    """True when ``D2LMINI_FAST`` is set to 1/true/yes (the test suite does).

    Notebooks read this once, in their parameters cell, and shrink data and
    epochs so that nbval can re-run the whole chapter in minutes.
    """
    return os.environ.get("D2LMINI_FAST", "").strip().lower() in {"1", "true", "yes", "on"}
