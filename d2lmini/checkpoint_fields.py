"""The checks one checkpoint field at a time: tensors (layout, dtype kind,
finite values), plain data of bounded size, and values of the same kind as
the live ones they will replace. Each raises :class:`BadField` naming the
field; :mod:`d2lmini.checkpoint_checks` turns it into a ``CheckpointError``.
"""
import math
from typing import Any, Optional

import torch

__all__ = ["BadField", "Budget", "check_tensor", "dtype_kind", "check_kind",
           "check_finite", "check_same_kind", "check_plain", "check_count", "is_real_number",
           "is_finite", "show"]


class BadField(ValueError):
    """``field`` of a checkpoint holds something unusable; ``problem`` says what."""

    def __init__(self, field: str, problem: str):
        super().__init__(f"{field} {problem}")
        self.field, self.problem = field, problem


def show(value: Any, limit: int = 60) -> str:
    """A short repr of a value from the file (which may be huge)."""
    if isinstance(value, torch.Tensor):
        return f"a {value.dtype} tensor of shape {tuple(value.shape)}"
    if isinstance(value, int) and value.bit_length() > 96:  # repr may refuse (4300 digits)
        return f"an int of {value.bit_length()} bits"
    scalars = (int, float, str, bool, type(None))
    if isinstance(value, scalars) or (isinstance(value, (list, tuple)) and len(value) <= 4
                                      and all(isinstance(v, scalars) for v in value)):
        text = repr(value)
        return text if len(text) <= limit else text[:limit] + "..."
    if isinstance(value, (list, tuple, dict)):
        return f"a {type(value).__name__} of {len(value)} items"
    return f"a {type(value).__name__}"


