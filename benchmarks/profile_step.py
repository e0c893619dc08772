"""Where a training step of the chapter's ResNet-18 spends its time on a CPU.

Runs ``--steps`` SGD steps (after ``--warmup``) of ``d2lmini.ResNet18`` on
random images (the core of ``Trainer.fit_epoch``: forward, loss, zero_grad,
backward, step, with freed memory kept as ``Trainer.fit`` keeps it unless
``--return-freed-memory``; the trainer's own per-step work is what
``train_speed.py``'s whole-fit side adds on top) under ``torch.profiler``
and prints the share of operator time by kind: convolutions (forward and
backward), batch norm, ReLU, adds (the shortcut and gradient sums), pooling,
the optimizer, layout copies, the linear layer and loss, and the rest.

    python benchmarks/profile_step.py                     # 96x96, batch 128, NCHW
    python benchmarks/profile_step.py --channels-last --resize 28
"""
from __future__ import annotations

import argparse
from collections import defaultdict
from typing import Dict, List, Optional

import torch
from torch.profiler import ProfilerActivity, profile

import d2lmini as d2l
from d2lmini.heap import freed_memory_kept

# Operator name fragments, checked in this order; the first match wins.
KINDS = [("convolution", ("convolution", "conv2d", "mkldnn_conv")),
         ("batch norm", ("batch_norm",)),
         ("ReLU", ("relu", "threshold")),
         ("add (shortcut, grads)", ("aten::add",)),
         ("pooling", ("pool",)),
         ("optimizer", ("sgd", "_foreach", "mul_", "add_")),
         ("layout copies", ("copy_", "contiguous", "clone")),
         ("linear and loss", ("addmm", "mm", "cross_entropy", "log_softmax", "nll_loss"))]


def kind_of(name: str) -> str:
    low = name.lower()
    for kind, fragments in KINDS:
        if any(f in low for f in fragments):
            return kind
    return "other"


def profile_steps(resize: int, batch_size: int, steps: int, warmup: int,
                  channels_last: bool, keep_freed_memory: bool = True) -> Dict[str, float]:
    """Self CPU time per kind of operator, in seconds per step."""
    torch.manual_seed(0)
    model = d2l.ResNet18(lr=0.05)
    X = torch.rand(batch_size, 1, resize, resize)
    y = torch.randint(0, 10, (batch_size,))
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
        X = X.contiguous(memory_format=torch.channels_last)
    optim = torch.optim.SGD(model.parameters(), lr=0.05)

    def step():
        loss = model.loss(model(X), y)
        optim.zero_grad()
        loss.backward()
        optim.step()

    with freed_memory_kept(keep_freed_memory):
        for _ in range(warmup):
            step()
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            for _ in range(steps):
                step()
    totals: Dict[str, float] = defaultdict(float)
    for event in prof.key_averages():
        totals[kind_of(event.key)] += event.self_cpu_time_total / 1e6 / steps
    return dict(totals)


def main(argv: Optional[List[str]] = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--resize", type=int, default=96)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--return-freed-memory", action="store_true",
                   help="glibc's default: big freed blocks go back to the system at once")
    args = p.parse_args(argv)
    totals = profile_steps(args.resize, args.batch_size, args.steps, args.warmup,
                           args.channels_last, not args.return_freed_memory)
    whole = sum(totals.values())
    print(f"ResNet-18, {args.resize}x{args.resize}, batch {args.batch_size}, "
          f"{'NHWC' if args.channels_last else 'NCHW'}, float32, freed memory "
          f"{'returned' if args.return_freed_memory else 'kept'}, "
          f"{torch.get_num_threads()} threads, torch {torch.__version__}: "
          f"{whole:.3f} s of operator time per step")
    for kind, seconds in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"{kind:<24s} {seconds:8.3f} s  {100 * seconds / whole:5.1f}%")


if __name__ == "__main__":
    main()
