"""The book's ``Trainer``: the training loop, with each safety net one named call.

The loop is :meth:`Trainer.fit_epoch`. Around it, one module per idea:
:mod:`~d2lmini.precision` (bf16 autocast or float32), :mod:`~d2lmini.divergence`
(the NaN/inf guard), :mod:`~d2lmini.progress` (bar, board, epoch lines),
:mod:`~d2lmini.checkpointing` (save, resume), :mod:`~d2lmini.distributed`
(torchrun) and :mod:`~d2lmini.optimizers` (``configure_optimizers``).

Determinism: on the CPU, runs with the same ``seed`` that start from the same
weights are bit-identical, and a resumed run ends exactly like an
uninterrupted one (each epoch reseeds torch, ``random``, NumPy and the data
generators; checkpoints keep every random state). The seed does not touch
weights the model already has: call ``d2l.seed_everything(seed)`` before
building the model for repeatable initial weights. On CUDA, cuDNN and bf16
change the last bits from run to run unless
``torch.use_deterministic_algorithms(True)`` is set.
"""
import os
import time
from typing import Any, Dict, List, Optional, Sequence, Union

import torch
from torch import nn

from . import devices
from . import distributed as dist_utils
from .board import in_notebook
from .checkpoint import SEED_MAX, check_seed, seed_everything
from .checkpointing import Checkpointer, generators_of
from .checks import check_non_negative_number, check_positive_int
from .compiling import compile_model
from .divergence import DivergenceError, DivergenceGuard
from .heap import freed_memory_kept
from .history import History, MetricSums
from .hyperparameters import HyperParameters
from .layout import MemoryLayout
from .small_maps import skip_padding_taps
from .model_checks import check_has_parameters, check_training_loss
from .optimizers import configure_optimizers
from .precision import Precision
from .progress import Progress, exit_like_ctrl_c_if_uncaught
from .termination import SigtermStop

__all__ = ["Trainer", "DivergenceError"]

# channels_last stays opt-in: it changes floating-point results, and a model
# calling .view() on conv activations needs .reshape(). Speeds: benchmarks/README.md.
CHANNELS_LAST_DEFAULT = False


