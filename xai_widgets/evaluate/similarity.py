"""Similarity of two heatmaps: Spearman rank correlation and SSIM, per image, in torch.

* :func:`spearman`: Pearson correlation of the ranks (ties get their average rank, as
  ``scipy.stats.spearmanr``); 0 where either map is constant (no rank order to share; scipy
  returns NaN there).
* :func:`ssim`: structural similarity (Wang et al. 2004) with
  ``skimage.metrics.structural_similarity``'s defaults: a 7 x 7 uniform window, K1 = 0.01,
  K2 = 0.03, sample covariance, the mean over the windows inside the image; ``data_range`` 1
  for maps scaled to [0, 1] (see :func:`unit_scale`).

Example::

    spearman(a, b)              # (N,) for a, b of shape (N, H, W)
    ssim(unit_scale(a.abs()), unit_scale(b.abs()))
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

__all__ = ["average_ranks", "spearman", "ssim", "unit_scale"]


def average_ranks(values: torch.Tensor) -> torch.Tensor:
    """(N, M) 0-based ranks of each row, ties at their average rank."""
    out = torch.empty(values.shape, dtype=torch.float64, device=values.device)
    for i, row in enumerate(values):
        _, inverse, counts = torch.unique(row, return_inverse=True, return_counts=True)
        start = torch.cumsum(counts, 0) - counts
        out[i] = (start + (counts - 1) / 2.0).to(torch.float64)[inverse]
    return out


def spearman(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """(N,) Spearman rank correlation of the maps ``a`` and ``b`` (N, H, W), image by image."""
    ra, rb = average_ranks(a.flatten(1)), average_ranks(b.flatten(1))
    ra = ra - ra.mean(1, keepdim=True)
    rb = rb - rb.mean(1, keepdim=True)
    denom = (ra.square().sum(1) * rb.square().sum(1)).sqrt()
    rho = (ra * rb).sum(1) / denom.clamp(min=1e-300)
    return torch.where(denom > 0, rho, torch.zeros_like(rho)).float()


def unit_scale(maps: torch.Tensor) -> torch.Tensor:
    """Each (H, W) map min-max scaled to [0, 1]; a constant map becomes 0."""
    flat = maps.flatten(1)
    low = flat.amin(1)[:, None, None]
    span = (flat.amax(1) - flat.amin(1))[:, None, None]
    return torch.where(span > 0, (maps - low) / span.clamp(min=1e-30), torch.zeros_like(maps))


def ssim(a: torch.Tensor, b: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """(N,) mean structural similarity of ``a`` and ``b`` (N, H, W), H and W >= 7."""
    win = 7
    a64, b64 = a[:, None].double(), b[:, None].double()

    def mean(t: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(t, win, stride=1)

    cov_norm = win * win / (win * win - 1.0)
    ma, mb = mean(a64), mean(b64)
    va = cov_norm * (mean(a64 * a64) - ma * ma)
    vb = cov_norm * (mean(b64 * b64) - mb * mb)
    vab = cov_norm * (mean(a64 * b64) - ma * mb)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * ma * mb + c1) * (2 * vab + c2)) / ((ma * ma + mb * mb + c1) * (va + vb + c2))
    return s.flatten(1).mean(1).float()
