"""Notebook 05's "going further" recipe at a chosen resolution and length.

The notebook runs ``ResNet18Plus`` at one resolution for a fixed number of
epochs (one setting on a CPU, the book's 96x96 on a GPU). This script runs
the same model, data and trainer options with ``--resize`` and ``--epochs``
of your choice, so other points of the accuracy/time trade-off can be
measured without editing the notebook; the measured points are in
``benchmarks/README.md``. The data are found as the library finds them
(``$D2LMINI_DATA`` first):

    python benchmarks/going_further.py --resize 48 --epochs 20

It prints one line per epoch (the trainer's own) and a final summary line:
epochs, resolution, wall-clock training time and final validation accuracy
on the 10,000 test images (``--flip-tta`` adds the float32 accuracy with
each test image averaged with its mirror image). Long runs can keep a
checkpoint after every epoch and continue after an interruption; resuming a
finished run trains nothing and only reports (and evaluates, with
``--flip-tta``):

    python benchmarks/going_further.py --resize 48 --epochs 30 --checkpoint gf.pt
    python benchmarks/going_further.py --resize 48 --epochs 30 --checkpoint gf.pt --resume
"""
from __future__ import annotations

import argparse
import time
from typing import Iterable, List, Optional, Sequence, Tuple

import torch

import d2lmini as d2l


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--resize", type=int, default=28, help="image side in pixels")
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.1, help="one-cycle peak learning rate")
    p.add_argument("--num-train", type=int, default=None, help="first N training images")
    p.add_argument("--num-val", type=int, default=None, help="first N test images")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-amp", action="store_true", help="train in float32")
    p.add_argument("--progress", action="store_true", help="show the per-batch bar")
    p.add_argument("--flip-tta", action="store_true",
                   help="also report float32 accuracy with each test image averaged "
                        "with its mirror image")
    p.add_argument("--checkpoint", default=None, metavar="PATH",
                   help="save weights, optimizer and progress here after every epoch")
    p.add_argument("--resume", action="store_true",
                   help="continue from --checkpoint instead of starting over")
    return p.parse_args(argv)


@torch.no_grad()
def flip_averaged_accuracy(model: torch.nn.Module,
                           batches: Iterable[Sequence[torch.Tensor]]) -> Tuple[float, float]:
    """Float32 accuracy of ``model`` as it is, and with its softmax averaged
    over each image and its left-right mirror image (test-time augmentation;
    the recipe trains with random flips, so both views are in-distribution)."""
    model.eval()
    plain = averaged = total = 0
    for X, Y in batches:
        p = model(X).softmax(dim=1)
        p_mirror = model(X.flip(-1)).softmax(dim=1)
        plain += (p.argmax(dim=1) == Y).sum().item()
        averaged += ((p + p_mirror).argmax(dim=1) == Y).sum().item()
        total += Y.numel()
    return plain / total, averaged / total


def main(argv: Optional[List[str]] = None) -> dict:
    args = parse_args(argv)
    if args.resume and not args.checkpoint:
        raise SystemExit("--resume needs --checkpoint PATH (the file to continue from)")
    device = d2l.try_gpu()
    torch.manual_seed(args.seed)
    model = d2l.ResNet18Plus(lr=args.lr)
    model.board.display = False  # the per-epoch lines are the record here
    data = d2l.FashionMNIST(batch_size=args.batch_size, resize=(args.resize, args.resize),
                            seed=args.seed, num_train=args.num_train, num_val=args.num_val,
                            device=device if device.type == "cuda" else None)
    trainer = d2l.Trainer(max_epochs=args.epochs, num_gpus=1, seed=args.seed,
                          channels_last=True, amp=not args.no_amp, progress=args.progress,
                          checkpoint_path=args.checkpoint)
    print(f"ResNet18Plus, {args.resize}x{args.resize}, {args.epochs} epochs, batch "
          f"{args.batch_size}, lr {args.lr}, {len(data.train)} train / {len(data.val)} val "
          f"images, device {device}, torch {torch.__version__}", flush=True)
    start = time.perf_counter()
    history = trainer.fit(model, data, resume=args.checkpoint if args.resume else None)
    seconds = time.perf_counter() - start
    if not history:
        raise SystemExit("stopped before the first epoch finished: nothing to report")
    if trainer.interrupted:
        print(f"interrupted after {len(history)} of {args.epochs} epochs"
              + (f"; continue with --checkpoint {args.checkpoint} --resume"
                 if args.checkpoint else ""))
    final = history[-1]
    print(f"done: {len(history)} epochs at {args.resize}x{args.resize} in {seconds:.0f} s, "
          f"final val acc {final['val_acc']:.4f}, best {max(r['val_acc'] for r in history):.4f}")
    result = {"seconds": seconds, "val_acc": final["val_acc"], "epochs": len(history)}
    if args.flip_tta:
        batches = (trainer.prepare_batch(b) for b in data.val_dataloader())
        result["val_acc_fp32"], result["val_acc_flip"] = flip_averaged_accuracy(model, batches)
        print(f"float32 val acc {result['val_acc_fp32']:.4f}, averaged with mirror images "
              f"{result['val_acc_flip']:.4f}")
    return result


if __name__ == "__main__":
    main()
