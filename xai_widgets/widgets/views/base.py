"""What every feature view shares: its host, lazy computing, engine jobs, errors, progress.

A view is an ``ipywidgets.VBox`` built either standalone, ``View(model, images, ...)`` (it
makes a :class:`~.host.StandaloneHost` and computes at once), or on a host,
``View.from_host(explorer)`` (lazy: nothing runs until :meth:`FeatureView.set_on_screen` says
the view is shown, e.g. its tab was selected; a new picture while hidden is computed when the
view is shown again).

Jobs run on the host engine's lanes (latest wins, cancelled at the next check); an exception
in a job is shown in the view's own error area (``xw-view-error``), never in the host's, and
the next input works as usual. Progress goes to the view's own bar, not through
``job.progress`` (which would light up the Explorer's bar).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import ipywidgets as w
import torch
from torch import nn

from ...layers import model_device, spatial_layers
from ..engine import Cancelled, Job
from ..images import Picture
from .host import StandaloneHost, ViewHost

__all__ = ["FeatureView", "layer_choices"]

STYLE = {"description_width": "90px"}


def layer_choices(
    model: nn.Module, layers: Sequence[tuple[str, tuple[int, ...]]]
) -> tuple[list[tuple[str, str]], str]:
    """Dropdown options ('name  C x h x w', name) of the spatial layers, and the default one:
    the last Conv2d output (its channels are what one thinks of as features), else the last
    spatial layer."""
    convs = {name for name, m in model.named_modules() if isinstance(m, nn.Conv2d)}
    options = [(f"{name}  {' x '.join(map(str, shape[1:]))}", name) for name, shape in layers]
    default = next((n for n, _ in reversed(layers) if n in convs), layers[-1][0] if layers else "")
    return options, default


class FeatureView(w.VBox):
    """Base of the feature views (see the module doc). Subclasses set ``title``, build their
    controls in :meth:`_build` (returning the children) and bring the view up to date in
    :meth:`_refresh` (called only while on screen)."""

    title: ClassVar[str] = ""
    uses_picture: ClassVar[bool] = True

    def __init__(
        self,
        model: Any = None,
        images: Any = None,
        *,
        classes: Sequence[str] | None = None,
        preprocess: Any = None,
        names: Sequence[str] | None = None,
        host: ViewHost | None = None,
        lazy: bool | None = None,
    ) -> None:
        super().__init__()
        if host is None:
            if model is None or images is None:
                raise TypeError(f"{type(self).__name__}(model, images, ...) or from_host(host)")
            host = StandaloneHost(model, images, preprocess, classes, names)
            self._owns_host = True
        elif model is not None or images is not None:
            raise TypeError("give either (model, images) or host=, not both")
        else:
            self._owns_host = False
        self.host = host
        self.layers: list[tuple[str, tuple[int, ...]]] | None = None
        self.default_layer = ""
        self._layer_options: list[tuple[str, str]] = []
        self._layers_shown = False
        self._syncing_layer = False
        self.on_screen = False
        self._dirty = True
        self.status = w.HTML()
        self.status.add_class("xw-view-status")
        self.error = w.HTML()
        self.error.add_class("xw-view-error")
        self.progress = w.FloatProgress(
            0, min=0, max=1, layout=w.Layout(width="160px", visibility="hidden")
        )
        self.progress.add_class("xw-view-progress")
        self.picker = w.Dropdown(description="picture", style=STYLE, layout=w.Layout(width="300px"))
        self.picker.add_class("xw-view-picture")
        self._sync_picker()
        self.picker.observe(self._picked, "value")
        self.children = self._build()
        self.add_class("xw-feature-view")
        host.observe(self._index_changed, "index")
        self.set_on_screen(not lazy if lazy is not None else self._owns_host)

    @classmethod
    def from_host(cls, host: ViewHost, **options: Any) -> FeatureView:
        """A lazy view on ``host`` (the Explorer, or a :class:`StandaloneHost`)."""
        return cls(host=host, lazy=True, **options)

    # ------------------------------------------------------------------ to override
    def _build(self) -> list[w.Widget]:
        raise NotImplementedError

    def _refresh(self) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------------ state
    @property
    def model(self) -> torch.nn.Module:
        return self.host.model

    @property
    def device(self) -> torch.device:
        return model_device(self.host.model)

    @property
    def picture(self) -> Picture:
        return self.host.pictures[self.host.index]

    def picture_input(self, index: int | None = None) -> torch.Tensor:
        """The (1, C, H, W) model input of picture ``index`` (default: current) on the device."""
        pic = self.host.pictures[self.host.index if index is None else index]
        return pic.input[None].to(self.device)

    def set_on_screen(self, shown: bool) -> None:
        """Tell the view whether it is shown; when shown, compute what changed meanwhile."""
        self.on_screen = bool(shown)
        if self.on_screen and self._dirty:
            self.refresh()

    def refresh(self) -> None:
        """Bring the view up to date now if it is shown, else when it is next shown."""
        if not self.on_screen:
            self._dirty = True
            return
        self._dirty = False
        self._refresh()

    def _index_changed(self, _change: dict) -> None:
        self._sync_picker()
        if self.uses_picture:
            self.refresh()

    def _sync_picker(self) -> None:
        pics = self.host.pictures
        options = [(p.name or f"#{i}", i) for i, p in enumerate(pics)]
        if len(options) != len(self.picker.options):
            self.picker.options = options
        if self.picker.value != self.host.index:
            self.picker.value = self.host.index

    def _picked(self, change: dict) -> None:
        if change["new"] is not None and change["new"] != self.host.index:
            self.host.index = change["new"]

    # ------------------------------------------------------------------ layers
    def layer_picker_widget(self, css_class: str) -> w.Dropdown:
        """The spatial-layer dropdown (filled by :meth:`load_layers`), bound to ``layer``."""
        picker = w.Dropdown(
            options=[("(loading layers…)", "")],
            value="",
            description="layer",
            style=STYLE,
            layout=w.Layout(width="330px"),
        )
        picker.add_class(css_class)
        picker.observe(self._layer_picked, "value")
        return picker

    def _layer_picked(self, change: dict) -> None:
        if not self._syncing_layer and change["new"] and change["new"] != self.layer:
            self.layer = change["new"]  # type: ignore[attr-defined]

    def show_layer(self, name: str) -> None:
        """Show ``name`` in the layer dropdown (if listed) without acting on it."""
        picker = self.layer_picker  # type: ignore[attr-defined]
        if any(v == name for _, v in picker.options) and picker.value != name:
            self._syncing_layer = True
            try:
                picker.value = name
            finally:
                self._syncing_layer = False

    @property
    def resolved_layer(self) -> str:
        """The layer shown: ``layer``, or the default one once the layers are known."""
        return self.layer or self.default_layer  # type: ignore[attr-defined]

    def load_layers(self, job: Job) -> None:
        """List the spatial layers once (one dry forward) and fill the dropdown."""
        if self.layers is None:
            layers = spatial_layers(self.model, self.picture_input())
            options, default = layer_choices(self.model, layers)
            self.layers, self.default_layer, self._layer_options = layers, default, options
        if self._layers_shown:
            return

        def draw() -> None:
            self._syncing_layer = True
            try:
                self.layer_picker.options = self._layer_options  # type: ignore[attr-defined]
            finally:
                self._syncing_layer = False
            self.show_layer(self.resolved_layer)
            self._layers_shown = True
            self.layers_loaded()

        job.deliver(draw)

    def layers_loaded(self) -> None:
        """Called once the layer list is known (subclasses may adjust their controls)."""

    # ------------------------------------------------------------------ jobs
    def lane(self, name: str) -> str:
        """Engine lane names of the views are prefixed, so they never meet the host's."""
        return f"xw-{name}"

    def submit(self, lane: str, fn: Callable[[Job], None], label: str) -> None:
        """Run ``fn(job)`` on ``lane`` (latest wins); its exception is shown in this view."""

        def run(job: Job) -> None:
            try:
                fn(job)
            except Cancelled:
                raise
            except Exception as exc:  # shown in the view; the lane keeps working
                job.deliver(lambda e=exc: self.show_error(label, e))

        self.host.engine.submit(self.lane(lane), run, label=label)

    def cancel(self, lane: str) -> None:
        self.host.engine.cancel(self.lane(lane))
        self.progress.layout.visibility = "hidden"

    def reporter(self, job: Job) -> Callable[[float], None]:
        """A ``progress(fraction)`` for the feature functions: stops a superseded job and
        moves this view's bar (in steps of 2 %)."""
        shown = [-1.0]

        def report(fraction: float) -> None:
            job.check()
            if fraction >= 1 or fraction - shown[0] >= 0.02:
                shown[0] = fraction
                job.deliver(lambda: self.show_progress(fraction))

        return report

    def show_progress(self, fraction: float | None) -> None:
        """Show the bar at ``fraction``; None hides it."""
        if fraction is None or fraction >= 1:
            self.progress.layout.visibility = "hidden"
        else:
            self.progress.value = max(0.0, float(fraction))
            self.progress.layout.visibility = "visible"

    def show_error(self, label: str, exc: BaseException) -> None:
        self.error.value = (
            f"<div style='color:#b00020'><b>{type(exc).__name__}</b> in {html.escape(label)}: "
            f"{html.escape(str(exc))}</div>"
        )
        self.show_progress(None)

    def clear_error(self) -> None:
        if self.error.value:
            self.error.value = ""

    def wait(self, timeout: float = 60.0) -> bool:
        """Block until the engine is idle (scripts and tests)."""
        return self.host.engine.wait(timeout)

    def close(self) -> None:
        if self._owns_host:
            self.host.close()  # type: ignore[attr-defined]
        super().close()
