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
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..api import build_method, explain
from ..explanation import Explanation
from ..hooks import borrowed
from ..layers import spatial_layers
from ..methods.forward import Forward
from ..methods.occlusion import OcclusionGrid
from ..targets import Target

__all__ = ["ImageSession", "ProbeResult"]


@dataclass
class ProbeResult:
    """What one click-to-occlude showed: the explained class's probability before and after,
    the top class after, and the occluded box in model-input pixels (top, left, bottom, right)."""

    target: int
    before: float
    after: float
    top_after: int
    box: tuple[int, int, int, int]

    @property
    def drop(self) -> float:
        return self.before - self.after


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

    @classmethod
    def open(cls, model: nn.Module, x: torch.Tensor) -> ImageSession:
        start = time.perf_counter()
        layers = spatial_layers(model, x)
        with borrowed(model):
            fwd = Forward.spatial(model, x)
        if fwd.output.dim() != 2 or fwd.output.shape[0] != 1:
            raise ValueError(
                f"the model returned shape {tuple(fwd.output.shape)} for one image; a "
                "classifier returning (1, classes) scores is needed"
            )
        probs = torch.softmax(fwd.output.detach()[0].float(), 0).cpu()
        return cls(model, x, fwd, probs, layers, (time.perf_counter() - start) * 1000)

    @property
    def predicted(self) -> int:
        return int(self.probs.argmax())

    def top(self, k: int = 5) -> list[tuple[int, float]]:
        values, indices = self.probs.topk(min(k, self.probs.numel()))
        return list(zip(indices.tolist(), values.tolist(), strict=False))

    def explain(
        self,
        method: str,
        params: dict[str, Any],
        target: int | None,
        progress: Callable[[float], None] | None = None,
    ) -> Explanation:
        return explain(
            self.model,
            self.x,
            method,
            target=self.predicted if target is None else target,
            progress=progress,
            cache=self.fwd,
            **params,
        )

    def occlusion_progressive(
        self,
        params: dict[str, Any],
        target: int | None,
        check: Callable[[float], None],
        coarse_step: int = 3,
    ) -> Iterator[tuple[torch.Tensor, float]]:
        """Occlusion that yields (map (H, W), fraction done): first a coarse map from every
        ``coarse_step``-th window (upsampled where windows are missing), then maps refined in
        place as the remaining windows are computed; the last one equals the method's map."""
        method = build_method(self.model, self.x, "occlusion", params)  # the method's checks
        height, width = self.x.shape[2:]
        grid = OcclusionGrid.build(height, width, method.patch, method.stride, self.x.device)
        nr, nc = grid.shape
        order, coarse_rc = grid.coarse_first(coarse_step)
        n_coarse = len(coarse_rc[0]) * len(coarse_rc[1])
        spec = Target.from_spec(self.predicted if target is None else target, 1)
        total = nr * nc
        with borrowed(self.model):
            chunk = max(1, min(n_coarse, 64))
            for drops, done in grid.iter_drops(
                self.model, self.x, spec, method.baseline, order, chunk
            ):
                count = int(done.sum())
                check(count / total)
                if count < n_coarse:
                    continue
                heat = grid.assemble(drops, done)[0]
                if count < total:
                    covered = grid.assemble(torch.ones_like(drops), done)[0] > 0
                    coarse = drops[0][coarse_rc[0]][:, coarse_rc[1]]
                    fill = F.interpolate(
                        coarse[None, None], size=(height, width), mode="bilinear",
                        align_corners=True,
                    )[0, 0]  # fmt: skip
                    heat = torch.where(covered, heat, fill)
                yield heat, count / total

    def probe(
        self, box: tuple[int, int, int, int], baseline: float, target: int | None
    ) -> ProbeResult:
        """Occlude ``box`` (top, left, bottom, right) with ``baseline`` and report the change of
        the explained class's probability; the drop accumulates into the probe map."""
        top, left, bottom, right = box
        cls = self.predicted if target is None else int(target)
        occluded = self.x.clone()
        occluded[:, :, max(top, 0) : bottom, max(left, 0) : right] = baseline
        with borrowed(self.model), torch.no_grad():
            probs = torch.softmax(self.model(occluded)[0].float(), 0)
        after = float(probs[cls])
        before = float(self.probs[cls])
        if self.probe_sum is None or self.probe_count is None:
            self.probe_sum = torch.zeros(self.x.shape[2:])
            self.probe_count = torch.zeros(self.x.shape[2:])
        self.probe_sum[max(top, 0) : bottom, max(left, 0) : right] += before - after
        self.probe_count[max(top, 0) : bottom, max(left, 0) : right] += 1
        return ProbeResult(cls, before, after, int(probs.argmax()), box)

    def probe_map(self) -> torch.Tensor | None:
        if self.probe_sum is None or self.probe_count is None:
            return None
        return self.probe_sum / self.probe_count.clamp(min=1)

    def clear_probes(self) -> None:
        self.probe_sum = self.probe_count = None
