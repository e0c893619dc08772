"""A live plot of training curves that works in Jupyter and in scripts."""
import io
import os
import tempfile
import time
import warnings
from typing import Dict, List, Optional, Sequence

from matplotlib.figure import Figure

from .hyperparameters import HyperParameters

__all__ = ["ProgressBoard", "in_notebook", "run_directory", "BoardWarning"]

# Where run directories are made (None: the system's temporary directory).
RUNS_ROOT: Optional[str] = None


class BoardWarning(UserWarning):
    """The board could not save its picture; training and the data go on."""


def run_directory() -> str:
    """A new directory for one run's files, under :data:`RUNS_ROOT`."""
    return tempfile.mkdtemp(prefix="d2lmini-run-", dir=RUNS_ROOT)


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
    ``Trainer`` with a ``checkpoint_path`` puts it beside the checkpoint).
    Either way the figure is drawn at most every ``save_every`` seconds and
    whenever :meth:`flush` is called, so drawing costs training little time.
    The file is written to a temporary file and renamed into place; a
    failure to save is a :class:`BoardWarning`, never an error.
    """

    def __init__(self, xlabel: Optional[str] = None, ylabel: Optional[str] = None,
                 xlim=None, ylim=None, xscale: str = "linear", yscale: str = "linear",
                 ls: Sequence[str] = ("-", "--", "-.", ":"),
                 colors: Sequence[str] = ("C0", "C1", "C2", "C3"),
                 fig=None, axes=None, figsize=(3.5, 2.5), display: bool = True,
                 save_path: Optional[str] = None, save_every: float = 2.0):
        self.save_hyperparameters()
        self.raw_points: Dict[str, List[tuple]] = {}
        self.data: Dict[str, List[tuple]] = {}
        self._lines = {}
        self._handle = None
        self._last_render = time.monotonic()
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
        axes.legend(loc="best")
        self.fig.tight_layout()

    def _render(self, force: bool) -> None:
        now = time.monotonic()
        if not force and now - self._last_render < self.save_every:
            return
        self._last_render = now
        self._update_lines()
        if in_notebook():
            from IPython import display
            # Send PNG bytes ourselves: a bare matplotlib Figure only renders
            # as an image when pyplot's inline backend happens to be loaded.
            buf = io.BytesIO()
            self.fig.savefig(buf, format="png")
            image = display.Image(data=buf.getvalue(), format="png")
            if self._handle is None:
                self._handle = display.display(image, display_id=True)
            else:
                self._handle.update(image)
            return
        if self.save_path is None:
            self.save_path = os.path.join(run_directory(), "board.png")
        path = os.path.abspath(self.save_path)
        try:
            self._save(path)
        except (OSError, ValueError, RuntimeError) as e:
            warnings.warn(f"ProgressBoard could not save {path}: {e}. Training goes on; the "
                          "curves stay in board.data.", BoardWarning, stacklevel=2)
            return
        if not self._announced:
            print(f"ProgressBoard: not in Jupyter, saving the curves to {path}")
            self._announced = True

    def _save(self, path: str) -> None:
        """Write the figure to ``path`` atomically (never through a link there)."""
        fmt = os.path.splitext(path)[1][1:].lower()
        if fmt not in self.fig.canvas.get_supported_filetypes():
            raise ValueError(f"unsupported file extension {fmt!r}; use .png, .svg or .pdf")
        fd, tmp = tempfile.mkstemp(prefix=".board-", suffix=f".{fmt}",
                                   dir=os.path.dirname(path))
        try:
            with os.fdopen(fd, "wb") as f:
                self.fig.savefig(f, format=fmt)
            os.replace(tmp, path)  # replaces a planted symlink itself, not its target
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise
