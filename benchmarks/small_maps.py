"""3x3 convolutions on 1x1 maps: ``nn.Conv2d`` against ``SmallMapConv2d``,
side by side in one run.

At 28x28 inputs ResNet-18's last stage sees 1x1 feature maps, where eight of
each 3x3 kernel's nine weights meet only zero padding (``d2lmini/small_maps.py``).
This script times bare training steps (forward, backward, SGD step on one
fixed random batch) of notebook 05's ``ResNet18Plus`` with the plain and the
switched convolutions, alternating the two sides ``--repeats`` times so that
a change of machine load hits both, and prints images/s and their ratio:

    python benchmarks/small_maps.py --repeats 2

Results per host are in ``benchmarks/README.md``. Timings are never asserted.
"""
from __future__ import annotations

import argparse
import copy
import platform
import statistics
import time
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


def main(argv: Optional[List[str]] = None) -> Dict[str, List[float]]:
    args = parse_args(argv)
    torch.manual_seed(0)
    plain = d2l.ResNet18Plus()
    plain(torch.zeros(2, 1, args.side, args.side))  # materialise the lazy layers
    switched = copy.deepcopy(plain)
    count = d2l.skip_padding_taps(switched)
    X = torch.randn(args.batch_size, 1, args.side, args.side)
    Y = torch.randint(0, 10, (args.batch_size,))
    if args.channels_last:
        fmt = torch.channels_last
        plain, switched = plain.to(memory_format=fmt), switched.to(memory_format=fmt)
        X = X.contiguous(memory_format=fmt)
    print(f"ResNet18Plus at {args.side}x{args.side}, batch {args.batch_size}, "
          f"{'NHWC' if args.channels_last else 'NCHW'}, {torch.get_num_threads()} threads, "
          f"{platform.processor() or platform.machine()}, torch {torch.__version__}; "
          f"{count} convolutions switched", flush=True)
    speeds: Dict[str, List[float]] = {"nn.Conv2d": [], "SmallMapConv2d": []}
    for r in range(args.repeats):
        for name, model in (("nn.Conv2d", plain), ("SmallMapConv2d", switched)):
            speeds[name].append(images_per_s(model, X, Y, args.steps, args.warmup))
            print(f"repeat {r + 1}: {name:15s} {speeds[name][-1]:7.1f} images/s", flush=True)
    med = {k: statistics.median(v) for k, v in speeds.items()}
    print(f"median: nn.Conv2d {med['nn.Conv2d']:.1f}, SmallMapConv2d "
          f"{med['SmallMapConv2d']:.1f} images/s, ratio "
          f"{med['SmallMapConv2d'] / med['nn.Conv2d']:.2f}x")
    return speeds


if __name__ == "__main__":
    main()
