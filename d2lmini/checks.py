"""Input checks that fail early, with the expected and received shape."""
from typing import Optional

import torch

__all__ = ["check_image_batch"]


def check_image_batch(X, channels: Optional[int] = None, min_size: int = 1,
                      where: str = "model") -> None:
    """Raise ``ValueError`` unless ``X`` is a float batch (N, C, H, W).

    ``channels`` is the number of input channels the layer was built for,
    ``min_size`` the smallest height and width it can downsample.
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
    if channels is not None and X.shape[1] != channels:
        raise ValueError(f"{where} expects {channels} input channel(s), shape "
                         f"{expected}, got shape {tuple(X.shape)}.")
    h, w = X.shape[-2:]
    if h < min_size or w < min_size:
        raise ValueError(f"{where} needs inputs of at least {min_size}x{min_size} "
                         f"pixels to downsample, got shape {tuple(X.shape)}; "
                         "resize the images (e.g. resize=(28, 28) or larger).")
