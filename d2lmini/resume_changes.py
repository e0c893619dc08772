"""What differs between the run that wrote a checkpoint and the run resuming
from it, beyond ``max_epochs`` and ``seed``: the learning rate the model now
configures, the batch size, the number of training examples, the image size.
None of these stops a resume; each is said once, as a ``ResumeWarning``.

Which learning rate wins: the checkpoint's. Resuming restores the optimizer
as the first run left it (its rate, momenta and schedule), so that the run
ends as an uninterrupted one would; a model configured with another rate is
told so, with both values and how to train at its own rate instead.
"""
import math
from typing import Any, Dict, List, Optional

__all__ = ["data_settings", "resume_changes"]


def _count(value) -> Optional[int]:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def data_settings(trainer) -> Dict[str, Any]:
    """The data settings a checkpoint records (``None`` where the data does
    not say): ``batch_size``, ``num_train`` (training examples), ``resize``."""
    loader = trainer.train_dataloader
    try:
        num_train = len(loader.dataset)
    except (AttributeError, TypeError):
        num_train = None
    resize = getattr(trainer.data, "resize", None)
    if not (isinstance(resize, (tuple, list)) and len(resize) == 2
            and all(_count(v) is not None for v in resize)):
        resize = None
    return {"batch_size": _count(getattr(loader, "batch_size", None)),
            "num_train": _count(num_train), "resize": list(resize) if resize else None}


def _plain(value):
    return list(value) if isinstance(value, (tuple, list)) else value


def _rate(group: Dict[str, Any], key: str) -> float:
    return float(group[key])


def _lr_change(path: str, saved: Dict[str, Any], optim) -> Optional[str]:
    changes = []
    groups = saved["param_groups"]
    for i, (old, new) in enumerate(zip(groups, optim.param_groups)):
        # Under a scheduler, lr is the schedule's rate of the moment;
        # initial_lr is the one the model configured.
        key = "initial_lr" if "initial_lr" in old and "initial_lr" in new else "lr"
        if key in old and key in new and not math.isclose(_rate(old, key), _rate(new, key),
                                                          rel_tol=1e-12):
            where = f"parameter group {i}: " if len(groups) > 1 else ""
            changes.append(f"{where}lr={_rate(old, key)!r} in the checkpoint, "
                           f"lr={_rate(new, key)!r} configured now")
    if not changes:
        return None
    return (f"{path} was trained at another learning rate than this model configures ("
            + "; ".join(changes) + "). The resumed run goes on at the checkpoint's rate: "
            "resuming restores the optimizer (and schedule) as the first run left it, so "
            "that it ends as an uninterrupted run would. To train at the model's rate "
            "instead, start a new run from the checkpoint's weights: model.load_state_dict("
            f"torch.load({path!r}, weights_only=True)['model']), then fit without resume=.")


def _data_changes(path: str, saved: Any, now: Dict[str, Any]) -> List[str]:
    if not isinstance(saved, dict):  # written before the data settings were recorded
        return []
    said = {
        "batch_size": lambda old, new: (
            f"batch_size={old}; this data has batch_size={new}: each epoch now takes other "
            "steps, so the run will not end as an uninterrupted one would"),
        "num_train": lambda old, new: (
            f"{old} training examples; this data has {new}: the resumed epochs see other "
            "data than the first run's"),
        "resize": lambda old, new: (
            f"images resized to {old[0]}x{old[1]}; this data resizes them to "
            f"{new[0]}x{new[1]}: the model now sees images of another size than it was "
            "trained on"),
    }
    out = []
    for key, say in said.items():
        old, new = saved.get(key), now.get(key)
        if old is None or new is None:  # not recorded, or not known for this data
            continue
        if _plain(old) != _plain(new):
            out.append(f"{path} was written by a run with {say(old, new)}.")
    return out


def resume_changes(ckpt: Dict[str, Any], trainer, path: str) -> List[str]:
    """The ResumeWarning messages for a checked checkpoint ``ckpt``."""
    lr = _lr_change(path, ckpt["optimizer"], trainer.optim)
    return ([lr] if lr else []) + _data_changes(path, ckpt.get("data"), data_settings(trainer))
