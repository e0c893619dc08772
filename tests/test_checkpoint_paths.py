"""Where checkpoints go and how writing them fails: a path that cannot hold a
checkpoint is refused before the first batch, one live run per path, a full
disk named as such, SIGTERM and SIGKILL in the middle of a run, and the
board's picture of a second run. Every test here works in tmp_path only
(special files included: never /dev/null itself)."""
import errno
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import textwrap
import threading
import time

import pytest
import torch

import d2lmini as d2l
import d2lmini.checkpoint as ckpt_mod
from helpers import MLP, SyntheticData, make_model

TESTS = os.path.dirname(os.path.abspath(__file__))
posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX signals and special files")


class Counting(MLP):
    def training_step(self, batch):
        self.steps = getattr(self, "steps", 0) + 1
        return super().training_step(batch)


def fit(path, model=None, epochs=1, **kwargs):
    """A short fit that checkpoints to ``path``; returns the trainer."""
    trainer = d2l.Trainer(max_epochs=epochs, progress=False, checkpoint_path=path, **kwargs)
    trainer.fit(model if model is not None else make_model(), SyntheticData(n=200))
    return trainer


# -- scripts run in a process of their own (signals, limits, a second run) ----
PRELUDE = textwrap.dedent("""
    import json, os, signal, sys, time
    sys.path.insert(0, {tests!r})
    import torch
    import d2lmini as d2l
    from helpers import MLP, SyntheticData, make_model
""")


def _script(tmp_path, body: str, **values) -> str:
    script = tmp_path / f"script-{len(list(tmp_path.glob('script-*.py')))}.py"
    script.write_text((PRELUDE + textwrap.dedent(body)).format(tests=TESTS, **values))
    return str(script)


def run_script(tmp_path, body: str, **values) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, _script(tmp_path, body, **values)],
                          capture_output=True, text=True, timeout=300, cwd=tmp_path)


# -- what is at the path -----------------------------------------------------
def _fifo(path):
    os.mkfifo(path)


def _char_device(path):
    if os.geteuid() != 0:
        pytest.skip("making a device node needs root")
    try:  # the same device as /dev/null, but in tmp_path: the test never touches /dev
        os.mknod(path, stat.S_IFCHR | 0o600, os.makedev(1, 3))
    except PermissionError:
        pytest.skip("this container may not make device nodes")


def _socket(path):
    s = socket.socket(socket.AF_UNIX)
    try:
        s.bind(path)
    except OSError as e:  # e.g. a tmp_path longer than a socket address allows
        pytest.skip(f"cannot bind a socket in tmp_path: {e}")
    finally:
        s.close()  # the socket file stays


@posix_only
@pytest.mark.parametrize("make, kind, through_a_link", [
    (_fifo, "a FIFO", False), (_fifo, "a FIFO", True),
    (_char_device, "a character device", False), (_socket, "a socket", False)])
def test_anything_but_a_regular_file_at_checkpoint_path_is_refused_before_training(
        tmp_path, make, kind, through_a_link):
    node = tmp_path / "node"
    make(str(node))
    path = tmp_path / "run.pt" if through_a_link else node
    if through_a_link:
        path.symlink_to(node)
    mode, before = os.lstat(node).st_mode, sorted(os.listdir(tmp_path))
    model = make_model(cls=Counting)
    with pytest.raises(d2l.CheckpointError) as info:
        fit(str(path), model)
    msg = str(info.value)
    assert f"checkpoint_path {path}" in msg and f"is {kind}" in msg
    assert "not a regular file" in msg
    assert getattr(model, "steps", 0) == 0
    assert os.lstat(node).st_mode == mode  # still the node, not a checkpoint
    assert sorted(os.listdir(tmp_path)) == before  # no picture, lock or temporary file


def test_a_link_to_a_regular_file_is_still_replaced_by_the_checkpoint(tmp_path):
    target = tmp_path / "target.pt"
    target.write_bytes(b"an earlier checkpoint")
    link = tmp_path / "run.pt"
    link.symlink_to(target)
    fit(str(link))
    assert target.read_bytes() == b"an earlier checkpoint"  # the link is replaced, as before
    assert not link.is_symlink() and ckpt_mod.load_checkpoint(str(link))["epoch"] == 1


