"""A live plot of training curves that works in Jupyter and in scripts."""
import atexit
import io
import os
import stat
import sys
import tempfile
import time
import warnings
from typing import Dict, List, Optional, Sequence

from matplotlib.figure import Figure
from tqdm import tqdm

from .checkpoint import open_temp_file
from .display import svg_bytes
from .hyperparameters import HyperParameters

__all__ = ["ProgressBoard", "in_notebook", "run_directory", "BoardWarning"]

# Where run directories are made (None: the system's temporary directory).
RUNS_ROOT: Optional[str] = None


class BoardWarning(UserWarning):
    """The board could not save its picture; training and the data go on."""


def run_directory() -> str:
    """A new directory for one run's files, under :data:`RUNS_ROOT`."""
    return tempfile.mkdtemp(prefix="d2lmini-run-", dir=RUNS_ROOT)


# Boards holding points that the throttle has not drawn yet. They are drawn
# after the Jupyter cell that drew them has run, or when a script's
# interpreter exits, so a board used on its own (no Trainer calling flush)
# still ends with every point. Held strongly, like a file's unwritten
# buffer: a board dropped before the exit must still draw its last points
# (a weak reference would lose them); a board leaves the set once drawn.
_undrawn: set = set()
_hooks_installed = False


def flush_undrawn_boards() -> None:
    """Draw every board that holds points not drawn yet (what runs at exit)."""
    for board in list(_undrawn):
        board.flush()


def _install_hooks() -> None:
    """Once per process: flush undrawn boards after each Jupyter cell
    (as matplotlib's inline backend shows its figures), else at exit."""
    global _hooks_installed
    if _hooks_installed:
        return
    _hooks_installed = True
    if in_notebook():
        from IPython import get_ipython
        get_ipython().events.register("post_execute", flush_undrawn_boards)
    else:
        atexit.register(flush_undrawn_boards)


