"""Activations: what one layer sees in the current picture, channel by channel.

A layer picker (spatial layers with their shapes), a grid of the layer's channel maps ranked
by mean activation (64 a page), and the picture with the chosen channel's map over it and the
receptive field of one unit outlined: the channel's strongest unit, or the unit under a click
on the picture, which also ranks the channels by their activation at that unit. "Exemplars"
finds the pictures of the gallery that excite the chosen channel most (:func:`top_activating`).

Example::

    view = ActivationsView(model, images, preprocess=zoo.card("shapes"))
    view.layer = "features.3"; view.channel = 5; view.unit = (4, 7)
"""

from __future__ import annotations

import time
from collections import OrderedDict
from typing import Any

import ipywidgets as w
import numpy as np
import torch
from traitlets import Any as AnyTrait
from traitlets import Bool, Int, TraitError, Unicode, observe, validate

from ...features import Exemplars, receptive_geometry
from ...features.activations import post_activation
from ...render import render_heatmap
from ..canvas import encode
from ..engine import Job
from ..layered import LayeredCanvas
from .activations_text import ChannelPager, describe, scale_words
from .base import FeatureView
from .exemplars_panel import ExemplarsPanel
from .tiles import channel_grid, resize

__all__ = ["ActivationsView"]

PAGE = 64
SELECTED = "#00e5ff"