def test_a_path_ending_in_a_separator_is_refused_before_training(tmp_path):
    path = str(tmp_path / "newdir") + os.sep
    model = make_model(cls=Counting)
    with pytest.raises(d2l.CheckpointError, match="names a directory .it ends with a path "
                                                  "separator.; name a file in it") as info:
        fit(path, model)
    assert os.path.join(path, "run.pt") in str(info.value)
    assert getattr(model, "steps", 0) == 0
    assert os.listdir(tmp_path) == []  # neither newdir/ nor newdir/-board.png


@pytest.mark.parametrize("extra, what", [(3, "has a name of"), (-2, "lock file")])
def test_a_file_name_longer_than_the_filesystem_allows_is_refused_before_training(
        tmp_path, extra, what):
    limit = os.pathconf(tmp_path, "PC_NAME_MAX") if hasattr(os, "pathconf") else 255
    path = str(tmp_path / ("r" * (limit + extra - 3) + ".pt"))
    model = make_model(cls=Counting)
    with pytest.raises(d2l.CheckpointError, match=f"{what}.*allows at most {limit}"):
        fit(path, model)
    assert getattr(model, "steps", 0) == 0
    assert os.listdir(tmp_path) == []


def test_an_empty_checkpoint_path_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError, match="checkpoint_path is empty.*pass None"):
        d2l.Trainer(max_epochs=1, progress=False, checkpoint_path="")
    assert os.listdir(tmp_path) == []


def test_a_tilde_path_is_in_the_home_directory(tmp_path, monkeypatch):
    home, cwd = tmp_path / "home", tmp_path / "cwd"
    home.mkdir()
    cwd.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("USERPROFILE", str(home))  # Windows
    monkeypatch.chdir(cwd)
    fit("~/runs/x.pt")
    assert ckpt_mod.load_checkpoint(str(home / "runs" / "x.pt"))["epoch"] == 1
    assert sorted(os.listdir(home / "runs")) == ["x-board.png", "x.pt"]
    assert os.listdir(cwd) == []  # no literal ./~ directory


# -- a full disk -------------------------------------------------------------
def _enospc() -> OSError:
    return OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def _raise_oserror(obj, f):
    f.write(b"half a checkpoint")
    raise _enospc()


def _raise_like_torch(obj, f):
    # torch.save catches the failed write and raises its own RuntimeError,
    # which names neither the file nor the cause.
    f.write(b"half a checkpoint")
    try:
        raise _enospc()
    except OSError:
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 704 "
                           "vs 598")


