"""The computations of an interactive view on one image, run in the engine's worker threads.

An :class:`ImageSession` opens an image once: one recorded forward pass with the activations of
every spatial layer (the cache), the class probabilities, the spatial layers. Every explanation
of that image (another class, another CAM layer, another gradient method) then needs at most a
backward pass. Maps stay on the model's device; the view moves only the final (H, W) map to
the CPU.

Example::

    s = ImageSession.open(model, x)             # x: (1, C, H, W)
    s.top(5)                                    # [(class, probability), ...]
    heat = s.explain("grad_cam", {}, target=None).heatmap[0]    # (H, W) on the model's device
    for e in s.stream("occlusion", {"patch": 8}, target=3): ...  # coarse first
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..api import explain_stream
from ..checks import check_input
from ..dense import RegionTarget, region_mask
from ..explanation import Explanation
from ..hooks import borrowed
from ..layers import spatial_layers
from ..methods.forward import Forward
from ..outputs import OutputSpec, select_logits

__all__ = ["ImageSession", "ProbeResult"]

LIGHT_MS = 40.0  # a first forward faster than this: the engine computes on one thread


@dataclass
class ProbeResult:
    """What one click-to-occlude showed for the explained class: its logit, probability and
    margin to the best other class before and after, the top class after, and the occluded box
    in model-input pixels (top, left, bottom, right) (of a region: its bounding box, and its
    ``area`` in pixels)."""

    target: int
    logit: tuple[float, float]
    prob: tuple[float, float]
    margin: tuple[float, float]
    top_after: int
    box: tuple[int, int, int, int]
    area: int | None = None  # pixels of an occluded region (None: the whole box)
    dense: bool = False  # scores are a per-pixel model's means over the explained region

    @property
    def before(self) -> float:
        return self.prob[0]

    @property
    def after(self) -> float:
        return self.prob[1]

    @property
    def drop(self) -> float:
        """How much the logit fell (negative: it rose)."""
        return self.logit[0] - self.logit[1]

    @property
    def measurable(self) -> bool:
        """False when the change is below float32 noise of the logits."""
        noise = 1e-5 * max(1.0, abs(self.logit[0]))
        return abs(self.drop) > noise or abs(self.prob[0] - self.prob[1]) > 1e-6


def _margin(logits: torch.Tensor, cls: int) -> float:
    others = torch.cat([logits[:cls], logits[cls + 1 :]])
    return float(logits[cls] - others.max()) if others.numel() else float("inf")


@dataclass
class ImageSession:
    model: nn.Module
    x: torch.Tensor
    fwd: Forward
    probs: torch.Tensor  # (K,) on the CPU
    layers: list[tuple[str, tuple[int, ...]]]
    open_ms: float = 0.0
    probe_sum: torch.Tensor | None = field(default=None, repr=False)
    probe_count: torch.Tensor | None = field(default=None, repr=False)
    _forward_ms: float | None = field(default=None, repr=False)
    output: OutputSpec = field(default=None, repr=False)
    maps: torch.Tensor | None = field(default=None, repr=False)  # dense: (K, H, W) on the CPU
    region: tuple[int, int, int, int] | None = None  # dense: the explained region; None: all
    note: str = ""  # what the status says besides the method (the explained input)

    @classmethod
    def open(cls, model: nn.Module, x: torch.Tensor, output: OutputSpec = None) -> ImageSession:
        """Run the picture ``x`` (1, C, H, W) once; ``output`` picks the logits from what the
        model returns (see :func:`~xai_widgets.outputs.select_logits`)."""
        start = time.perf_counter()
        x = check_input(model, x)  # the model's dtype and device
        layers = spatial_layers(model, x)
        with borrowed(model):
            fwd = Forward.spatial(model, x)
        logits = select_logits(fwd.output, output)
        dense = logits.dim() == 4 and logits.shape[0] == 1
        if (logits.dim() != 2 and not dense) or logits.shape[0] != 1:
            raise ValueError(
                f"the model's scores have shape {tuple(logits.shape)} for one image; a "
                "classifier returning (1, classes) scores, or a per-pixel model returning "
                "(1, classes, H, W), is needed (pass output= to pick them from what the model "
                "returns)"
            )
        if dense and tuple(logits.shape[2:]) != tuple(x.shape[2:]):
            raise ValueError(
                f"the per-pixel model's output map is {tuple(logits.shape[2:])} for an input of "
                f"{tuple(x.shape[2:])}; the Explorer needs the map at the input's size (upsample "
                "the scores in the model, or pass output= a callable that does)"
            )
        maps = _probability_maps(logits.detach()[0]) if dense else None
        if maps is not None:
            probs = maps.mean((1, 2))
        else:
            probs = torch.softmax(logits.detach()[0].float(), 0).cpu()
        session = cls(model, x, fwd, probs, layers, (time.perf_counter() - start) * 1000)
        session.output, session.maps = output, maps
        return session

    @property
    def dense(self) -> bool:
        """A per-pixel model: classes are scored by their mean over :attr:`region`."""
        return self.maps is not None

    def region_mask(self) -> torch.Tensor:
        """The explained region of a dense model's output map as a boolean (H, W) mask."""
        assert self.maps is not None
        return region_mask(self.region, tuple(self.maps.shape[1:]))

    def class_scores(self) -> torch.Tensor:
        """(K,) on the CPU: a classifier's probabilities; a dense model's mean probability of
        each class over the region (``probs`` holds the whole map's)."""
        if self.maps is None or self.region is None:
            return self.probs
        return _region_mean(self.maps, self.region)

    @property
    def predicted(self) -> int:
        return int(self.class_scores().argmax())

    def top(self, k: int = 5) -> list[tuple[int, float]]:
        scores = self.class_scores()
        values, indices = scores.topk(min(k, scores.numel()))
        return list(zip(indices.tolist(), values.tolist(), strict=False))

    def target_spec(self, target: int | None) -> int | RegionTarget:
        """What ``explain`` is given for the explained class ``target`` (None: the predicted
        one): the class, or for a dense model its mean score over the region."""
        cls = self.predicted if target is None else int(target)
        return RegionTarget(cls, self.region_mask()) if self.maps is not None else cls

    def explain(self, method: str, params: dict[str, Any], target: int | None, **options: Any):
        """The exact explanation (the last result of :meth:`stream`)."""
        result = None
        for result in self.stream(method, params, target, **options):  # noqa: B007
            pass
        assert result is not None
        return result

    def stream(
        self,
        method: str,
        params: dict[str, Any],
        target: int | None,
        progress: Callable[[float], None] | None = None,
    ) -> Iterator[Explanation]:
        """Every result of the method on this picture, coarse first (see ``explain_stream``);
        the recorded forward pass serves as the cache."""
        return explain_stream(
            self.model,
            self.x,
            method,
            target=self.target_spec(target),
            progress=progress,
            cache=self.fwd,
            output=self.output,
            **params,
        )

    def probe(
        self,
        region: tuple[int, int, int, int] | torch.Tensor,
        baseline: float,
        target: int | None,
    ) -> ProbeResult:
        """Occlude ``region`` with ``baseline`` and report the change of the explained class's
        logit, probability and margin; the logit's drop accumulates into the probe map.
        ``region`` is a box (top, left, bottom, right) in model pixels or a boolean (H, W) mask
        (a region of a segmentation)."""
        mask, box = self._region(region)
        cls = self.predicted if target is None else int(target)
        fill = torch.tensor(baseline, dtype=self.x.dtype, device=self.x.device)
        occluded = torch.where(mask.to(self.x.device), fill, self.x)
        with borrowed(self.model), torch.no_grad():
            logits = select_logits(self.model(occluded), self.output)[0].detach().float().cpu()
        clean = select_logits(self.fwd.output, self.output).detach()[0].float().cpu()
        before = self.class_scores()
        if self.maps is not None:  # a dense model: the region means of the scores
            probs = _region_mean(_probability_maps(logits), self.region)
            clean, logits = _region_mean(clean, self.region), _region_mean(logits, self.region)
        else:
            probs = torch.softmax(logits, 0)
        result = ProbeResult(
            cls,
            (float(clean[cls]), float(logits[cls])),
            (float(before[cls]), float(probs[cls])),
            (_margin(clean, cls), _margin(logits, cls)),
            int(probs.argmax()),
            box,
            None if isinstance(region, tuple) else int(mask.sum()),
            self.maps is not None,
        )
        if self.probe_sum is None or self.probe_count is None:
            self.probe_sum = torch.zeros(self.x.shape[2:])
            self.probe_count = torch.zeros(self.x.shape[2:])
        self.probe_sum[mask] += result.drop
        self.probe_count[mask] += 1
        return result

    def _region(
        self, region: tuple[int, int, int, int] | torch.Tensor
    ) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
        """A (H, W) boolean mask on the CPU and its box (top, left, bottom, right)."""
        height, width = self.x.shape[2:]
        if isinstance(region, torch.Tensor):
            if region.dtype != torch.bool or tuple(region.shape) != (height, width):
                raise ValueError(
                    f"a probed region must be a boolean ({height}, {width}) mask; got "
                    f"{region.dtype} {tuple(region.shape)}"
                )
            mask = region.cpu()
            rows, cols = mask.any(1).nonzero(), mask.any(0).nonzero()
            if len(rows) == 0:
                raise ValueError("a probed region must cover at least one pixel")
            box = (int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1)
            return mask, box
        top, left, bottom, right = region
        mask = torch.zeros(height, width, dtype=torch.bool)
        mask[max(top, 0) : bottom, max(left, 0) : right] = True
        return mask, region

    @property
    def light(self) -> bool:
        """Whether the model is small enough here (first forward under ``LIGHT_MS``) that its
        work runs faster on one thread while a browser draws (see the engine's doc)."""
        return self.open_ms < LIGHT_MS

    def forward_ms(self) -> float:
        """Milliseconds of one sample's forward in a batch of 8 (timed once, then kept): what
        an estimate of many forwards multiplies."""
        if self._forward_ms is None:
            batch = self.x.expand(8, *self.x.shape[1:])
            with borrowed(self.model), torch.no_grad():
                start = time.perf_counter()
                self.model(batch)
                self._forward_ms = (time.perf_counter() - start) * 1000 / 8
        return self._forward_ms

    def probe_map(self) -> torch.Tensor | None:
        if self.probe_sum is None or self.probe_count is None:
            return None
        return self.probe_sum / self.probe_count.clamp(min=1)

    def clear_probes(self) -> None:
        self.probe_sum = self.probe_count = None


def _probability_maps(scores: torch.Tensor) -> torch.Tensor:
    """(K, H, W) per-pixel probabilities on the CPU: a softmax over K classes; one channel is
    read as a probability when it lies in [0, 1] (a model ending in a sigmoid), else as a logit
    (sigmoid applied)."""
    scores = scores.float().cpu()
    if scores.shape[0] > 1:
        return torch.softmax(scores, 0)
    inside = bool(scores.min() >= 0) and bool(scores.max() <= 1)
    return scores if inside else torch.sigmoid(scores)


def _region_mean(maps: torch.Tensor, region: tuple[int, int, int, int] | None) -> torch.Tensor:
    """(K,) mean of (K, H, W) ``maps`` over ``region`` (top, left, bottom, right; None: all),
    a view of the box, not a masked copy."""
    if region is None:
        return maps.mean((1, 2))
    top, left, bottom, right = region
    return maps[:, top:bottom, left:right].mean((1, 2))
