"""Argument and input checks that fail early and say what to do, and the
one context manager for a dry run in evaluation mode."""
import contextlib
from typing import Iterator, Optional

import torch
from torch import nn

__all__ = ["check_image_batch", "check_positive_int", "check_non_negative_number",
           "check_block_shapes", "check_resnet_arch", "eval_mode",
           "check_cifar_block", "check_cifar_net", "check_grayscale_batch",
           "check_recipe_name", "check_residual", "check_block_input",
           "check_resnet", "check_resnet_input", "check_resnext_block",
           "check_resnext_input", "check_family_block", "check_resnet_family",
           "check_family_input", "check_inception", "check_parallel_paths"]


def check_positive_int(name: str, value, minimum: int = 1) -> None:
    """Raise ``ValueError`` unless ``value`` is an int (not a bool) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}, got {value!r}")


def check_block_shapes(where: str, input_channels, num_channels, strides,
                       use_1x1conv: bool) -> None:
    """The arguments of a residual block: positive sizes, and a shortcut that
    can be added to the branch (an identity shortcut keeps the shape)."""
    check_positive_int("input_channels", input_channels)
    check_positive_int("num_channels", num_channels)
    check_positive_int("strides", strides)
    if not use_1x1conv and (input_channels != num_channels or strides != 1):
        raise ValueError(
            f"{where}({input_channels}, {num_channels}, strides={strides}) changes "
            "the shape, so the input cannot be added to the output: pass "
            "use_1x1conv=True to reshape the shortcut")


def check_residual(where: str, input_channels, num_channels, use_1x1conv=False,
                   strides=1, **_) -> None:
    """``Residual``'s arguments (attached with :func:`d2lmini.guards.guard`)."""
    check_block_shapes(where, input_channels, num_channels, strides, use_1x1conv)


def check_block_input(block: nn.Module, X) -> None:
    """A 4-d float batch with the channels the block's first convolution
    reads, in the dtype of its weights."""
    conv = block.conv1
    check_image_batch(X, conv.in_channels, where=type(block).__name__,
                      dtype=conv.weight.dtype)


def check_resnet(where: str, arch, num_classes=10, **_) -> None:
    """``ResNet``'s arguments: a positive number of classes and stages that
    chain (see :func:`check_resnet_arch`)."""
    check_positive_int("num_classes", num_classes)
    check_resnet_arch(arch, stem_channels=64)


def check_resnet_input(model: nn.Module, X) -> None:
    """A grayscale float batch large enough for every halving of ``model``."""
    stem = next(m for m in model.net.modules() if isinstance(m, nn.Conv2d))
    check_image_batch(X, stem.in_channels, min_size=model.min_size(),
                      where=type(model).__name__, dtype=stem.weight.dtype)


def check_resnet_arch(arch, stem_channels: int) -> None:
    """ResNet stages as ``(num_residuals, input_channels, num_channels)``
    triples that chain: the first stage reads the stem's channels and keeps
    them (its blocks have no 1x1 shortcut), each later stage reads what the
    one before it makes. Checked when the model is built, not at its first
    batch."""
    if not isinstance(arch, (tuple, list)) or not arch:
        raise ValueError("arch must list at least one stage as a "
                         f"(num_residuals, input_channels, num_channels) triple, got {arch!r}")
    channels, source = stem_channels, "the stem"
    for i, stage in enumerate(arch):
        if not isinstance(stage, (tuple, list)) or len(stage) != 3:
            raise ValueError(
                f"arch[{i}] is {stage!r}: each stage is a (num_residuals, "
                f"input_channels, num_channels) triple; this one reads {channels} "
                f"channels, e.g. (2, {channels}, {2 * channels if i else channels})")
        num_residuals, c_in, c_out = stage  # the blocks check these two
        if c_in != channels:
            raise ValueError(f"arch[{i}] = {tuple(stage)} reads {c_in!r} channels, but "
                             f"{source} makes {channels}: write "
                             f"({num_residuals}, {channels}, {c_out})")
        if i == 0 and c_out != channels:
            raise ValueError(f"arch[0] = {tuple(stage)} changes the channels, but the "
                             "first stage has no 1x1 shortcut and keeps the stem's "
                             f"{channels}: write ({num_residuals}, {channels}, {channels})")
        channels, source = c_out, f"arch[{i}]"


