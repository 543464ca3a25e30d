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

from collections.abc import Sequence
from typing import Any

import ipywidgets as w
import torch
from torch import nn

from ...layers import default_layer, model_device, spatial_layers
from ..engine import Job
from ..images import Picture
from ..selection import Selection
from ..view import View

__all__ = ["FeatureView", "layer_choices"]

STYLE = {"description_width": "90px"}


def layer_choices(
    model: nn.Module, layers: Sequence[tuple[str, tuple[int, ...]]], x: torch.Tensor
) -> tuple[list[tuple[str, str]], str]:
    """Dropdown options ('name - Type - C x h x w', name) of the spatial layers, and the
    default one (:func:`~xai_widgets.layers.default_layer`, the rule every tab shares)."""
    options = [
        (f"{name} - {type(model.get_submodule(name)).__name__} - "
         f"{' x '.join(map(str, shape[1:]))}", name)
        for name, shape in layers
    ]  # fmt: skip
    return options, default_layer(model, x) if layers else ""


class FeatureView(View):
    """Base of the feature views (see the module doc). Subclasses set ``title``, build their
    controls in :meth:`_build` (returning the children) and bring the view up to date in
    :meth:`_refresh` (called only while on screen).

    Built standalone, ``View(model, images, classes=..., preprocess=..., names=...)`` (it makes
    its own :class:`~..selection.Selection` and computes at once), or on a shared selection,
    ``View(selection)`` (lazy: it computes once it is shown, e.g. when its tab is selected).
    """

    uses_picture: bool = True

    def __init__(
        self,
        model: Any = None,
        images: Any = None,
        *,
        classes: Sequence[str] | None = None,
        preprocess: Any = None,
        names: Sequence[str] | None = None,
        selection: Selection | None = None,
        lazy: bool | None = None,
    ) -> None:
        if isinstance(model, Selection):
            model, selection = None, model
        if selection is None:
            if model is None or images is None:
                raise TypeError(
                    f"{type(self).__name__}(model, images, ...) or {type(self).__name__}(selection)"
                )
            selection = Selection(
                model, images, classes=classes, preprocess=preprocess, names=names
            )
            self._owns_selection = True
        elif model is not None or images is not None:
            raise TypeError("give either (model, images) or a selection, not both")
        else:
            self._owns_selection = False
        self.layers: list[tuple[str, tuple[int, ...]]] | None = None
        self.default_layer = ""
        self._layer_options: list[tuple[str, str]] = []
        self._layers_shown = False
        self._syncing_layer = False
        self.picker = w.Dropdown(description="picture", style=STYLE, layout=w.Layout(width="300px"))
        self.picker.add_class("xw-view-picture")
        self.picker.observe(self._picked, "value")
        self._pending_selection = selection
        self._sync_picker()
        super().__init__(selection, lazy=not self._owns_selection if lazy is None else lazy)
        self.add_class("xw-feature-view")
        selection.observe(lambda _c: self._sync_picker(), ["index", "pictures"])

    @classmethod
    def from_host(cls, host: Any, **options: Any) -> FeatureView:
        """A lazy view on an Explorer's (or any) selection."""
        selection = host if isinstance(host, Selection) else host.selection
        return cls(selection=selection, lazy=True, **options)

    @property
    def host(self) -> Selection:
        """The selection this view is built on (kept name of the first wave)."""
        return self.selection

    # ------------------------------------------------------------------ state
    @property
    def model(self) -> torch.nn.Module:
        return self.selection.model

    @property
    def device(self) -> torch.device:
        return model_device(self.selection.model)

    @property
    def picture(self) -> Picture:
        return self.selection.picture

    def picture_input(self, index: int | None = None) -> torch.Tensor:
        """The (1, C, H, W) model input of picture ``index`` (default: current) on the device."""
        sel = self.selection
        pic = sel.pictures[sel.index if index is None else index]
        return pic.input[None].to(self.device)

    def _followed(self, change: dict) -> None:
        if self.uses_picture:
            self.refresh()

    def _sync_picker(self) -> None:
        sel = getattr(self, "selection", None) or self._pending_selection
        options = [(p.name or f"#{i}", i) for i, p in enumerate(sel.pictures)]
        if len(options) != len(self.picker.options):
            self.picker.options = options
        if self.picker.value != sel.index:
            self.picker.value = sel.index

    def _picked(self, change: dict) -> None:
        sel = getattr(self, "selection", None)
        if sel is not None and change["new"] is not None and change["new"] != sel.index:
            sel.index = change["new"]

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
            x = self.picture_input()
            layers = spatial_layers(self.model, x)
            options, default = layer_choices(self.model, layers, x)
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

    def close(self) -> None:
        if getattr(self, "_owns_selection", False):  # False too when __init__ raised early
            self.selection.close()
        super().close()
