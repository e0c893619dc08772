"""Loading a checkpoint never runs code from the file, and every bad file
gives one clear error that names it."""
import os

import pytest
import torch

import d2lmini as d2l
import d2lmini.checkpoint as ckpt_mod
from helpers import SyntheticData, losses, make_model


class _RunsCode:
    """Unpickling this object calls os.system, as a crafted file would."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def _real_checkpoint(tmp_path):
    path = str(tmp_path / "good.pt")
    d2l.Trainer(max_epochs=1, seed=3, progress=False, checkpoint_path=path).fit(
        make_model(), SyntheticData(n=200))
    return path


def test_malicious_checkpoint_runs_nothing(tmp_path):
    good = torch.load(_real_checkpoint(tmp_path), weights_only=True)
    marker = tmp_path / "pwned"
    good["history"] = [_RunsCode(marker)]  # looks like a checkpoint, carries a payload
    evil = str(tmp_path / "evil.pt")
    torch.save(good, evil)
    with pytest.raises(d2l.CheckpointError, match="evil.pt.*could run code"):
        d2l.Trainer(max_epochs=2, progress=False).fit(make_model(), SyntheticData(n=200),
                                                      resume=evil)
    assert not marker.exists()  # the payload never ran
    # The same object loaded the unsafe way does run: the test's payload is real.
    torch.load(evil, weights_only=False)
    assert marker.exists()


@pytest.mark.parametrize("content, expect", [
    (b"", "empty, truncated or not a torch file"),
    (b"epoch 3, loss 0.2\n", "empty, truncated or not a torch file"),
])
def test_unreadable_files_name_the_file(tmp_path, content, expect):
    path = tmp_path / "bad.pt"
    path.write_bytes(content)
    with pytest.raises(d2l.CheckpointError, match=expect) as info:
        d2l.Trainer(max_epochs=1, progress=False).fit(make_model(), SyntheticData(n=200),
                                                      resume=str(path))
    assert str(path) in str(info.value)


def test_truncated_checkpoint(tmp_path):
    good = _real_checkpoint(tmp_path)
    cut = tmp_path / "cut.pt"
    data = open(good, "rb").read()
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(d2l.CheckpointError, match="cut.pt.*truncated"):
        ckpt_mod.load_checkpoint(str(cut))


def test_bare_state_dict_is_named_as_such(tmp_path):
    path = str(tmp_path / "weights.pt")
    torch.save(make_model().state_dict(), path)
    with pytest.raises(d2l.CheckpointError, match=r"weights.pt is not a Trainer checkpoint.*"
                                                  r"bare model state_dict"):
        d2l.Trainer(max_epochs=1, progress=False).fit(make_model(), SyntheticData(n=200),
                                                      resume=path)


def test_foreign_object_and_directory(tmp_path):
    path = str(tmp_path / "list.pt")
    torch.save([1, 2, 3], path)
    with pytest.raises(d2l.CheckpointError, match="list.pt holds a list"):
        ckpt_mod.load_checkpoint(path)
    with pytest.raises(d2l.CheckpointError, match="is a directory"):
        ckpt_mod.load_checkpoint(str(tmp_path))


def test_checkpoint_loads_with_the_safe_loader_and_resumes_exactly(tmp_path):
    """Everything the trainer stores (RNG states included) passes
    weights_only=True, and resuming from it still matches a straight run."""
    path = str(tmp_path / "c.pt")
    data = SyntheticData(n=400)
    full = d2l.Trainer(max_epochs=2, seed=7, progress=False).fit(make_model(), data)
    d2l.Trainer(max_epochs=1, seed=7, progress=False, checkpoint_path=path).fit(
        make_model(), data)
    state = torch.load(path, weights_only=True)
    assert isinstance(state["rng"]["numpy"]["keys"], list)
    with pytest.warns(d2l.ResumeWarning, match="max_epochs"):  # the run is extended
        resumed = d2l.Trainer(max_epochs=2, seed=7, progress=False).fit(make_model(), data,
                                                                         resume=path)
    assert losses(resumed) == losses(full)


def test_rng_states_round_trip_through_the_safe_loader(tmp_path):
    import random
    import numpy as np
    d2l.seed_everything(5)
    path = str(tmp_path / "rng.pt")
    ckpt_mod.save_checkpoint({"rng": ckpt_mod.get_rng_state()}, path)
    expected = (torch.rand(3), random.random(), np.random.rand())
    d2l.seed_everything(99)
    ckpt_mod.set_rng_state(ckpt_mod.load_checkpoint(path, required=("rng",))["rng"])
    got = (torch.rand(3), random.random(), np.random.rand())
    assert torch.equal(got[0], expected[0]) and got[1:] == expected[1:]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_resume_from_a_checkpoint_mapped_to_the_gpu(tmp_path):
    path = str(tmp_path / "c.pt")
    d2l.Trainer(max_epochs=1, seed=2, progress=False, device="cuda",
                checkpoint_path=path).fit(make_model(), SyntheticData(n=200))
    state = ckpt_mod.load_checkpoint(path, map_location="cuda")
    ckpt_mod.set_rng_state(state["rng"])  # GPU-mapped ByteTensors are accepted
    history = d2l.Trainer(max_epochs=2, seed=2, progress=False, device="cuda").fit(
        make_model(), SyntheticData(n=200), resume=path)
    assert len(history) == 2


@pytest.mark.parametrize("umask", [0o022, 0o077])
def test_checkpoints_get_the_mode_open_would_give(tmp_path, umask):
    """Not mkstemp's 0o600: with umask 022 teammates can read a shared checkpoint."""
    old = os.umask(umask)
    try:
        path = str(tmp_path / "runs" / "c.pt")
        d2l.Trainer(max_epochs=1, progress=False, checkpoint_path=path).fit(
            make_model(), SyntheticData(n=200))
        ckpt_mod.save_checkpoint({"epoch": 2}, path)  # replacing keeps the rule
        fd, plain = ckpt_mod.open_temp_file(str(tmp_path), ".x-", ".tmp")
        os.close(fd)
        with open(tmp_path / "by-open", "w"):
            pass
    finally:
        os.umask(old)
    expected = 0o666 & ~umask
    assert os.stat(tmp_path / "by-open").st_mode & 0o777 == expected
    assert os.stat(path).st_mode & 0o777 == expected
    assert os.stat(plain).st_mode & 0o777 == expected
    assert os.stat(tmp_path / "runs" / "c-board.png").st_mode & 0o777 == expected  # the curves too
    assert sorted(os.listdir(tmp_path / "runs")) == ["c-board.png", "c.pt"]  # no temp left
