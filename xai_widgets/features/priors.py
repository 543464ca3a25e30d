"""Image priors of feature visualization: total variation, Gaussian blur, jitter, random
scale and rotation; and a measure of where an image's detail lies.

Gradient ascent on an activation alone produces high-frequency patterns; these priors keep the
image natural-looking (Mahendran & Vedaldi 2015 for total variation; Yosinski et al. 2015,
"Understanding neural networks through deep visualization", for L2 decay, blurring and
jitter; Mordvintsev et al. 2015 and Olah et al. 2017 for jitter as transformation robustness):

    TV(x)   = mean |x[..., i+1, j] - x[..., i, j]| + mean |x[..., i, j+1] - x[..., i, j]|
    L2(x)   = mean x^2
    blur(x) = x * G_sigma                (separable Gaussian, reflect padding, per channel)
    jitter  = roll x by (dy, dx) ~ U{-j..j}^2 from a seeded torch.Generator
    T(x)    = x sampled at R(a) p / s + (dx, dy)   (random_affine: "transformation robustness"
              of Olah et al. 2017; s ~ U[1, 1 + scale], a ~ U[-rotate, rotate] deg,
              integer (dx, dy) ~ U{-j..j}^2, bilinear, reflect at the border)

:func:`central_detail` says whether a picture's detail sits in its middle or along its
border: the share of the high-frequency energy sum (x - blur(x))^2 inside the central box of
half the image's area (an image with detail everywhere scores about 0.5, one with detail only
along its border about 0).

Example::

    >>> shifts = random_shift(gen, 4); x_j = torch.roll(x, shifts, (2, 3))
    >>> seen = random_affine(x, gen, jitter=4, scale=0.1, rotate=10.0)
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = [
    "FINE_DETAIL",
    "central_detail",
    "detail_rms",
    "gaussian_blur",
    "l2_penalty",
    "random_affine",
    "random_shift",
    "total_variation",
]


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


def random_affine(
    x: torch.Tensor, gen: torch.Generator, jitter: int, scale: float, rotate: float
) -> torch.Tensor:
    """``x`` (N, C, H, W) shifted by up to ``jitter`` px, enlarged by a factor in [1, 1 +
    ``scale``] about its centre and rotated by +- ``rotate`` degrees (one random draw for the
    batch from ``gen``), resampled bilinearly with reflection at the border; ``x`` itself
    when all three are 0. Enlarging only (no shrinking) keeps the border out of view part of
    the time, so detail that only pays at the border is not rewarded."""
    if not (jitter or scale or rotate):
        return x
    height, width = x.shape[-2:]
    dy, dx = random_shift(gen, jitter)
    u = torch.rand(2, generator=gen, device=gen.device).tolist()
    s = 1.0 + scale * u[0]
    a = math.radians(rotate * (2 * u[1] - 1))
    cos, sin = math.cos(a) / s, math.sin(a) / s
    theta = torch.tensor(
        [
            [cos, -sin * height / width, 2 * dx / width],
            [sin * width / height, cos, 2 * dy / height],
        ],
        device=x.device,
        dtype=x.dtype,
    )
    grid = F.affine_grid(theta.expand(x.shape[0], 2, 3), list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="reflection", align_corners=False)


def central_detail(image: torch.Tensor, area: float = 0.5, sigma: float = 1.0) -> float:
    """Share of the high-frequency energy of ``image`` ((C, H, W) or (1, C, H, W)) that lies
    in the centred box covering ``area`` of the picture (sides scaled by sqrt(area)).

    Energy per pixel: sum over channels of (x - gaussian_blur(x, sigma))^2. A picture whose
    detail is spread evenly scores about ``area``; detail confined to the border scores near
    0. A flat picture (no energy) scores 0.
    """
    x = image.detach().float()
    x = x.unsqueeze(0) if x.dim() == 3 else x
    if x.dim() != 4 or x.shape[0] != 1:
        raise ValueError(f"central_detail: expected (C, H, W) or (1, C, H, W), got {x.shape}")
    if not 0 < area <= 1:
        raise ValueError(f"central_detail: area must be in (0, 1], got {area!r}")
    energy = (x - gaussian_blur(x, sigma)).pow(2).sum(1)[0]
    height, width = energy.shape
    bh, bw = round(height * math.sqrt(area)), round(width * math.sqrt(area))
    top, left = (height - bh) // 2, (width - bw) // 2
    total = float(energy.sum())
    return float(energy[top : top + bh, left : left + bw].sum()) / total if total > 0 else 0.0


FINE_DETAIL = 0.025
"""Below this :func:`detail_rms` a picture has no visible fine detail (a ripple under 2.5% of
the range): only smooth light and dark areas."""


def detail_rms(pixels: torch.Tensor, sigma: float = 1.0) -> float:
    """Root mean square of the high-frequency part x - gaussian_blur(x, sigma) of a picture in
    [0, 1] ((C, H, W) or (1, C, H, W)), over pixels and channels: 0 for a uniform picture or a
    smooth gradient. The zoo models' feature visualizations measure 0.038-0.42; two counting
    channels that respond most to blank pictures get smooth pictures of 0.016 (below
    :data:`FINE_DETAIL`; ``benchmarks/bench_featvis.py``)."""
    x = pixels.detach().float()
    x = x.unsqueeze(0) if x.dim() == 3 else x
    if x.dim() != 4 or x.shape[0] != 1:
        raise ValueError(f"detail_rms: expected (C, H, W) or (1, C, H, W), got {x.shape}")
    return float((x - gaussian_blur(x, sigma)).pow(2).mean().sqrt())