def is_real_number(value: Any) -> bool:
    """An int or float (not a bool), as a setting or counter must be."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def is_finite(value) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an int too large for a float
        return False


def check_count(field: str, value: Any, minimum: int = 0, maximum: Optional[int] = None,
                what: str = "a count") -> None:
    """``value`` must be an int (not a bool, not a tensor) in [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadField(field, f"is {show(value)}, not {what} (an int)")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"from {minimum} to {maximum}" if maximum is not None else f">= {minimum}"
        raise BadField(field, f"is {show(value)}, not {what} (an int {bound})")


def dtype_kind(dtype: torch.dtype) -> str:
    """'bool', 'integer', 'floating', 'complex' or 'quantized': a value of one
    kind copied into a tensor of another is cast silently (or crashes)."""
    if dtype == torch.bool:
        return "bool"
    if dtype.is_complex:
        return "complex"
    if dtype.is_floating_point:
        return "floating"
    if dtype in (torch.qint8, torch.quint8, torch.qint32) or "quint" in str(dtype):
        return "quantized"
    return "integer"


def _is_dense(t: torch.Tensor) -> bool:
    """Every element at its own place in memory, with no gaps (any order of
    dimensions, so channels_last weights pass): what a stride-0 (expanded)
    or overlapping tensor is not. Written out because torch's own test is
    private."""
    expected = 1
    for stride, size in sorted((st, s) for s, st in zip(t.shape, t.stride()) if s != 1):
        if stride != expected:
            return False
        expected *= size
    return True


def check_tensor(field: str, t: Any) -> torch.Tensor:
    """A plain, dense CPU tensor whose elements lie inside its storage."""
    if not isinstance(t, torch.Tensor):
        raise BadField(field, f"is {show(t)}, not a tensor")
    if t.layout != torch.strided:
        raise BadField(field, f"is a {t.layout} tensor; checkpoints hold dense (strided) ones")
    if t.device.type != "cpu":  # loaded with map_location="cpu": meta or odd tensors
        raise BadField(field, f"is a tensor on the {t.device.type} device, which holds no data")
    if t.numel() == 0:
        return t
    if not _is_dense(t):
        raise BadField(field, f"is a tensor of shape {tuple(t.shape)} with strides "
                              f"{tuple(t.stride())}: its elements overlap in memory (a stride-0 "
                              "or expanded tensor), which in-place updates cannot write")
    end = (t.storage_offset() + sum((s - 1) * st for s, st in zip(t.shape, t.stride())) + 1)
    if end * t.element_size() > t.untyped_storage().nbytes():
        raise BadField(field, "is a tensor that reaches past the end of its storage")
    return t


def check_kind(field: str, t: torch.Tensor, like: torch.dtype) -> None:
    """``t`` must have the dtype kind of ``like`` (float into float, ...)."""
    if dtype_kind(t.dtype) != dtype_kind(like):
        raise BadField(field, f"is {t.dtype}, where this model has {like}: loading it would "
                              f"cast {dtype_kind(t.dtype)} values to {dtype_kind(like)} "
                              "ones silently")


def check_finite(field: str, t: torch.Tensor) -> None:
    if (t.is_floating_point() or t.is_complex()) and not bool(torch.isfinite(t).all()):
        raise BadField(field, "holds NaN or infinite values")


class Budget:
    """How many more objects, and tensor bytes, the plain data outside the
    model and optimizer may hold, and how deeply nested."""

    def __init__(self, objects: int, tensor_bytes: int, depth: int = 16):
        self.objects, self.tensor_bytes, self.depth = objects, tensor_bytes, depth

    def spend(self, field: str, objects: int = 1, tensor_bytes: int = 0) -> None:
        self.objects -= objects
        self.tensor_bytes -= tensor_bytes
        if self.objects < 0 or self.tensor_bytes < 0:
            raise BadField(field, "holds more data than a checkpoint's history, board, "
                                  "counters and random states ever need")


_SCALARS = (type(None), bool, int, float, str, bytes, torch.dtype, torch.device)


def _path(field: str, path) -> str:
    """The field name of an item deep in plain data (built only for a message)."""
    keys = []
    while path is not None:
        path, key = path
        keys.append(f"[{key!r}]"[:60])
    return field + "".join(reversed(keys))


def check_plain(field: str, value: Any, budget: Budget) -> None:
    """``value`` is plain data (numbers, strings, lists, tuples, dicts with
    plain keys, small dense tensors) nested no deeper than the budget allows
    and no larger than it."""
    # Iterative (a deep pickle must not exhaust the C stack), and each item's
    # name is a (parent, key) link, formatted only for an error message. A
    # pickle may reference one list from many places (or from itself): each
    # container is walked once, so the time is that of the objects in memory.
    seen = set()
    stack = [(value, 0, None)]
    while stack:
        v, depth, path = stack.pop()
        budget.objects -= 1
        if isinstance(v, float) or (isinstance(v, int) and not isinstance(v, bool)):
            continue  # NaN is allowed here: a history may record a diverged loss
        if depth > budget.depth:
            raise BadField(_path(field, path), f"is nested more than {budget.depth} levels deep")
        if isinstance(v, _SCALARS):
            if isinstance(v, (str, bytes)):
                budget.objects -= len(v) // 64
            continue
        if id(v) in seen:  # alive as long as value is, so ids are not reused
            continue
        seen.add(id(v))
        if isinstance(v, torch.Tensor):
            check_tensor(_path(field, path), v)
            budget.tensor_bytes -= v.numel() * v.element_size()
        elif isinstance(v, dict):
            budget.objects -= len(v)
            for k, item in (v.items() if budget.objects >= 0 else ()):
                if not isinstance(k, _SCALARS):
                    raise BadField(_path(field, path), f"has a key that is {show(k)}")
                stack.append((item, depth + 1, (path, k)))
        elif isinstance(v, (list, tuple)):
            budget.objects -= len(v)
            if budget.objects >= 0:  # else the check below refuses it unwalked
                stack.extend((item, depth + 1, (path, i)) for i, item in enumerate(v))
        else:
            raise BadField(_path(field, path), f"is {show(v)}, not plain data")
        if budget.objects < 0 or budget.tensor_bytes < 0:
            budget.spend(_path(field, path), objects=0)  # raises
    budget.spend(field, objects=0)  # the numbers skipped above count too


def check_same_kind(field: str, saved: Any, live: Any, budget: Budget) -> None:
    """``saved`` can replace ``live``: a number for a number (finite), a bool
    for a bool, a sequence of the same length, a tensor of the same shape...
    Settings or state entries the live object does not have are plain data."""
    if isinstance(live, bool):
        ok = isinstance(saved, bool)
        want = "True or False"
    elif is_real_number(live):
        if isinstance(saved, torch.Tensor):  # a tensor learning rate, say
            ok = saved.dim() == 0 and _finite_scalar(check_tensor(field, saved))
        else:
            ok = is_real_number(saved) and is_finite(saved)
        want = "a finite number"
    elif isinstance(live, torch.Tensor):
        if is_real_number(saved) and live.dim() == 0:
            ok, want = is_finite(saved), "a finite number"
        else:
            t = check_tensor(field, saved)
            if t.shape != live.shape:
                raise BadField(field, f"has shape {tuple(t.shape)}, expected {tuple(live.shape)}")
            check_kind(field, t, live.dtype)
            check_finite(field, t)
            return
    elif live is None:  # an optimizer's foreach=None, which True/False may replace
        ok = saved is None or isinstance(saved, bool) or (
            is_real_number(saved) and is_finite(saved))
        want = "None, a bool or a number"
    elif isinstance(live, str):
        ok, want = isinstance(saved, str) and len(saved) <= 200, "a short string"
    elif isinstance(live, (list, tuple)):
        if not isinstance(saved, (list, tuple)) or len(saved) != len(live):
            raise BadField(field, f"is {show(saved)}, expected a sequence of {len(live)} "
                                  f"like {show(live)}")
        budget.spend(field, objects=len(saved))
        for i, (s, l) in enumerate(zip(saved, live)):
            check_same_kind(f"{field}[{i}]", s, l, budget)
        return
    elif isinstance(live, dict):
        if not isinstance(saved, dict):
            raise BadField(field, f"is {show(saved)}, expected a dict")
        budget.spend(field, objects=len(saved))
        for k, s in saved.items():
            if k in live:
                check_same_kind(f"{field}[{k!r}]", s, live[k], budget)
            else:
                check_plain(f"{field}[{k!r}]"[:200], s, budget)
        return
    else:
        check_plain(field, saved, budget)
        return
    if not ok:
        raise BadField(field, f"is {show(saved)}, expected {want}")


def _finite_scalar(t: torch.Tensor) -> bool:
    return not (t.is_complex() or t.dtype == torch.bool) and bool(torch.isfinite(t).all())