@pytest.mark.parametrize("failing_save", [_raise_oserror, _raise_like_torch])
def test_a_full_disk_names_the_file_keeps_the_checkpoint_and_the_history(
        tmp_path, monkeypatch, failing_save):
    path = str(tmp_path / "c.pt")
    real_save, calls = torch.save, []

    def save(obj, f, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:  # the checkpoint of epoch 1 still fits on the disk
            return real_save(obj, f, *args, **kwargs)
        return failing_save(obj, f)
    monkeypatch.setattr(torch, "save", save)
    trainer = d2l.Trainer(max_epochs=3, progress=False, checkpoint_path=path)
    with pytest.raises(d2l.CheckpointWriteError) as info:
        trainer.fit(make_model(), SyntheticData(n=200))
    err = info.value
    assert isinstance(err, OSError) and err.errno == errno.ENOSPC and err.filename == path
    msg = str(err)
    assert f"cannot write the checkpoint {path}: no space left on device" in msg
    assert "left as it was" in msg and f"resume={path!r}" in msg and "1 of 3 epochs" in msg
    assert len(err.history) == 2 and err.history == trainer.history
    monkeypatch.setattr(torch, "save", real_save)
    assert ckpt_mod.load_checkpoint(path)["epoch"] == 1  # the previous checkpoint is kept
    assert sorted(os.listdir(tmp_path)) == ["c-board.png", "c.pt"]  # no temporary, no lock


def test_an_interrupt_inside_torchs_writer_stays_an_interrupt():
    # torch.save turns whatever a write raises into "RuntimeError: ...
    # unexpected pos", so Ctrl-C (or SIGTERM) during a checkpoint write would
    # lose the resume hint; the writer keeps the interrupt, and it is raised.
    from d2lmini.checkpoint_write import RecordingWriter, write_failure

    class Interrupted:
        writes = 0

        def write(self, data):
            self.writes += 1
            if self.writes == 3:
                raise KeyboardInterrupt
            return len(data)

        def flush(self):
            pass
    writer = RecordingWriter(Interrupted())
    with pytest.raises(BaseException) as info:
        torch.save({"w": torch.zeros(100)}, writer)
    assert isinstance(writer.error, KeyboardInterrupt)
    assert isinstance(write_failure(info.value, writer.error, "c.pt"), KeyboardInterrupt)


FILE_SIZE_LIMIT = """
    import resource
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # past the limit a write fails (EFBIG)

    class Limited(MLP):
        calls = 0

        def training_step(self, batch):
            self.calls += 1
            if self.calls == 5:  # epoch 2: from now on no file may grow past 2 kB
                hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
                resource.setrlimit(resource.RLIMIT_FSIZE, (2000, hard))
            return super().training_step(batch)

    trainer = d2l.Trainer(max_epochs=3, progress=False, checkpoint_path={path!r})
    try:
        trainer.fit(make_model(cls=Limited), SyntheticData(n=400))
    except Exception as e:
        print(json.dumps({{"type": type(e).__name__, "oserror": isinstance(e, OSError),
                          "errno": getattr(e, "errno", None), "message": str(e),
                          "history": len(getattr(e, "history", None) or [])}}))
"""


@pytest.mark.skipif(not hasattr(signal, "SIGXFSZ"), reason="needs RLIMIT_FSIZE (POSIX)")
def test_a_real_torch_save_past_the_file_size_limit_names_the_cause(tmp_path):
    path = str(tmp_path / "runs" / "c.pt")
    proc = run_script(tmp_path, FILE_SIZE_LIMIT, path=path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["type"] == "CheckpointWriteError" and result["oserror"], result
    assert result["errno"] == errno.EFBIG
    assert f"cannot write the checkpoint {path}: file too large" in result["message"]
    assert "ulimit -f" in result["message"] and result["history"] == 2
    assert ckpt_mod.load_checkpoint(path)["epoch"] == 1
    assert not [n for n in os.listdir(tmp_path / "runs") if n.endswith((".tmp", ".lock"))]


# -- one run per checkpoint path ---------------------------------------------
HOLDER = """
    class Waiting(MLP):
        def training_step(self, batch):
            if not os.path.exists({started!r}):  # hold the path until told to finish
                open({started!r}, "w").close()
                deadline = time.monotonic() + 240
                while not os.path.exists({finish!r}) and time.monotonic() < deadline:
                    time.sleep(0.05)
            return super().training_step(batch)

    d2l.Trainer(max_epochs=1, seed=1, progress=False, checkpoint_path={path!r}).fit(
        make_model(cls=Waiting), SyntheticData(n=200))
    print("holder done")
"""


def test_a_second_run_at_a_live_runs_checkpoint_path_is_refused_naming_its_process(tmp_path):
    runs = tmp_path / "runs"
    path = str(runs / "c.pt")
    started, finish = tmp_path / "started", tmp_path / "finish"
    proc = subprocess.Popen(
        [sys.executable, _script(tmp_path, HOLDER, path=path, started=str(started),
                                 finish=str(finish))],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 240
        while not started.exists():
            assert proc.poll() is None, proc.communicate()[1][-3000:]
            assert time.monotonic() < deadline, "the holder never started training"
            time.sleep(0.05)
        model = make_model(cls=Counting)
        with pytest.raises(d2l.CheckpointError) as info:
            fit(path, model, seed=2)
        msg = str(info.value)
        assert f"checkpoint_path {path} is in use by another run: process {proc.pid}" in msg
        assert f"{path}.lock" in msg and "another checkpoint_path" in msg
        assert getattr(model, "steps", 0) == 0
    finally:
        finish.touch()
        out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0 and "holder done" in out, err[-3000:]
    assert ckpt_mod.load_checkpoint(path)["seed"] == 1  # the holder's checkpoint, untouched
    assert sorted(os.listdir(runs)) == ["c-board.png", "c.pt"]  # its lock file is gone
    fit(path, seed=2)  # the path is free again
    assert ckpt_mod.load_checkpoint(path)["seed"] == 2


class Failing(MLP):
    """Reads the lock file at its first batch, then stops training with ``error``."""

    def __init__(self, lock: str, error: BaseException, **kwargs):
        super().__init__(**kwargs)
        self.lock, self.error, self.seen = lock, error, None

    def training_step(self, batch):
        if os.path.exists(self.lock):
            with open(self.lock) as f:
                self.seen = f.read()
        raise self.error


@pytest.mark.parametrize("error", [RuntimeError("boom"), KeyboardInterrupt()])
def test_fit_holds_the_lock_and_releases_it_however_it_ends(tmp_path, in_a_notebook, error):
    path = str(tmp_path / "c.pt")
    model = make_model(cls=Failing, lock=path + ".lock", error=error)
    if isinstance(error, KeyboardInterrupt):  # in Jupyter, Ctrl-C returns the history
        fit(path, model)
    else:
        with pytest.raises(RuntimeError, match="boom"):
            fit(path, model)
    assert model.seen is not None and model.seen.split()[0] == str(os.getpid())
    assert not os.path.exists(path + ".lock")
    with pytest.raises(FileNotFoundError):  # a failed resume releases it too
        d2l.Trainer(max_epochs=1, progress=False, checkpoint_path=path).fit(
            make_model(), SyntheticData(n=200), resume=str(tmp_path / "missing.pt"))
    assert not os.path.exists(path + ".lock")
    fit(path)
    assert sorted(os.listdir(tmp_path)) == ["c-board.png", "c.pt"]


def test_without_fcntl_there_is_no_lock_and_training_goes_on(tmp_path, monkeypatch):
    import d2lmini.run_lock
    monkeypatch.setattr(d2lmini.run_lock, "fcntl", None)  # as on Windows
    fit(str(tmp_path / "c.pt"))
    assert sorted(os.listdir(tmp_path)) == ["c-board.png", "c.pt"]


# -- a run killed or terminated in the middle --------------------------------
KILLED_MID_WRITE = """
    def save_and_die(obj, f, *args, **kwargs):
        f.write(b"half a checkpoint")
        f.flush()
        os.kill(os.getpid(), signal.SIGKILL)  # as the OOM killer would
    torch.save = save_and_die
    d2l.Trainer(max_epochs=1, progress=False, checkpoint_path={path!r}).fit(
        make_model(), SyntheticData(n=200))
"""


@posix_only
def test_temporaries_left_by_a_killed_run_are_removed_at_the_next_start(tmp_path):
    runs = tmp_path / "runs"
    path = str(runs / "c.pt")

    def temporaries():
        return {n for n in os.listdir(runs) if n.endswith(".tmp")}
    # Two runs, at this path and at another one beside it, both killed mid-write.
    runs_killed = [subprocess.Popen([sys.executable, _script(tmp_path, KILLED_MID_WRITE, path=p)],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                    cwd=tmp_path) for p in (path, str(runs / "other.pt"))]
    for proc in runs_killed:
        err = proc.communicate(timeout=300)[1]
        assert proc.returncode == -signal.SIGKILL, err[-3000:]
    assert len(temporaries()) == 2
    fit(path)
    # This path's leftover is gone; the other checkpoint's is not this run's business.
    assert len(temporaries()) == 1 and not os.path.exists(path + ".lock")
    fit(str(runs / "other.pt"))  # ... until a run at that path starts
    assert temporaries() == set()
    assert ckpt_mod.load_checkpoint(path)["epoch"] == 1


TERMINATED = """
    real_save, saves = torch.save, []

    def save(obj, f, *args, **kwargs):
        saves.append(1)
        if {mid_write} and len(saves) == 2:  # writing the checkpoint of epoch 2
            f.write(b"half a checkpoint")
            os.kill(os.getpid(), signal.SIGTERM)
        return real_save(obj, f, *args, **kwargs)
    torch.save = save

    class Terminating(MLP):
        calls = 0

        def training_step(self, batch):
            self.calls += 1
            if not {mid_write} and self.calls == 6:  # epoch 2, batch 2
                os.kill(os.getpid(), signal.SIGTERM)  # as `kill PID` or a scheduler would
            return super().training_step(batch)

    d2l.Trainer(max_epochs=3, progress=False, checkpoint_path={path!r}).fit(
        make_model(cls=Terminating), SyntheticData(n=400))
    print("fit returned")
"""


@posix_only
@pytest.mark.parametrize("mid_write, where", [(False, "epoch 2, batch 2"),
                                              (True, "epoch 2, batch 4")])
def test_sigterm_says_how_to_resume_leaves_no_temporary_and_ends_the_process(
        tmp_path, mid_write, where):
    runs = tmp_path / "runs"
    path = str(runs / "c.pt")
    proc = run_script(tmp_path, TERMINATED, path=path, mid_write=mid_write)
    assert proc.returncode == -signal.SIGTERM, proc.stderr[-3000:]
    assert "fit returned" not in proc.stdout
    assert f"Training interrupted at {where}" in proc.stdout
    assert f"resume={path!r}" in proc.stdout and "1 of 3 epochs saved" in proc.stdout
    assert ckpt_mod.load_checkpoint(path)["epoch"] == 1
    assert sorted(os.listdir(runs)) == ["c-board.png", "c.pt"]  # no temporary, no lock


def test_fit_puts_the_sigterm_handler_back_and_works_in_a_thread(tmp_path):
    before = signal.getsignal(signal.SIGTERM)
    fit(str(tmp_path / "a.pt"))
    assert signal.getsignal(signal.SIGTERM) is before
    errors = []

    def in_a_thread():  # signal handlers can only be set in the main thread
        try:
            fit(str(tmp_path / "b.pt"))
        except BaseException as e:  # noqa: B902 - reported below
            errors.append(e)
    thread = threading.Thread(target=in_a_thread)
    thread.start()
    thread.join()
    assert errors == [] and ckpt_mod.load_checkpoint(str(tmp_path / "b.pt"))["epoch"] == 1


# -- the board's picture of a second run ---------------------------------------
def test_a_second_fit_draws_beside_its_own_checkpoint_not_over_the_first_picture(tmp_path):
    model = make_model()
    fit(str(tmp_path / "a.pt"), model)
    first = (tmp_path / "a-board.png").read_bytes()
    fit(str(tmp_path / "b.pt"), model, epochs=2)
    assert (tmp_path / "a-board.png").read_bytes() == first
    assert sorted(os.listdir(tmp_path)) == ["a-board.png", "a.pt", "b-board.png", "b.pt"]


def _announced(out: str):
    return [line.split("saving the curves to ")[1] for line in out.splitlines()
            if "saving the curves to " in line]


def test_a_second_fit_without_a_checkpoint_gets_a_picture_of_its_own(capsys):
    model = make_model()
    d2l.Trainer(max_epochs=1, progress=False).fit(model, SyntheticData(n=200))
    (first,) = _announced(capsys.readouterr().out)
    picture = open(first, "rb").read()
    d2l.Trainer(max_epochs=1, progress=False).fit(model, SyntheticData(n=200))
    (second,) = _announced(capsys.readouterr().out)
    assert second != first and open(first, "rb").read() == picture
    assert open(second, "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_a_picture_that_replaces_an_earlier_file_says_so(tmp_path, capsys):
    (tmp_path / "c-board.png").write_bytes(b"an earlier run's picture")
    fit(str(tmp_path / "c.pt"))
    (line,) = _announced(capsys.readouterr().out)
    assert line == f"{tmp_path / 'c-board.png'} (replacing the file that was there)"
    assert (tmp_path / "c-board.png").read_bytes()[:4] == b"\x89PNG"


@posix_only
def test_the_board_never_replaces_a_fifo(tmp_path):
    fifo = tmp_path / "b.png"
    os.mkfifo(fifo)
    board = d2l.ProgressBoard(save_path=str(fifo))
    with pytest.warns(d2l.BoardWarning, match="not a regular file"):
        board.draw(0, 1.0, "loss")
        board.flush()
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode) and os.listdir(tmp_path) == ["b.png"]
