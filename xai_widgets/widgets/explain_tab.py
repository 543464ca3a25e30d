"""The Explain tab: the picture with the explanation over it, the method toggles and their
controls, the top classes, the overlay settings, probes and Compare.

Every change of the selection (picture, method, class, layer, parameters) submits one idempotent
job, "bring the view to the current selection", to the tab's explain lane: the newest request
wins, and a result older than the current request is never drawn. A streaming method's partial
maps are shown as they come (coarse first, refinements at most every 150 ms, the exact map last);
``explanation`` is always the :class:`~xai_widgets.Explanation` on screen. Overlay settings
redraw the last map without recomputing; probes and Compare run on their own lanes.

Example::

    tab = ExplainTab(selection, lazy=False)
    selection.method = "occlusion"; tab.wait()
    tab.explanation.method, tab.explanation.fraction       # ('occlusion', 1.0)
"""

from __future__ import annotations

import html
import time
from typing import Any

import ipywidgets as w
import numpy as np

from ..api import build_method
from ..explanation import Explanation
from ..hooks import borrowed
from ..layers import default_layer, picker_layers
from ..methods.registry import get_method, list_methods, method_params
from ..render import legend, render_heatmap, value_range
from .canvas import Encoded, encode
from .caption import flat_words, status_line
from .compare import ComparePanel
from .controls import MethodToggles, ParamControls, layer_options
from .engine import Job
from .heads import HeadGrid
from .layered import LayeredCanvas
from .panels import OverlayPanel, TopClasses
from .prediction import PredictionPanel
from .probe import ProbePanel
from .regions import RegionOverlay
from .selection import Selection
from .session import ImageSession
from .view import View

__all__ = ["ExplainTab"]

ESTIMATE_ABOVE = 50  # forward passes: more, and the cost is shown before the work starts


