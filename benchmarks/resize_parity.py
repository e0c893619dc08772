"""How close d2lmini's whole-batch resize comes to the book's PIL pipeline.

For each square size, the first ``--images`` test images go through the
book's ``transforms.Resize(size)`` + ``ToTensor`` (PIL, one image at a time)
and through ``d2lmini.resize.to_float_images`` (one batch); the script prints
the share of identical pixels and the largest difference in grey levels
(1/255). It also prints how many of each class the first training and test
images hold, which is what ``num_train`` / ``num_val`` keep.

    python benchmarks/resize_parity.py                 # sizes 8..128 and 224
    python benchmarks/resize_parity.py --sizes 28 96
"""
from __future__ import annotations

import argparse
from typing import List, Optional

import torch


def parse_args(argv: Optional[List[str]] = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", type=int, nargs="+", default=list(range(8, 129)) + [224])
    p.add_argument("--images", type=int, default=100, help="first N test images")
    p.add_argument("--prefixes", type=int, nargs=2, default=[2000, 500],
                   metavar=("TRAIN", "TEST"), help="class counts of these first images")
    return p.parse_args(argv)


def pil_reference(images: torch.Tensor, size: int) -> torch.Tensor:
    """The book's pipeline, image by image."""
    from PIL import Image
    from torchvision import transforms
    trans = transforms.Compose([transforms.Resize((size, size)), transforms.ToTensor()])
    return torch.stack([trans(Image.fromarray(x[0].numpy(), mode="L")) for x in images])


def compare(images: torch.Tensor, size: int) -> dict:
    """Identical share and largest difference (grey levels) at one size."""
    from d2lmini.resize import to_float_images
    diff = (to_float_images(images, (size, size)) - pil_reference(images, size)).abs()
    levels = (diff * 255).round()
    return {"size": size, "identical": float((levels == 0).float().mean()),
            "max_levels": int(levels.max())}


def main(argv: Optional[List[str]] = None) -> List[dict]:
    args = parse_args(argv)
    from d2lmini.fashion_files import find_fashion_mnist, load_split
    directory = find_fashion_mnist()
    train_y = load_split(directory, "train")[1]
    test_X, test_y = load_split(directory, "test")
    print(f"data: {directory}; first {args.images} test images; torch {torch.__version__}")
    rows = [compare(test_X[:args.images], s) for s in args.sizes]
    for r in rows:
        print(f"{r['size']:4d}x{r['size']:<4d} identical {100 * r['identical']:6.2f}%  "
              f"max difference {r['max_levels']}/255")
    exact = [r["size"] for r in rows if r["max_levels"] == 0]
    print(f"identical at {len(exact)} of {len(rows)} sizes: {exact}")
    print(f"largest difference: {max(r['max_levels'] for r in rows)}/255; smallest "
          f"identical share: {100 * min(r['identical'] for r in rows):.2f}%")
    for name, y, n in (("train", train_y, args.prefixes[0]), ("test", test_y, args.prefixes[1])):
        counts = y[:n].bincount(minlength=10).tolist()
        print(f"first {n} {name} images per class: {counts} (min {min(counts)}, "
              f"max {max(counts)})")
    return rows


if __name__ == "__main__":
    main()
