"""The book's ``Trainer``, with progress, history, checkpoints and safety nets.

Determinism
-----------
On the CPU, two runs with the same ``seed`` (same data, model code, torch
version and thread count) give bit-identical losses and weights, and a run
interrupted and resumed from a checkpoint ends exactly where an uninterrupted
run ends: the trainer reseeds torch, ``random``, NumPy and the data loaders'
generators at the start of every epoch (``seed + epoch``) and checkpoints
store all random states. On CUDA the same seed gives the same initialisation
and data order, but results usually differ in the last bits from run to run:
cuDNN picks convolution algorithms by speed and several backward kernels
(atomic adds) are non-deterministic; bf16 autocast (``amp=True``) adds its
own rounding (on the CPU too, where it stays deterministic but differs from
float32). Call ``torch.use_deterministic_algorithms(True)`` (and set
``CUBLAS_WORKSPACE_CONFIG=:4096:8``) when bitwise repeatability on a GPU
matters more than speed.
"""
import contextlib
import math
import os
import time
from typing import Any, Dict, List, Optional, Sequence, Union

import torch
from torch import nn
from tqdm.auto import tqdm

from . import distributed as dist_utils
from .checkpoint import (REQUIRED_KEYS, get_rng_state, load_checkpoint, save_checkpoint,
                         seed_everything, set_rng_state)
from . import devices
from .devices import cpu, gpu, num_gpus as count_gpus
from .history import History, MetricSums
from .hyperparameters import HyperParameters

__all__ = ["Trainer", "DivergenceError"]

# channels_last (NHWC) on this project's 2-core CPU, ResNet-18 at batch 128,
# quiet machine: 1.13-1.17x at 96x96 (benchmarks/README.md), about 1.03x at 28x28.
# It stays opt-in: it changes floating-point results (still repeatable run to
# run), so a default change would silently change every stored run, and a
# model that calls .view() on conv activations needs .reshape() under NHWC.
CHANNELS_LAST_DEFAULT = False

_said_no_gpu = False  # the CPU fallback is announced once per process


class DivergenceError(RuntimeError):
    """The training loss became NaN or infinite; the model holds the last
    good weights (see :class:`Trainer`'s ``check_finite_every``)."""

    def __init__(self, epoch: int, batch: int, loss: float):
        self.epoch, self.batch, self.loss = epoch, batch, loss
        super().__init__(
            f"training diverged: loss {loss} at epoch {epoch}, batch {batch}; "
            "the model was restored to the weights before that update. Try a "
            "smaller learning rate or gradient_clip_val.")


