"""Occlusion (Zeiler & Fergus 2014), batched and progressive.

A ``patch`` x ``patch`` window slides with ``stride`` over the image (all channels set to
``baseline``); windows stay inside the image and, where the stride does not reach the edge, a
last window sits flush with it, so every pixel is covered. As in Captum, each pixel gets the
mean score drop over the windows covering it:

    A_ij = (1 / |W_ij|) sum_{w in W_ij} (S(x) - S(x with w occluded))

The occluded copies are built with tensor ops (one ``torch.where`` per chunk) and forwarded in
memory-sized chunks; with the row masks R (nr, H) and column masks C (nc, W) of the windows and
the drops D (nr, nc), the map is R^T D C / (R^T 1 C): two small matrix products.

Where ``torch.fx`` can trace the model and knows every layer, the copies are forwarded
incrementally (:mod:`.incremental`, after Krypton, Nakandala et al. 2019): each layer
recomputes only the rectangle a window changes and reads the clean activations elsewhere; the
drops equal the full forwards' up to float rounding. Otherwise (a data-dependent branch, an
unknown layer, forward hooks) full forwards run; ``Explanation.params`` says which
(``engine``, and ``engine_reason`` for a fallback).

Example::

    grid = OcclusionGrid.build(64, 64, patch=16, stride=8)
    drops = grid.drops(model, x, target)            # (N, nr, nc)
    heat = grid.assemble(drops)                     # (N, H, W)
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..targets import Target
from . import drill, drilldown
from .batching import chunk_size
from .incremental import start_engine
from .registry import Method, Progress, param, register
from .windows import WindowDrops

__all__ = ["COARSE_STEP", "Occlusion", "OcclusionGrid", "coarse_step", "window_starts"]

COARSE_STEP = 3  # the coarse first map uses every third row and column of windows ...
COARSE_WINDOWS = 64  # ... or every k-th (k > 3) so that it needs at most one batch of windows


def coarse_step(rows: int, cols: int) -> int:
    """The smallest step >= ``COARSE_STEP`` whose coarse subset (every step-th row and column
    of windows and the last ones) has at most ``COARSE_WINDOWS`` windows: the first map then
    costs about one batch (ResNet-18 at 224 px, patch 16 / stride 8: 27 x 27 windows, step 4,
    64 windows instead of 100)."""
    step = COARSE_STEP
    while True:
        count = len(drill.spaced(rows, step)) * len(drill.spaced(cols, step))
        if count <= COARSE_WINDOWS or step >= max(rows, cols):
            return step
        step += 1


def window_starts(size: int, patch: int, stride: int) -> list[int]:
    """Window offsets along one axis: 0, stride, ... and a last one flush with the edge."""
    starts = list(range(0, size - patch + 1, stride))
    if starts[-1] != size - patch:
        starts.append(size - patch)
    return starts


@dataclass
class OcclusionGrid:
    """The windows of one occlusion: row masks ``rows`` (nr, H), column masks ``cols`` (nc, W)."""

    rows: torch.Tensor
    cols: torch.Tensor

    @classmethod
    def build(
        cls, height: int, width: int, patch: int, stride: int, device: torch.device | None = None
    ) -> OcclusionGrid:
        def masks(size: int) -> torch.Tensor:
            starts = torch.tensor(window_starts(size, patch, stride), device=device)
            pos = torch.arange(size, device=device)
            return (pos >= starts[:, None]) & (pos < starts[:, None] + patch)

        return cls(masks(height), masks(width))

    @property
    def shape(self) -> tuple[int, int]:
        return self.rows.shape[0], self.cols.shape[0]

    def coarse_first(self, step: int) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """All window indices with a coarse subset first: every ``step``-th row and column of
        windows plus the last ones (so the subset spans the image); also returns the subset's
        (row indices, column indices)."""
        nr, nc = self.shape
        rows, cols = drill.spaced(nr, step), drill.spaced(nc, step)
        coarse = drill.flat_windows(rows, cols, nc)
        rest = torch.ones(nr * nc, dtype=torch.bool)
        rest[coarse] = False
        order = torch.cat([coarse, torch.nonzero(rest)[:, 0]])
        return order, (torch.tensor(rows), torch.tensor(cols))

    @property
    def starts(self) -> tuple[torch.Tensor, torch.Tensor]:
        """First row (nr,) and first column (nc,) of each window."""
        return self.rows.int().argmax(1), self.cols.int().argmax(1)

    @property
    def patch(self) -> tuple[int, int]:
        return int(self.rows[0].sum()), int(self.cols[0].sum())

    def iter_drops(
        self,
        model: nn.Module,
        x: torch.Tensor,
        target: Target,
        baseline: float,
        order: torch.Tensor | None = None,
        chunk: int | None = None,
        engine: str = "auto",
        first: int | None = None,
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Yield (drops (N, nr, nc), done mask (nr, nc)) after each chunk of windows, in
        ``order`` (window indices, default row-major; a subset computes only those): see
        :meth:`open` and :meth:`WindowDrops.compute`."""
        nr, nc = self.shape
        run = self.open(model, x, target, baseline, chunk, engine)
        yield from run.compute(torch.arange(nr * nc) if order is None else order, first)

    def open(
        self,
        model: nn.Module,
        x: torch.Tensor,
        target: Target,
        baseline: float,
        chunk: int | None = None,
        engine: str = "auto",
    ) -> WindowDrops:
        """Bind ``target`` on the clean input and start the engine: ``engine`` "auto" forwards
        the occluded copies incrementally where the model can be traced (:mod:`.incremental`),
        else in full; "full" always in full. The engine used (and why not the incremental one)
        is noted in the Explanation's params. Chunks hold ``chunk`` jobs (window x sample;
        default: what fits memory, 64 for the incremental engine)."""
        with torch.no_grad():
            out = model(x)
            clean = target.score(out) if target.bound else target.bind(out)
            run = start_engine(model, x, out, engine)
        n, (nr, nc) = x.shape[0], self.shape
        per = chunk or (64 if run is not None else max(1, chunk_size(x[0])))
        return WindowDrops(
            self, model, x, target, baseline, clean.detach(), run, per,
            torch.zeros(n, nr * nc, device=x.device, dtype=x.dtype),
            torch.zeros(nr * nc, dtype=torch.bool, device=x.device),
        )  # fmt: skip

    def assemble(self, drops: torch.Tensor, done: torch.Tensor | None = None) -> torch.Tensor:
        """(N, H, W) mean drop over the (done) windows covering each pixel; 0 where none."""
        r, c = self.rows.to(drops.dtype), self.cols.to(drops.dtype)
        weight = torch.ones(drops.shape[1:], device=drops.device, dtype=drops.dtype)
        if done is not None:
            weight = done.to(drops.dtype)
        total = torch.einsum("rh,nrc,cw->nhw", r, drops * weight, c)
        count = torch.einsum("rh,rc,cw->hw", r, weight, c)
        return total / count.clamp(min=1)


