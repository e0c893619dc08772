"""One run at a time per checkpoint path: a lock file beside the checkpoint.

Two runs saving to one path would replace each other's checkpoints, and the
file would end up holding whichever saved last, with nothing said. So ``fit``
holds an exclusive ``flock`` on ``PATH.lock`` from its start to its end and
writes its process id there; a second run at the same path is refused at
once, naming that process. The kernel drops the lock however the process
ends (a crash, SIGKILL); the file itself is removed when ``fit`` ends, by
an exception too. Without ``fcntl`` (Windows) there is no lock; on a
filesystem that refuses locks a :class:`~d2lmini.devices.FallbackWarning`
says so and training goes on.
"""
import os
import socket
import stat
import warnings
from typing import Optional

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

from .checkpoint import CheckpointError
from .checkpoint_paths import LOCK_SUFFIX
from .devices import FallbackWarning

__all__ = ["RunLock"]


def _same_file(fd: int, path: str) -> bool:
    try:
        on_disk = os.lstat(path)
    except OSError:
        return False
    held = os.fstat(fd)
    return (held.st_dev, held.st_ino) == (on_disk.st_dev, on_disk.st_ino)


def _command_line(pid: int) -> str:
    try:  # Linux only; elsewhere the process id alone
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            words = f.read().split(b"\0")
    except OSError:
        return ""
    line = " ".join(os.fsdecode(w) for w in words if w)
    return f" ({line[:120]}{'...' if len(line) > 120 else ''})" if line else ""


def _describe_holder(fd: int) -> str:
    """Who holds the lock, from what it wrote in the file: 'process 123 (python train.py)'."""
    try:
        pid_line, _, host = os.pread(fd, 512, 0).decode("utf-8", "replace").partition("\n")
        pid = int(pid_line)
    except (OSError, ValueError):
        return "another process (it has not written its process id yet)"
    host = host.strip()
    if host and host != socket.gethostname():
        return f"process {pid} on host {host}"
    if pid == os.getpid():
        return f"process {pid} (this process: another fit, in another thread?)"
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return (f"process {pid}, which has ended; a process it started (a data loader worker?) "
                "still holds the lock and ends soon")
    except OSError:
        pass
    return f"process {pid}{_command_line(pid)}"


def _open_lock_file(lock_path: str) -> int:
    try:
        mode = os.lstat(lock_path).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as e:
        raise CheckpointError(f"cannot use the lock file {lock_path}: {e.strerror}") from None
    if mode is not None and not stat.S_ISREG(mode):
        raise CheckpointError(f"{lock_path} is not a regular file, so it cannot be this run's "
                              "lock file; remove it, or choose another checkpoint_path")
    # O_NOFOLLOW: a link planted there must not make root truncate its target.
    flags = (os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0))
    try:
        return os.open(lock_path, flags, 0o666)
    except OSError as e:
        raise CheckpointError(f"cannot create the lock file {lock_path} beside the "
                              f"checkpoint: {e.strerror or e}") from None


class RunLock:
    """The lock of one run on one checkpoint path (``release`` it at the end)."""

    def __init__(self, lock_path: str, fd: Optional[int]):
        self.lock_path, self._fd = lock_path, fd  # fd None: no lock (unsupported here)

    @classmethod
    def acquire(cls, path: str) -> "RunLock":
        """Lock checkpoint ``path`` for this run, or raise :class:`CheckpointError`
        naming the process that holds it."""
        lock_path = path + LOCK_SUFFIX
        if fcntl is None:
            return cls(lock_path, None)
        for _ in range(100):
            fd = _open_lock_file(lock_path)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _describe_holder(fd)
                os.close(fd)
                raise CheckpointError(
                    f"checkpoint_path {path} is in use by another run: {holder} holds its lock "
                    f"{lock_path}. Two runs saving to one checkpoint overwrite each other's "
                    "state. Wait for that run to end (or stop it), or give this run another "
                    "checkpoint_path.") from None
            except OSError as e:  # ENOLCK, EOPNOTSUPP: this filesystem has no locks
                os.close(fd)
                warnings.warn(f"cannot lock {lock_path} ({e.strerror or e}): another run "
                              f"saving to {path} at the same time would not be noticed.",
                              FallbackWarning, stacklevel=4)
                return cls(lock_path, None)
            # The run that held the lock removes the file as it ends: if it did so
            # between our open and our flock, we hold a lock on a removed file.
            if _same_file(fd, lock_path):
                record = f"{os.getpid()}\n{socket.gethostname()}\n".encode()
                os.pwrite(fd, record, 0)  # overwrite, then cut: never empty to a reader
                os.ftruncate(fd, len(record))
                return cls(lock_path, fd)
            os.close(fd)
        raise CheckpointError(f"could not lock {lock_path}: other runs keep creating and "
                              "removing it")

    def release(self) -> None:
        """Remove the lock file and drop the lock (idempotent)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            if _same_file(fd, self.lock_path):
                os.unlink(self.lock_path)  # while still holding it: see acquire
        except OSError:
            pass
        finally:
            os.close(fd)
