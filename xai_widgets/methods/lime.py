"""LIME for images (Ribeiro, Singh & Guestrin 2016, "Why should I trust you?"), batched.

Random on/off masks z in {0, 1}^M of the M regions (the first sample keeps every region on,
the others switch each region on with probability 1/2; "off" regions take ``baseline``), the
model's score f(z) of each masked copy, a proximity weight from the cosine distance
d(z) = 1 - cos(z, 1) = 1 - sqrt(|z| / M) to the unmasked image,

    pi(z) = exp(-d(z)^2 / (2 w^2)),      w = kernel_width   (lime's sqrt(exp(-d^2 / w^2)))

and a weighted ridge fit (alpha = 1, intercept not penalized, as lime's default ``Ridge``)

    beta = argmin_b sum_z pi(z) (f(z) - b_0 - b^T z)^2 + ||b||^2.

The region weights beta are the heatmap (each pixel shows its region's weight).

Streaming: the fit is redone after every chunk of forwards, so the first map comes after one
batch and converges to the full fit (the last map) with the same seeded masks.

Example::

    e = explain(model, x, "lime", segments="slic", n_segments=50, samples=1000, seed=1)
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .regions import (
    RegionMethod,
    baseline_param,
    n_segments_param,
    region_scores,
    segments_param,
)
from .registry import Progress, param, register

__all__ = ["Lime", "lime_masks", "weighted_ridge"]


def lime_masks(samples: int, m: int, seed: int, device: torch.device) -> torch.Tensor:
    """(samples, M) bool coalitions: row 0 all on, the others Bernoulli(1/2) per region."""
    gen = torch.Generator(device=device).manual_seed(seed)
    on = torch.rand((samples, m), generator=gen, device=device) < 0.5
    on[0] = True
    return on


def lime_kernel(on: torch.Tensor, kernel_width: float) -> torch.Tensor:
    """pi(z) = exp(-d^2 / (2 w^2)) with d = 1 - cos(z, 1) (d = 1 for the empty coalition)."""
    frac = on.to(torch.float64).mean(1)
    distance = 1.0 - frac.sqrt()
    return torch.exp(-(distance**2) / (2 * kernel_width**2))


def weighted_ridge(
    features: torch.Tensor, y: torch.Tensor, weights: torch.Tensor, alpha: float = 1.0
) -> torch.Tensor:
    """Coefficients of sklearn's ``Ridge(alpha).fit(X, y, sample_weight=w)`` (intercept fitted
    and not penalized): centre X and y by their weighted means, then solve
    (Xc^T W Xc + alpha I) b = Xc^T W yc. float64 on the inputs' device."""
    x = features.to(torch.float64)
    y = y.to(torch.float64)
    w = weights.to(torch.float64)
    wsum = w.sum()
    xc = x - (w @ x) / wsum
    yc = y - (w @ y) / wsum
    gram = xc.T @ (w[:, None] * xc) + alpha * torch.eye(x.shape[1], dtype=x.dtype, device=x.device)
    return torch.linalg.solve(gram, xc.T @ (w * yc))


@register(
    "lime",
    label="LIME",
    family="perturbation",
    tip=(
        "A simple linear model fitted to the class score on pictures "
        "with random regions greyed out."
    ),
)
@dataclass(frozen=True)
class Lime(RegionMethod):
    """LIME (Ribeiro et al. 2016) on image regions: random on/off region masks, an
    exponential kernel exp(-d^2 / (2 w^2)) on the cosine distance d to the full image, a
    weighted ridge fit (alpha 1); the region weights are the heatmap.

    Example: ``explain(model, x, "lime", samples=1000, kernel_width=0.25)``.
    """

    segments: str = segments_param()
    n_segments: int = n_segments_param()
    samples: int = param(500, min=2, max=100000, step=1, help="Masked copies the fit uses.")
    kernel_width: float = param(
        0.25, min=1e-3, max=100.0, step=0.05, help="Width w of the proximity kernel."
    )
    baseline: float = baseline_param()
    seed: int = param(0, min=0, max=2**31 - 1, step=1, help="Seed of the random masks.")

    def stream(self, model, x, target, progress: Progress | None = None, cache=None):
        labels, counts, values = self.start(model, x, target)
        total = self.samples * x.shape[0]
        for i, (lab, m) in enumerate(zip(labels, counts, strict=True)):
            on = lime_masks(self.samples, m, self.seed, x.device)
            weights = lime_kernel(on, self.kernel_width)
            scores = torch.zeros(self.samples, device=x.device, dtype=torch.float64)
            for part, s in region_scores(model, x, i, lab, on, self.baseline, target):
                scores[part] = s.to(torch.float64)
                n = part.stop
                fit = weighted_ridge(on[:n].to(torch.float64), scores[:n], weights[:n])
                values[i, :m] = fit.to(x.dtype)
                done = i * self.samples + n
                yield from self.partial(values, labels, x, done, total, progress)
        yield self.expand(values, labels, x), 1.0
