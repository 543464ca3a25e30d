"""The drill-down of ``occlusion(approximate=True)``, stage by stage (:mod:`.drill` has its
arithmetic): which windows it computes, what guides the estimate of the others, and the maps
it yields on the way.

* **Deep guide** (the incremental engine can follow the model and its score has a gradient):
  every window gets its first-order drop at a deep cut of the network
  (:mod:`.incremental.linear`: exact up to the cut, linear after it, at most ``SHARE`` of a
  window's work); stage one computes every third row and column of windows (every second
  where that leaves fewer than ``ROWS``), and the drops fitted on the guide estimate the
  rest. No stage two: on ResNet-18 a finer stage one bought more correlation per window.
* **Input gradient** (full forwards, or no cut): stage one computes every second row and
  column, the guide is the input gradient's first-order drop (:func:`.drill.taylor`, or
  none: plain interpolation), stage two the 10% of the rest where the estimate is strongest.

Measured (``benchmarks/bench_occlusion.py``), correlation with the exact map:

* ResNet-18 (random weights), 224 px, patch 16 / stride 8, four scikit-image photos
  (chelsea, astronaut, coffee, rocket): 100 of 729 windows, the guide after ``layer2``,
  0.980 / 0.970 / 0.975 / 0.961 (the input gradient's layout: 250 windows, 0.977 / 0.939 /
  0.959 / 0.896). Krypton's other approximation, the projective-field threshold
  (``incremental.TAU`` = 0.6 on every window), gave 0.963 / 0.905 / 0.966 / 0.745.
* The zoo's trained 64 px models, patch 8 / stride 4, 8 held-out images each: 64 of 225
  windows, median / worst 0.984 / 0.950 (shapes), 0.975 / 0.967 (counting), 0.992 / 0.975
  (textures).

Example::

    for heat, fraction in drill_down(grid, run, model, x, target, 0.0, progress=None):
        ...   # (N, H, W) maps, the last one with fraction 1.0
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import fx, nn

from ..notes import note_param
from ..targets import Target
from . import drill
from .incremental.linear import SHARE, Linear, choose, linearize
from .registry import Progress

if TYPE_CHECKING:
    from .occlusion import OcclusionGrid
    from .windows import WindowDrops

__all__ = [
    "DEEP",
    "DEEP_SMALL",
    "INPUT",
    "ROWS",
    "Layout",
    "cost",
    "deep_guide",
    "drill_down",
    "layout",
    "where",
]


@dataclass(frozen=True)
class Layout:
    """Stage one computes every ``step``-th row and column of windows; stage two the
    ``refine`` share of the other windows."""

    step: int
    refine: float


DEEP = Layout(step=3, refine=0.0)
"""With the deep guide, where every third row and column still gives ``ROWS`` or more."""
DEEP_SMALL = Layout(step=2, refine=0.0)
"""With the deep guide on smaller grids (the zoo's 15 x 15 windows)."""
INPUT = Layout(step=2, refine=drill.REFINE)
ROWS = 10
"""The fewest rows (and columns) of windows stage one keeps with the deep guide: on the zoo's
15 x 15 grids every third gives 6, and the worst correlation with the exact map fell to
0.85-0.96 (every second: 0.95-0.975)."""


def layout(shape: tuple[int, int], deep: bool) -> Layout:
    """The drill-down's layout for a grid of ``shape`` windows, with the deep guide or not."""
    if not deep:
        return INPUT
    wide = all(len(drill.stage_one(n, DEEP.step)) >= ROWS for n in shape)
    return DEEP if wide else DEEP_SMALL


def deep_guide(run: WindowDrops, grid: OcclusionGrid, target: Target) -> Linear | None:
    """The deep first-order guide for this occlusion, or None (full forwards, no cut, or no
    gradient at the cut)."""
    if run.run is None:
        return None
    top, left = grid.starts
    found = choose(run.run, top.tolist(), left.tolist(), grid.patch[0])
    if found is None:
        return None
    return linearize(run.run, *found, target.score)


def cost(shape: tuple[int, int]) -> int:
    """About how many forwards the drill-down costs on a grid of ``shape`` windows, for a
    model the deep guide can follow (most CNNs): the computed windows, at most ``SHARE`` of
    one for every other window's guide, the clean forward and the gradient's (counted as
    two)."""
    deep = layout(shape, True)
    first = len(drill.stage_one(shape[0], deep.step)) * len(drill.stage_one(shape[1], deep.step))
    rest = shape[0] * shape[1] - first
    return drill.planned(shape, deep.refine, deep.step) + math.ceil(SHARE * rest) + 3


def where(run: WindowDrops, cut: fx.Node) -> str:
    """A cut's name for people: its module's path and type (``layer2.1.relu (ReLU)``), or the
    graph's name for a function (``add_3``)."""
    if cut.op != "call_module" or run.run is None:
        return cut.name
    return f"{cut.target} ({type(run.run.plan.modules[str(cut.target)]).__name__})"


def drill_down(
    grid: OcclusionGrid,
    run: WindowDrops,
    model: nn.Module,
    x: torch.Tensor,
    target: Target,
    baseline: float,
    progress: Progress | None,
) -> Iterator[tuple[torch.Tensor, float]]:
    """(heat (N, H, W), share of the work done) after stage one's quick windows, after stage
    one, after the deep guide, after each chunk of stage two, and at the end (1.0)."""
    shape, n = grid.shape, x.shape[0]
    total = shape[0] * shape[1]
    linear = deep_guide(run, grid, target)
    lay = layout(shape, linear is not None)
    if linear is not None:
        run.guide_with(linear)
        taylor, how = None, f"guided by the first-order drop after {where(run, linear.cut)}"
    else:
        taylor = drill.taylor(model, x, target, baseline, grid)
        how = "gradient-guided" if taylor is not None else "no gradient: plain interpolation"
    plan = drill.planned(shape, lay.refine, lay.step)
    note_param("windows", drill.describe(plan, total, how))
    order, quick = drill.stage_one_order(shape, lay.step)
    rows, cols = drill.stage_one(shape[0], lay.step), drill.stage_one(shape[1], lay.step)
    share = linear.share if linear is not None else 0.0
    work = plan + share * (total - len(order))

    def done_share() -> float:
        guided = 0 if run.guided is None else int((run.guided & ~run.done).sum())
        fraction = min(1.0, (int(run.done.sum()) + share * guided) / work)
        if progress is not None:
            progress(fraction)
        return fraction

    def heat(est: torch.Tensor) -> torch.Tensor:
        return grid.assemble(drill.filled(run.drops.view(n, *shape), run.done.view(shape), est))

    est = None
    for drops, done in run.compute(order, first=quick * n):
        fraction, count = done_share(), int(done.sum())
        if count == len(order):
            est = drill.estimate(drops, rows, cols, taylor)
        elif bool(done.flatten()[order[:quick]].all()):
            few = drill.sparse(shape[0], lay.step), drill.sparse(shape[1], lay.step)
            est = drill.estimate(drops, *few, taylor)
        else:
            continue
        if fraction < 1.0:
            yield heat(est), fraction
    if run.guide is not None:
        rest = torch.ones(total, dtype=torch.bool)
        rest[order] = False
        for _ in run.compute(torch.nonzero(rest)[:, 0], exact=False):
            fraction = done_share()
        est = drill.estimate(run.drops.view(n, *shape), rows, cols, run.guide.view(n, *shape))
        if fraction < 1.0:
            yield heat(est), fraction
    assert est is not None
    second = drill.refine_order(est, run.done.view(shape), lay.refine)
    for _ in run.compute(second) if second.numel() else ():
        fraction = done_share()
        if fraction < 1.0:
            yield heat(est), fraction
    yield heat(est), 1.0
