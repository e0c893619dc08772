"""Input checks attached to a class from outside its body.

The classes a reader studies in the notebooks stay as short as the book's;
their argument and input checks live here or in a later cell, and
:func:`guard` attaches them, so a wrong argument or batch still fails at once
with a message that says what to do.
"""
import functools
import inspect
from typing import Callable, Optional

__all__ = ["guard"]


def guard(cls: type, arguments: Optional[Callable[..., None]] = None,
          inputs: Optional[Callable[..., None]] = None) -> None:
    """Run ``arguments`` before ``cls.__init__`` and ``inputs`` before
    ``cls.forward``.

    ``arguments(cls_name, **bound)`` gets the constructor's arguments by name,
    defaults filled in; ``inputs(module, X)`` gets the module and its first
    input. Either may raise ``ValueError``/``TypeError``. Subclasses inherit
    the checks; guarding a subclass gives it its own checks instead of the
    inherited ones; guarding a class twice wraps it once.
    """
    if arguments is not None and not _guarded_here(cls, "__init__"):
        init = _unguarded(cls.__init__)
        signature = inspect.signature(init)

        @functools.wraps(init)
        def checked_init(self, *args, **kwargs):
            bound = signature.bind(self, *args, **kwargs)
            bound.apply_defaults()
            named = dict(bound.arguments)
            named.pop(next(iter(named)))  # self
            extra = named.pop("kwargs", None)  # a **kwargs catch-all, if any
            arguments(type(self).__name__, **named, **(extra or {}))
            init(self, *args, **kwargs)
        checked_init._guarded = True
        cls.__init__ = checked_init

    if inputs is not None and not _guarded_here(cls, "forward"):
        forward = _unguarded(cls.forward)

        @functools.wraps(forward)
        def checked_forward(self, X, *args, **kwargs):
            inputs(self, X)
            return forward(self, X, *args, **kwargs)
        checked_forward._guarded = True
        cls.forward = checked_forward


def _guarded_here(cls: type, name: str) -> bool:
    """Whether ``cls`` itself (not a parent) already holds a guarded ``name``."""
    return getattr(cls.__dict__.get(name), "_guarded", False)


def _unguarded(method: Callable) -> Callable:
    """The method a parent's guard wrapped, so a subclass's own check replaces
    the parent's instead of running before it."""
    return method.__wrapped__ if getattr(method, "_guarded", False) else method
