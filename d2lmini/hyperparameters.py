"""Two small tools the book's classes are built with."""
import inspect
from typing import Callable, Iterable

__all__ = ["add_to_class", "HyperParameters"]


def add_to_class(Class: type) -> Callable:
    """Attach the decorated function to ``Class`` as a method.

    This lets a notebook build a class over several short cells. The function
    is returned unchanged so it can still be called or inspected directly.
    """
    def wrapper(obj):
        setattr(Class, obj.__name__, obj)
        return obj
    return wrapper


class HyperParameters:
    """Base class that records the arguments of ``__init__``."""

    def save_hyperparameters(self, ignore: Iterable[str] = ()) -> None:
        """Store the caller's arguments in ``self.hparams`` and as attributes.

        Called from ``__init__``: every local name of the calling frame except
        ``self``, names starting with ``_`` and those listed in ``ignore``
        becomes an attribute.
        """
        frame = inspect.currentframe().f_back
        try:
            local_vars = inspect.getargvalues(frame).locals
            skip = set(ignore) | {"self"}
            self.hparams = {k: v for k, v in local_vars.items()
                            if k not in skip and not k.startswith("_")}
        finally:
            del frame  # break the reference cycle through the frame
        for k, v in self.hparams.items():
            setattr(self, k, v)