class Trainer(HyperParameters):
    """Fit a :class:`~d2lmini.Module` to a data module, the book's way.

    ``Trainer(max_epochs, num_gpus=0, gradient_clip_val=0)`` is the book's
    signature; the keywords add: ``seed`` (an int from -2**63 to 2**64 - 1;
    torch, ``random``, NumPy and the data's generators are reseeded with it
    at the start of every epoch, which fixes the batch order, dropout masks,
    random augmentations and the first weights of lazy layers, created at the
    first batch; weights the model already has are kept, so for repeatable
    initial weights call ``d2l.seed_everything(seed)`` before building the
    model), ``device`` (overrides ``num_gpus``; no GPU: a warning and the
    CPU), ``channels_last`` (NHWC for 2-d convolutions: ``True``, ``False``
    or ``"auto"``, the rule of :func:`~d2lmini.layout.channels_last_pays`
    applied to the first batch), ``compile`` (``torch.compile`` the model;
    without a C++ compiler, a warning), ``keep_freed_memory`` (on a CPU with
    glibc, ``fit`` keeps freed tensor memory for the next step instead of
    returning it to the system: see :mod:`~d2lmini.heap`), ``checkpoint_path``
    and ``checkpoint_every`` (an atomic checkpoint every n epochs;
    ``fit(..., resume=path)`` goes on; the path is checked up front and locked
    during ``fit``: :mod:`~d2lmini.checkpoint_paths`, :mod:`~d2lmini.run_lock`),
    ``small_maps`` (3x3 convolutions on 1x1 and 2x2 maps skip the weights
    that meet only padding, :mod:`~d2lmini.small_maps`: ``True``, ``False``
    or ``"auto"``, on a CPU), ``progress`` (the batch bar), ``amp``
    (``True``: bf16 autocast where bf16 runs in hardware, else a warning and
    float32; ``"auto"``: the same choice without the warning;
    ``autocast_dtype`` says which), ``sync_every`` (batches between reads of
    the metric sums) and ``check_finite_every`` (batches between reads of the
    NaN/inf guard: 1 on the CPU, ``sync_every`` on accelerators and under
    torchrun; see :class:`~d2lmini.divergence.DivergenceGuard`).

    ``fit`` returns a :class:`~d2lmini.history.History`. Ctrl-C stops at the
    current batch and prints how to resume; in Jupyter ``fit`` then returns
    the history, in a script the ``KeyboardInterrupt`` propagates. SIGTERM
    stops the same way, then ends the process by SIGTERM
    (:mod:`~d2lmini.termination`). Under
    ``torchrun --nproc_per_node=N`` each process trains on its slice of every
    batch and only rank 0 prints and draws.
    """

    def __init__(self, max_epochs: int, num_gpus: int = 0, gradient_clip_val: float = 0,
                 *, seed: Optional[int] = None, device: Union[str, torch.device, None] = None,
                 channels_last: Union[bool, str] = CHANNELS_LAST_DEFAULT,
                 small_maps: Union[bool, str] = "auto",
                 compile: bool = False, keep_freed_memory: bool = True,
                 checkpoint_path: Optional[str] = None, checkpoint_every: int = 1,
                 progress: bool = True, amp: Union[bool, str] = False, sync_every: int = 10,
                 check_finite_every: Optional[int] = None):
        self.save_hyperparameters()
        check_positive_int("max_epochs", max_epochs)
        check_positive_int("num_gpus", num_gpus, minimum=0)
        check_non_negative_number("gradient_clip_val", gradient_clip_val)
        if seed is not None:
            check_seed(seed)  # now, not as an overflow inside torch at fit time
        for name in ("checkpoint_every", "sync_every") + (
                ("check_finite_every",) if check_finite_every is not None else ()):
            check_positive_int(name, getattr(self, name))
        distributed = dist_utils.launched_distributed()
        self.device = devices.resolve_device(device, num_gpus, distributed)
        self.gpus = [self.device] if self.device.type != "cpu" else []
        if check_finite_every is None:  # per-step reads are free on a lone CPU only
            local_cpu = self.device.type == "cpu" and not distributed
            self.check_finite_every = 1 if local_cpu else sync_every
        if not (isinstance(small_maps, bool) or small_maps == "auto"):
            raise ValueError(f"small_maps must be True, False or 'auto', got {small_maps!r}")
        self.precision = Precision(self.device, amp)
        self.layout = MemoryLayout(channels_last)
        self.checkpointer = Checkpointer(checkpoint_path, checkpoint_every)
        self.history = History()
        self.interrupted = False

    # -- setup -------------------------------------------------------------
    def prepare_data(self, data) -> None:
        self.data = data
        self.train_dataloader = data.train_dataloader()
        self.val_dataloader = data.val_dataloader()
        self.num_train_batches = len(self.train_dataloader)
        self.num_val_batches = len(self.val_dataloader) if self.val_dataloader is not None else 0
        if self.num_train_batches == 0:
            raise ValueError("the training data loader yields no batches")

    def prepare_model(self, model: nn.Module) -> None:
        check_has_parameters(model)
        model.trainer = self
        board = getattr(model, "board", None)
        if board is not None:
            board.xlabel, board.xlim = "epoch", [0, self.max_epochs]
            board.start_run(beside=self.checkpointer.path)  # not over an earlier run's picture
        model.to(self.device)
        if self.small_maps is True or (self.small_maps == "auto" and self.device.type == "cpu"):
            skip_padding_taps(model)  # same function, fewer products: small_maps.py
        self.layout.prepare_model(model)
        if self.compile and not getattr(model, "_compiled_call_impl", None):
            self.compile = compile_model(model, self.device)
        self._has_batchnorm = any(isinstance(m, nn.modules.batchnorm._BatchNorm)
                                  for m in model.modules())
        self.model = model

    def prepare_batch(self, batch: Sequence[torch.Tensor]) -> List[torch.Tensor]:
        """Move a batch to the device (NHWC images with ``channels_last``);
        under torchrun keep this process's slice."""
        batch = list(batch)
        self._global_batch_size = batch[-1].shape[0]
        if self._distributed:
            batch = dist_utils.shard_batch(batch)
        out = []
        for a in batch:
            if isinstance(a, torch.Tensor):
                a = a.to(self.device, non_blocking=self.device.type == "cuda")
                a = self.layout.batch(a, self.device, self.precision.dtype)
            out.append(a)
        self._batch_size = out[-1].shape[0]
        return out

    def clip_gradients(self, grad_clip_val: float, model: nn.Module) -> None:
        """Rescale gradients so that their global norm is at most ``grad_clip_val``
        (the book's rule; computed on the device, with no host sync)."""
        params = [p for p in model.parameters() if p.requires_grad and p.grad is not None]
        torch.nn.utils.clip_grad_norm_(params, grad_clip_val)

    def log(self, key: str, value, train: bool) -> None:
        """Add a batch mean or per-example values to this epoch's sums (called
        by ``Module.plot``; read every ``sync_every`` batches, with no copy here)."""
        (self._train_sums if train else self._val_sums).add(key, value, self._batch_size)

    # -- fitting -----------------------------------------------------------
    def fit(self, model, data, resume: Optional[str] = None) -> History:
        """Train ``model`` on ``data`` for ``max_epochs``; return the history.

        ``resume`` is a checkpoint path written by a previous run: weights,
        optimizer, history, epoch and random states are restored from it.
        ``checkpoint_path`` is locked for the whole fit (another live run at
        it is refused); SIGTERM stops training like Ctrl-C, then ends the process.
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
        self.optim, self.scheduler = configure_optimizers(model)
        self.history, self.interrupted, self.epoch = History(), False, 0
        self.train_batch_idx = self.val_batch_idx = self._epoch_start_idx = 0
        self._train_sums, self._val_sums = MetricSums(), MetricSums()
        self.guard = DivergenceGuard(self.check_finite_every, self._distributed)
        self.reporter = Progress(self.max_epochs, self.progress, self.rank,
                                 getattr(model, "board", None))
        self.checkpointer.start_fit()
        self.checkpointer.check_writable(self.rank)  # fail now, not after an epoch; lock
        try:
            start = self.checkpointer.restore(self, resume) if resume is not None else 0
        except BaseException:
            self.checkpointer.end_fit()  # unlock: this run never started
            raise
        keep = self.keep_freed_memory and self.device.type == "cpu"
        sigterm = SigtermStop.start()  # SIGTERM stops training like Ctrl-C, until the end
        with freed_memory_kept(keep):  # reuse pages between steps (d2lmini/heap.py)
            try:
                for self.epoch in range(start, self.max_epochs):
                    self._seed_epoch(self.epoch)
                    record = self.fit_epoch()
                    self.history.append(record)
                    self.reporter.end_epoch(record)
                    self._maybe_checkpoint()
            except KeyboardInterrupt:
                self.interrupted = True
                batch = min(self.train_batch_idx - self._epoch_start_idx + 1,
                            self.num_train_batches)
                self.reporter.interrupted(self.epoch + 1, batch, len(self.history),
                                          self.checkpointer.resume_hint(self.max_epochs))
                if not in_notebook():
                    exit_like_ctrl_c_if_uncaught()
                    raise  # a script stops (exit status 130); a notebook gets the history
            finally:
                try:
                    self.reporter.finish()
                finally:
                    self.checkpointer.end_fit()  # unlock checkpoint_path
                    sigterm.end()  # after a SIGTERM: the process ends here, by SIGTERM
        return self.history

    def fit_epoch(self) -> Dict[str, Any]:
        """One pass over the training data, then one over the validation data;
        returns this epoch's history record."""
        model, nb = self.model, self.num_train_batches
        epoch_start = time.perf_counter()
        model.train()
        self._train_sums.clear()
        self._epoch_start_idx = self.train_batch_idx
        self.guard.start_epoch(model, self.optim, self.epoch + 1)
        self.reporter.start_epoch(self.epoch, nb, getattr(model, "plot_train_per_epoch", 2))
        try:
            for step, batch in enumerate(self.train_dataloader, start=1):
                batch = self.prepare_batch(batch)
                if self._lone_example():  # batch norm cannot train on one example
                    continue
                self.guard.before_step()
                with self.precision.autocast():
                    loss = model.training_step(batch)
                if self.train_batch_idx == self._epoch_start_idx:  # once an epoch
                    check_training_loss(model, loss)  # a float loss fails here, clearly
                self.guard.check_loss(loss, step)
                self.guard.check_statistics(step)
                self.optim.zero_grad()
                loss.backward()
                self._average_gradients()
                if self.gradient_clip_val > 0:
                    self.clip_gradients(self.gradient_clip_val, model)
                self.guard.check_gradients(step)
                self.optim.step()
                if self.scheduler is not None:
                    self.scheduler.step()
                self.train_batch_idx += 1
                self.guard.after_step(step, last=step == nb)
                self._report_batch(step)
            self.guard.finish_epoch()
        finally:
            self.reporter.close_bar()
        if self.train_batch_idx == self._epoch_start_idx:
            raise ValueError("the epoch took no training step: every batch held one example, "
                             "which batch norm cannot train on; use batch_size >= 2")
        train_seconds = time.perf_counter() - epoch_start
        train_means = self._train_sums.means(self._reduce_fn())
        n_train = self._train_sums.counts.get("loss", 0) * dist_utils.world_size()
        val_means = self._validate()
        return History.record(self.epoch + 1, train_means, val_means,
                              time.perf_counter() - epoch_start, n_train / train_seconds)

    def _validate(self) -> Dict[str, float]:
        self._val_sums.clear()
        if self.val_dataloader is None:
            return {}
        self.model.eval()
        with torch.no_grad(), self.precision.autocast():
            for batch in self.val_dataloader:
                self.model.validation_step(self.prepare_batch(batch))
                self.val_batch_idx += 1
        return self._val_sums.means(self._reduce_fn())

    # -- the named steps of the loop ------------------------------------------
    def _lone_example(self) -> bool:
        """A last batch of one example (on some rank) is skipped in training."""
        return self._has_batchnorm and dist_utils.smallest_shard(self._global_batch_size) == 1

    def _average_gradients(self) -> None:
        if self._distributed:
            dist_utils.average_gradients(self.model, self._batch_size, self._global_batch_size)

    def _report_batch(self, step: int) -> None:
        at_point = self.reporter.wants_point(step)
        if at_point or step % self.sync_every == 0:  # one host read for all metrics
            sums, counts = self._train_sums.reduce(self._reduce_fn() if at_point else None)
            self.reporter.batch_done(step, sums.get("loss"), counts.get("loss", 0))

    def _reduce_fn(self):
        return dist_utils.all_reduce_sum if self._distributed else None

    def _seed_epoch(self, epoch: int) -> None:
        """Reseed at each epoch start so a resumed run replays the same
        shuffles and dropout masks as an uninterrupted one."""
        if self._distributed:  # all ranks must shuffle alike
            self.seed = dist_utils.agree_on_seed(self.seed)
        if self.seed is not None:
            seed = self.seed + epoch
            if seed > SEED_MAX:  # past torch's 64 bits: the same seed, written negative
                seed -= 2**64
            seed_everything(seed)
            for gen in self.generators():
                gen.manual_seed(seed)

    def generators(self) -> List[torch.Generator]:
        """The data's random generators (reseeded every epoch, checkpointed)."""
        return generators_of(self.train_dataloader, self.val_dataloader, self.data)

    @property
    def autocast_dtype(self) -> Optional[torch.dtype]:
        """``torch.bfloat16`` when ``amp=True`` took effect, else ``None`` (float32)."""
        return self.precision.dtype

    # -- checkpoints -------------------------------------------------------
    def checkpoint_state(self) -> Dict[str, Any]:
        """What a checkpoint holds: weights, optimizer, progress, randomness."""
        return Checkpointer.state(self)

    def _maybe_checkpoint(self) -> None:
        if self.checkpointer.due(self.epoch + 1, self.max_epochs):
            if self.rank == 0:
                self.checkpointer.save(self.checkpoint_state())
            dist_utils.barrier()
