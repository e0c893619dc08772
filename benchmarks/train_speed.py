"""Training speed of the chapter's ResNet-18: d2lmini against the published d2l.

Both sides train ResNet-18 (1 input channel, 10 classes) on the same slice of
the real Fashion-MNIST training set, at the same resolution and batch size:

* reference: ``d2l==1.0.3`` as the book uses it -- its ``Trainer``, its
  ``FashionMNIST`` data module (torchvision dataset, PIL resize, a DataLoader
  with the default ``num_workers=4``) and the book's ResNet-18 built from
  ``d2l.Residual`` and ``d2l.Classifier``;
* d2lmini: ``d2l.Trainer``, ``d2l.FashionMNIST`` and ``d2lmini.ResNet18``.

Runs alternate (reference, d2lmini, reference, ...), each in a fresh
subprocess with the same number of torch threads. A run times ``--steps``
optimizer steps after ``--warmup`` untimed ones: the clock starts when warm-up
step ``--warmup`` finishes and stops when the last step finishes, so process
start, imports, dataset loading and DataLoader worker start-up are excluded,
while fetching and transforming every timed batch is included.

    python benchmarks/train_speed.py                      # 96x96, batch 128
    python benchmarks/train_speed.py --steps 2 --batch-size 8 --resize 32
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional

import torch
from torch import nn

SIDES = {"ref": "reference", "ours": "d2lmini", "ours_cl": "d2lmini+cl",
         "ours_compile": "d2lmini+compile", "ours_amp": "d2lmini+cl+amp",
         "ours_amp_nchw": "d2lmini+amp", "ours_cl_unkept": "d2lmini+cl,no-keep",
         "ours_amp_unkept": "d2lmini+cl+amp,no-keep", "ours_nb04": "d2lmini+auto+amp"}
RESULT_TAG = "RESULT "


# --------------------------------------------------------------------------
# Measurements shared by both sides
# --------------------------------------------------------------------------

def pick_device() -> torch.device:
    """The GPU when CUDA is present (both sides then train on it), else CPU."""
    return torch.device("cuda:0") if torch.cuda.is_available() else torch.device("cpu")


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so that a clock reading means "done"."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak_gflops(device: torch.device, n: int = 2048, repeats: int = 10,
                       dtype: torch.dtype = torch.float32) -> float:
    """Best ``torch.mm`` throughput on ``n x n`` matrices, in GFLOP/s.

    A rough ceiling for what convolutions (lowered to GEMMs) can reach here.
    """
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(2):  # let the BLAS pick kernels and fault in memory
        torch.mm(a, b)
    best = float("inf")
    for _ in range(repeats):
        synchronize(device)
        t0 = time.perf_counter()
        torch.mm(a, b)
        synchronize(device)
        best = min(best, time.perf_counter() - t0)
    return 2 * n ** 3 / best / 1e9


class StepClock:
    """Timestamps of the end of every optimizer step.

    It wraps ``model.configure_optimizers`` so that whichever trainer fits the
    model, its optimizer reports each finished ``step()`` here.
    """

    def __init__(self, device: torch.device):
        self.device = device
        self.ends: List[float] = []

    def attach(self, model: nn.Module) -> None:
        configure = model.configure_optimizers

        def timed_configure():
            optim = configure()
            optim.register_step_post_hook(self._tick)
            return optim

        model.configure_optimizers = timed_configure

    def _tick(self, optimizer, args, kwargs) -> None:
        synchronize(self.device)
        self.ends.append(time.perf_counter())

    def images_per_s(self, warmup: int, steps: int, batch_size: int) -> float:
        """Throughput over steps ``warmup .. warmup+steps-1`` (0-based)."""
        if len(self.ends) < warmup + steps:
            raise RuntimeError(f"only {len(self.ends)} optimizer steps ran, "
                               f"expected {warmup + steps}")
        elapsed = self.ends[warmup + steps - 1] - self.ends[warmup - 1]
        return steps * batch_size / elapsed


# --------------------------------------------------------------------------
# One side per subprocess
# --------------------------------------------------------------------------

def build_reference(args: argparse.Namespace, device: torch.device):
    """Model, data and trainer through the published d2l package, as the
    book's ResNet section uses them."""
    from d2l import torch as ref

    class ResNet(ref.Classifier):
        """The book's ResNet on d2l's lazy ``Residual`` block."""

        def __init__(self, arch, lr=0.1, num_classes=10):
            super().__init__()
            self.save_hyperparameters()
            stem = nn.Sequential(
                nn.LazyConv2d(64, kernel_size=7, stride=2, padding=3),
                nn.LazyBatchNorm2d(), nn.ReLU(),
                nn.MaxPool2d(kernel_size=3, stride=2, padding=1))
            self.net = nn.Sequential(stem)
            for i, (num_residuals, channels) in enumerate(arch):
                self.net.add_module(f"b{i + 2}", self.block(
                    num_residuals, channels, first_block=(i == 0)))
            self.net.add_module("last", nn.Sequential(
                nn.AdaptiveAvgPool2d((1, 1)), nn.Flatten(),
                nn.LazyLinear(num_classes)))
            self.net.apply(ref.init_cnn)

        def block(self, num_residuals, channels, first_block=False):
            layers = []
            for i in range(num_residuals):
                if i == 0 and not first_block:  # halve the size, widen
                    layers.append(ref.Residual(channels, use_1x1conv=True, strides=2))
                else:
                    layers.append(ref.Residual(channels))
            return nn.Sequential(*layers)

    model = ResNet(((2, 64), (2, 128), (2, 256), (2, 512)), lr=args.lr)
    # d2l's DataModule reads from '../data'; the parent laid the files out
    # there relative to our working directory.
    data = ref.FashionMNIST(batch_size=args.batch_size,
                            resize=(args.resize, args.resize))
    data.train = torch.utils.data.Subset(data.train, range(args.num_train))
    data.val = torch.utils.data.Subset(data.val, range(args.num_val))
    trainer = ref.Trainer(max_epochs=1, num_gpus=1 if device.type == "cuda" else 0)
    # Lazy layers take their shapes from one real batch, then Xavier init.
    model.apply_init([next(iter(data.get_dataloader(True)))[0]], ref.init_cnn)
    return model, data, trainer


