"""The temporary files checkpoints are written to, and those a killed run left.

:func:`~d2lmini.checkpoint.save_checkpoint` writes PATH's bytes to
``.ckpt-TAG-PID-RANDOM.tmp`` in PATH's directory and renames that over
PATH. A process killed in the middle (SIGKILL, the OOM killer, a power cut)
leaves the temporary file behind. TAG (from PATH's file name) and PID say
whose it was, so the next run at PATH removes those of PATH whose process is
gone, and no other file.
"""
import hashlib
import os
import re
import stat
from typing import List

__all__ = ["temp_prefix", "TEMP_SUFFIX", "remove_stale_temporaries"]

TEMP_SUFFIX = ".tmp"


def _tag(path: str) -> str:
    # Short and fixed-length: the temporary's name must fit however long PATH's is.
    return hashlib.sha256(os.fsencode(os.path.basename(path))).hexdigest()[:8]


def temp_prefix(path: str) -> str:
    """The start of the names of this process's temporary files for ``path``."""
    return f".ckpt-{_tag(path)}-{os.getpid()}-"


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: another user's live process; else: cannot tell
        return True
    return True


def remove_stale_temporaries(path: str) -> List[str]:
    """Remove the temporary files of checkpoint ``path`` whose writer has died;
    return their paths. Call it holding the run's lock on ``path``."""
    if os.name != "posix":  # on Windows os.kill(pid, 0) would end the process
        return []
    directory = os.path.dirname(os.path.abspath(path))
    ours = re.compile(rf"\.ckpt-{_tag(path)}-(\d+)-[0-9a-z_]+{re.escape(TEMP_SUFFIX)}\Z")
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    removed = []
    for name in names:
        match = ours.match(name)
        if not match or _alive(int(match.group(1))):
            continue
        stale = os.path.join(directory, name)
        try:
            if stat.S_ISREG(os.lstat(stale).st_mode):
                os.remove(stale)
                removed.append(stale)
        except OSError:  # gone already, or not ours to remove: leave it
            pass
    return removed
