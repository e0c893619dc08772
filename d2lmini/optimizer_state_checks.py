"""A saved optimizer state checked against the live optimizer before it is
loaded: its settings must be ones the optimizer's own constructor accepts
(and ``configure_optimizers`` for the learning rate), and each parameter's
state must hold the entries, shapes and dtypes the optimizer itself keeps.

``torch.optim.Optimizer.load_state_dict`` checks none of this: an Adam
``exp_avg`` of another shape, a stride-0 one or ``weight_decay="abc"`` load
fine and crash at the first step. What the optimizer keeps is learnt from
the optimizer itself: a throwaway one of the same class, built with the
saved settings, takes one step on a 2x3 parameter. That is exact for every
torch release and optimizer class; one that cannot step alone (LBFGS wants
a closure) gets the checks every optimizer's state must pass.
"""
import inspect
import math
import warnings
from typing import Any, Dict, List, Optional

import torch
from torch.nn.parameter import is_lazy

from .checkpoint_fields import (BadField, Budget, check_finite, check_kind, check_plain,
                                check_same_kind, check_tensor, dtype_kind, is_finite,
                                is_real_number, show)

__all__ = ["check_optimizer_state"]

_BOOKKEEPING = {"params", "param_names"}  # group entries that are not settings
_PROBE_SHAPE = torch.Size((2, 3))
_UNKNOWN = object()  # no probe: the optimizer's own state is not known
_ABSENT = object()   # an entry the probed optimizer does not keep


def _constructor_settings(cls, group: Dict[str, Any]) -> Dict[str, Any]:
    """The entries of ``group`` that ``cls(params, **settings)`` takes (not a
    scheduler's ``initial_lr``, nor settings of another torch release)."""
    try:
        names = set(inspect.signature(cls.__init__).parameters) - {"self", "params"}
    except (TypeError, ValueError):
        return {}
    return {k: v for k, v in group.items() if k in names}


def _probe(cls, group: Dict[str, Any], like: torch.Tensor) -> Dict[str, Any]:
    """The state a ``cls`` with ``group``'s settings keeps for a 2x3 parameter
    of ``like``'s dtype and device after one step. Raises what the
    optimizer's own checks raise for these settings."""
    param = torch.zeros(_PROBE_SHAPE, dtype=like.dtype, device=like.device, requires_grad=True)
    # An optimizer that draws random numbers must not move the run's stream.
    with warnings.catch_warnings(), torch.random.fork_rng(devices=[]):
        warnings.simplefilter("ignore")
        optim = cls([param], **_constructor_settings(cls, group))
        param.grad = torch.full_like(param, 0.5)
        optim.step()
    return dict(optim.state[param])


def _expected_state(where: str, cls, saved: Dict[str, Any], live: Dict[str, Any]):
    """What ``cls`` keeps per parameter with the ``saved`` settings (None when
    it cannot be learnt); raises :class:`BadField` when the optimizer refuses
    the saved settings although it takes the live ones."""
    if not live["params"]:
        return None
    like = live["params"][0]
    try:
        _probe(cls, live, like)
    except Exception:  # any error: third-party optimizers raise what they like
        return None  # cannot step alone (LBFGS needs a closure): no per-entry rule
    try:
        return _probe(cls, saved, like)
    except Exception as e:
        detail = str(e).splitlines()[0][:200] if str(e) else ""
        raise BadField(where, f"has settings that {cls.__name__} refuses "
                              f"({type(e).__name__}: {detail})") from None


def _check_lr(field: str, lr: Any, scheduled: bool) -> None:
    """The rule of ``configure_optimizers``: a positive, finite learning rate
    (0 allowed where a schedule drives it: schedules may end there)."""
    value = float(lr) if isinstance(lr, torch.Tensor) and lr.dim() == 0 else lr
    ok = is_real_number(value) and is_finite(value) and (value >= 0 if scheduled else value > 0)
    if not ok:
        rule = "a finite number >= 0 (a schedule drives it)" if scheduled else \
            "a positive, finite number, as configure_optimizers requires"
        raise BadField(field, f"is {show(lr)}; a learning rate must be {rule}")


def _check_settings(where: str, saved: Dict[str, Any], live: Dict[str, Any],
                    scheduled: bool, budget: Budget) -> None:
    for key, value in saved.items():
        if key in _BOOKKEEPING:
            continue
        if not isinstance(key, str):
            raise BadField(where, f"has a setting named {show(key)}, not a string")
        field = f"{where} setting {key!r}"
        if key in live:
            check_same_kind(field, value, live[key], budget)
        else:  # a scheduler's initial_lr, or a setting of another torch release
            check_plain(field, value, budget)
    if "lr" in saved:
        _check_lr(f"{where} setting 'lr'", saved["lr"], scheduled)