class ActivationsView(FeatureView):
    """Channel grid + channel map with receptive field + exemplars (see the module doc).

    Standalone: ``ActivationsView(model, images, classes=None, preprocess=None, names=None)``;
    in a host: ``ActivationsView.from_host(explorer)``. ``size``: the picture's longer side px.
    """

    title = "Activations"
    layer = Unicode(
        "", help="the layer shown (dotted name); '' = the last Conv2d (else last spatial) layer"
    )
    channel = Int(None, allow_none=True, help="the chosen channel; None = the top-ranked one")
    unit = AnyTrait(None, help="the clicked unit (i, j) of the layer's map; None = argmax")
    page = Int(0, help="which 64 ranked channels the grid shows")
    shared_scale = Bool(True, help="one value scale for every tile (else each tile its own)")

    def __init__(self, *args: Any, size: int = 256, k: int = 9, **kwargs: Any) -> None:
        self._size, self._k = size, k
        self._acts: OrderedDict[tuple[int, str], torch.Tensor] = OrderedDict()
        self._grid_key: tuple | None = None
        self._note = ""
        self.shown: dict[str, Any] = {}
        super().__init__(*args, **kwargs)

    # ------------------------------------------------------------------ layout
    def _build(self) -> list[w.Widget]:
        height, width = self.selection.pictures[0].input.shape[1:]
        self.scale = self._size / max(height, width)
        self.canvas = LayeredCanvas(
            round(width * self.scale), round(height * self.scale), "xw-act-canvas"
        )
        self.canvas.on_mouse("down", self._image_clicked)
        self.layer_picker = self.layer_picker_widget("xw-act-layer")
        self.caption = w.HTML()
        self.caption.add_class("xw-act-caption")
        pager = ChannelPager(self)
        self.grid, self.grid_bar, self.grid_label = pager.grid, pager.bar, pager.label
        self.prev, self.next, self.scale_box = pager.prev, pager.next, pager.shared
        self.exemplar_panel = ExemplarsPanel(self, self._k)
        self.exemplar_panel.button.on_click(lambda _b: self.find_exemplars())
        left = w.VBox(
            [
                self.picker,
                self.layer_picker,
                self.canvas.widget,
                self.caption,
                w.HTML("<i>Click the picture to rank the channels at that place.</i>"),
            ],
            layout=w.Layout(width=f"{max(self.canvas.width, 330)}px"),
        )
        right = pager.widget
        return [w.HBox([left, right]), self.status, self.error, self.exemplar_panel.widget]

    @validate("unit")
    def _valid_unit(self, proposal: dict) -> tuple[int, int] | None:
        unit = proposal["value"]
        if unit is None:
            return None
        try:
            i, j = (int(v) for v in unit)
        except (TypeError, ValueError):
            raise TraitError(f"unit must be (i, j) or None, got {unit!r}") from None
        return i, j

    # ------------------------------------------------------------------ events
    @observe("layer")
    def _layer_changed(self, change: dict) -> None:
        with self.hold_trait_notifications():
            self.channel, self.unit, self.page = None, None, 0
        self.show_layer(change["new"])
        self.refresh()

    @observe("channel", "unit", "page", "shared_scale")
    def _state_changed(self, _change: dict) -> None:
        self.refresh()

    def _followed(self, change: dict) -> None:
        self.unit = None
        super()._followed(change)

    def _grid_clicked(self, x: float, y: float) -> None:
        layout, order = self.shown.get("layout"), self.shown.get("order")
        k = layout.index_at(x, y) if layout is not None else None
        start = self.shown.get("page", 0) * PAGE
        if k is not None and order is not None and start + k < len(order):
            self.channel = int(order[start + k])

    def unit_at(self, x: float, y: float) -> tuple[int, int] | None:
        """The unit (i, j) of the shown layer under canvas pixel (x, y): the map cell that
        covers the input pixel there (the layer's h x w grid spread over the picture)."""
        shape = self.shown.get("shape")
        if shape is None:
            return None
        _, h, w_ = shape
        height, width = self.picture.input.shape[1:]
        py, px = y / self.scale, x / self.scale
        i = int(np.clip(py * h / height, 0, h - 1))
        j = int(np.clip(px * w_ / width, 0, w_ - 1))
        return i, j

    def _image_clicked(self, x: float, y: float) -> None:
        unit = self.unit_at(x, y)
        if unit is not None:
            with self.hold_trait_notifications():
                self.unit, self.channel, self.page = unit, None, 0

    # ------------------------------------------------------------------ computing
    def _refresh(self) -> None:
        self.submit("activations", self._update, "activations")

    def _layer_acts(self, job: Job, index: int, layer: str) -> tuple[str, torch.Tensor]:
        x = self.picture_input(index)
        self.load_layers(job)
        name = layer or self.default_layer
        key = (index, name)
        if key not in self._acts:
            post = post_activation(self.model, x, name or None)
            self._acts[key] = (post.maps[0].float().cpu(), post.note)
            while len(self._acts) > 8:
                self._acts.popitem(last=False)
        acts, self._note = self._acts[key]
        return name, acts

    def ranking(self, acts: torch.Tensor, unit: tuple[int, int] | None) -> torch.Tensor:
        """Channel values the grid is sorted by: the mean over positions, or at ``unit``."""
        if unit is None:
            return acts.mean((1, 2))
        i, j = unit
        h, w_ = acts.shape[1:]
        if not (0 <= i < h and 0 <= j < w_):
            raise ValueError(f"unit {unit} is outside the layer's {h} x {w_} map")
        return acts[:, i, j]

    def _update(self, job: Job) -> None:
        start = time.perf_counter()
        index, layer, channel, unit = self.selection.index, self.layer, self.channel, self.unit
        name, acts = self._layer_acts(job, index, layer)
        job.check()
        values = self.ranking(acts, unit)
        order = torch.sort(values, descending=True, stable=True).indices.tolist()
        pages = max(1, -(-len(order) // PAGE))
        page = min(self.page, pages - 1)
        shown = order[0] if channel is None else int(channel)
        if not 0 <= shown < acts.shape[0]:
            raise ValueError(f"channel {shown} is out of range (0..{acts.shape[0] - 1})")
        shared = self.shared_scale
        key = (index, name, unit, page, shared)
        grid = None
        scale = (float(acts.min()), float(acts.max()))
        if key != self._grid_key:
            part = order[page * PAGE : (page + 1) * PAGE]
            what = "mean" if unit is None else f"at ({unit[1]}, {unit[0]})"
            rgba, layout = channel_grid(
                acts, part, values[part].tolist(), scale=scale if shared else None, what=what
            )
            grid = (encode(rgba, lossless=True), layout, scale, shared)
        peak = unit
        if peak is None:
            flat = int(acts[shown].flatten().argmax())
            peak = divmod(flat, acts.shape[2])
        geometry = receptive_geometry(self.model, name, self.picture_input(index))
        box = geometry.box(*peak)
        main = self._render_map(index, acts[shown])
        state = {
            "index": index,
            "layer": name,
            "shape": tuple(acts.shape),
            "order": order,
            "values": values,
            "channel": shown,
            "unit": peak,
            "box": box,
            "method": geometry.method,
            "page": page,
            "pages": pages,
        }
        job.check()

        def draw() -> None:
            if grid is not None:
                self._grid_key = key
                self.grid.show(grid[0])
                self.shown["layout"] = grid[1]
                self._show_grid_scale(*grid[2:])
            self.shown.update(state)
            self.canvas.show(image=main[0], heatmap=main[1], alpha=0.5)
            self.canvas.show_pointer(self._display_box(box))
            self._mark_selected()
            self._caption(acts, (time.perf_counter() - start) * 1000)
            self.clear_error()

        job.deliver(draw)

    def _show_grid_scale(self, scale: tuple[float, float], shared: bool) -> None:
        self.grid_bar.show(*(scale if shared else (0.0, 1.0)), "inferno", scale_words(shared))

    def _render_map(self, index: int, heat: torch.Tensor) -> tuple:
        hw = (self.canvas.height, self.canvas.width)
        mode = "positive" if float(heat.min()) >= 0 else "signed"
        rgba = render_heatmap(heat, None, mode=mode, size=hw)
        return encode(resize(self.selection.pictures[index].display, hw)), encode(rgba)

    def _display_box(self, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        top, left, bottom, right = box
        height, width = self.picture.input.shape[1:]
        top, left = max(top, 0), max(left, 0)
        bottom, right = min(bottom, height), min(right, width)
        s = self.scale
        return round(left * s), round(top * s), round((right - left) * s), round((bottom - top) * s)

    def _mark_selected(self) -> None:
        layout, order = self.shown.get("layout"), self.shown["order"]
        rank = order.index(self.shown["channel"])
        page = self.shown["page"]
        boxes = []
        if layout is not None and page * PAGE <= rank < (page + 1) * PAGE:
            x, y = layout.origin(rank - page * PAGE)
            boxes.append((x - 2, y - 2, layout.tile_w + 4, layout.tile_h + 4, SELECTED))
        self.grid.mark(boxes)

    def _caption(self, acts: torch.Tensor, ms: float) -> None:
        s = self.shown
        self.grid_label.value, self.caption.value = describe(s, acts, self.unit, self._note, PAGE)
        self.prev.disabled, self.next.disabled = s["page"] == 0, s["page"] >= s["pages"] - 1
        paged = None if s["pages"] > 1 else "none"
        self.prev.layout.display = self.next.layout.display = paged
        self.status.value = f"computed in {ms:.0f} ms"

    # ------------------------------------------------------------------ exemplars
    @property
    def exemplars(self) -> Exemplars | None:
        """The last :class:`~xai_widgets.features.Exemplars` found, or None."""
        return self.exemplar_panel.exemplars

    def find_exemplars(self) -> None:
        """Rank the data set (else the gallery) by the chosen channel (``top_activating``) and
        show the ``k`` best crops (their receptive fields) with their scores."""
        layer, channel = self.shown.get("layer"), self.shown.get("channel")
        if layer is not None and channel is not None:
            self.exemplar_panel.find(layer, channel)
