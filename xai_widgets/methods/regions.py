"""Region methods: what they share (the ``segments`` parameter, batched region masking) and
area occlusion.

Every region method switches whole regions of a label map (:mod:`.segments`) on or off; an
"off" region takes the value ``baseline`` in all channels. With a coalition matrix
Z (K, M) (row k: which of the M regions stay on) and labels L (H, W), copy k of image x is

    x_k = where(Z[k, L], x, baseline)

built for a whole chunk of rows with one gather and one ``torch.where`` and forwarded in
memory-sized chunks (:mod:`.batching`). Each pixel then shows its region's value.

Area occlusion (the seed's "best for non-experts" method; Zeiler & Fergus 2014 with regions
instead of squares, Captum's ``FeatureAblation`` with a feature mask): region j's value is

    A_j = S(x) - S(x with region j set to baseline)

Example::

    e = explain(model, x, "area_occlusion", segments="slic", n_segments=50)
    e = explain(model, x, "area_occlusion", segments=brain_regions)   # (H, W) int label map
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..targets import Target
from .batching import chunk_size, chunks, forward_batch
from .gradients import bind_clean
from .registry import Method, Progress, param, register
from .segments import SEGMENTERS, check_label_map, grid_labels, region_count, segment

__all__ = [
    "AreaOcclusion",
    "RegionMethod",
    "baseline_param",
    "final",
    "n_segments_param",
    "region_scores",
    "segments_param",
]


def final(parts: Iterator[tuple[torch.Tensor, float]]) -> torch.Tensor:
    """The last (exact) attribution of a stream."""
    return deque(parts, maxlen=1)[0][0]


def segments_param() -> Any:
    return param(
        "slic",
        choices=SEGMENTERS,
        help="How the image is cut into regions (scikit-image superpixels or a grid); "
        "explain() also takes an integer (H, W) label map.",
    )


def n_segments_param() -> Any:
    return param(
        50, min=2, max=1000, step=1, help="About how many regions (ignored for a label map)."
    )


def baseline_param() -> Any:
    return param(0.0, min=-1e6, max=1e6, step=0.1, help="Value of the pixels of an 'off' region.")


class RegionMethod(Method):
    """Base of the region methods: ``segments`` is a choice or an integer label map."""

    reduce = "mean"
    segments: Any
    n_segments: int
    baseline: float

    def __call__(self, model, x, target, progress: Progress | None = None, cache=None):
        return final(self.stream(model, x, target, progress))

    def start(self, model, x, target) -> tuple[torch.Tensor, list[int], torch.Tensor]:
        """Bind the target on the clean input; the label maps, the region counts, and zeroed
        region values (N, max regions)."""
        bind_clean(model, x, target)
        labels = self.labels(x)
        counts = [region_count(lab) for lab in labels]
        values = torch.zeros(x.shape[0], max(counts), device=x.device, dtype=x.dtype)
        return labels, counts, values

    def partial(self, values, labels, x, done: int, total: int, progress: Progress | None):
        """Report ``done / total`` and yield the partial map; the exact map is yielded once,
        by the caller, at the end."""
        if progress is not None:
            progress(done / total)
        if done < total:
            yield self.expand(values, labels, x), done / total

    @classmethod
    def accepts_value(cls, name: str, value: object, owner: str) -> bool:
        """True for a label-map tensor given as ``segments`` (checked here for its form;
        against the input in :meth:`check_input`); False lets the declared check run."""
        if name != "segments" or not isinstance(value, torch.Tensor):
            return False
        if value.is_floating_point() or value.is_complex() or value.dtype == torch.bool:
            raise TypeError(
                f"{owner}: parameter 'segments' as a label map must have an integer dtype "
                f"(one region id per pixel), got {value.dtype}"
            )
        if value.dim() not in (2, 3) or value.numel() == 0:
            raise ValueError(
                f"{owner}: parameter 'segments' as a label map must be (H, W) or (N, H, W); "
                f"got shape {tuple(value.shape)}"
            )
        return True

    def check_input(self, x: torch.Tensor) -> None:
        owner = self.name or type(self).__name__
        if isinstance(self.segments, torch.Tensor):
            check_label_map(self.segments, x, owner)
        elif self.segments == "quickshift" and x.shape[1] not in (1, 3):
            raise ValueError(
                f"{owner}: segments='quickshift' needs a grey or RGB image (1 or 3 channels); "
                f"got {x.shape[1]}; use 'slic', 'felzenszwalb' or 'grid'"
            )

    def labels(self, x: torch.Tensor) -> torch.Tensor:
        """(N, H, W) consecutive label maps of ``x``."""
        return segment(x, self.segments, self.n_segments)

    @staticmethod
    def expand(values: torch.Tensor, labels: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Each pixel of sample i gets ``values[i][labels[i]]``: (N, C, H, W)."""
        maps = torch.stack([v[lab] for v, lab in zip(values, labels, strict=True)])
        return maps[:, None].expand(-1, x.shape[1], -1, -1)