def build_ours(args: argparse.Namespace, device: torch.device, channels_last=False,
               amp: bool = False, compile: bool = False, keep_freed_memory: bool = True):
    """Model, data and trainer through d2lmini: default options, NHWC memory,
    torch.compile (with the layout rule of ``channels_last="auto"``), NHWC
    plus bf16 autocast (which the trainer turns off, saying so, on CPUs
    without bf16 in hardware), or NHWC with freed memory returned to the
    system (what ``keep_freed_memory`` saves)."""
    import d2lmini as d2l
    from d2lmini import ResNet18

    model = ResNet18(lr=args.lr)
    # The same unpacked files the reference reads (see prepare_data_root).
    data = d2l.FashionMNIST(batch_size=args.batch_size, resize=(args.resize, args.resize),
                            root=Path("../data").resolve(), download=False)
    data.take(args.num_train, args.num_val)
    trainer = d2l.Trainer(max_epochs=1, num_gpus=1 if device.type == "cuda" else 0,
                          channels_last=channels_last, amp=amp, compile=compile,
                          keep_freed_memory=keep_freed_memory)
    return model, data, trainer


BUILDERS: Dict[str, Callable] = {
    "ref": build_reference, "ours": build_ours,
    "ours_cl": lambda args, device: build_ours(args, device, channels_last=True),
    "ours_compile": lambda args, device: build_ours(args, device, channels_last="auto",
                                                    compile=True),
    "ours_amp": lambda args, device: build_ours(args, device, channels_last=True, amp=True),
    "ours_amp_nchw": lambda args, device: build_ours(args, device, amp=True),
    "ours_cl_unkept": lambda args, device: build_ours(args, device, channels_last=True,
                                                      keep_freed_memory=False),
    "ours_amp_unkept": lambda args, device: build_ours(args, device, channels_last=True, amp=True,
                                                       keep_freed_memory=False),
    # notebook 05's options: the layout rule and autocast where the CPU has bf16
    "ours_nb04": lambda args, device: build_ours(args, device, channels_last="auto", amp=True)}


def run_child(args: argparse.Namespace) -> None:
    """Train one side and print one ``RESULT {json}`` line."""
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    device = pick_device()
    model, data, trainer = BUILDERS[args.child](args, device)
    clock = StepClock(device)
    clock.attach(model)
    start = time.perf_counter()
    trainer.fit(model, data)
    synchronize(device)
    fit_seconds = time.perf_counter() - start
    if args.whole_fit:  # what a user waits for: the epoch, validation, plotting
        ips = args.num_train / fit_seconds
    else:
        ips = clock.images_per_s(args.warmup, args.steps, args.batch_size)
    layout = getattr(getattr(trainer, "layout", None), "channels_last", None)
    # The reference's Trainer has no autocast; ours may have declined amp=True.
    bf16 = getattr(trainer, "autocast_dtype", None) == torch.bfloat16
    # After the timed steps: the same counter for both sides' models.
    from d2lmini.resnet_family import count_macs
    macs = count_macs(model, (1, 1, args.resize, args.resize))
    print(RESULT_TAG + json.dumps({
        "side": args.child, "images_per_s": ips, "forward_macs": macs,
        "steps_run": len(clock.ends), "threads": torch.get_num_threads(),
        "first_step_s": clock.ends[0] - start, "fit_s": fit_seconds,
        "layout": "nhwc" if layout else "nchw" if layout is False else "default",
        "precision": "bf16" if bf16 else "fp32",
        "whole_fit": bool(args.whole_fit),
        "device": str(device)}), flush=True)


