"""Filters: the kernels of one convolution as a zoomable grid.

The first convolution's filters are colour (or grey) patches, as Krizhevsky et al. 2012 show
them; a deeper layer's are one patch per filter and input channel (rows: filters, columns:
input channels), or the matrix of kernel norms when there are too many patches (the modes of
:func:`xai_widgets.features.filters`). Each weight is a ``zoom`` x ``zoom`` block (nearest
neighbour); a new layer starts at the zoom that fits the grid in about 640 px.

Example::

    view = FiltersView(model, images)
    view.layer, view.zoom = "features.3", 12
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w
import torch
from torch import nn
from traitlets import Int, Unicode, observe

from ...features import Filters, filters
from ...features.activations import FILTER_MODES, top_filters
from ...methods.attention import attention_modules
from ..canvas import Encoded, encode
from ..engine import Job
from .base import STYLE, FeatureView
from .surface import Surface
from .tiles import TileLayout, filter_grid, filter_pad

__all__ = ["FiltersView"]

FIT_PX = 640
MAX_ZOOM = 32
MANY_KERNELS = 256  # more kernels than this: the strongest filters are shown enlarged too
TOP_FILTERS = 8


def conv_options(model: nn.Module) -> list[tuple[str, str]]:
    """Dropdown options for the model's Conv2d layers: ('name  out x in x kh x kw', name)."""
    return [
        (f"{name}  {' x '.join(map(str, m.weight.shape))}", name)
        for name, m in model.named_modules()
        if isinstance(m, nn.Conv2d)
    ]


def fit_zoom(f: Filters, width: int = FIT_PX) -> int:
    """The largest zoom (1..32) at which the grid of ``f`` is at most ``width`` px wide."""
    if f.mode == "norms":
        cols, side = int(f.weights.shape[1]), 1
    else:
        cols, side = f.ncols, int(f.weights.shape[-1])
    for zoom in range(MAX_ZOOM, 1, -1):
        pad = 0 if f.mode == "norms" else filter_pad(zoom)
        if cols * side * zoom + (cols - 1) * pad <= width:
            return zoom
    return 1


class FiltersView(FeatureView):
    """Conv layer picker, display mode, zoom slider and the kernel grid (see the module doc).

    Standalone: ``FiltersView(model, images, ...)``; in a host: ``FiltersView.from_host(h)``.
    """

    title = "Filters"
    uses_picture = False
    layer = Unicode("", help="the Conv2d layer shown (dotted name); '' = the first one")
    mode = Unicode("auto", help="'auto', 'rgb', 'channels' or 'norms' (see features.filters)")
    zoom = Int(0, help="px per weight; 0 = fit about 640 px")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._quiet = False
        self.layout_info: TileLayout | None = None
        self.filters: Filters | None = None
        super().__init__(*args, **kwargs)

    def _build(self) -> list[w.Widget]:
        options = conv_options(self.model)
        self.layer_picker = w.Dropdown(
            options=options or [("(no Conv2d layer)", "")],
            description="conv layer",
            style=STYLE,
            layout=w.Layout(width="340px"),
        )
        self.layer_picker.add_class("xw-filters-layer")
        self.layer_picker.observe(lambda c: setattr(self, "layer", c["new"] or ""), "value")
        if options:
            self.layer = options[0][1]
        self.mode_picker = w.Dropdown(
            options=list(FILTER_MODES), value="auto", description="show", style=STYLE
        )
        self.mode_picker.add_class("xw-filters-mode")
        self.mode_picker.observe(lambda c: setattr(self, "mode", c["new"]), "value")
        self.zoom_slider = w.IntSlider(
            8, min=1, max=MAX_ZOOM, description="zoom", style=STYLE, continuous_update=True
        )
        self.zoom_slider.add_class("xw-filters-zoom")
        self.zoom_slider.observe(self._zoom_slid, "value")
        self.grid = Surface("xw-filters-grid")
        self.caption = w.HTML()
        self.caption.add_class("xw-filters-caption")
        scroll = w.Box([self.grid.widget], layout=w.Layout(max_height="640px", overflow="auto"))
        self.top_grid = Surface("xw-filters-top")
        self.top_caption = w.HTML()
        self.top_caption.add_class("xw-filters-top-caption")
        controls = w.HBox([self.layer_picker, self.mode_picker, self.zoom_slider])
        strongest = w.VBox([self.top_caption, self.top_grid.widget])
        return [controls, strongest, self.caption, scroll, self.status, self.error]

    @observe("layer", "mode")
    def _layer_changed(self, change: dict) -> None:
        if change["name"] == "layer" and self.layer_picker.value != change["new"]:
            if any(v == change["new"] for _, v in self.layer_picker.options):
                self.layer_picker.value = change["new"]
        if change["name"] == "mode" and self.mode_picker.value != change["new"]:
            if change["new"] in FILTER_MODES:
                self.mode_picker.value = change["new"]
        self.zoom = 0  # fit the new grid
        self.refresh()

    def _zoom_slid(self, change: dict) -> None:
        if not self._quiet:
            self.zoom = change["new"]

    @observe("zoom")
    def _zoom_changed(self, change: dict) -> None:
        if change["new"] and self.zoom_slider.value != change["new"]:
            self.zoom_slider.value = change["new"]
        self.refresh()

    def _refresh(self) -> None:
        self.submit("filters", self._update, "filters")

    def _strongest(self, layer: str) -> tuple[Encoded, str]:
        """The strongest filters (largest L2 norm) enlarged: each row one filter, its columns
        the input channels it reads most; for layers with too many kernels to read."""
        summary = top_filters(self.model, layer, TOP_FILTERS)
        inputs = summary.input_norms.argsort(dim=1, descending=True)[:, :TOP_FILTERS]
        weights = torch.stack([w[i] for w, i in zip(summary.weights, inputs, strict=True)])
        rgba, _ = filter_grid(Filters(summary.layer, "channels", weights), 12)
        rows = ", ".join(f"#{int(i)}" for i in summary.indices)
        caption = (
            f"<b>The strongest filters</b>, enlarged: {html.escape(summary.caption)}. Rows: "
            f"filters {rows}; columns: the {inputs.shape[1]} input channels each reads most; "
            "blue < 0 < red."
        )
        return encode(rgba, lossless=True), caption

    def _update(self, job: Job) -> None:
        layer, mode, zoom = self.layer, self.mode, self.zoom
        f = filters(self.model, layer, mode)
        zoom = zoom or fit_zoom(f)
        rgba, layout = filter_grid(f, zoom)
        encoded = encode(rgba, lossless=True)
        out, cin = f.weights.shape[:2] if f.mode != "norms" else f.weights.shape
        zero = "mid-grey = 0, scaled per filter" if f.mode == "rgb" else "blue < 0 < red"
        what = html.escape(f.caption) + ("" if f.mode == "norms" else f"; {zero}")
        top = self._strongest(layer) if out * cin > MANY_KERNELS else None
        if attention_modules(self.model):
            what += (
                ". This vision transformer's encoder blocks have no convolution filters (their "
                "weights are attention and MLP matrices): these are its convolutional stem's"
            )
        job.check()

        def draw() -> None:
            self.filters, self.layout_info = f, layout
            self.grid.show(encoded)
            self._quiet = True  # show the fitted zoom; ``zoom`` stays 0 ("fit")
            try:
                self.zoom_slider.value = zoom
            finally:
                self._quiet = False
            self.caption.value = f"All filters: {what}"
            self.top_grid.show(top[0] if top else None)
            self.top_caption.value = top[1] if top else ""
            self.clear_error()

        job.deliver(draw)
