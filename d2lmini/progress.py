"""What the trainer shows while it runs: the batch bar, the board's points,
one line per epoch and the message after an interrupt. Only rank 0 shows."""
import atexit
import math
import os
import signal
import sys
from typing import Any, Dict, Optional

from tqdm.auto import tqdm

__all__ = ["Progress", "exit_like_ctrl_c_if_uncaught"]


def _exit_by_sigint_after_uncaught_interrupt() -> None:
    # Python itself exits by SIGINT (status 130) after an uncaught
    # KeyboardInterrupt, but an exit handler that runs code (torch's dynamo
    # registers one during training) makes it exit with status 1 instead.
    # Registered last, this handler runs first and exits as Python would.
    if isinstance(getattr(sys, "last_value", None), KeyboardInterrupt):
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (AttributeError, OSError, ValueError):
                pass
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)


def exit_like_ctrl_c_if_uncaught() -> None:
    """Make sure a script that lets the trainer's KeyboardInterrupt go
    uncaught ends with status 130, as Ctrl-C should."""
    if os.name == "posix":
        # Registered again each time, so it is the last handler: it runs first.
        atexit.unregister(_exit_by_sigint_after_uncaught_interrupt)
        atexit.register(_exit_by_sigint_after_uncaught_interrupt)


class Progress:
    """Progress output of one ``fit`` (rank 0 only; silent on other ranks)."""

    def __init__(self, max_epochs: int, bar: bool, rank: int, board=None):
        self.max_epochs, self.show_bar, self.rank, self.board = max_epochs, bar, rank, board
        if rank != 0:
            self.board = None

    def start_epoch(self, epoch: int, num_batches: int, points_per_epoch: int) -> None:
        """Open the bar of epoch ``epoch`` (from 0) and choose the board's steps.

        Board points fall on evenly spaced steps ending on the last batch, so
        no point averages a lone leftover batch (469 batches, 2 points: 235, 469).
        """
        self.epoch, self.num_batches = epoch, num_batches
        per_epoch = min(max(int(points_per_epoch), 1), num_batches)
        self.point_steps = {math.ceil(k * num_batches / per_epoch)
                            for k in range(1, per_epoch + 1)}
        self._last_point = (0.0, 0)  # loss sum and count at the previous point
        self.bar = tqdm(total=num_batches, desc=f"epoch {epoch + 1}/{self.max_epochs}",
                        unit="batch", leave=False, dynamic_ncols=True,
                        disable=not self.show_bar or self.rank != 0)

    def wants_point(self, step: int) -> bool:
        return step in self.point_steps

    def batch_done(self, step: int, loss_sum: Optional[float], count: int) -> None:
        """Move the bar to ``step``; at a point step, draw the mean training
        loss of the batches since the previous point."""
        if loss_sum is not None:
            self.bar.set_postfix(loss=f"{loss_sum / max(count, 1):.3f}", refresh=False)
        self.bar.update(step - self.bar.n)
        if loss_sum is None or not self.wants_point(step):
            return
        s0, c0 = self._last_point
        if self.board is not None and count > c0:
            x = self.epoch + step / self.num_batches
            self.board.draw(x, (loss_sum - s0) / (count - c0), "train_loss", every_n=1)
        self._last_point = (loss_sum, count)

    def close_bar(self) -> None:
        if self.bar.n:  # draw the final count and loss once, whatever tqdm's refresh rate
            self.bar.refresh()
        self.bar.close()

    def end_epoch(self, record: Dict[str, Any]) -> None:
        """Draw the validation points and print the epoch's line."""
        if self.rank != 0:
            return
        if self.board is not None:
            for key in ("val_loss", "val_acc"):
                if record.get(key) is not None:
                    self.board.draw(record["epoch"], record[key], key, every_n=1)
        fmt = lambda v: "n/a" if v is None else f"{v:.3f}"
        parts = [f"epoch {record['epoch']}/{self.max_epochs}:",
                 f"train loss {fmt(record['train_loss'])},"]
        for key, name in (("val_loss", "val loss"), ("val_acc", "val acc")):
            if record[key] is not None:
                parts.append(f"{name} {fmt(record[key])},")
        parts.append(f"{record['seconds']:.1f} s, {record['images_per_s']:.0f} img/s")
        print(" ".join(parts), flush=True)

    def interrupted(self, epoch: int, batch: int, epochs_done: int,
                    resume_hint: Optional[str]) -> None:
        """Say where training stopped and how to go on."""
        if self.rank != 0:
            return
        msg = (f"Training interrupted at epoch {epoch}, batch {batch}: the model keeps its "
               f"current weights and the history its {epochs_done} finished epoch(s).")
        print(msg + " " + (resume_hint or "Pass checkpoint_path=... to Trainer to be able "
                           "to resume; calling fit again starts over."), flush=True)

    def finish(self) -> None:
        """Bring the board's figure up to date (end of fit, or an interrupt)."""
        if self.board is not None:
            self.board.flush()
