"""3x3 convolutions on 1x1 and 2x2 maps: ``nn.Conv2d`` against
``SmallMapConv2d``, side by side in one run.

At 28x28 inputs ResNet-18's last two stages see 2x2 and 1x1 feature maps,
where most products of a 3x3 kernel meet only zero padding
(``d2lmini/small_maps.py``).
This script times bare training steps (forward, backward, SGD step on one
fixed random batch) of notebook 05's ``ResNet18Plus`` with the plain and the
switched convolutions, alternating the two sides ``--repeats`` times so that
a change of machine load hits both, and prints images/s and their ratio:

    python benchmarks/small_maps.py --repeats 2

``--baseline REV`` adds a third side: ``d2lmini/small_maps.py`` as it was at
git revision ``REV`` of this repository, to measure a change of that module
side by side with the current one (for example ``--baseline 6c5eb2a``, the
version that skipped padding on 1x1 maps only).

Results per host are in ``benchmarks/README.md``. Timings are never asserted.
"""
from __future__ import annotations

import argparse
import copy
import platform
import statistics
import subprocess
import time
import types
from pathlib import Path
from typing import Dict, List, Optional

import torch
from torch.nn import functional as F

import d2lmini as d2l


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--side", type=int, default=28, help="image side in pixels")
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=12, help="timed steps per side and repeat")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    p.add_argument("--repeats", type=int, default=2)
    p.add_argument("--channels-last", action="store_true", help="NHWC model and batch")
    p.add_argument("--baseline", metavar="REV",
                   help="also time d2lmini/small_maps.py as of this git revision")
    return p


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = build_parser()
    args = p.parse_args(argv)
    for name in ("side", "batch_size", "steps", "warmup", "repeats"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    return args


def images_per_s(model: torch.nn.Module, X: torch.Tensor, Y: torch.Tensor,
                 steps: int, warmup: int) -> float:
    """Training steps per second on one batch, times the batch size."""
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    for i in range(warmup + steps):
        if i == warmup:
            start = time.perf_counter()
        opt.zero_grad()
        F.cross_entropy(model(X), Y).backward()
        opt.step()
    return X.shape[0] * steps / (time.perf_counter() - start)


def module_at(revision: str) -> types.ModuleType:
    """``d2lmini/small_maps.py`` as of a git revision of this repository."""
    root = Path(__file__).resolve().parent.parent
    proc = subprocess.run(["git", "show", f"{revision}:d2lmini/small_maps.py"],
                          cwd=root, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"--baseline {revision}: git could not show "
                         f"d2lmini/small_maps.py there: {proc.stderr.strip()}")
    module = types.ModuleType(f"small_maps_at_{revision}")
    exec(compile(proc.stdout, f"small_maps.py@{revision}", "exec"), module.__dict__)
    return module


def main(argv: Optional[List[str]] = None) -> Dict[str, List[float]]:
    args = parse_args(argv)
    torch.manual_seed(0)
    plain = d2l.ResNet18Plus()
    plain(torch.zeros(2, 1, args.side, args.side))  # materialise the lazy layers
    sides = {"nn.Conv2d": plain}
    if args.baseline:
        old = sides[f"SmallMapConv2d@{args.baseline}"] = copy.deepcopy(plain)
        module_at(args.baseline).skip_padding_taps(old)
    switched = sides["SmallMapConv2d"] = copy.deepcopy(plain)
    count = d2l.skip_padding_taps(switched)
    X = torch.randn(args.batch_size, 1, args.side, args.side)
    Y = torch.randint(0, 10, (args.batch_size,))
    if args.channels_last:
        fmt = torch.channels_last
        sides = {k: m.to(memory_format=fmt) for k, m in sides.items()}
        X = X.contiguous(memory_format=fmt)
    print(f"ResNet18Plus at {args.side}x{args.side}, batch {args.batch_size}, "
          f"{'NHWC' if args.channels_last else 'NCHW'}, {torch.get_num_threads()} threads, "
          f"{platform.processor() or platform.machine()}, torch {torch.__version__}; "
          f"{count} convolutions switched", flush=True)
    speeds: Dict[str, List[float]] = {name: [] for name in sides}
    width = max(map(len, sides))
    for r in range(args.repeats):
        for name, model in sides.items():
            speeds[name].append(images_per_s(model, X, Y, args.steps, args.warmup))
            print(f"repeat {r + 1}: {name:{width}s} {speeds[name][-1]:7.1f} images/s", flush=True)
    med = {k: statistics.median(v) for k, v in speeds.items()}
    print(f"median: nn.Conv2d {med['nn.Conv2d']:.1f}, SmallMapConv2d "
          f"{med['SmallMapConv2d']:.1f} images/s, ratio "
          f"{med['SmallMapConv2d'] / med['nn.Conv2d']:.2f}x")
    for name in speeds:
        if "@" in name:
            print(f"median: {name} {med[name]:.1f} images/s; SmallMapConv2d is "
                  f"{med['SmallMapConv2d'] / med[name]:.2f}x as fast")
    return speeds


if __name__ == "__main__":
    main()
