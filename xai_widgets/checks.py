"""Checks of the user's model and input, run before any work, with messages a person can act on.

Example::

    x = check_input(model, x)       # (N, C, H, W) float, finite, on the model's device
"""

from __future__ import annotations

import torch
from torch import nn

from .layers import input_channels, model_device, model_dtype

__all__ = ["check_input", "check_model"]


def check_model(model: object) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise TypeError(
            f"model must be a torch.nn.Module (an image classifier), not {type(model).__name__}"
        )
    return model


def check_input(model: nn.Module, x: object) -> torch.Tensor:
    """A (N, C, H, W) tensor on the model's device in the model's floating dtype
    (:func:`~xai_widgets.layers.model_dtype`; a (C, H, W) image becomes N=1).

    TypeError for non-tensors and non-float dtypes; ValueError for a wrong number of
    dimensions, an empty batch or image, a channel count the first convolution does not take,
    and non-finite values.
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"x must be a torch.Tensor of shape (N, C, H, W) or (C, H, W), not "
            f"{type(x).__name__}; for PIL images or numpy arrays use "
            "xai_widgets.data.prepare(image, card_or_mean_std)"
        )
    if not x.is_floating_point():
        raise TypeError(
            f"x must be a floating-point tensor (the model's normalized input), got {x.dtype}"
        )
    if x.dim() == 3:
        x = x.unsqueeze(0)
    if x.dim() != 4:
        raise ValueError(
            f"x must have shape (N, C, H, W) or (C, H, W); got {x.dim()} dimensions "
            f"{tuple(x.shape)}"
        )
    if x.shape[0] == 0:
        raise ValueError("x is an empty batch (N = 0); give at least one image")
    if x.shape[2] == 0 or x.shape[3] == 0 or x.shape[1] == 0:
        raise ValueError(f"x has an empty image dimension: shape {tuple(x.shape)}")
    channels = input_channels(model)
    if channels is not None and x.shape[1] != channels:
        raise ValueError(
            f"x has {x.shape[1]} channels but the model's first convolution takes {channels}; "
            f"give (N, {channels}, H, W)"
        )
    if not bool(torch.isfinite(x).all()):
        raise ValueError("x contains NaN or infinite values; give a finite input")
    dtype = model_dtype(model)
    cast = x.detach().to(device=model_device(model, x.device), dtype=dtype)
    if cast.dtype != x.dtype and not bool(torch.isfinite(cast).all()):
        raise ValueError(
            f"x has values beyond the range of the model's dtype {dtype} (largest magnitude "
            f"{float(x.abs().max()):.3g}); give an input the model can represent"
        )
    return cast
