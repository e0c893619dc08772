"""Time to accuracy: how long training takes until the validation accuracy
first reaches a target, for the chapter's ResNet-18 under a named recipe.

Images per second (``train_speed.py``) say how fast a step is; a reader waits
for a result. This script trains notebook 05's recipes (``d2l.RECIPES``: the
book's plain 96x96 recipe and the shorter CPU recipe) on the full Fashion-MNIST
split, validates on the 10,000 test images after every epoch, and reports for
each seed the wall-clock time (training and validation, from the first step)
at which the validation accuracy first reached each target:

    python benchmarks/time_to_accuracy.py --recipe cpu --seeds 0 1 2

``--json FILE`` writes every epoch of every seed. Runs are long on a CPU (half
an hour or more per seed); ``--num-train``/``--num-val`` cut the data for a
smoke test. The published package's book recipe takes hours on a CPU, so
its time to a target is estimated instead: ``train_speed.py --sides ref`` times
its steps on the same machine, and the estimate multiplies that epoch time by
the epochs the book's recipe needed in the run stored in notebook 05
(``--reference-speed IMAGES_PER_S`` prints the arithmetic). Results per host are in
``benchmarks/README.md``.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path
from typing import Dict, List, Optional, Sequence

import torch

import d2lmini as d2l

TARGETS = (0.90, 0.92, 0.93)


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = build_parser()
    args = p.parse_args(argv)
    check_args(p, args)
    return args


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--recipe", default="cpu", choices=sorted(d2l.RECIPES))
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--epochs", type=int, default=None,
                   help="override the recipe's number of epochs")
    p.add_argument("--targets", type=float, nargs="+", default=list(TARGETS))
    p.add_argument("--threads", type=int, default=None,
                   help="torch threads (default: torch's choice, one per core)")
    p.add_argument("--num-train", type=int, default=None, help="first N training images")
    p.add_argument("--num-val", type=int, default=None, help="first N test images")
    p.add_argument("--json", default=None, metavar="FILE", help="write every epoch here")
    p.add_argument("--reference-speed", type=float, default=None, metavar="IMAGES_PER_S",
                   help="print the estimate for the published package from its measured "
                        "images/s (train_speed.py --sides ref) and exit")
    return p


def time_to(targets: Sequence[float], epochs: Sequence[Dict]) -> Dict[str, Optional[float]]:
    """Seconds at the end of the first epoch whose validation accuracy reached
    each target (``None`` where no epoch did)."""
    found: Dict[str, Optional[float]] = {}
    for target in targets:
        hit = next((e for e in epochs if e["val_acc"] >= target), None)
        found[f"{target:.2f}"] = None if hit is None else hit["elapsed"]
    return found


def train_once(recipe: Dict, seed: int, num_train: Optional[int],
               num_val: Optional[int]) -> List[Dict]:
    """One seed of the recipe, as notebook 05 trains it; one record per epoch
    with the elapsed wall-clock seconds since training started."""
    device = d2l.try_gpu()
    torch.manual_seed(seed)
    model = recipe["model"](lr=recipe["lr"])
    model.board.display = False
    size = (recipe["resize"], recipe["resize"])
    data = d2l.FashionMNIST(batch_size=recipe["batch_size"], resize=size, seed=seed,
                            num_train=num_train, num_val=num_val,
                            device=device if device.type == "cuda" else None)
    trainer = d2l.Trainer(max_epochs=recipe["max_epochs"],
                          num_gpus=int(device.type == "cuda"), seed=seed,
                          channels_last="auto", amp="auto", progress=False)
    start = time.perf_counter()
    records = []
    for record in trainer.fit(model, data):
        records.append(dict(record))
    # The history's per-epoch seconds add up to the elapsed time.
    elapsed = 0.0
    for record in records:
        elapsed += record["seconds"]
        record["elapsed"] = elapsed
    records[-1]["wall"] = time.perf_counter() - start
    return records


def check_args(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Refuse arguments that would be misread, before any data is loaded."""
    if args.reference_speed is not None and not 0 < args.reference_speed < float("inf"):
        p.error(f"--reference-speed must be a finite number of images/s > 0, "
                f"got {args.reference_speed}")
    if not all(0 < t <= 1 for t in args.targets):
        p.error(f"--targets must be accuracies in (0, 1], got {args.targets}")
    if len(set(args.seeds)) != len(args.seeds):
        p.error(f"--seeds must be different, got {args.seeds}")
    for name in ("epochs", "threads", "num_train", "num_val"):
        value = getattr(args, name)
        if value is not None and value < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    recipe = d2l.RECIPES[args.recipe]
    epochs = args.epochs or recipe["max_epochs"]
    batches = -(-(args.num_train or 60_000) // recipe["batch_size"])
    if recipe["model"] is d2l.ResNet18Plus and epochs * batches < 4:
        p.error(f"the {args.recipe} recipe's one-cycle schedule needs at least 4 "
                f"steps; {epochs} epoch(s) of {batches} batch(es) give "
                f"{epochs * batches}: raise --epochs or --num-train")


def main(argv: Optional[List[str]] = None) -> Dict:
    args = parse_args(argv)
    if args.reference_speed is not None:
        return reference_estimate(args.reference_speed, args.targets)
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    recipe = dict(d2l.RECIPES[args.recipe])
    if args.epochs is not None:
        recipe["max_epochs"] = args.epochs
    settings = {k: getattr(v, "__name__", v) for k, v in recipe.items()}
    print(f"recipe {args.recipe}: {settings}; seeds {args.seeds}; "
          f"{torch.get_num_threads()} threads; {platform.processor() or platform.machine()}; "
          f"torch {torch.__version__}", flush=True)
    runs = {}
    for seed in args.seeds:
        epochs = train_once(recipe, seed, args.num_train, args.num_val)
        runs[seed] = dict(epochs=epochs, time_to=time_to(args.targets, epochs))
        line = ", ".join(f"{r['val_acc']:.4f} at {r['elapsed']:.0f} s" for r in epochs)
        print(f"seed {seed}: {line}", flush=True)
    summary = {}
    for target in args.targets:
        key = f"{target:.2f}"
        times = [run["time_to"][key] for run in runs.values()]
        reached = [t for t in times if t is not None]
        summary[key] = dict(reached=len(reached), seeds=len(times),
                            median_s=statistics.median(reached) if len(reached) == len(times)
                            else None)
        median = summary[key]["median_s"]
        print(f"time to {key}: reached by {len(reached)} of {len(times)} seeds"
              + (f", median {median:.0f} s" if median is not None else ""))
    finals = [run["epochs"][-1]["val_acc"] for run in runs.values()]
    print(f"final val acc: median {statistics.median(finals):.4f} "
          f"(min {min(finals):.4f}, max {max(finals):.4f})")
    result = dict(recipe=args.recipe, settings=settings, runs=runs, summary=summary,
                  threads=torch.get_num_threads(), torch=torch.__version__)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(result, f, indent=1)
    return result


def reference_estimate(images_per_s: float, targets: Sequence[float]) -> Dict:
    """Estimated time to each target for the published package's book recipe:
    its measured speed times the epochs of the stored book-recipe run."""
    epochs_needed = book_epochs_to(targets)
    epoch_s = 60_000 / images_per_s
    estimate = {k: None if n is None else n * epoch_s for k, n in epochs_needed.items()}
    for key, n in epochs_needed.items():
        print(f"{key}: " + ("not reached in the stored run's 10 epochs" if n is None else
                            f"{n} epochs x {epoch_s:.0f} s = {n * epoch_s / 60:.0f} min "
                            "(training only, estimate)"))
    return estimate


def book_epochs_to(targets: Sequence[float]) -> Dict[str, Optional[int]]:
    """Epochs the stored run of the book's recipe (notebook 05) needed to reach
    each target, read from the notebook's history output."""
    accs = stored_book_accuracies()
    return {f"{t:.2f}": next((i + 1 for i, a in enumerate(accs) if a >= t), None)
            for t in targets}


def stored_book_accuracies() -> List[float]:
    """Per-epoch validation accuracy of the book-recipe run recorded in
    ``benchmarks/book_recipe_history.json``."""
    path = Path(__file__).with_name("book_recipe_history.json")
    return [r["val_acc"] for r in json.loads(path.read_text())["epochs"]]


if __name__ == "__main__":
    main()
