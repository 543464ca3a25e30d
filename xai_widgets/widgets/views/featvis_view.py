"""Feature visualization: the image a channel (or a whole layer) responds to most, and
DeepDream on the current picture.

"Run" starts :func:`xai_widgets.features.optimize` on the view's engine lane with the slider
values; the preview shows every few steps with the objective (the mean activation). "Stop",
a new "Run" or "DeepDream" ends it at the next step. The image lives in the model's input
space and is shown through the selection's ``preprocess.display`` (its normalization undone).

The controls are derived from the functions' declared settings
(:class:`~xai_widgets.features.optimize.FeatVisSettings`, ``DreamSettings``): defaults, ranges
and help are declared once, next to the functions.

Example::

    view = FeatureVisView(model, images, preprocess=zoo.card("shapes"))
    view.layer, view.channel = "features.6", 3
    view.run(); view.wait(); view.history[-1]      # (step, objective)
"""

from __future__ import annotations

import html
import time
from typing import Any

import ipywidgets as w
import torch
from traitlets import Int, Unicode, observe

from ...features import dream, optimize
from ...features.dream import DreamSettings
from ...features.optimize import FeatVisSettings
from ...features.priors import FINE_DETAIL, detail_rms
from ...params import declared
from ..canvas import encode
from ..controls import param_control
from ..engine import Job
from ..shared import shared_style
from .base import STYLE, FeatureView
from .surface import Surface
from .tiles import fit_tile, labelled_grid

__all__ = ["FeatureVisView"]

PREVIEW_EVERY = 8
PREVIEW_PX = 256


def _controls(settings: type, prefix: str) -> dict[str, w.Widget]:
    """One control per declared setting (see :mod:`xai_widgets.params`), CSS ``xw-fv-...``."""
    look = {"css": f"xw-fv-{prefix}", "width": "330px", "label_width": STYLE["description_width"]}
    return {spec.name: param_control(spec, **look) for spec in declared(settings)}