def region_scores(
    model: nn.Module,
    x: torch.Tensor,
    index: int,
    labels: torch.Tensor,
    on: torch.Tensor,
    baseline: float,
    target: Target,
) -> Iterator[tuple[slice, torch.Tensor]]:
    """Yield (rows, scores) for chunks of the coalitions ``on`` (K, M) bool of sample
    ``index`` of ``x`` with label map ``labels`` (H, W); the target must be bound."""
    image = x[index]
    fill = torch.tensor(baseline, device=x.device, dtype=x.dtype)
    per = chunk_size(image)
    with torch.no_grad():
        for part in chunks(on.shape[0], per):
            keep = on[part][:, labels]  # (k, H, W)
            copies = torch.where(keep[:, None], image, fill)
            rows = torch.full((copies.shape[0],), index, device=x.device, dtype=torch.long)
            yield part, target.score(forward_batch(model, copies), rows).detach()


def _groups(labels: torch.Tensor, m: int, cells: int = 3) -> torch.Tensor:
    """(M,) group of each region: the cell of a ``cells`` x ``cells`` grid its centroid is in."""
    height, width = labels.shape
    grid = grid_labels(height, width, cells * cells, labels.device).reshape(-1)
    ys = torch.arange(height, device=labels.device).repeat_interleave(width).to(torch.float32)
    xs = torch.arange(width, device=labels.device).repeat(height).to(torch.float32)
    flat = labels.reshape(-1)
    count = torch.zeros(m, device=labels.device).index_add_(0, flat, torch.ones_like(ys))
    cy = torch.zeros(m, device=labels.device).index_add_(0, flat, ys) / count
    cx = torch.zeros(m, device=labels.device).index_add_(0, flat, xs) / count
    cell = grid.view(height, width)[cy.long(), cx.long()]
    return torch.unique(cell, return_inverse=True)[1]


@register(
    "area_occlusion",
    label="Area Occlusion",
    family="perturbation",
    tip=("How much the class score drops when each region of the picture is greyed out in turn."),
)
@dataclass(frozen=True)
class AreaOcclusion(RegionMethod):
    """Area occlusion: occlude one region at a time; each pixel gets its region's score drop
    A_j = S(x) - S(x with region j set to ``baseline``) (Zeiler & Fergus 2014 with regions;
    Captum's ``FeatureAblation`` with a feature mask computes the same numbers).

    Streaming: regions are first occluded in about 9 spatial groups (one small batch) for a
    coarse map, then one by one; the last map is the exact one.
    Example: ``explain(model, x, "area_occlusion", segments="slic", n_segments=50)``.
    """

    segments: str = segments_param()
    n_segments: int = n_segments_param()
    baseline: float = baseline_param()

    def __call__(self, model, x, target, progress: Progress | None = None, cache=None):
        return final(self._run(model, x, target, progress, coarse=False))

    def stream(self, model, x, target, progress: Progress | None = None, cache=None):
        yield from self._run(model, x, target, progress, coarse=True)

    def _run(self, model, x, target, progress, coarse: bool):
        bind_clean(model, x, target)
        labels = self.labels(x)
        counts = [region_count(lab) for lab in labels]
        clean = target.clean_scores
        groups = [_groups(lab, m) for lab, m in zip(labels, counts, strict=True)]
        coarse = coarse and any(int(g.max()) + 2 < m for g, m in zip(groups, counts, strict=True))
        sizes = [
            m + (int(g.max()) + 1 if coarse else 0) for g, m in zip(groups, counts, strict=True)
        ]
        total, done = sum(sizes), 0
        values = torch.zeros(x.shape[0], max(counts), device=x.device, dtype=x.dtype)
        for i, (lab, m) in enumerate(zip(labels, counts, strict=True)):
            eye = torch.eye(m, device=x.device, dtype=torch.bool)
            if coarse:
                g = groups[i]
                off = g[None, :] == torch.arange(int(g.max()) + 1, device=x.device)[:, None]
                drops = torch.cat(
                    [
                        clean[i] - s
                        for _, s in region_scores(model, x, i, lab, ~off, self.baseline, target)
                    ]
                )
                values[i, :m] = drops[g]
                done += off.shape[0]
                if progress is not None:
                    progress(done / total)
                yield self.expand(values, labels, x), done / total
            for part, scores in region_scores(model, x, i, lab, ~eye, self.baseline, target):
                values[i, part] = clean[i] - scores
                done += part.stop - part.start
                yield from self.partial(values, labels, x, done, total, progress)
        yield self.expand(values, labels, x), 1.0
