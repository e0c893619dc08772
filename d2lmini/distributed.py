"""Data-parallel training across processes started by ``torchrun``.

The model code does not change: each rank runs the same training loop on its
slice of every global batch, gradients are averaged with one all-reduce per
step (what DistributedDataParallel does, without needing the model to be
called through a wrapper: the book's ``training_step`` calls ``self(X)``),
and metric sums are added across ranks.

Limits: batch-norm statistics are computed per rank (as with DDP without
SyncBatchNorm). The NaN/inf check runs every ``check_finite_every`` batches
(``sync_every`` by default) on a flag all-reduced across ranks, so all ranks
stop together and restore the same snapshot.
"""
import os
from typing import List, Sequence

import torch
import torch.distributed as dist
from torch import nn

__all__ = ["launched_distributed", "init_distributed", "rank", "world_size",
           "shard_batch", "average_gradients", "broadcast_parameters", "all_reduce_sum",
           "earliest_flag", "agree_on_seed", "barrier", "smallest_shard"]


def launched_distributed() -> bool:
    """True when started by ``torchrun`` with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def init_distributed(device: torch.device) -> None:
    """Join the process group (gloo on CPU, nccl on CUDA) unless joined."""
    if dist.is_available() and not dist.is_initialized():
        backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(backend=backend)


def _active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def rank() -> int:
    return dist.get_rank() if _active() else 0


def world_size() -> int:
    return dist.get_world_size() if _active() else 1


def shard_batch(batch: Sequence[torch.Tensor]) -> List[torch.Tensor]:
    """This rank's contiguous slice of each tensor of a global batch."""
    r, w = rank(), world_size()
    n = batch[-1].shape[0]
    per = -(-n // w)  # ceil: the last rank may get fewer examples
    return [t[r * per:(r + 1) * per] for t in batch]


def broadcast_parameters(model: nn.Module) -> None:
    """Start every rank from rank 0's weights and buffers."""
    for t in list(model.parameters()) + list(model.buffers()):
        dist.broadcast(t.data, src=0)


def average_gradients(model: nn.Module, local_n: int, global_n: int) -> None:
    """Make every rank's gradient the gradient of the global-batch mean loss.

    Each rank's loss is a mean over ``local_n`` examples, so its gradient is
    weighted by ``local_n / global_n`` before the sum (exact even when the
    last rank's slice is smaller).
    """
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads]) * (local_n / global_n)
    dist.all_reduce(flat)
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def all_reduce_sum(t: torch.Tensor) -> torch.Tensor:
    """Sum of ``t`` over ranks (``t`` itself when not distributed)."""
    if _active():
        t = t.clone()
        dist.all_reduce(t)
    return t


def earliest_flag(flag: torch.Tensor) -> torch.Tensor:
    """The smallest non-zero ``flag`` over ranks (0 when every rank has 0)."""
    none = 2**62
    flag = torch.where(flag == 0, none, flag)
    dist.all_reduce(flag, op=dist.ReduceOp.MIN)
    return torch.where(flag == none, 0, flag)


def agree_on_seed(seed):
    """Rank 0's seed on every rank (a fresh random one when ``seed`` is None)."""
    if seed is not None:
        return seed
    t = torch.randint(0, 2**31 - 1, (1,)) if rank() == 0 else torch.zeros(1, dtype=torch.int64)
    dist.broadcast(t, src=0)
    return int(t)


def barrier() -> None:
    """Wait for every rank (no-op in a single process)."""
    if _active():
        dist.barrier()


def smallest_shard(n: int) -> int:
    """The fewest examples any rank gets from a global batch of ``n``."""
    w = world_size()
    per = -(-n // w)
    return max(min(per, n - (w - 1) * per), 0) if w > 1 else n