class FeatureVisView(FeatureView):
    """Activation maximization with live preview, and DeepDream (see the module doc).

    Standalone: ``FeatureVisView(model, images, ...)``; in a host: ``.from_host(host)``.
    """

    title = "Feature visualization"
    layer = Unicode(
        "", help="the layer to excite (dotted name); '' = the last Conv2d (else last spatial)"
    )
    channel = Int(0, allow_none=True, help="the channel to excite; None = the whole layer")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.history: list[tuple[int, float]] = []
        self.image = None  # the last optimized (1, C, H, W) input
        self.dreamed = None  # the last DeepDream result (1, C, H, W)
        self._syncing = False
        super().__init__(*args, **kwargs)

    # ------------------------------------------------------------------ layout
    def _build(self) -> list[w.Widget]:
        self.layer_picker = self.layer_picker_widget("xw-fv-layer")
        self.channel_box = w.BoundedIntText(
            0, min=0, max=4095, description="channel", style=STYLE, layout=w.Layout(width="160px")
        )
        self.channel_count = w.HTML(layout=w.Layout(width="64px"))
        self.channel_box.add_class("xw-fv-channel")
        self.params = _controls(FeatVisSettings, "")
        self.whole = self.params["objective"]  # "layer": the whole layer
        self.target_box = self._target_control()
        for control in (self.channel_box, self.whole):
            control.observe(self._channel_picked, "value")
        self.run_button = w.Button(description="Run", icon="play", button_style="primary")
        self.run_button.add_class("xw-fv-run")
        self.run_button.on_click(lambda _b: self.run())
        self.stop_button = w.Button(description="Stop", icon="stop", disabled=True)
        self.stop_button.add_class("xw-fv-stop")
        self.stop_button.on_click(lambda _b: self.stop())
        self.preview = Surface("xw-fv-canvas", PREVIEW_PX, PREVIEW_PX)
        self.caption = w.HTML("Press <b>Run</b> to optimize an image for the chosen channel.")
        self.caption.add_class("xw-fv-caption")
        self.dream_params = _controls(DreamSettings, "dream-")
        self.dream_button = w.Button(description="DeepDream", icon="eye", button_style="info")
        self.dream_button.add_class("xw-fv-dream")
        self.dream_button.tooltip = "amplify what the layer sees in the current picture"
        self.dream_button.on_click(lambda _b: self.deep_dream())
        self.dream_view = Surface("xw-fv-dream-canvas")
        self.dream_caption = w.HTML()
        objective = w.HBox(
            [self.channel_box, self.channel_count, self.target_box],
            layout=w.Layout(align_items="center"),
        )
        buttons = w.HBox([self.run_button, self.stop_button, self.progress])
        buttons.layout.align_items = "center"
        # the controls keep their width; a long caption wraps beside them instead of
        # squeezing the sliders' values out of view
        controls = w.VBox(
            [self.layer_picker, objective, *self.params.values(), buttons],
            layout=w.Layout(flex="0 0 auto"),
        )
        self._show_objective()
        result = w.VBox(
            [self.preview.widget, self.caption],
            layout=w.Layout(margin="0 0 0 16px", flex="1 1 0", min_width="0"),
        )
        dream_box = w.VBox(
            [
                w.HTML("<b>DeepDream</b> on the current picture, at the layer above"),
                w.HBox([self.picker, self.dream_button], layout=w.Layout(align_items="center")),
                w.VBox(list(self.dream_params.values())),
                self.dream_view.widget,
                self.dream_caption,
            ],
            layout=w.Layout(margin="12px 0 0 0"),
        )
        return [w.HBox([controls, result]), self.status, self.error, dream_box]

    # ------------------------------------------------------------------ state
    def _target_control(self) -> w.Widget:
        """The class of the "class" objective: its name when the classes have names."""
        classes = self.selection.classes
        cls = w.Dropdown if classes else w.BoundedIntText
        look = {
            "description": "class",
            "layout": w.Layout(width="220px"),
            "style": shared_style(cls, **STYLE),
            "_dom_classes": ("xw-fv-target",),
        }
        if classes:
            return w.Dropdown(options=[(c, i) for i, c in enumerate(classes)], value=0, **look)
        return w.BoundedIntText(0, min=0, max=100_000, **look)

    def _show_objective(self) -> None:
        kind = self.whole.value
        self.channel_box.layout.display = None if kind == "channel" else "none"
        self.channel_count.layout.display = None if kind == "channel" else "none"
        self.target_box.layout.display = None if kind == "class" else "none"

    def _channel_picked(self, _change: dict) -> None:
        self._show_objective()
        if not self._syncing and self.whole.value != "class":
            self.channel = None if self.whole.value == "layer" else int(self.channel_box.value)

    @observe("channel")
    def _channel_changed(self, change: dict) -> None:
        self._syncing = True  # show the trait in the controls (a bad one is shown as an error)
        try:
            if change["new"] is None:
                self.whole.value = "layer"
            else:
                if self.whole.value == "layer":
                    self.whole.value = "channel"
                self.channel_box.value = min(max(change["new"], 0), self.channel_box.max)
        finally:
            self._syncing = False
        self._show_objective()

    @observe("layer")
    def _layer_changed(self, change: dict) -> None:
        self.show_layer(change["new"])
        self._limit_channel()

    def layers_loaded(self) -> None:
        self._limit_channel()

    def _limit_channel(self) -> None:
        shapes = dict(self.layers or [])
        name = self.resolved_layer
        if name in shapes:
            self.channel_box.max = int(shapes[name][1]) - 1
            self.channel_count.value = f"&nbsp;of&nbsp;{shapes[name][1]}"

    def _refresh(self) -> None:
        if not self._layers_shown:  # the layer list: one dry forward, when first shown
            self.submit("featvis-layers", self.load_layers, "layers")

    # ------------------------------------------------------------------ optimize
    def settings(self) -> dict[str, Any]:
        """The ``optimize`` keyword arguments the controls give."""
        settings = {name: control.value for name, control in self.params.items()}
        if settings["objective"] == "class":
            settings["target"] = int(self.target_box.value)
        return settings

    def run(self) -> None:
        """Start (or restart) the optimization with the current settings."""
        layer, channel, settings = self.resolved_layer, self.channel, self.settings()
        self.history = []
        self.stop_button.disabled = False
        self.clear_error()
        self.submit("featvis", lambda job: self._optimize(job, layer, channel, settings), "run")

    def stop(self) -> None:
        """Stop the running optimization or dream; the preview keeps its last image."""
        self.cancel("featvis")
        self.stop_button.disabled = True
        if self.history:
            step, value = self.history[-1]
            self.status.value = f"stopped at step {step} (objective {value:.4g})"
        else:
            self.status.value = "stopped"

    def _optimize(self, job: Job, layer: str, channel: int | None, settings: dict) -> None:
        start = time.perf_counter()
        size = tuple(self.picture.input.shape[1:])
        steps = settings["steps"]
        if settings["objective"] == "class":
            name = self.selection.class_name(settings["target"])
            target = f"the logit of {html.escape(name)}"
        else:
            target = "whole layer" if channel is None else f"channel {channel}"
        where = html.escape(layer or "(default layer)")
        run = optimize(
            self.model, layer or None, channel, size=size, every=PREVIEW_EVERY,
            preprocess=self._statistics(), **settings,
        )  # fmt: skip
        try:
            for step, image, objective in run:
                job.check()
                shown = self.selection.preprocess.display(image)
                encoded = encode(fit_tile(shown, PREVIEW_PX))
                first = self.history[0][1] if self.history else objective
                caption = (
                    f"<b>{target}</b> of <code>{where}</code>: step {step} / {steps}, "
                    f"objective <b>{objective:.4g}</b> (from {first:.4g}), "
                    f"{time.perf_counter() - start:.1f} s"
                ) + (_smooth_note(shown) if step == steps else "")

                def draw(s=step, v=objective, im=image, e=encoded, c=caption) -> None:
                    self.history.append((s, v))
                    self.image = im
                    self.preview.show(e)
                    self.caption.value = c
                    self.show_progress(s / steps)

                job.deliver(draw)
        finally:
            run.close()
        job.deliver(self._finished)

    def _statistics(self) -> Any:
        """The normalization the Fourier picture is built under (None when unknown)."""
        pre = self.selection.preprocess
        return pre.spec if pre.kind == "normalize" else None

    def _finished(self) -> None:
        self.stop_button.disabled = True
        self.show_progress(None)
        self.status.value = "done"

    # ------------------------------------------------------------------ DeepDream
    def deep_dream(self) -> None:
        """DeepDream the current picture at the chosen layer (stops a running optimization)."""
        index, layer = self.selection.index, self.resolved_layer
        params = {name: control.value for name, control in self.dream_params.items()}
        self.stop_button.disabled = False
        self.clear_error()
        self.dream_caption.value = "dreaming …"
        self.submit("featvis", lambda job: self._dream(job, index, layer, params), "DeepDream")

    def _dream(self, job: Job, index: int, layer: str, params: dict) -> None:
        start = time.perf_counter()
        pic = self.selection.pictures[index]
        out = dream(
            self.model,
            self.picture_input(index),
            layer or None,
            progress=self.reporter(job),
            **params,
        )
        shown = self.selection.preprocess.display(out)
        tiles = [fit_tile(pic.display, PREVIEW_PX), fit_tile(shown, PREVIEW_PX)]
        labels = [f"picture {pic.name or f'#{index}'}", f"DeepDream at {layer or 'the last layer'}"]
        rgba, _ = labelled_grid(tiles, labels, ncols=2, pad=8)
        encoded = encode(rgba)
        where = html.escape(layer or "(last spatial layer)")
        caption = (
            f"<code>{where}</code>, {params['octaves']} octaves × {params['steps']} steps, "
            f"{time.perf_counter() - start:.1f} s"
        )

        def draw() -> None:
            self.dreamed = out
            self.dream_view.show(encoded)
            self.dream_caption.value = caption
            self._finished()

        job.deliver(draw)


def _smooth_note(shown: Any) -> str:
    """A sentence under a finished picture without visible fine detail: for such a channel
    smooth light and dark areas are the honest answer (the zoo's counting model has channels
    whose best data images are blank), not a failure of the optimization."""
    pixels = torch.as_tensor(shown).permute(2, 0, 1).float() / 255.0
    if detail_rms(pixels) >= FINE_DETAIL:
        return ""
    return (
        "<br><i>No fine detail: this channel responds most to smooth pictures without objects "
        "or edges (compare its exemplars); the broad light and dark areas are all there is "
        "to see.</i>"
    )
