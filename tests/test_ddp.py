"""Data-parallel training under torchrun (gloo, 2 CPU processes) matches a
single process on the same global batches."""
import contextlib
import os
import signal
import socket
import subprocess
import sys
import textwrap

import pytest
import torch

import d2lmini as d2l

SCRIPT = textwrap.dedent('''
    import sys
    import torch
    from torch import nn
    from torch.utils.data import DataLoader, TensorDataset
    import d2lmini as d2l

    class Data:
        def __init__(self):
            g = torch.Generator().manual_seed(0)
            self.X = torch.randn(96, 6, generator=g)
            self.y = torch.randint(0, 4, (96,), generator=g)
        def train_dataloader(self):
            return DataLoader(TensorDataset(self.X, self.y), batch_size=16, shuffle=True)
        def val_dataloader(self):
            return DataLoader(TensorDataset(self.X[:40], self.y[:40]), batch_size=16)

    class Net(d2l.Classifier):
        def __init__(self, lr=0.5):
            super().__init__()
            self.save_hyperparameters()
            self.net = nn.Sequential(nn.Linear(6, 16), nn.Tanh(), nn.Linear(16, 4))

    def run(out_path):
        torch.manual_seed(0)
        model = Net()
        trainer = d2l.Trainer(max_epochs=2, seed=1, progress=False)
        history = trainer.fit(model, Data())
        if trainer.rank == 0:
            torch.save({"state": model.state_dict(), "history": list(history),
                        "rank": trainer.rank}, out_path)
        return trainer

    class NaNOnRank1(Net):
        """Its loss is NaN on rank 1 only, at the third batch."""
        calls = 0
        def training_step(self, batch):
            self.calls += 1
            loss = super().training_step(batch)
            if self.trainer.rank == 1 and self.calls == 3:
                loss = loss * float("nan")
            return loss

    def diverge(out_path):
        torch.manual_seed(0)
        model = NaNOnRank1()
        trainer = d2l.Trainer(max_epochs=1, seed=1, progress=False)
        try:
            trainer.fit(model, Data())
        except d2l.DivergenceError as e:
            if trainer.rank == 0:  # rank 0 learned of rank 1's NaN
                torch.save({"batch": e.batch, "finite": all(
                    bool(torch.isfinite(p).all()) for p in model.parameters())}, out_path)

    if __name__ == "__main__":
        trainer = run(sys.argv[1])
        diverge(sys.argv[1] + ".nan")
        import torch.distributed as dist
        if dist.is_initialized():
            # Both ranks reach the teardown together: with torch 2.4's gloo a
            # rank that destroys the group after its peer has exited hangs.
            dist.barrier()
            dist.destroy_process_group()
''')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_processes_match_one(tmp_path, monkeypatch):
    script = tmp_path / "ddp_train.py"
    script.write_text(SCRIPT)
    env = {k: v for k, v in os.environ.items()
           if k not in {"WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"}}
    env.update(OMP_NUM_THREADS="1", PYTHONPATH=os.getcwd())
    ddp_out = tmp_path / "ddp.pt"
    # Its own process group, so a timeout ends the workers too, not only the launcher.
    proc = subprocess.Popen(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2",
         "--master_addr=127.0.0.1", f"--master_port={free_port()}",
         str(script), str(ddp_out)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        # torchrun may start its workers in sessions of their own: kill them
        # by ancestry too, or a hung worker keeps the pipes (and us) waiting.
        import psutil
        workers = psutil.Process(proc.pid).children(recursive=True)
        os.killpg(proc.pid, signal.SIGKILL)
        for worker in workers:
            with contextlib.suppress(psutil.NoSuchProcess):
                worker.kill()
        proc.communicate()
        pytest.fail("the two-process run did not finish in 600 s")
    assert proc.returncode == 0, stdout[-3000:] + stderr[-3000:]
    # only rank 0 prints the epoch summaries
    assert stdout.count("epoch 2/2:") == 1, stdout

    # the same script, one process (WORLD_SIZE unset), in this interpreter
    for k in ("WORLD_SIZE", "RANK", "LOCAL_RANK"):
        monkeypatch.delenv(k, raising=False)
    namespace = {"__name__": "ddp_single"}
    exec(compile(SCRIPT, str(script), "exec"), namespace)
    single_out = tmp_path / "single.pt"
    namespace["run"](str(single_out))

    ddp, single = torch.load(ddp_out), torch.load(single_out)
    for k, v in single["state"].items():
        torch.testing.assert_close(ddp["state"][k], v, rtol=1e-5, atol=1e-6)
    for a, b in zip(ddp["history"], single["history"]):
        for key in ("train_loss", "val_loss", "val_acc"):
            assert a[key] == pytest.approx(b[key], rel=1e-5), key
    # a NaN on one rank stops both ranks (no hang), naming the batch
    nan = torch.load(str(ddp_out) + ".nan")
    assert nan == {"batch": 3, "finite": True}
    # training actually moved the weights (the comparison is not vacuous)
    torch.manual_seed(0)
    init = namespace["Net"]().state_dict()
    assert not torch.allclose(init["net.0.weight"], single["state"]["net.0.weight"])