def in_notebook() -> bool:
    """True inside a Jupyter kernel (where a figure can be shown inline)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


class ProgressBoard(HyperParameters):
    """Plot points as they arrive, averaging every ``every_n`` of them.

    In Jupyter the figure is shown once and updated in place through a
    display handle. Elsewhere it is written to ``save_path`` (by default
    ``board.png`` in a new run directory, whose path is printed; a
    ``Trainer`` with a ``checkpoint_path`` puts it beside the checkpoint;
    each ``fit`` gets its own picture unless ``save_path`` was given: see
    :meth:`start_run`).
    Either way the figure is drawn at the first point, then at most every
    ``save_every`` seconds, so drawing costs training little time, and
    whenever :meth:`flush` is called (the Trainer does at the end of
    ``fit``). Points the throttle held back are drawn after the Jupyter cell
    ends, or when the script exits. The file is written to a temporary
    file and renamed into place, its directory created if needed; a failure
    to save is one :class:`BoardWarning` per board, never an error.
    The figure is 5 x 3 inches (500 x 300 pixels), as wide as the chapter's
    other plots (the published book's 3.5 x 2.5 showed small on the site).
    """

    def __init__(self, xlabel: Optional[str] = None, ylabel: Optional[str] = None,
                 xlim=None, ylim=None, xscale: str = "linear", yscale: str = "linear",
                 ls: Sequence[str] = ("-", "--", "-.", ":"),
                 colors: Sequence[str] = ("C0", "C1", "C2", "C3"),
                 fig=None, axes=None, figsize=(5.0, 3.0), display: bool = True,
                 save_path: Optional[str] = None, save_every: float = 2.0):
        self.save_hyperparameters()
        self.raw_points: Dict[str, List[tuple]] = {}
        self.data: Dict[str, List[tuple]] = {}
        self._lines = {}
        self._handle = None
        self._last_render: Optional[float] = None  # never drawn: draw the first point now
        self._announced = False
        self._warned = False
        self._chosen_path: Optional[str] = None  # a save_path chosen for a run, not the user's

    def start_run(self, beside: Optional[str] = None) -> None:
        """Begin a new training run (the Trainer calls it at each ``fit``).

        A ``save_path`` given by the user is kept. One chosen for an earlier run
        is chosen again: beside the checkpoint ``beside`` (``NAME-board.png``
        for ``NAME.pt``), else in a new run directory, so a second ``fit``
        never draws over the first one's picture. Each run says where its
        picture goes, and says so when it replaces a file already there.
        """
        if self.save_path is None or self.save_path == self._chosen_path:
            self.save_path = os.path.splitext(beside)[0] + "-board.png" if beside else None
            self._chosen_path = self.save_path
            self._warned = False  # another file: its problems are news
        self._announced = False

    def draw(self, x, y, label: str, every_n: int = 1) -> None:
        """Add point (x, y) to the curve ``label``; plot the mean of every n."""
        every_n = max(int(every_n), 1)
        points = self.raw_points.setdefault(label, [])
        self.data.setdefault(label, [])
        points.append((float(x), float(y)))
        if len(points) < every_n:
            return
        xs, ys = zip(*points)
        self.data[label].append((sum(xs) / len(xs), sum(ys) / len(ys)))
        points.clear()
        if self.display:
            _undrawn.add(self)
            _install_hooks()
            self._render(force=False)

    def flush(self) -> None:
        """Bring the shown or saved figure up to date now."""
        if self.display and self.data:
            self._render(force=True)

    # -- drawing -----------------------------------------------------------
    def _axes(self):
        if self.axes is None:
            if self.fig is None:
                self.fig = Figure(figsize=self.figsize)
            self.axes = self.fig.add_subplot()
        if self.fig is None:
            self.fig = self.axes.figure
        return self.axes

    def _update_lines(self) -> None:
        axes = self._axes()
        for i, (label, pts) in enumerate(self.data.items()):
            if label not in self._lines:
                (line,) = axes.plot([], [], linestyle=self.ls[i % len(self.ls)],
                                    color=self.colors[i % len(self.colors)], label=label)
                self._lines[label] = line
            self._lines[label].set_data([p[0] for p in pts], [p[1] for p in pts])
        axes.set_xscale(self.xscale)
        axes.set_yscale(self.yscale)
        axes.relim()
        axes.autoscale_view()
        if self.xlim:
            axes.set_xlim(self.xlim)
        if self.ylim:
            axes.set_ylim(self.ylim)
        axes.set_xlabel(self.xlabel or "")
        axes.set_ylabel(self.ylabel or "")
        # Beside the axes, one entry per line: inside, "best" still covered a
        # curve (the loss and accuracy curves of a fit cross the whole plot),
        # and a row above them leaves each entry only the width of its English
        # words, which a translated plot (tools/translate.py) does not keep.
        axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False,
                    fontsize="small", handlelength=1.5, borderaxespad=0.0)
        self.fig.tight_layout()

    def _render(self, force: bool) -> None:
        now = time.monotonic()
        if (not force and self._last_render is not None
                and now - self._last_render < self.save_every):
            return
        self._last_render = now
        _undrawn.discard(self)
        self._update_lines()
        if in_notebook():
            from IPython import display
            # Send the SVG ourselves: a bare matplotlib Figure only renders
            # as an image when pyplot's inline backend happens to be loaded.
            image = display.SVG(data=svg_bytes(self.fig))
            if self._handle is None:
                self._handle = display.display(image, display_id=True)
            else:
                self._handle.update(image)
            return
        if self.save_path is None:
            self.save_path = self._chosen_path = os.path.join(run_directory(), "board.png")
        path = os.path.abspath(self.save_path)
        replacing = not self._announced and os.path.lexists(path)  # an earlier run's picture?
        try:
            self._save(path)
        except (OSError, ValueError, RuntimeError) as e:
            if not self._warned:  # once per board: a long run would warn every few seconds
                self._warned = True
                # The reason without file names (no temporary name), so the
                # text is the same at every attempt and warning filters dedupe it.
                reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
                with tqdm.external_write_mode(file=sys.stderr):  # its own line, not in a bar
                    warnings.warn(f"ProgressBoard could not save {path}: {reason}. Drawing "
                                  "(and training) goes on, the curves stay in board.data; "
                                  "this board does not warn again.", BoardWarning, stacklevel=3)
            return
        if not self._announced:
            self._announced = True
            # tqdm.write clears a running progress bar, prints, and redraws the
            # bar, so the message gets its own line in a terminal.
            tqdm.write(f"ProgressBoard: not in Jupyter, saving the curves to {path}"
                       + (" (replacing the file that was there)" if replacing else ""))

    def _save(self, path: str) -> None:
        """Write the figure to ``path`` atomically (never through a link there),
        creating its directory as ``checkpoint_path`` does."""
        fmt = os.path.splitext(path)[1][1:].lower()
        if fmt not in self.fig.canvas.get_supported_filetypes():
            raise ValueError(f"unsupported file extension {fmt!r}; use .png, .svg or .pdf")
        directory = os.path.dirname(path)
        try:
            os.makedirs(directory, exist_ok=True)
        except OSError as e:
            raise OSError(e.errno, f"cannot create the directory {directory} "
                                   f"({e.strerror})") from e
        try:
            mode = os.lstat(path).st_mode
        except OSError:
            mode = None
        if mode is not None and not (stat.S_ISREG(mode) or stat.S_ISLNK(mode)):
            raise ValueError("it is a device, FIFO, socket or directory, not a regular file, "
                             "and saving would replace it; choose another save_path")
        # A picture others may read, like any file the user writes (not 0600).
        fd, tmp = open_temp_file(directory or ".", prefix=".board-", suffix=f".{fmt}")
        try:
            with os.fdopen(fd, "wb") as f:
                self.fig.savefig(f, format=fmt)
            os.replace(tmp, path)  # replaces a planted symlink itself, not its target
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise
