"""Image priors of feature visualization: total variation, Gaussian blur, jitter.

Gradient ascent on an activation alone produces high-frequency patterns; these priors keep the
image natural-looking (Mahendran & Vedaldi 2015 for total variation; Yosinski et al. 2015,
"Understanding neural networks through deep visualization", for L2 decay, blurring and
jitter; Mordvintsev et al. 2015 and Olah et al. 2017 for jitter as transformation robustness):

    TV(x)   = mean |x[..., i+1, j] - x[..., i, j]| + mean |x[..., i, j+1] - x[..., i, j]|
    L2(x)   = mean x^2
    blur(x) = x * G_sigma                (separable Gaussian, reflect padding, per channel)
    jitter  = roll x by (dy, dx) ~ U{-j..j}^2 from a seeded torch.Generator

Example::

    >>> shifts = random_shift(gen, 4); x_j = torch.roll(x, shifts, (2, 3))
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["gaussian_blur", "l2_penalty", "random_shift", "total_variation"]


def total_variation(x: torch.Tensor) -> torch.Tensor:
    """Anisotropic L1 total variation of (N, C, H, W), averaged over pixels (a scalar)."""
    tv = x.new_zeros(())
    if x.shape[-2] > 1:
        tv = tv + (x[..., 1:, :] - x[..., :-1, :]).abs().mean()
    if x.shape[-1] > 1:
        tv = tv + (x[..., :, 1:] - x[..., :, :-1]).abs().mean()
    return tv


def l2_penalty(x: torch.Tensor) -> torch.Tensor:
    """mean x^2 (the squared norm per element, so weights do not depend on image size)."""
    return x.pow(2).mean()


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of (N, C, H, W), radius ceil(2 sigma), reflect padding."""
    radius = max(1, math.ceil(2 * sigma))
    taps = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    kernel = torch.exp(-(taps**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    channels = x.shape[1]
    mode = "reflect" if min(x.shape[-2:]) > radius else "replicate"
    out = F.pad(x, (radius, radius, 0, 0), mode=mode)
    out = F.conv2d(out, kernel.view(1, 1, 1, -1).repeat(channels, 1, 1, 1), groups=channels)
    out = F.pad(out, (0, 0, radius, radius), mode=mode)
    return F.conv2d(out, kernel.view(1, 1, -1, 1).repeat(channels, 1, 1, 1), groups=channels)


def random_shift(gen: torch.Generator, jitter: int) -> tuple[int, int]:
    """(dy, dx), each uniform in -jitter..jitter, from ``gen`` (no global RNG)."""
    if jitter <= 0:
        return 0, 0
    dy, dx = torch.randint(-jitter, jitter + 1, (2,), generator=gen, device=gen.device).tolist()
    return int(dy), int(dx)
