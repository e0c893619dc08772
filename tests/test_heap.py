"""d2lmini.heap: freed tensor memory kept for reuse while fit runs on a CPU."""
import json
import subprocess
import sys
from pathlib import Path

import pytest
from torch import nn

import d2lmini as d2l
from d2lmini import heap
from helpers import SyntheticData, make_model

needs_glibc = pytest.mark.skipif(heap.glibc() is None, reason="mallopt is glibc's")
PAGES = 5 * 64 * 2 ** 20 // 4096  # 4 KiB pages touched by five 64 MiB tensors


# Page faults are counted in a fresh interpreter: in a long-lived process
# other threads (inductor's compile workers, loaders) can move the main
# thread to another malloc arena, which makes the counts depend on history.
FAULTS_SCRIPT = """
import json, resource, torch
from d2lmini import heap

def page_faults(allocations=5, mib=64):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(allocations):
        t = torch.empty(mib * 2 ** 20 // 4)
        t.fill_(1.0)  # touch every page
        del t
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

page_faults(1)
outside = min(page_faults() for _ in range(2))
with heap.freed_memory_kept() as kept:
    inside = min(page_faults() for _ in range(3))  # steady state, once the heap has grown
print(json.dumps({"outside": outside, "inside": inside, "kept": kept}))
"""


@needs_glibc
def test_inside_freed_pages_are_reused_instead_of_faulted_in_again():
    out = subprocess.run([sys.executable, "-c", FAULTS_SCRIPT], capture_output=True,
                         text=True, check=True, cwd=Path(__file__).resolve().parents[1])
    c = json.loads(out.stdout.strip().splitlines()[-1])
    assert c["kept"] is True
    assert c["outside"] >= PAGES // 2, c  # a fresh mapping per allocation: every page faults
    assert c["inside"] < PAGES // 20, c


class FakeLibc:
    """Records the calls freed_memory_kept makes to the C library."""

    def __init__(self):
        self.calls = []

    def mallopt(self, param, value):
        self.calls.append(("mallopt", param, value))
        return 1

    def malloc_trim(self, pad):
        self.calls.append(("malloc_trim", pad))
        return 1


def test_settings_on_entry_and_glibc_defaults_on_exit_once_for_nested_uses(monkeypatch):
    libc = FakeLibc()
    monkeypatch.setattr(heap, "glibc", lambda: libc)
    with heap.freed_memory_kept() as kept:
        with heap.freed_memory_kept():
            assert heap._depth == 2
        assert kept is True and heap._depth == 1
        assert libc.calls == [("mallopt", heap.M_MMAP_MAX, 0),
                              ("mallopt", heap.M_TRIM_THRESHOLD, heap.KEEP_TRIM_THRESHOLD)]
    assert heap._depth == 0
    assert libc.calls[2:] == [("mallopt", heap.M_MMAP_MAX, 65536),
                              ("mallopt", heap.M_TRIM_THRESHOLD, 128 * 1024),
                              ("malloc_trim", 0)]


def test_without_glibc_or_when_disabled_nothing_changes(monkeypatch):
    with heap.freed_memory_kept(enabled=False) as kept:
        assert kept is False and heap._depth == 0

    def no_such_name(name):
        raise ValueError(name)
    monkeypatch.setattr(heap.os, "confstr", no_such_name)
    assert heap.glibc() is None
    with heap.freed_memory_kept() as kept:
        assert kept is False and heap._depth == 0


class DepthProbe(nn.Module):
    """Wraps a model and records, at every forward, whether memory is kept."""

    def __init__(self, inner):
        super().__init__()
        self.inner, self.seen = inner, []

    def forward(self, X):
        self.seen.append(heap._depth)
        return self.inner(X)


@needs_glibc
@pytest.mark.parametrize("keep", [True, False])
def test_fit_on_a_cpu_keeps_freed_memory_unless_told_not_to(keep):
    model = make_model()
    model.net = DepthProbe(model.net)
    d2l.Trainer(max_epochs=1, progress=False, keep_freed_memory=keep).fit(model, SyntheticData())
    assert model.net.seen and set(model.net.seen) == ({1} if keep else {0})
    assert heap._depth == 0  # restored when fit returns


@needs_glibc
def test_fit_restores_the_defaults_when_training_fails():
    model = make_model()

    def broken(X):
        raise RuntimeError("boom")
    model.forward = broken
    with pytest.raises(RuntimeError, match="boom"):
        d2l.Trainer(max_epochs=1, progress=False).fit(model, SyntheticData())
    assert heap._depth == 0
