"""The arithmetic of the occlusion drill-down, ``occlusion(approximate=True)``: after
Krypton's adaptive drill-down (Nakandala et al., SIGMOD 2019, section 4.2), in the window
grid. :mod:`.drilldown` runs it stage by stage.

1. Stage one computes the windows of every ``step``-th row and column of the window grid (and
   the last ones, so they span the image).
2. Their drops estimate every other window's drop. Plain linear interpolation between those
   rows and columns, D_est = W_r D_1 W_c^T (W: linear interpolation matrices), loses the
   detail between them, so the estimate follows a guide T, a cheap first-order drop of every
   window: the drop linearised at a deep layer (:mod:`.incremental.linear`) or, where the
   model cannot be followed layer by layer, in the input (:func:`taylor`: T = sum over the
   window of grad_x S . (x - baseline), one backward pass). The drops are fitted on it at the
   computed windows (D ~ a T + b, least squares, per sample) and only the residual is
   interpolated: D_est = a T + b + W_r (D_1 - a T_1 - b) W_c^T (regression kriging; with no
   usable gradient, a = 0 and this is the plain interpolation).
3. Stage two computes the ``refine`` share of the remaining windows where the estimate is
   strongest (|D_est| over each sample's largest, the most over the samples); every other
   window keeps its estimate.

Every computed window is exact (incremental where the model can be traced, else full
forwards). The figures (ResNet-18 and the zoo) are in :mod:`.drilldown`.

Example::

    est = estimate(drops, stage_one(27, 3), stage_one(27, 3), guide)   # (N, 27, 27)
"""

from __future__ import annotations

import itertools
import math
from typing import TYPE_CHECKING

import torch

from ..targets import Target

if TYPE_CHECKING:
    from .occlusion import OcclusionGrid

__all__ = [
    "REFINE",
    "describe",
    "estimate",
    "filled",
    "flat_windows",
    "interpolation",
    "planned",
    "refine_order",
    "spaced",
    "sparse",
    "stage_one",
    "stage_one_order",
    "taylor",
]

REFINE = 0.1
"""The share of the windows outside stage one that stage two computes."""


def spaced(count: int, step: int) -> list[int]:
    """Every ``step``-th of ``count`` window indices along one axis, and the last one (so the
    subset spans the image)."""
    return sorted(set(range(0, count, step)) | {count - 1})


def stage_one(count: int, step: int = 2) -> list[int]:
    """Every ``step``-th index of ``count`` windows along one axis, and the last one."""
    return spaced(count, step)


def interpolation(known: list[int], count: int, like: torch.Tensor) -> torch.Tensor:
    """(count, len(known)) weights that interpolate values at the sorted indices ``known``
    (which hold 0 and count - 1) linearly to every index 0 .. count - 1."""
    weights = torch.zeros(count, len(known), dtype=like.dtype, device=like.device)
    if len(known) == 1:
        weights[:, 0] = 1.0
        return weights
    for j, (a, b) in enumerate(itertools.pairwise(known)):
        t = torch.arange(b - a + 1, dtype=like.dtype, device=like.device) / (b - a)
        weights[a : b + 1, j] = 1.0 - t
        weights[a : b + 1, j + 1] = t
    return weights


def estimate(
    drops: torch.Tensor, rows: list[int], cols: list[int], guide: torch.Tensor | None = None
) -> torch.Tensor:
    """(N, nr, nc) drops estimated from those at the windows ``rows`` x ``cols``: linearly
    interpolated, or with ``guide`` (N, nr, nc; :func:`taylor`) its least-squares line at
    those windows plus the interpolated residual (step 2 of the module docstring)."""
    nr, nc = drops.shape[1:]
    w_r, w_c = interpolation(rows, nr, drops), interpolation(cols, nc, drops)
    if guide is None:
        return torch.einsum("ri,nij,cj->nrc", w_r, drops[:, rows][:, :, cols], w_c)
    g = guide[:, rows][:, :, cols].flatten(1)
    d = drops[:, rows][:, :, cols].flatten(1)
    g_c, d_c = g - g.mean(1, keepdim=True), d - d.mean(1, keepdim=True)
    tiny = torch.finfo(drops.dtype).tiny
    slope = (g_c * d_c).sum(1) / (g_c * g_c).sum(1).clamp(min=tiny)  # 0 for a flat guide
    trend = slope[:, None, None] * guide + (d.mean(1) - slope * g.mean(1))[:, None, None]
    rest = (drops - trend)[:, rows][:, :, cols]
    return trend + torch.einsum("ri,nij,cj->nrc", w_r, rest, w_c)