# --------------------------------------------------------------------------
# The parent: data layout, alternating runs, summary
# --------------------------------------------------------------------------

def prepare_data_root(tmp: Path) -> Path:
    """Unpack Fashion-MNIST where torchvision looks without downloading.

    The files are found as d2lmini finds them (``$D2LMINI_DATA``, torchvision's
    default root, Debian's directory, then a download). torchvision's
    ``FashionMNIST(download=True)`` skips the download when
    ``<root>/FashionMNIST/raw/`` holds the four unpacked idx files. d2l's root
    is ``../data``, so the reference child runs in ``tmp/work``.
    """
    from d2lmini.fashion_files import FILE_NAMES, data_file, find_fashion_mnist
    from d2lmini.idx import read_idx_bytes

    source = find_fashion_mnist()
    raw = tmp / "data" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    for name in FILE_NAMES:
        (raw / name).write_bytes(read_idx_bytes(data_file(source, name)))
    (tmp / "work").mkdir()
    return tmp / "work"


def child_command(args: argparse.Namespace, side: str) -> List[str]:
    flags = ["--child", side, "--steps", str(args.steps), "--warmup", str(args.warmup),
             "--batch-size", str(args.batch_size), "--resize", str(args.resize),
             "--threads", str(args.threads), "--lr", str(args.lr)]
    if args.whole_fit:
        flags += ["--whole-fit", "--fit-images", str(args.fit_images),
                  "--fit-val", str(args.fit_val)]
    return [sys.executable, str(Path(__file__).resolve())] + flags


def run_side(args: argparse.Namespace, side: str, workdir: Path) -> dict:
    """One fresh subprocess for one side; returns its RESULT record."""
    repo = Path(__file__).resolve().parent.parent
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(repo)] + os.environ.get("PYTHONPATH", "").split(os.pathsep)).rstrip(os.pathsep),
        MPLBACKEND="Agg")
    proc = subprocess.run(child_command(args, side), cwd=workdir, env=env,
                          capture_output=True, text=True)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_TAG):
            return json.loads(line[len(RESULT_TAG):])
    raise RuntimeError(f"{SIDES[side]} run failed (exit {proc.returncode}):\n"
                       f"{proc.stderr[-3000:]}")