def _check_tensor_entry(field: str, t: torch.Tensor, sample: Any, param: torch.Tensor,
                        shape: Optional[torch.Size]) -> None:
    check_tensor(field, t)
    check_finite(field, t)
    if isinstance(sample, torch.Tensor) and sample.shape == _PROBE_SHAPE:
        # the optimizer keeps this entry in the parameter's shape (exp_avg, momentum_buffer)
        if shape is not None and t.shape != shape:
            raise BadField(field, f"has shape {tuple(t.shape)}, but its parameter has "
                                  f"shape {tuple(shape)}")
        check_kind(field, t, sample.dtype)
    elif isinstance(sample, torch.Tensor) and sample.dim() == 0 or is_real_number(sample):
        if t.numel() != 1 or dtype_kind(t.dtype) not in ("floating", "integer"):
            raise BadField(field, f"is {show(t)}, where the optimizer keeps one real number")
    else:  # another shape (a factored statistic), or an optimizer we cannot probe
        if shape is not None and t.numel() > max(math.prod(shape), 1):
            raise BadField(field, f"holds {t.numel()} elements, more than its parameter's "
                                  f"{math.prod(shape)}")
        if t.is_complex() and not param.dtype.is_complex:
            raise BadField(field, f"is {t.dtype} for a {param.dtype} parameter")


def _describe(sample: Any) -> str:
    if isinstance(sample, torch.Tensor):
        return ("a tensor of the parameter's shape" if sample.shape == _PROBE_SHAPE
                else "one number" if sample.dim() == 0 else "a tensor")
    return "one number" if is_real_number(sample) else show(sample)


def _check_param_state(field: str, entries: Any, param: torch.Tensor,
                       shape: Optional[torch.Size], expected, cls, budget: Budget) -> None:
    if not isinstance(entries, dict):
        raise BadField(field, f"is {show(entries)}, not a dict of {cls.__name__} state")
    budget.spend(field, objects=len(entries))
    for key, value in entries.items():
        where = f"{field} [{key!r}]"
        if not isinstance(key, str):
            raise BadField(field, f"has an entry named {show(key)}, not a string")
        sample = _UNKNOWN if expected is None else expected.get(key, _ABSENT)
        if value is None and (sample is None or sample is _UNKNOWN or sample is _ABSENT):
            # a momentum buffer not created yet, or one that another torch
            # release keeps as None where this one keeps nothing: never read
            continue
        if sample is _ABSENT:
            kept = ", ".join(sorted(expected)) or "nothing"
            raise BadField(where, f"is not state that {cls.__name__} keeps (with these "
                                  f"settings it keeps: {kept})")
        if isinstance(value, torch.Tensor):
            _check_tensor_entry(where, value, sample, param, shape)
        elif is_real_number(value) and (sample is _UNKNOWN or is_real_number(sample) or (
                isinstance(sample, torch.Tensor) and sample.dim() == 0)):
            if not is_finite(value):
                raise BadField(where, f"is {show(value)}, not a finite number")
        elif sample is _UNKNOWN:
            check_plain(where, value, budget)
        else:
            raise BadField(where, f"is {show(value)}, where {cls.__name__} keeps "
                                  f"{_describe(sample)}")
        one = is_real_number(value) or (isinstance(value, torch.Tensor) and value.numel() == 1
                                         and dtype_kind(value.dtype) in ("floating", "integer"))
        if key == "step" and one and float(value) < 0:  # Adam's bias correction: beta**step
            raise BadField(where, f"is {float(value)!r}, not a count of steps (>= 0)")


def check_optimizer_state(saved: Dict[str, Any], optim: torch.optim.Optimizer,
                          names: Dict[int, str], saved_model: Dict[str, Any],
                          scheduled: bool, budget: Budget) -> None:
    """Raise :class:`BadField` unless ``saved`` (an optimizer state_dict whose
    groups already match ``optim``'s in number and size) can be loaded into
    ``optim`` and stepped. ``names`` maps ``id(param)`` to the parameter's
    name, ``saved_model`` is the checkpoint's (checked) model state_dict:
    a lazy parameter not run yet takes its shape from there."""
    cls, live_groups = type(optim), optim.param_groups
    ids: List[Any] = []
    expected = []
    for i, (group, live) in enumerate(zip(saved["param_groups"], live_groups)):
        where = f"optimizer parameter group {i}" if len(live_groups) > 1 else "optimizer"
        for pid in group["params"]:
            if isinstance(pid, bool) or not isinstance(pid, int):
                raise BadField(f"{where} 'params'", f"lists {show(pid)}, not a parameter index")
        ids += group["params"]
        param_names = group.get("param_names", [])
        if not (isinstance(param_names, list) and all(isinstance(n, str) for n in param_names)):
            raise BadField(f"{where} 'param_names'",
                           f"is {show(param_names)}, not a list of names")
        _check_settings(where, group, live, scheduled, budget)
        expected += [_expected_state(where, cls, group, live)] * len(group["params"])
    if len(set(ids)) != len(ids):
        raise BadField("optimizer 'params'", "list one parameter index twice")
    params = [p for live in live_groups for p in live["params"]]
    position = {pid: n for n, pid in enumerate(ids)}
    for key, entries in saved["state"].items():
        if key not in position:
            raise BadField("optimizer state", f"has an entry for parameter {show(key)}, which "
                                              "no parameter group lists")
        n = position[key]
        param = params[n]
        name = names.get(id(param))
        shape = param.shape if not is_lazy(param) else (
            saved_model[name].shape if name in saved_model else None)
        _check_param_state(f"optimizer state of {name or f'parameter {n}'}", entries, param,
                           shape, expected[n], cls, budget)