def check_non_negative_number(name: str, value) -> None:
    """Raise ``ValueError`` unless ``value`` is a real number >= 0 (not NaN)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0:
        raise ValueError(f"{name} must be a number >= 0, got {value!r}")


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Run a block with ``model`` in evaluation mode, then restore its mode.

    A dry run (shape tracing, counting) must not move batch-norm running
    statistics or draw dropout masks.
    """
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


def check_image_batch(X, channels: Optional[int] = None, min_size: int = 1,
                      where: str = "model", dtype: Optional[torch.dtype] = None) -> None:
    """Raise ``ValueError`` unless ``X`` is a float batch (N, C, H, W).

    ``channels`` is the number of input channels the layer was built for,
    ``min_size`` the smallest height and width it can downsample, ``dtype``
    the floating-point type of the model's weights (inputs of another float
    type would fail deep inside the first convolution).
    """
    if not isinstance(X, torch.Tensor):
        raise TypeError(f"{where} expects a torch.Tensor of shape (N, C, H, W), "
                        f"got {type(X).__name__}")
    want_c = channels if channels is not None else "C"
    expected = f"(N, {want_c}, H, W)"
    if X.dim() != 4:
        hint = (" Add a batch dimension with X.unsqueeze(0)." if X.dim() == 3 else "")
        raise ValueError(f"{where} expects a 4-d batch {expected}, got shape "
                         f"{tuple(X.shape)} ({X.dim()}-d).{hint}")
    if not X.is_floating_point():
        raise ValueError(f"{where} expects floating-point input, got dtype {X.dtype} "
                         f"with shape {tuple(X.shape)}; convert with X.float() "
                         "(and scale uint8 images to [0, 1]).")
    # Under autocast other float types are expected; ask for the input's own
    # device (the argument-less torch.is_autocast_enabled() answers for CUDA).
    if dtype is not None and X.dtype != dtype and not torch.is_autocast_enabled(X.device.type):
        fix = "X.float()" if dtype == torch.float32 else f"X.to({dtype})"
        raise ValueError(f"{where} has {dtype} weights but got {X.dtype} input of shape "
                         f"{tuple(X.shape)}; convert it with {fix} (or the model with "
                         f"model.to({X.dtype})).")
    if channels is not None and X.shape[1] != channels:
        raise ValueError(f"{where} expects {channels} input channel(s), shape "
                         f"{expected}, got shape {tuple(X.shape)}.")
    h, w = X.shape[-2:]
    if h < min_size or w < min_size:
        raise ValueError(f"{where} needs inputs of at least {min_size}x{min_size} "
                         f"pixels to downsample, got shape {tuple(X.shape)}; "
                         "resize the images (e.g. resize=(28, 28) or larger).")


# -- the 6n+2 networks of notebooks/03_why_residual.ipynb ----------------------
# Attached to the classes with d2lmini.guards.guard, so the classes a reader
# studies stay as short as the book's.
def check_cifar_block(where: str, input_channels, num_channels, strides, **_) -> None:
    """Positive sizes; the option-A shortcut can only keep or widen."""
    check_positive_int("input_channels", input_channels)
    check_positive_int("num_channels", num_channels)
    check_positive_int("strides", strides)
    if num_channels < input_channels:
        raise ValueError(f"{where}({input_channels}, {num_channels}) narrows the "
                         "channels; its zero-padding shortcut can only keep or widen them")


def check_cifar_net(where: str, depth, widths, num_classes, **_) -> None:
    """A depth of 6n+2, three positive stage widths, a positive class count."""
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 8 or (depth - 2) % 6:
        raise ValueError(f"depth must be 6n+2 with n >= 1 (8, 14, 20, ...), got {depth!r}")
    if not isinstance(widths, (tuple, list)) or len(widths) != 3:
        raise ValueError(f"widths must give the channels of 3 stages, got {widths!r}")
    for width in widths:
        check_positive_int("widths", width)
    check_positive_int("num_classes", num_classes)


def check_grayscale_batch(model: nn.Module, X) -> None:
    """A float batch of one-channel images for a network of ``model.net``."""
    check_image_batch(X, 1, where=type(model).__name__, dtype=model.net[0].weight.dtype)