class ExplainTab(View):
    """The explanation surface (see the module doc); ``size`` is the canvas's longer side."""

    title = "Explain"
    follows = ("index", "method", "target", "layer", "params", "region")
    scenes = True

    def __init__(self, selection: Selection, *, lazy: bool = True, size: int = 320) -> None:
        self._size = size
        self.explanation: Explanation | None = None
        self.heat: np.ndarray | None = None
        self.signed = True
        self.caption = ""
        self._drawn: tuple[int, int] | None = None
        self._checked: int | None = None
        self.unavailable: dict[str, str] = {}
        self._explained: str | None = None  # the explained class's name, for the legend
        super().__init__(selection, lazy=lazy)
        self.add_class("xw-explain")

    # ------------------------------------------------------------------ layout
    def _build(self) -> list[w.Widget]:
        sel = self.selection
        height, width = sel.pictures[0].input.shape[1:]
        self.scale = self._size / max(height, width)
        self.canvas = LayeredCanvas(
            round(width * self.scale), round(height * self.scale), "xw-main-canvas"
        )
        self.top = TopClasses(5, lambda c: setattr(sel, "target", c))
        self.toggles = MethodToggles(sel)
        self.controls = ParamControls(sel, min(height, width))
        self.layer_picker = w.Dropdown(
            options=layer_options([]), value="", description="layer",
            style={"description_width": "72px"}, layout=w.Layout(width="300px"),
        )  # fmt: skip
        self.layer_picker.add_class("xw-param-layer")
        self.layer_picker.observe(self._layer_picked, "value")
        sel.observe(self._layer_changed, "layer")
        sel.observe(self._show_layer_picker, "method")
        self._show_layer_picker()
        self.overlay = OverlayPanel(self._overlay_changed)
        self.status.add_class("xw-status")
        self.error.add_class("xw-error")
        self.progress.add_class("xw-progress")
        cancel = w.Button(description="Cancel", icon="stop", layout=w.Layout(width="90px"))
        cancel.add_class("xw-cancel")
        cancel.on_click(lambda _b: self.cancel())
        self.save_button = w.Button(
            description="Save PNG", icon="download", layout=w.Layout(width="110px")
        )
        self.save_button.add_class("xw-save")
        self.regions = RegionOverlay(sel, self.canvas, self.scale, self.submit)
        self.probes = ProbePanel(sel, self.canvas, self.scale, self.submit, self.regions)
        self.compare = ComparePanel(sel, self.submit)
        self.heads = HeadGrid(sel, self.submit)
        self.prediction = PredictionPanel(sel)
        side = w.VBox(
            [
                self.top.widget,
                w.HTML("<b>Method</b>"),
                self.toggles.widget,
                self.layer_picker,
                self.controls.widget,
                self.regions.widget,
                w.HTML("<b>Overlay</b>"),
                self.overlay.widget,
            ],
            layout=w.Layout(margin="0 0 0 16px"),
        )
        left = w.VBox(
            [self.canvas.widget, self.probes.label, self.heads.widget, self.prediction.panel],
            layout=w.Layout(width=f"{self.canvas.width}px", flex="0 0 auto"),
        )
        status = w.HBox(
            [self.status, self.progress, cancel, self.save_button],
            layout=w.Layout(align_items="center"),
        )
        extras = w.Accordion(
            [w.HBox([self.probes.widget]), self.compare.widget],
            titles=("Probe", "Compare methods"),
        )
        return [w.HBox([left, side]), status, self.error, extras]

    # ------------------------------------------------------------------ layer picker
    def _show_layer_picker(self, _change: Any = None) -> None:
        has_layer = any(s.kind == "layer" for s in method_params(self.selection.method))
        display = None if has_layer else "none"
        if self.layer_picker.layout.display != display:
            self.layer_picker.layout.display = display

    def _layer_picked(self, change: dict) -> None:
        if change["new"] is not None and change["new"] != self.selection.layer:
            self.selection.layer = change["new"]

    def _layer_changed(self, change: dict) -> None:
        if any(v == change["new"] for _, v in self.layer_picker.options):
            self.layer_picker.value = change["new"]

    def visible_controls(self) -> list[w.Widget]:
        """The parameter controls shown for the current method (the layer picker first)."""
        shown = [self.layer_picker] if self.layer_picker.layout.display != "none" else []
        return shown + self.controls.visible()

    # ------------------------------------------------------------------ computing
    def _refresh(self) -> None:
        self.submit("explain", self._compute, "explain")

    def _compute(self, job: Job) -> None:
        """Bring the view to the current selection: open the picture if needed, explain, draw.
        The map crosses to the CPU at the input's resolution; the browser scales it."""
        sel = self.selection
        index, method, target = sel.index, sel.method, sel.target
        params = sel.param_values(method)
        session = sel.session(index)
        job.check()
        job.deliver(lambda: self._show_picture(index, session))
        job.deliver(lambda: self.heads.update(session))
        if self._checked != index:
            self._checked = index
            self.submit("methods", lambda j: self._check_methods(j, index), "methods")
        if session.light:
            job.single_thread()
        forwards = build_method(session.model, session.x, method, params).cost(session.x)
        if forwards is not None and forwards > ESTIMATE_ABOVE:
            seconds = forwards * session.forward_ms() / 1000
            cost = (
                f"<b data-cost='{method}'>{html.escape(get_method(method).label)}</b>: "
                f"{forwards} forward passes, about {seconds:.1f} s (estimated from a timed "
                "batch); the map refines as they run, Cancel stops them"
            )
            job.deliver(lambda: setattr(self.status, "value", cost))
        last = 0.0
        for e in session.stream(method, params, target, progress=self.reporter(job)):
            now = time.perf_counter()
            if e.fraction < 1 and last and now - last < 0.15:
                continue
            last = now
            shown = e.heatmap[0].float().cpu().numpy()
            caption = self._describe(e, session, job.elapsed_ms)
            job.deliver(lambda e=e, s=shown, c=caption: self._show_map(e, s, c))

    def _check_methods(self, job: Job, index: int) -> None:
        """Ask every method whether it can explain this model here; disable those that cannot,
        with their reason (the toggles and Compare)."""
        sel = self.selection
        session = sel.session(index)
        reasons = {}
        model = session.model
        with borrowed(model):
            for name in list_methods():
                job.check()
                try:
                    method = build_method(model, session.x, name, sel.param_values(name))
                    reasons[name] = method.unavailable(model, session.x, session.fwd)
                except (TypeError, ValueError) as exc:
                    reasons[name] = str(exc)
        reasons = {k: v for k, v in reasons.items() if v}

        def show() -> None:
            self.unavailable = self.compare.unavailable = reasons
            self.toggles.disable(reasons)

        job.deliver(show)

    def _describe(self, e: Explanation, session: ImageSession, elapsed_ms: float) -> str:
        cls = session.predicted if self.selection.target is None else self.selection.target
        self._explained = self.selection.class_name(cls)
        line = status_line(e, self._explained, elapsed_ms)
        if session.dense:
            line += " · mean over the region of the prediction map"
        return line + (f" · {html.escape(session.note)}" if session.note else "")

    # ------------------------------------------------------------------ drawing
    def _show_picture(self, index: int, session: ImageSession) -> None:
        """The picture (only when it changed), its top classes and its layers."""
        sel = self.selection
        if self._drawn != (index, id(session)):
            self._drawn = (index, id(session))
            self.canvas.show(image=encode(sel.pictures[index].display))
            self.probes.draw_map(session, index)
        selected = session.predicted if sel.target is None else sel.target
        self.top.show(session.top(5), sel.class_name, selected)
        self.prediction.show(session, selected)
        default = default_layer(session.model, session.x) if session.layers else ""
        shown = picker_layers(session.model, session.x, session.layers)
        options = layer_options(shown, session.model, default)
        if self.layer_picker.options != tuple(options):
            self.layer_picker.options = options
            names = [v for _, v in options]
            self.layer_picker.value = sel.layer if sel.layer in names else ""

    def render(self) -> Encoded | None:
        """The shown map as an encoded RGBA image (None when no map is shown, or when it is
        flat: then the colour bar's line says so in words instead of stretching it)."""
        if self.heat is None:
            return None
        mode, cmap, clip = self.overlay.settings(self.signed)
        vmin, vmax = value_range(self.heat, mode=mode, clip=clip)
        flat = self._flat_message(mode)
        self.overlay.show_range(vmin, vmax, cmap, flat or self._meaning(mode))
        if flat:
            return None
        rgba = render_heatmap(self.heat, None, mode=mode, cmap=cmap, alpha=1.0, clip=clip)
        return encode(rgba)

    def _class(self) -> str | None:
        e = self.explanation
        if e is not None and e.target:
            return self.selection.class_name(e.target[0])
        return self._explained if e is not None else None  # a region target of a dense model

    def _meaning(self, mode: str) -> str:
        return html.escape(legend(mode, self._class()))

    def _flat_message(self, mode: str) -> str:
        assert self.heat is not None and self.explanation is not None
        return flat_words(self.heat, mode, self.explanation, self._class())

    def _show_map(self, e: Explanation, heat: np.ndarray, caption: str) -> None:
        self.explanation, self.heat, self.signed, self.caption = e, heat, e.signed, caption
        self.canvas.show(heatmap=self.render(), alpha=self.overlay.alpha.value)
        self.clear_error()
        self.status.value = caption

    def _overlay_changed(self, name: str) -> None:
        if name == "alpha":
            self.canvas.show(alpha=self.overlay.alpha.value)
            return
        self.submit("render", lambda job: job.deliver(self._redraw_map), "render")

    def _redraw_map(self) -> None:
        encoded = self.render()
        if encoded is not None:
            self.canvas.show(heatmap=encoded)

    def show_error(self, label: str, exc: BaseException) -> None:
        super().show_error(label, exc)
        self.status.value = f"<span style='color:#b00020'>error in {html.escape(label)}</span>"
        if label == "explain":  # the map on screen no longer answers the request
            self.heat = None
            self.explanation = None
            self.canvas.show(heatmap=None)

    def cancel(self, lane: str | None = None) -> None:
        """Stop the running computations; the view keeps what it shows."""
        super().cancel(lane)
        self.status.value = self.caption + " · cancelled"
