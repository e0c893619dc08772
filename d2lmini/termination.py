"""SIGTERM during ``fit`` stops training the way Ctrl-C does, then ends the process.

Schedulers (Slurm, Kubernetes), ``kill`` and ``timeout`` stop a job with
SIGTERM, whose default action ends Python at once: no word of where training
stopped, nor of the checkpoint to resume from, and a checkpoint being
written leaves its temporary file. While ``fit`` trains (in the main thread
only, where Python runs signal handlers) SIGTERM instead raises :class:`Terminated`,
a ``KeyboardInterrupt``, so the trainer stops and prints how to resume as at
Ctrl-C. When ``fit`` is over, the handler there was before is put back and
the signal is raised again: the process ends by SIGTERM, as it would have
(or the previous handler runs). A SIGTERM that was ignored stays ignored.
"""
import signal
import sys
import threading
from typing import Optional

__all__ = ["Terminated", "SigtermStop"]


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived during ``fit``; the trainer handles it like Ctrl-C."""


class SigtermStop:
    """From :meth:`start` to :meth:`end`, SIGTERM raises :class:`Terminated`.

    ``end`` puts the previous handler back and, if SIGTERM came, raises it
    again. Nothing changes outside the main thread, or where SIGTERM is
    ignored or handled by code outside Python.
    """

    def __init__(self):
        self.received = False
        self._previous: Optional[object] = None
        self._active = False

    @classmethod
    def start(cls) -> "SigtermStop":
        stop = cls()
        sigterm = getattr(signal, "SIGTERM", None)
        if sigterm is None or threading.current_thread() is not threading.main_thread():
            return stop  # only the main thread may set handlers (and runs them)
        previous = signal.getsignal(sigterm)
        if previous in (None, signal.SIG_IGN):  # ignored on purpose, or not ours to replace
            return stop
        try:
            signal.signal(sigterm, stop._stop)
        except ValueError:  # not the main interpreter
            return stop
        stop._previous, stop._active = previous, True
        return stop

    def _stop(self, signum, frame) -> None:
        if not self.received:  # one stop: a second SIGTERM must not break the cleanup
            self.received = True
            raise Terminated("SIGTERM")

    def end(self) -> None:
        """Put the previous handler back; end as SIGTERM would if one came."""
        if not self._active:
            return
        self._active = False
        signal.signal(signal.SIGTERM, self._previous)
        if self.received:
            for stream in (sys.stdout, sys.stderr):
                try:
                    stream.flush()  # the resume hint must not die in a buffer
                except (AttributeError, OSError, ValueError):
                    pass
            signal.raise_signal(signal.SIGTERM)