def check_recipe_name(name: Optional[str], recipes) -> None:
    """An unknown ``D2LMINI_RECIPE`` fails with the names that exist (unset is
    fine: the notebook then picks by device)."""
    if name is not None and name not in recipes:
        raise ValueError(f"D2LMINI_RECIPE={name!r} is not a recipe; use one of "
                         f"{', '.join(sorted(recipes))} (or leave it unset: the book's "
                         "recipe on a GPU, the CPU recipe elsewhere)")


def check_resnext_block(where: str, num_channels, groups, bot_mul, use_1x1conv=False,
                        strides=1, input_channels=None, **_) -> None:
    """``ResNeXtBlock``'s arguments: positive sizes, a bottleneck of at least
    one channel that ``groups`` divides, and an identity shortcut only where
    the block keeps the shape."""
    check_positive_int("num_channels", num_channels)
    check_positive_int("groups", groups)
    check_positive_int("strides", strides)
    if (isinstance(bot_mul, bool) or not isinstance(bot_mul, (int, float))
            or not 0 < bot_mul < float("inf")):
        raise ValueError(f"bot_mul must be a finite number > 0, got {bot_mul!r}")
    if input_channels is not None:
        check_positive_int("input_channels", input_channels)
    bot_channels = int(round(num_channels * bot_mul))
    if bot_channels < 1:
        raise ValueError(f"bot_mul={bot_mul} leaves round({num_channels} * "
                         f"{bot_mul}) = 0 bottleneck channels")
    if bot_channels % groups:
        raise ValueError(f"groups={groups} must divide the {bot_channels} bottleneck "
                         f"channels (round({num_channels} * {bot_mul}))")
    if not use_1x1conv:
        if strides != 1:
            raise ValueError(f"strides={strides} needs use_1x1conv=True: "
                             "an identity shortcut keeps the resolution")
        if input_channels not in (None, num_channels):
            raise ValueError(f"input_channels={input_channels} differs from "
                             f"num_channels={num_channels}: use "
                             "use_1x1conv=True to change the channels")


def check_resnext_input(block: nn.Module, X) -> None:
    """A 4-d float batch; its channels must match the first convolution once
    that convolution knows its input width (a lazy one learns it here)."""
    weight = block.conv1.weight  # (out, in, 1, 1) once it has a shape
    known = not isinstance(weight, nn.parameter.UninitializedParameter)
    check_image_batch(X, weight.shape[1] if known else None, where=type(block).__name__,
                      dtype=block.conv3.weight.dtype)


# -- the exercises' blocks and networks (notebooks 08, 09 and 11) -------------
# Attached with d2lmini.guards.guard, so the classes stay as short as the book's.
def check_family_block(where: str, in_channels, channels, stride=1, **_) -> None:
    """``BasicBlock``'s and ``Bottleneck``'s arguments: positive sizes (the
    shortcut's helper checks the stride)."""
    check_positive_int("in_channels", in_channels)
    check_positive_int("channels", channels)


def check_resnet_family(where: str, block, layers, num_classes=10, in_channels=1,
                        **_) -> None:
    """``ResNetFamily``'s arguments: four stages of at least one block each,
    positive class and input-channel counts."""
    if len(layers) != 4:
        raise ValueError(f"layers must give the number of blocks of 4 "
                         f"stages, got {layers}")
    for n in layers:
        check_positive_int("layers (blocks per stage)", n)
    check_positive_int("num_classes", num_classes)
    check_positive_int("in_channels", in_channels)


def check_family_input(model: nn.Module, X) -> None:
    """A float batch with the model's input channels, large enough for every
    halving of the network."""
    check_image_batch(X, model.in_channels, min_size=model.min_size(),
                      where=type(model).__name__,
                      dtype=model.net.b1[0].weight.dtype)


def check_inception(where: str, input_channels, c1, c2, c3, c4, **_) -> None:
    """``Inception``'s channel numbers: all positive (``c2`` and ``c3`` are
    pairs)."""
    for name, value in [("input_channels", input_channels), ("c1", c1),
                        ("c2", c2[0]), ("c2", c2[1]), ("c3", c3[0]),
                        ("c3", c3[1]), ("c4", c4)]:
        check_positive_int(name, value)


def check_parallel_paths(where: str, paths=(), merge="concat", **_) -> None:
    """``ParallelPaths`` merges by ``'concat'`` or ``'add'``, nothing else."""
    if merge not in ("concat", "add"):
        raise ValueError(f"merge must be 'concat' or 'add', got {merge!r}")