def _check_positive_int(name: str, value, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


class Trainer(HyperParameters):
    """Fit a :class:`~d2lmini.Module` to a data module, the book's way.

    ``Trainer(max_epochs, num_gpus=0, gradient_clip_val=0)`` is the book's
    signature; everything else is an optional keyword:

    - ``seed``: reseed everything at fit start and every epoch (reproducible).
    - ``device``: ``'cpu'``, ``'cuda:1'``, ...; overrides ``num_gpus``. With
      ``num_gpus > 0`` and no GPU, training falls back to the CPU (said once).
    - ``channels_last``: NHWC memory format for models with 2-d convolutions.
    - ``checkpoint_path`` / ``checkpoint_every``: save an atomic checkpoint
      every ``checkpoint_every`` epochs; ``fit(model, data, resume=path)``
      continues from one.
    - ``progress``: a tqdm bar over the batches (the epoch summary line is
      printed either way).
    - ``amp``: bf16 autocast for the forward pass and loss, on CUDA and on
      CPUs with bf16 in hardware (AVX512-BF16 or AMX; 1.8x faster for the
      chapter's ResNet-18 on a 2-core AMD EPYC). Elsewhere (older CPUs, where
      bf16 is emulated and slower, and MPS) it says so and trains in float32.
      Weights and optimizer state stay float32 either way; ``autocast_dtype``
      says which happened (``torch.bfloat16`` or ``None``).
    - ``sync_every``: how often (in batches) the host reads the on-device
      metric sums for the progress bar.
    - ``check_finite_every``: how often the loss is checked for NaN/inf.
      ``1`` (the default on the CPU, where checking is free) checks before
      every update, so a :class:`DivergenceError` leaves the weights of the
      last good step. On accelerators the default is ``sync_every``: the check
      rides on the progress sync instead of stalling every step, and the
      model is restored to a snapshot taken at the previous good check (up
      to ``sync_every - 1`` updates earlier; one on-device copy of the model
      and optimizer state per check is the price).

    ``fit`` returns a :class:`~d2lmini.history.History` (also kept as
    ``trainer.history``). Pressing Ctrl-C (KeyboardInterrupt) during ``fit``
    does not raise: training stops at the current batch, the model keeps its
    weights, the history its finished epochs, and ``fit`` returns the history
    after printing how to resume.

    Launched with ``torchrun --nproc_per_node=N``, the trainer trains data
    parallel: each process takes its slice of every batch, gradients and
    metrics are averaged across processes, only rank 0 prints and draws.
    """

    def __init__(self, max_epochs: int, num_gpus: int = 0, gradient_clip_val: float = 0,
                 *, seed: Optional[int] = None, device: Union[str, torch.device, None] = None,
                 channels_last: bool = CHANNELS_LAST_DEFAULT,
                 checkpoint_path: Optional[str] = None, checkpoint_every: int = 1,
                 progress: bool = True, amp: bool = False, sync_every: int = 10,
                 check_finite_every: Optional[int] = None):
        self.save_hyperparameters()
        _check_positive_int("max_epochs", max_epochs)
        _check_positive_int("num_gpus", num_gpus, minimum=0)
        if (isinstance(gradient_clip_val, bool) or not isinstance(gradient_clip_val, (int, float))
                or not gradient_clip_val >= 0):
            raise ValueError(f"gradient_clip_val must be a number >= 0, got {gradient_clip_val!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise ValueError(f"seed must be an int or None, got {seed!r}")
        _check_positive_int("checkpoint_every", checkpoint_every)
        _check_positive_int("sync_every", sync_every)
        if check_finite_every is not None:
            _check_positive_int("check_finite_every", check_finite_every)
        self.device = self._resolve_device(device, num_gpus)
        self.gpus = [self.device] if self.device.type != "cpu" else []
        if check_finite_every is None:
            # Per-step checks stall accelerators, and under torchrun every rank
            # must stop together: both check on the shared windowed schedule.
            local_cpu = self.device.type == "cpu" and not dist_utils.launched_distributed()
            self.check_finite_every = 1 if local_cpu else sync_every
        self._autocast_device = self._amp_device_type() if amp else None
        if amp and self._autocast_device is None:
            print(f"Trainer: amp=True needs CUDA or a CPU with bf16 in hardware "
                  f"(AVX512-BF16 or AMX); training on {self.device} in float32.")
        self.history = History()
        self.interrupted = False

    # -- setup -------------------------------------------------------------
    @staticmethod
    def _resolve_device(device, num_gpus: int) -> torch.device:
        global _said_no_gpu
        if dist_utils.launched_distributed() and device is None and num_gpus > 0 \
                and torch.cuda.is_available():
            return torch.device(f"cuda:{int(os.environ.get('LOCAL_RANK', 0))}")
        if device is not None:
            try:
                dev = torch.device(device)
            except (RuntimeError, TypeError) as e:
                raise ValueError(f"unknown device {device!r}: {e}") from None
            if dev.type == "cuda" and (not torch.cuda.is_available()
                                       or (dev.index or 0) >= torch.cuda.device_count()):
                raise ValueError(f"device {device!r} was asked for but this machine has "
                                 f"{torch.cuda.device_count()} CUDA device(s)")
            if dev.type == "mps" and count_gpus() == 0:
                raise ValueError(f"device {device!r} was asked for but MPS is not available")
            return dev
        if num_gpus > 0:
            if count_gpus() > 0:
                return gpu(0)
            if not _said_no_gpu:
                print(f"Trainer: num_gpus={num_gpus} but no GPU was found; training on the CPU.")
                _said_no_gpu = True
        return cpu()

    def prepare_data(self, data) -> None:
        self.data = data
        self.train_dataloader = data.train_dataloader()
        self.val_dataloader = data.val_dataloader()
        self.num_train_batches = len(self.train_dataloader)
        self.num_val_batches = len(self.val_dataloader) if self.val_dataloader is not None else 0
        if self.num_train_batches == 0:
            raise ValueError("the training data loader yields no batches")

    def prepare_model(self, model: nn.Module) -> None:
        model.trainer = self
        board = getattr(model, "board", None)
        if board is not None:
            board.xlabel = "epoch"
            board.xlim = [0, self.max_epochs]
        model.to(self.device)
        if self.channels_last and any(isinstance(m, nn.Conv2d) for m in model.modules()):
            model.to(memory_format=torch.channels_last)
        self.model = model

    def prepare_batch(self, batch: Sequence[torch.Tensor]) -> List[torch.Tensor]:
        """Move a batch to the device (NHWC images with ``channels_last``);
        under torchrun keep this process's slice."""
        batch = list(batch)
        self._global_batch_size = batch[-1].shape[0]
        if self._distributed:
            batch = dist_utils.shard_batch(batch)
        non_blocking = self.device.type == "cuda"
        out = []
        for a in batch:
            if isinstance(a, torch.Tensor):
                a = a.to(self.device, non_blocking=non_blocking)
                if self.channels_last and a.dim() == 4 and a.is_floating_point():
                    a = a.contiguous(memory_format=torch.channels_last)
            out.append(a)
        self._batch_size = out[-1].shape[0]
        return out

    def clip_gradients(self, grad_clip_val: float, model: nn.Module) -> None:
        """Rescale gradients so that their global norm is at most ``grad_clip_val``
        (the book's rule; computed on the device, with no host sync)."""
        params = [p for p in model.parameters() if p.requires_grad and p.grad is not None]
        torch.nn.utils.clip_grad_norm_(params, grad_clip_val)

    @staticmethod
    def _check_lr(lr) -> None:
        if isinstance(lr, torch.Tensor):
            lr = float(lr)
        if isinstance(lr, bool) or not (isinstance(lr, (int, float)) and lr > 0
                                        and math.isfinite(lr)):
            raise ValueError(f"the learning rate must be a positive number, got lr={lr!r}")

    def _configure_optimizer(self, model) -> torch.optim.Optimizer:
        """Call ``model.configure_optimizers()``.

        It returns an optimizer (the book's way), or ``(optimizer, scheduler)``
        or ``{"optimizer": ..., "lr_scheduler": ...}``; a scheduler is stepped
        after every batch (one-cycle and cosine schedules count in steps).
        """
        # Check the model's lr first: torch's own message for a negative lr
        # does not say where the value came from.
        if hasattr(model, "lr"):
            self._check_lr(model.lr)
        configured = model.configure_optimizers()
        self.scheduler = None
        if isinstance(configured, dict):
            optim, self.scheduler = configured["optimizer"], configured.get("lr_scheduler")
        elif isinstance(configured, (tuple, list)):
            if len(configured) != 2:
                raise ValueError("configure_optimizers() must return an optimizer or "
                                 f"(optimizer, scheduler), got {len(configured)} items")
            optim, self.scheduler = configured
        else:
            optim = configured
        if not isinstance(optim, torch.optim.Optimizer):
            raise TypeError("configure_optimizers() must return a torch.optim.Optimizer, "
                            f"got {type(optim).__name__}")
        for group in optim.param_groups:
            if "lr" in group:
                self._check_lr(group["lr"])
        return optim

    # -- logging (called by Module.plot) --------------------------------------
    def log(self, key: str, value, train: bool) -> None:
        """Add a batch mean or a per-example tensor to this epoch's sums.

        Nothing is copied to the host here; the sums are read every
        ``sync_every`` batches and at the end of the epoch.
        """
        sums = self._train_sums if train else self._val_sums
        sums.add(key, value, self._batch_size)

    # -- fitting -----------------------------------------------------------
    def fit(self, model, data, resume: Optional[str] = None) -> History:
        """Train ``model`` on ``data`` for ``max_epochs``; return the history.

        ``resume`` is a checkpoint path written by a previous run: weights,
        optimizer, history, epoch and random states are restored from it.
        """
        self._distributed = dist_utils.launched_distributed()
        if self._distributed:
            dist_utils.init_distributed(self.device)
        self.rank = dist_utils.rank()
        self.prepare_data(data)
        if self.seed is not None and resume is None:
            seed_everything(self.seed)
        self.prepare_model(model)
        if self._distributed:
            dist_utils.broadcast_parameters(model)
        self.optim = self._configure_optimizer(model)
        self.history = History()
        self.interrupted = False
        self.epoch = 0
        self.train_batch_idx = 0
        self.val_batch_idx = 0
        self._batch_in_epoch = 0
        self._train_sums, self._val_sums = MetricSums(), MetricSums()
        start = self._resume(resume) if resume is not None else 0
        try:
            for self.epoch in range(start, self.max_epochs):
                self._seed_epoch(self.epoch)
                record = self.fit_epoch()
                self.history.append(record)
                self._announce(record)
                self._maybe_checkpoint()
        except KeyboardInterrupt:
            self.interrupted = True
            self._report_interrupt()
        finally:
            board = getattr(model, "board", None)
            if board is not None and self.rank == 0:
                board.flush()
        return self.history

    def _seed_epoch(self, epoch: int) -> None:
        """Reseed at each epoch start so a resumed run replays the same
        shuffles and dropout masks as an uninterrupted one."""
        seed = self.seed
        if self._distributed and seed is None:
            # All ranks must shuffle alike: agree on rank 0's random seed.
            t = torch.randint(0, 2**31 - 1, (1,)) if self.rank == 0 else torch.zeros(1, dtype=torch.int64)
            torch.distributed.broadcast(t, src=0)
            seed = self.seed = int(t)
        if seed is None:
            return
        seed_everything(seed + epoch)
        for gen in self._generators():
            gen.manual_seed(seed + epoch)

    def _generators(self) -> List[torch.Generator]:
        found = []
        for obj in (self.train_dataloader, self.val_dataloader, self.data):
            gen = getattr(obj, "generator", None)
            if isinstance(gen, torch.Generator) and all(gen is not g for g in found):
                found.append(gen)
        return found

    @property
    def autocast_dtype(self) -> Optional[torch.dtype]:
        """``torch.bfloat16`` when ``amp=True`` took effect, else ``None`` (float32)."""
        return torch.bfloat16 if self._autocast_device is not None else None

    def _amp_device_type(self) -> Optional[str]:
        """Where bf16 autocast pays off: CUDA, or a CPU with native bf16."""
        if self.device.type == "cuda":
            return "cuda"
        if self.device.type == "cpu" and devices.cpu_has_native_bf16():
            return "cpu"
        return None

    def _autocast(self):
        if self._autocast_device is not None:
            return torch.autocast(self._autocast_device, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _reduce_fn(self):
        return dist_utils.all_reduce_sum if self._distributed else None

    def fit_epoch(self) -> Dict[str, Any]:
        """One pass over the training data, then one over the validation data;
        returns this epoch's history record."""
        epoch_start = time.perf_counter()
        self._train_epoch()
        train_means = self._train_sums.means(self._reduce_fn())
        n_train = self._train_sums.counts.get("loss", 0) * dist_utils.world_size()
        train_seconds = time.perf_counter() - epoch_start
        val_means = self._validate()
        seconds = time.perf_counter() - epoch_start
        record = {"epoch": self.epoch + 1, "train_loss": train_means.get("loss"),
                  "val_loss": val_means.get("loss"), "val_acc": val_means.get("acc"),
                  "seconds": seconds,
                  "images_per_s": n_train / train_seconds if train_seconds > 0 else float("nan")}
        for k, v in train_means.items():
            record.setdefault(f"train_{k}", v)
        for k, v in val_means.items():
            record.setdefault(f"val_{k}", v)
        self._draw_val(record)
        return record

    def _train_epoch(self) -> None:
        model, nb = self.model, self.num_train_batches
        model.train()
        self._train_sums.clear()
        # Board points at evenly spaced steps ending on the last batch, so no
        # point averages a lone leftover batch (469 batches, 2 points: 235, 469).
        per_epoch = min(max(int(getattr(model, "plot_train_per_epoch", 2)), 1), nb)
        point_steps = {math.ceil(k * nb / per_epoch) for k in range(1, per_epoch + 1)}
        check_every, sync_every = self.check_finite_every, self.sync_every
        # Under torchrun a lone rank must never raise: always use the shared check.
        windowed = check_every > 1 or self._distributed
        self._last_point = (0.0, 0)  # host loss sum and count at the last board point
        bad = None  # on-device: first batch (1-based) with a non-finite loss, or 0
        self._snapshot = self._take_snapshot() if windowed else None
        bar = tqdm(total=nb, desc=f"epoch {self.epoch + 1}/{self.max_epochs}", unit="batch",
                   leave=False, disable=not self.progress or self.rank != 0, dynamic_ncols=True)
        try:
            for i, batch in enumerate(self.train_dataloader):
                self._batch_in_epoch = i
                batch = self.prepare_batch(batch)
                with self._autocast():
                    loss = model.training_step(batch)
                if not windowed:
                    if not bool(torch.isfinite(loss)):  # free on CPU; before the update
                        raise DivergenceError(self.epoch + 1, i + 1, float(loss.detach()))
                else:  # remember the first bad batch on the device, without a sync
                    if bad is None:
                        bad = torch.zeros((), dtype=torch.int64, device=loss.device)
                    bad = torch.where((bad == 0) & ~torch.isfinite(loss.detach()),
                                      i + 1, bad)
                self.optim.zero_grad()
                loss.backward()
                if self._distributed:
                    dist_utils.average_gradients(model, self._batch_size, self._global_batch_size)
                if self.gradient_clip_val > 0:
                    self.clip_gradients(self.gradient_clip_val, model)
                self.optim.step()
                if self.scheduler is not None:
                    self.scheduler.step()
                self.train_batch_idx += 1
                step = i + 1
                if windowed and (step % check_every == 0 or step == nb):
                    self._check_finite(bad, step, check_every)
                    bad = None
                at_point = step in point_steps
                if at_point or step % sync_every == 0:
                    self._sync_train(step, bar, at_point)
        finally:
            if bar.n:  # draw the final count and loss once, whatever tqdm's refresh interval
                bar.refresh()
            bar.close()

    def _take_snapshot(self) -> Dict[str, Any]:
        clone = lambda obj: (obj.detach().clone() if isinstance(obj, torch.Tensor) else
                             {k: clone(v) for k, v in obj.items()} if isinstance(obj, dict) else
                             [clone(v) for v in obj] if isinstance(obj, list) else obj)
        return {"model": clone(self.model.state_dict()), "optim": clone(self.optim.state_dict())}

    def _check_finite(self, bad: Optional[torch.Tensor], step: int, window: int) -> None:
        if self._distributed:  # every rank learns the earliest NaN on any rank
            none = 2**62
            if bad is None:
                bad = torch.zeros((), dtype=torch.int64, device=self.device)
            bad = torch.where(bad == 0, none, bad)
            torch.distributed.all_reduce(bad, op=torch.distributed.ReduceOp.MIN)
            bad = torch.where(bad == none, 0, bad)
        first_bad = 0 if bad is None else int(bad)  # one small sync per window
        if first_bad == 0:
            self._snapshot = self._take_snapshot()
            return
        # The updates after the bad batch used non-finite gradients: go back
        # to the state saved at the previous check (start of this window).
        self.model.load_state_dict(self._snapshot["model"])
        self.optim.load_state_dict(self._snapshot["optim"])
        raise DivergenceError(self.epoch + 1, first_bad, float("nan"))

    def _sync_train(self, step: int, bar, at_point: bool) -> None:
        sums, counts = self._train_sums.reduce(self._reduce_fn() if at_point else None)
        if "loss" not in sums:
            bar.update(step - bar.n)
            return
        bar.set_postfix(loss=f"{sums['loss'] / max(counts['loss'], 1):.3f}", refresh=False)
        bar.update(step - bar.n)
        if at_point and self.rank == 0 and getattr(self.model, "board", None) is not None:
            s0, c0 = self._last_point
            if counts["loss"] > c0:
                x = self.epoch + step / self.num_train_batches
                self.model.board.draw(x, (sums["loss"] - s0) / (counts["loss"] - c0),
                                      "train_loss", every_n=1)
            self._last_point = (sums["loss"], counts["loss"])

    def _validate(self) -> Dict[str, float]:
        self._val_sums.clear()
        if self.val_dataloader is None:
            return {}
        self.model.eval()
        with torch.no_grad(), self._autocast():
            for batch in self.val_dataloader:
                self.model.validation_step(self.prepare_batch(batch))
                self.val_batch_idx += 1
        return self._val_sums.means(self._reduce_fn())

    def _draw_val(self, record: Dict[str, Any]) -> None:
        board = getattr(self.model, "board", None)
        if board is None or self.rank != 0:
            return
        for key in ("val_loss", "val_acc"):
            if record.get(key) is not None:
                board.draw(self.epoch + 1, record[key], key, every_n=1)

    def _announce(self, r: Dict[str, Any]) -> None:
        if self.rank != 0:
            return
        parts = [f"epoch {r['epoch']}/{self.max_epochs}:"]
        fmt = lambda v: "n/a" if v is None else f"{v:.3f}"
        parts.append(f"train loss {fmt(r['train_loss'])},")
        if r["val_loss"] is not None:
            parts.append(f"val loss {fmt(r['val_loss'])},")
        if r["val_acc"] is not None:
            parts.append(f"val acc {fmt(r['val_acc'])},")
        parts.append(f"{r['seconds']:.1f} s, {r['images_per_s']:.0f} img/s")
        print(" ".join(parts), flush=True)

    # -- checkpoints and interrupts -----------------------------------------
    def checkpoint_state(self) -> Dict[str, Any]:
        """What a checkpoint holds: weights, optimizer, progress, randomness."""
        return {"model": self.model.state_dict(), "optimizer": self.optim.state_dict(),
                "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
                "epoch": self.epoch + 1, "history": list(self.history),
                "train_batch_idx": self.train_batch_idx, "val_batch_idx": self.val_batch_idx,
                "seed": self.seed, "rng": get_rng_state(),
                "generators": [g.get_state() for g in self._generators()],
                "board": dict(getattr(getattr(self.model, "board", None), "data", {}) or {})}

    def _maybe_checkpoint(self) -> None:
        if not self.checkpoint_path:
            return
        done = self.epoch + 1
        if done % self.checkpoint_every and done != self.max_epochs:
            return
        if self.rank == 0:
            save_checkpoint(self.checkpoint_state(), self.checkpoint_path)
        if self._distributed:
            torch.distributed.barrier()

    def _resume(self, path: str) -> int:
        # Everything is read to the CPU: load_state_dict copies weights and
        # optimizer state to the model's device; RNG states must stay on the CPU.
        ckpt = load_checkpoint(path, map_location="cpu", required=REQUIRED_KEYS)
        self.model.load_state_dict(ckpt["model"])
        self.optim.load_state_dict(ckpt["optimizer"])
        if self.scheduler is not None and ckpt.get("scheduler") is not None:
            self.scheduler.load_state_dict(ckpt["scheduler"])
        self.history = History(ckpt["history"])
        self.train_batch_idx = ckpt.get("train_batch_idx", 0)
        self.val_batch_idx = ckpt.get("val_batch_idx", 0)
        set_rng_state(ckpt["rng"])
        for gen, state in zip(self._generators(), ckpt.get("generators", [])):
            gen.set_state(state)
        board = getattr(self.model, "board", None)
        if board is not None and ckpt.get("board"):
            board.data = {k: list(v) for k, v in ckpt["board"].items()}
        if self.rank == 0:
            print(f"Resuming from {path}: {ckpt['epoch']} of {self.max_epochs} epochs done.")
        return ckpt["epoch"]

    def _report_interrupt(self) -> None:
        if self.rank != 0:
            return
        msg = (f"Training interrupted at epoch {self.epoch + 1}, batch "
               f"{self._batch_in_epoch + 1}: the model keeps its current weights and the "
               f"history its {len(self.history)} finished epoch(s).")
        if self.checkpoint_path and os.path.exists(self.checkpoint_path):
            msg += (f" Resume with trainer.fit(model, data, "
                    f"resume={self.checkpoint_path!r}).")
        else:
            msg += (" Pass checkpoint_path=... to Trainer to be able to resume; "
                    "calling fit again starts over.")
        print(msg, flush=True)