def taylor(
    model: torch.nn.Module, x: torch.Tensor, target: Target, baseline: float, grid: OcclusionGrid
) -> torch.Tensor | None:
    """(N, nr, nc) first-order drop of every window of ``grid``: the sum over the window of
    grad_x S . (x - baseline) (S: the bound target's score), one forward and backward; None
    where the score does not depend differentiably on ``x`` (e.g. a model that detaches).

    Example: ``guide = taylor(model, x, target, 0.0, grid)`` for :func:`estimate`."""
    inputs = x.detach().requires_grad_(True)
    with torch.enable_grad():
        score = target.score(model(inputs))
    if not score.requires_grad:
        return None
    (grad,) = torch.autograd.grad(score.sum(), inputs)
    field = (grad * (x.detach() - baseline)).sum(1)
    rows, cols = grid.rows.to(field.dtype), grid.cols.to(field.dtype)
    return torch.einsum("rh,nhw,cw->nrc", rows, field, cols).detach()


def refine_order(est: torch.Tensor, done: torch.Tensor, share: float) -> torch.Tensor:
    """Flat indices of the ``share`` of the windows not ``done`` where |est| is largest
    (relative to each sample's largest |est|, the most over the samples), strongest first."""
    strength = est.abs() / est.abs().flatten(1).amax(1).clamp(min=1e-30)[:, None, None]
    strength = strength.amax(0).flatten().masked_fill(done.flatten(), -1.0)
    count = math.ceil(share * int((~done).sum()))
    return strength.topk(count).indices if count else strength.new_zeros(0, dtype=torch.long)


def flat_windows(rows: list[int], cols: list[int], nc: int) -> torch.Tensor:
    """Flat indices (row-major, ``nc`` columns) of the windows ``rows`` x ``cols``."""
    return (torch.tensor(rows)[:, None] * nc + torch.tensor(cols)[None, :]).reshape(-1)


def stage_one_order(shape: tuple[int, int], step: int = 2) -> tuple[torch.Tensor, int]:
    """Flat indices of stage one's windows (every ``step``-th row and column and the last),
    those of every ``2 * step``-th first, for a quick first map; and how many those are."""
    quick = flat_windows(sparse(shape[0], step), sparse(shape[1], step), shape[1])
    stage = flat_windows(stage_one(shape[0], step), stage_one(shape[1], step), shape[1])
    rest = stage[~torch.isin(stage, quick)]  # row-major, as the quick ones
    return torch.cat([quick, rest]), len(quick)


def sparse(count: int, step: int = 2) -> list[int]:
    """Every ``2 * step``-th index and the last: a subset of :func:`stage_one`'s (same
    ``step``), the first map's."""
    return spaced(count, 2 * step)


def filled(drops: torch.Tensor, done: torch.Tensor, est: torch.Tensor) -> torch.Tensor:
    """The computed drops where done, the estimate elsewhere."""
    return torch.where(done, drops, est)


def planned(shape: tuple[int, int], share: float = REFINE, step: int = 2) -> int:
    """How many windows the drill-down computes for a grid of ``shape``: stage one's (every
    ``step``-th row and column) and the ``share`` of the rest."""
    first = len(stage_one(shape[0], step)) * len(stage_one(shape[1], step))
    return first + math.ceil(share * (shape[0] * shape[1] - first))


def describe(computed: int, total: int, how: str) -> str:
    """The note in the Explanation's params; ``how``: what guided the estimate."""
    return f"{computed} of {total} computed, the rest estimated (drill-down, {how})"
