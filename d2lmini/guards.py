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
    the checks; guarding a class twice wraps it once.
    """
    if arguments is not None and not getattr(cls.__init__, "_guarded", False):
        init, signature = cls.__init__, inspect.signature(cls.__init__)

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

    if inputs is not None and not getattr(cls.forward, "_guarded", False):
        forward = cls.forward

        @functools.wraps(forward)
        def checked_forward(self, X, *args, **kwargs):
            inputs(self, X)
            return forward(self, X, *args, **kwargs)
        checked_forward._guarded = True
        cls.forward = checked_forward