def cpu_line() -> str:
    """The CPU's model and the vector features that decide its speed."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    field = lambda key: next((l.split(":", 1)[1].strip() for l in info.splitlines()
                              if l.startswith(key)), "?")
    flags = set(field("flags").split())
    features = {"AVX2": "avx2", "AVX-512": "avx512f", "AVX512-BF16": "avx512_bf16",
                "AMX": "amx_tile"}
    have = [name for name, flag in features.items() if flag in flags] or ["none of AVX2/AVX-512/AMX"]
    model = field("model name") if info else __import__("platform").processor() or "?"
    family = f", family {field('cpu family')} model {field('model')}" if info else ""
    capped = os.environ.get("ONEDNN_MAX_CPU_ISA")  # an AVX2-only host imitated on a newer CPU
    return (f"cpu: {model}{family}; features: {', '.join(have)}; torch kernels: "
            f"{torch.backends.cpu.get_cpu_capability()}"
            + (f"; oneDNN kernels capped at {capped}" if capped else ""))


def device_line(device: torch.device, threads: int) -> str:
    if device.type == "cuda":
        return f"device: cuda ({torch.cuda.get_device_name(device)}), both sides on the GPU"
    return f"device: cpu, {threads} torch threads per run, {os.cpu_count()} logical CPUs"


def summarize(results: Dict[str, List[dict]], peaks: Dict[str, float]) -> None:
    """Median per side, the ratio, and achieved GFLOP/s against the peak of
    the side's compute precision (fp32, or bf16 under autocast)."""
    medians = {}
    for side, runs in results.items():
        ips = [r["images_per_s"] for r in runs]
        medians[side] = statistics.median(ips)
        train_flops = 3 * 2 * runs[0]["forward_macs"]  # fwd+bwd ~ 3x forward
        achieved = medians[side] * train_flops / 1e9
        precision = runs[0].get("precision", "fp32")
        # GFLOP/s only for timed steps: a whole fit also validates and plots.
        flops = "" if runs[0].get("whole_fit") else (
            f"{achieved:7.1f} GFLOP/s = {100 * achieved / peaks[precision]:4.1f}% of "
            f"{precision} matmul peak  ")
        print(f"{SIDES[side]:<16s} median {medians[side]:8.1f} images/s  "
              f"({', '.join(f'{v:.1f}' for v in ips)})  {flops}"
              f"[{runs[0]['forward_macs'] / 1e9:.3f} GMAC/image forward]")
        first = statistics.median(r.get("first_step_s", float("nan")) for r in runs)
        print(f"{'':<16s} layout {runs[0].get('layout', '?')}, precision {precision}, "
              f"first step {first:.1f} s (compiling, for a compiled side), "
              f"whole fit {statistics.median(r.get('fit_s', float('nan')) for r in runs):.1f} s")
    for side in medians:
        if side != "ref" and "ref" in medians:
            print(f"ratio {SIDES[side]}/reference: {medians[side] / medians['ref']:.2f}x")


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    # 24 steps and 3 runs: with 12 steps or 2 runs the medians of one host
    # disagreed between invocations by more than the sides differ.
    p.add_argument("--steps", type=int, default=24, help="timed optimizer steps per run")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first (>= 1)")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--resize", type=int, default=96, help="image side in pixels")
    p.add_argument("--repeats", type=int, default=3, help="runs per side, alternating")
    p.add_argument("--threads", type=int, default=torch.get_num_threads(),
                   help="torch threads in every run")
    p.add_argument("--sides", default="ref,ours,ours_cl,ours_compile,ours_amp",
                   help="comma list of ref, ours (defaults), ours_cl (channels_last=True), "
                        "ours_compile (channels_last='auto', compile=True), "
                        "ours_amp (channels_last=True, amp=True), "
                        "ours_amp_nchw (amp=True only), ours_cl_unkept and ours_amp_unkept "
                        "(ours_cl and ours_amp with keep_freed_memory=False), ours_nb04 "
                        "(notebook 05's channels_last='auto', amp=True); the last four "
                        "are not in the default list")
    p.add_argument("--whole-fit", action="store_true",
                   help="time the whole fit of one epoch of --fit-images training images, "
                        "validation on --fit-val images and plotting included")
    p.add_argument("--fit-images", type=int, default=2560)
    p.add_argument("--fit-val", type=int, default=1024)
    p.add_argument("--lr", type=float, default=0.05, help="as in the chapter")
    p.add_argument("--matmul-size", type=int, default=2048)
    p.add_argument("--child", choices=sorted(BUILDERS), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.warmup < 1 or args.steps < 1:
        p.error("--warmup and --steps must be at least 1")
    if args.whole_fit:
        args.num_train, args.num_val = args.fit_images, args.fit_val
    else:
        args.num_train, args.num_val = (args.warmup + args.steps) * args.batch_size, args.batch_size
    return args


def main(argv: Optional[List[str]] = None) -> None:
    args = parse_args(argv)
    if args.child:
        run_child(args)
        return
    sides = [s for s in args.sides.split(",") if s]
    device = pick_device()
    torch.set_num_threads(args.threads)
    timed = (f"whole fit: 1 epoch of {args.fit_images} images, {args.fit_val} validated"
             if args.whole_fit else f"{args.steps} timed steps after {args.warmup} warm-up")
    print(f"ResNet-18 on Fashion-MNIST {args.resize}x{args.resize}, batch "
          f"{args.batch_size}, {timed}, torch {torch.__version__}")
    print(cpu_line())
    print(device_line(device, args.threads))
    print(f"load average at start: {os.getloadavg()[0]:.2f}", flush=True)
    # Measured before and after the runs: on a shared machine either may be
    # depressed by other work, and the better one is closer to the ceiling.
    peaks = [matmul_peak_gflops(device, args.matmul_size)]
    results: Dict[str, List[dict]] = {s: [] for s in sides}
    with tempfile.TemporaryDirectory(prefix="d2lmini-bench-") as tmp:
        workdir = prepare_data_root(Path(tmp))
        for i in range(args.repeats):
            for side in sides:
                r = run_side(args, side, workdir)
                results[side].append(r)
                print(f"run {i + 1} {SIDES[side]:<16s} {r['images_per_s']:8.1f} images/s",
                      flush=True)
    peaks.append(matmul_peak_gflops(device, args.matmul_size))
    peak = max(peaks)
    print(f"matmul peak: {peak:.1f} GFLOP/s (fp32 torch.mm {args.matmul_size}x"
          f"{args.matmul_size}, best of 10; {peaks[0]:.1f} before the runs, "
          f"{peaks[1]:.1f} after)")
    by_precision = {"fp32": peak}
    if any(r["precision"] == "bf16" for runs in results.values() for r in runs):
        by_precision["bf16"] = matmul_peak_gflops(device, args.matmul_size, dtype=torch.bfloat16)
        print(f"bf16 matmul peak: {by_precision['bf16']:.1f} GFLOP/s (torch.mm, best of 10)")
    summarize(results, by_precision)
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
