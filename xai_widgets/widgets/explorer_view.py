"""The Explorer's layout and drawing: the widgets it is made of and how a map reaches them."""

from __future__ import annotations

import ipywidgets as w
import numpy as np

from ..methods.registry import list_methods
from ..render import render_heatmap, value_range
from .canvas import Encoded, LayeredCanvas, encode
from .controls import MethodToggles, layer_options
from .panels import ComparePanel, Gallery, OverlayPanel, TopClasses
from .session import ImageSession

__all__ = ["PROBE_HINT", "ViewMixin"]

PROBE_HINT = "Click the image to occlude a patch there."


class ViewMixin:
    """Builds the Explain tab and draws images and maps on it (part of :class:`Explorer`)."""

    def _build(self, size: int) -> None:
        height, width = self.pictures[0].input.shape[1:]
        self.scale = size / max(height, width)
        self.canvas = LayeredCanvas(
            round(width * self.scale), round(height * self.scale), "xw-main-canvas"
        )
        self.canvas.on_mouse("move", self._pointer_moved)
        self.canvas.on_mouse("out", lambda *_: self.canvas.show_pointer(None))
        self.canvas.on_mouse("down", self._clicked)
        self.gallery = Gallery(self.pictures, lambda i: setattr(self, "index", i))
        self.upload = w.FileUpload(accept="image/*", multiple=False, description="Add image")
        self.upload.add_class("xw-upload")
        self.upload.observe(self._uploaded, "value")
        self.top = TopClasses(5, lambda c: setattr(self, "target", c))
        self.toggles = MethodToggles(self.method, lambda m: setattr(self, "method", m))
        self.layer_picker = w.Dropdown(
            options=layer_options([]),
            value="",
            description="layer",
            style={"description_width": "72px"},
            layout=w.Layout(width="300px"),
        )
        self.layer_picker.add_class("xw-param-layer")
        self.layer_picker.observe(self._layer_picked, "value")
        self.params_box = w.VBox()
        self.overlay = OverlayPanel(self._overlay_changed)
        self.status = w.HTML("starting…")
        self.status.add_class("xw-status")
        self.progress = w.FloatProgress(
            0, min=0, max=1, layout=w.Layout(width="160px", visibility="hidden")
        )
        self.progress.add_class("xw-progress")
        cancel = w.Button(description="Cancel", icon="stop", layout=w.Layout(width="90px"))
        cancel.add_class("xw-cancel")
        cancel.on_click(lambda _b: self.cancel())
        save = w.Button(description="Save PNG", icon="download", layout=w.Layout(width="110px"))
        save.add_class("xw-save")
        save.on_click(lambda _b: self.save())
        self.error = w.HTML()
        self.error.add_class("xw-error")
        self.probe_label = w.HTML(PROBE_HINT)
        self.probe_label.add_class("xw-probe")
        self.probe_canvas = LayeredCanvas(
            self.canvas.width // 2, self.canvas.height // 2, "xw-probe-canvas"
        )
        clear = w.Button(description="Clear probes", icon="eraser", layout=w.Layout(width="130px"))
        clear.add_class("xw-probe-clear")
        clear.on_click(lambda _b: self.clear_probes())
        self.compare_panel = ComparePanel(list_methods(), self.compare)
        side = w.VBox(
            [
                self.top.widget,
                w.HTML("<b>Method</b>"),
                self.toggles.widget,
                self.params_box,
                w.HTML("<b>Overlay</b>"),
                self.overlay.widget,
            ],
            layout=w.Layout(margin="0 0 0 16px"),
        )
        left = w.VBox(
            [self.canvas.widget, self.probe_label],
            layout=w.Layout(width=f"{self.canvas.width}px", flex="0 0 auto"),
        )
        probe = w.VBox(
            [
                w.HTML("<b>Probe map</b> (drop of the class probability)"),
                self.probe_canvas.widget,
                clear,
            ]
        )
        explain_view = w.VBox(
            [
                w.HBox([self.gallery.canvas, self.upload], layout=w.Layout(align_items="center")),
                w.HBox([left, side]),
                w.HBox(
                    [self.status, self.progress, cancel, save],
                    layout=w.Layout(align_items="center"),
                ),
                self.error,
                w.Accordion(
                    [w.HBox([probe]), self.compare_panel.widget],
                    titles=("Probe", "Compare methods"),
                ),
            ]
        )
        self.tabs = w.Tab([explain_view], titles=("Explain",))
        self._layout = self.tabs

    def class_name(self, cls: int) -> str:
        if self.class_names and 0 <= cls < len(self.class_names):
            return str(self.class_names[cls])
        return f"class {cls}"

    def _show_image(self, index: int, session: ImageSession) -> None:
        """Show the picture (only when it changed), its top classes and its layers."""
        self._updating = True
        try:
            if self._drawn != (index, id(session)):
                self._drawn = (index, id(session))
                self.canvas.show(image=encode(self.pictures[index].display))
                self._draw_probes(session)
            selected = session.predicted if self.target is None else self.target
            self.top.show(session.top(5), self.class_name, selected)
            options = layer_options(session.layers)
            if self.layer_picker.options != tuple(options):
                self.layer_picker.options = options
                names = [v for _, v in options]
                self.layer_picker.value = self.layer if self.layer in names else ""
        finally:
            self._updating = False

    def _render(self) -> Encoded | None:
        if self._heat is None:
            return None
        mode, cmap, clip = self.overlay.settings(self._signed)
        rgba = render_heatmap(self._heat, None, mode=mode, cmap=cmap, alpha=1.0, clip=clip)
        vmin, vmax = value_range(self._heat, mode=mode, clip=clip)
        self.overlay.show_range(vmin, vmax, cmap)
        return encode(rgba)

    def _show_map(self, heat: np.ndarray, signed: bool, caption: str) -> None:
        self._heat, self._signed, self._caption = heat, signed, caption
        encoded = self._render()
        self.canvas.show(heatmap=encoded, alpha=self.overlay.alpha.value)
        self.error.value = ""
        self.status.value = caption

    def _overlay_changed(self, name: str) -> None:
        if name == "alpha":
            self.canvas.show(alpha=self.overlay.alpha.value)
            return
        self.engine.submit("render", lambda job: job.deliver(self._redraw_map), label="render")

    def _redraw_map(self) -> None:
        encoded = self._render()
        if encoded is not None:
            self.canvas.show(heatmap=encoded)
