"""Per-epoch training records and on-device metric sums."""
from typing import Any, Dict, List, Optional, Tuple

import torch

__all__ = ["History", "MetricSums"]


class History(list):
    """A list of per-epoch dicts: ``epoch``, ``train_loss``, ``val_loss``,
    ``val_acc``, ``seconds``, ``images_per_s`` (plus any other logged metric).

    ``history[-1]['val_acc']`` reads the last epoch; ``history.column('val_acc')``
    gives one metric over all epochs.
    """

    @staticmethod
    def record(epoch: int, train_means: Dict[str, float], val_means: Dict[str, float],
               seconds: float, images_per_s: float) -> Dict[str, Any]:
        """One epoch's record from the mean metrics of its two passes."""
        record = {"epoch": epoch, "train_loss": train_means.get("loss"),
                  "val_loss": val_means.get("loss"), "val_acc": val_means.get("acc"),
                  "seconds": seconds, "images_per_s": images_per_s}
        for prefix, means in (("train", train_means), ("val", val_means)):
            for k, v in means.items():
                record.setdefault(f"{prefix}_{k}", v)
        return record

    def column(self, key: str) -> List[Optional[float]]:
        """The values of ``key`` for every epoch (None where missing)."""
        return [record.get(key) for record in self]

    def __repr__(self) -> str:
        return f"History({list.__repr__(self)})"


class MetricSums:
    """Running sums and counts per metric name, kept on the device.

    Adding never copies to the host, so a training step does not wait for the
    accelerator; :meth:`means` syncs once for all metrics together.
    """

    def __init__(self) -> None:
        self.sums: Dict[str, torch.Tensor] = {}
        self.counts: Dict[str, int] = {}

    def add(self, name: str, value, batch_size: int) -> None:
        """Add a batch mean (weighted by ``batch_size``) or a per-example tensor."""
        if isinstance(value, torch.Tensor) and value.dim() > 0:
            total, n = value.detach().sum(), value.numel()
        elif isinstance(value, torch.Tensor):
            total, n = value.detach() * batch_size, batch_size
        else:
            total, n = torch.tensor(float(value) * batch_size), batch_size
        # float64 keeps 0/1 counts exact; MPS lacks float64, so stay float32 there.
        dtype = torch.float32 if total.device.type == "mps" else torch.float64
        total = total.to(dtype)
        if name in self.sums:
            self.sums[name] = self.sums[name] + total
            self.counts[name] += n
        else:
            self.sums[name], self.counts[name] = total, n

    def reduce(self, reduce_fn=None) -> Tuple[Dict[str, float], Dict[str, int]]:
        """Host copies of (sums, counts), optionally summed across processes."""
        names = sorted(self.sums)
        if not names:
            return {}, {}
        stacked = torch.stack([self.sums[k].to(torch.float64 if self.sums[k].dtype
                                               == torch.float64 else torch.float32)
                               for k in names])
        counts = torch.tensor([self.counts[k] for k in names], dtype=stacked.dtype,
                              device=stacked.device)
        both = torch.cat([stacked, counts])
        if reduce_fn is not None:
            both = reduce_fn(both)
        host = both.cpu().tolist()  # the single sync
        k = len(names)
        return dict(zip(names, host[:k])), {n: int(c) for n, c in zip(names, host[k:])}

    def means(self, reduce_fn=None) -> Dict[str, float]:
        """Mean of each metric (one host sync for all of them)."""
        sums, counts = self.reduce(reduce_fn)
        return {k: sums[k] / counts[k] for k in sums if counts[k]}

    def clear(self) -> None:
        self.sums.clear()
        self.counts.clear()
