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


# Instance attributes that no class attribute reveals but that the classes
# rely on: a hyperparameter of that name would replace them.
_RESERVED = {"hparams": "dict of hyperparameters",
             "training": "train/eval flag (nn.Module)"}


def _check_name(obj, name: str) -> None:
    """Refuse a hyperparameter that would replace a method, a property or a
    reserved attribute of ``obj`` (``train=...`` would hide ``nn.Module.train()``,
    and the Trainer's ``model.train()`` would then fail far from the cause)."""
    found = inspect.getattr_static(type(obj), name, _RESERVED)
    if name in _RESERVED:
        what = _RESERVED[name]
    elif found is not _RESERVED and (callable(found) or hasattr(type(found), "__get__")):
        owner = next(c for c in type(obj).__mro__ if name in vars(c))
        kind = "method" if callable(found) or isinstance(found, classmethod) else "property"
        what = f"{kind} {owner.__name__}.{name}"
    else:
        return
    raise ValueError(
        f"{type(obj).__name__}: a hyperparameter named {name!r} would replace the {what}; "
        f"rename the argument of __init__ (or list it in save_hyperparameters(ignore=...) "
        "and store it under another name)")


class HyperParameters:
    """Base class that records the arguments of ``__init__``."""

    def save_hyperparameters(self, ignore: Iterable[str] = ()) -> None:
        """Store the caller's arguments in ``self.hparams`` and as attributes.

        Called from ``__init__``: every local name of the calling frame except
        ``self``, names starting with ``_`` and those listed in ``ignore``
        becomes an attribute. A name that would replace a method or property
        of the class (``train`` on a model) is a ``ValueError``, raised
        before any attribute is set.
        """
        frame = inspect.currentframe().f_back
        try:
            local_vars = inspect.getargvalues(frame).locals
            skip = set(ignore) | {"self"}
            hparams = {k: v for k, v in local_vars.items()
                       if k not in skip and not k.startswith("_")}
        finally:
            del frame  # break the reference cycle through the frame
        for k in hparams:
            _check_name(self, k)
        self.hparams = hparams
        for k, v in self.hparams.items():
            setattr(self, k, v)