@register(
    "occlusion",
    label="Occlusion",
    family="perturbation",
    tip=(
        "How much the class score drops when a grey square hides each place: "
        "slow, but it asks the model directly."
    ),
)
@dataclass(frozen=True)
class Occlusion(Method):
    """Occlusion (Zeiler & Fergus 2014) with Captum's averaging: each pixel gets the mean drop
    of the score over the ``patch`` x ``patch`` windows (step ``stride``) that cover it, the
    window set to ``baseline`` in all channels. Attribution (N, C, H, W) repeats the map over
    channels; the heatmap is the map.

    ``approximate=True`` computes a ninth to a quarter of the windows (an adaptive
    drill-down after Krypton, :mod:`.drilldown`): every third or second row and column of
    windows; every other window is estimated from them, guided by its first-order drop
    linearised at a deep layer (or, for a model the incremental engine cannot follow, in the
    input). Faster, close to the exact map, not equal; ``params["windows"]`` says how many
    were computed and what guided the rest.

    Example: ``explain(model, x, "occlusion", patch=8, stride=4)``.
    """

    patch: int = param(
        16, min=1, max=4096, step=1, image_bound=True, help="side of the occluding square (px)"
    )
    stride: int = param(
        8, min=1, max=4096, step=1, image_bound=True, at_most="patch",
        help="The step between windows in pixels; at most the patch, so every pixel is covered.",
    )  # fmt: skip
    baseline: float = param(0.0, min=-1e6, max=1e6, step=0.1, help="value of occluded pixels")
    approximate: bool = param(
        False,
        help="Faster, approximate map: a ninth to a quarter of the windows are computed "
        "(every third or second row and column), the rest estimated from them and each "
        "window's first-order effect at a deep layer. Close to the exact map, not equal.",
    )

    reduce = "mean"

    def check_input(self, x: torch.Tensor) -> None:
        height, width = x.shape[2:]
        if self.patch > min(height, width):
            raise ValueError(
                f"occlusion: patch {self.patch} is larger than the image ({height}x{width}); "
                f"accepted: 1..{min(height, width)}"
            )

    def cost(self, x: torch.Tensor) -> int:
        """One forward per window and the clean one; for the drill-down its estimate
        (:func:`.drilldown.cost`)."""
        rows = window_starts(x.shape[2], self.patch, self.stride)
        cols = window_starts(x.shape[3], self.patch, self.stride)
        if self.approximate:
            return drilldown.cost((len(rows), len(cols)))
        return len(rows) * len(cols) + 1

    def __call__(self, model, x, target, progress: Progress | None = None, cache=None):
        if self.approximate:
            *_, (heat, _) = self._drill(model, x, target, progress)
            return heat
        grid = OcclusionGrid.build(x.shape[2], x.shape[3], self.patch, self.stride, x.device)
        total = grid.shape[0] * grid.shape[1]
        drops = None
        for partial, done in grid.iter_drops(model, x, target, self.baseline):
            drops = partial
            if progress is not None:
                progress(int(done.sum()) / total)
        assert drops is not None
        return self._expand(grid.assemble(drops), x)

    def stream(self, model, x, target, progress: Progress | None = None, cache=None):
        """Coarse first: the windows of every third (or k-th, :func:`coarse_step`) row and
        column of the grid (and the last ones, so they span the image) come first and give a
        map bilinearly filled between them; the remaining windows refine it in place; the last
        map is exactly ``__call__``'s. With ``approximate``: the drill-down's maps, the first
        from every sixth or fourth row and column of windows."""
        if self.approximate:
            yield from self._drill(model, x, target, progress)
            return
        height, width = x.shape[2:]
        grid = OcclusionGrid.build(height, width, self.patch, self.stride, x.device)
        nr, nc = grid.shape
        order, (rows, cols) = grid.coarse_first(coarse_step(nr, nc))
        n_coarse, total = len(rows) * len(cols), nr * nc
        parts = grid.iter_drops(model, x, target, self.baseline, order, first=n_coarse * x.shape[0])
        for drops, done in parts:
            count = int(done.sum())
            if progress is not None:
                progress(count / total)
            if count < n_coarse:
                continue
            heat = grid.assemble(drops, done)
            if count < total:
                covered = grid.assemble(torch.ones_like(drops), done) > 0
                coarse = drops[:, rows][:, :, cols]
                fill = F.interpolate(
                    coarse[:, None], size=(height, width), mode="bilinear", align_corners=True
                )[:, 0]
                heat = torch.where(covered, heat, fill)
            yield self._expand(heat, x), count / total

    def _drill(self, model, x, target, progress):
        """The drill-down (:mod:`.drilldown`): (attribution, share of its work done)."""
        grid = OcclusionGrid.build(x.shape[2], x.shape[3], self.patch, self.stride, x.device)
        run = grid.open(model, x, target, self.baseline)
        maps = drilldown.drill_down(grid, run, model, x, target, self.baseline, progress)
        for heat, fraction in maps:
            yield self._expand(heat, x), fraction

    @staticmethod
    def _expand(heat: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        return heat[:, None].expand(-1, x.shape[1], -1, -1)
