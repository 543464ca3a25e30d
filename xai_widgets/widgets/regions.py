"""Regions on the main canvas while a region method is shown (area occlusion, LIME, KernelSHAP):
its boundaries on request, and the label map that click-to-occlude uses to occlude the clicked
region instead of a square.

The regions are the method's own (its ``segments`` and ``n_segments`` parameters through
:func:`xai_widgets.methods.segments.segment`), so the boundaries, the clicked region and the map
always agree. Label maps are kept per picture and setting (the last few).

Example::

    regions = RegionOverlay(selection, canvas, scale=5.0, submit=tab.submit)
    regions.toggle.value = True          # boundaries drawn (region methods only)
    regions.mask_at(40, 60)              # boolean (H, W) mask of the region under canvas (40, 60)
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import ipywidgets as w
import numpy as np
import torch

from ..methods.registry import method_params
from ..methods.segments import segment
from .canvas import encode
from .engine import Job
from .layered import LayeredCanvas
from .selection import Selection

__all__ = ["RegionOverlay", "boundaries"]

Submit = Callable[[str, Callable[[Job], None], str], None]
_KEEP = 8  # label maps kept (picture x setting)
LINE = (255, 235, 59, 230)  # the boundary colour (RGBA): yellow, readable over both palettes


def boundaries(labels: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """RGBA (height, width, 4) picture of the borders between the regions of ``labels`` (H, W)
    scaled (nearest) to ``size`` = (height, width): one-pixel lines, transparent elsewhere."""
    height, width = size
    rows = np.minimum(np.arange(height) * labels.shape[0] // height, labels.shape[0] - 1)
    cols = np.minimum(np.arange(width) * labels.shape[1] // width, labels.shape[1] - 1)
    big = labels[rows][:, cols]
    edge = np.zeros(big.shape, bool)
    edge[:-1] |= big[:-1] != big[1:]
    edge[:, :-1] |= big[:, :-1] != big[:, 1:]
    out = np.zeros((height, width, 4), np.uint8)
    out[edge] = LINE
    return out


class RegionOverlay:
    """The boundaries toggle and the region label maps (see the module doc)."""

    def __init__(
        self, selection: Selection, canvas: LayeredCanvas, scale: float, submit: Submit
    ) -> None:
        self.selection, self.canvas, self.scale, self.submit = selection, canvas, scale, submit
        self.toggle = w.Checkbox(
            value=False,
            description="region boundaries",
            indent=False,
            tooltip="Outline the regions this method switches on and off; a click on the "
            "picture then occludes the region under the mouse.",
        )
        self.toggle.add_class("xw-regions-toggle")
        self.widget = self.toggle
        self._labels: OrderedDict[tuple[Any, ...], torch.Tensor] = OrderedDict()
        self.toggle.observe(self._changed, "value")
        selection.observe(self._changed, ["index", "method", "params"])
        self._changed()

    @property
    def active(self) -> bool:
        """Whether the shown method works on regions (it has a ``segments`` parameter)."""
        return any(s.name == "segments" for s in method_params(self.selection.method))

    def labels(self, index: int | None = None) -> torch.Tensor:
        """The (H, W) int64 label map (CPU) of picture ``index`` under the method's settings."""
        sel = self.selection
        index = sel.index if index is None else index
        values = sel.param_values(sel.method)
        key = (index, values["segments"], int(values["n_segments"]))
        if key not in self._labels:
            x = sel.session(index).x
            self._labels[key] = segment(x, key[1], key[2])[0].cpu()
            while len(self._labels) > _KEEP:
                self._labels.popitem(last=False)
        self._labels.move_to_end(key)
        return self._labels[key]

    def mask_at(self, x: float, y: float) -> torch.Tensor:
        """Boolean (H, W) mask of the region under canvas pixel (x, y)."""
        labels = self.labels()
        row = int(np.clip(y / self.scale, 0, labels.shape[0] - 1))
        col = int(np.clip(x / self.scale, 0, labels.shape[1] - 1))
        return labels == labels[row, col]

    def _changed(self, _change: object = None) -> None:
        active = self.active
        display = None if active else "none"
        if self.toggle.layout.display != display:
            self.toggle.layout.display = display
        if not (active and self.toggle.value):
            if self.canvas.regions is not None:
                self.canvas.show_regions(None)
            return
        self.submit("regions", self._draw, "regions")

    def _draw(self, job: Job) -> None:
        labels = self.labels().numpy()
        job.check()
        picture = encode(boundaries(labels, (self.canvas.height, self.canvas.width)))
        job.deliver(lambda: self.canvas.show_regions(picture))
