"""Why writing a checkpoint failed, said plainly.

``torch.save`` into a file object catches the error of a failed ``write``
(``OSError: No space left on device``, ``File too large``, even a
``KeyboardInterrupt``) and raises ``RuntimeError: [enforce fail at
inline_container.cc:...] unexpected pos`` instead, naming neither the file
nor the cause. :class:`RecordingWriter` keeps the first exception a write
raised, and :func:`write_failure` turns it into a
:class:`CheckpointWriteError` naming the file and the reason (an interrupt
stays an interrupt).
"""
import errno as errno_codes
from typing import Optional

__all__ = ["CheckpointWriteError", "RecordingWriter", "write_failure"]


class CheckpointWriteError(OSError):
    """A checkpoint could not be written: a full disk, a file size limit, an
    I/O error. The file at ``filename`` is left as it was (checkpoints are
    renamed into place only when complete).

    ``errno`` and ``strerror`` are the system's reason (``None`` when torch
    gave none). When raised by ``Trainer.fit``, ``history`` is the history of
    the finished epochs, which ``fit`` would have returned.
    """

    def __init__(self, message: str, filename: str, cause: Optional[OSError] = None):
        super().__init__(getattr(cause, "errno", None), getattr(cause, "strerror", None))
        self.filename, self.message, self.history = filename, message, None

    def __str__(self) -> str:
        return self.message

    def __reduce__(self):  # OSError's would call __init__ with (errno, strerror)
        return (_rebuild, (type(self), self.message, self.filename, self.errno,
                           self.strerror, self.history))


def _rebuild(cls, message, filename, code, strerror, history):
    err = cls(message, filename, OSError(code, strerror) if code is not None else None)
    err.history = history
    return err


class RecordingWriter:
    """A file object for ``torch.save`` that remembers what its writes raised."""

    def __init__(self, f):
        self._f = f
        self.error: Optional[BaseException] = None  # the first exception a write raised

    def write(self, data) -> int:
        try:
            return self._f.write(data)
        except BaseException as e:
            self.error = self.error or e
            raise

    def __getattr__(self, name):  # flush, seek, tell, ... as the file does
        return getattr(self._f, name)


def _causes(error: BaseException):
    seen = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.__cause__ or error.__context__


def _reason(cause: OSError) -> str:
    text = cause.strerror or str(cause)
    text = text[:1].lower() + text[1:]
    name = errno_codes.errorcode.get(cause.errno, "")
    return f"{text} ({name})" if name else text


def write_failure(error: BaseException, recorded: Optional[BaseException],
                  path: str) -> BaseException:
    """What to raise after writing checkpoint ``path`` failed with ``error``
    (``recorded``: what a write raised inside torch, if anything)."""
    # torch's RuntimeError keeps the write's exception as its context (torch 2.x);
    # other errors (a value torch cannot pickle) are no write failure: left alone.
    chain = list(_causes(error)) if isinstance(error, (OSError, RuntimeError)) else [error]
    candidates = ([recorded] if recorded is not None else []) + chain
    interrupt = next((e for e in candidates if not isinstance(e, Exception)), None)
    if interrupt is not None:  # Ctrl-C or SIGTERM mid-write: stop as at any other moment
        return interrupt
    cause = next((e for e in candidates if isinstance(e, OSError)), None)
    if cause is not None:
        if isinstance(cause, CheckpointWriteError):
            return cause
        return CheckpointWriteError(f"cannot write the checkpoint {path}: {_reason(cause)}.",
                                    path, cause)
    if isinstance(error, RuntimeError) and "inline_container" in str(error):
        # torch's writer failed and the reason was lost: say so, with torch's words.
        return CheckpointWriteError(
            f"cannot write the checkpoint {path}: torch's writer failed without saying why "
            f"({str(error).splitlines()[0][:200]}); check the free space there.", path)
    return error
