"""Controls derived from the declared parameters (never declared twice), linked to a selection.

:func:`param_control` turns a :class:`~xai_widgets.params.ParamSpec` into a control: a slider
for a number whose range is small enough to slide through (else a bounded text box), a checkbox
for a bool, a dropdown for a choice or a layer. :class:`ParamControls` holds one control per
parameter of every method (built when the method is first selected) and links the current
method's controls to ``selection.params`` both ways; :class:`MethodToggles` links the method
buttons to ``selection.method``. Every control
carries the CSS class ``xw-param-<name>``, every method button ``xw-method-<name>`` and its
(i) button, which opens the method card, ``xw-card-button-<name>``.

Example::

    controls = ParamControls(selection, image_side=64)
    selection.params = {"patch": 8}            # the slider moves
    controls.controls["occlusion"]["patch"].value = 4   # selection.params["patch"] == 4
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import ipywidgets as w
from torch import nn

from ..methods.attention import head_count
from ..methods.card import has_card, method_card
from ..methods.registry import FAMILIES, get_method, list_methods, method_params
from ..params import ParamSpec
from .selection import Selection
from .shared import shared_layout, shared_style

__all__ = ["MethodToggles", "ParamControls", "layer_options", "param_control"]

_SLIDER_SPAN = 5000
_LABEL_WIDTH = "72px"


def layer_options(
    layers: Sequence[tuple[str, tuple[int, ...]]], model: nn.Module | None = None, default: str = ""
) -> list[tuple[str, str]]:
    """Dropdown options ('features.6 - Conv2d - 32 x 16 x 16', name), the default layer
    ('' , named) first."""

    def label(name: str, shape: tuple[int, ...]) -> str:
        kind = f" - {type(model.get_submodule(name)).__name__}" if model is not None else ""
        return f"{name}{kind} - {' x '.join(map(str, shape[1:]))}"

    options = [(f"(default: {default})" if default else "(default layer)", "")]
    options += [(label(name, shape), name) for name, shape in layers]
    return options


def param_control(
    spec: ParamSpec,
    image_side: int | None = None,
    css: str = "xw-param-",
    *,
    hidden: bool = False,
    width: str = "300px",
    label_width: str = _LABEL_WIDTH,
) -> w.Widget:
    """A control for one declared parameter, with the CSS class ``<css><name>``;
    ``image_side`` caps parameters whose range is bounded by the image (``image_bound``);
    ``hidden`` builds it with ``layout.display = "none"``. Its layout is its own (it may be
    shown and hidden), its style the shared one of its kind (:mod:`.shared`)."""
    cls, kwargs = _control_kind(spec, image_side)
    return cls(
        description=spec.title,
        tooltip=spec.help,
        layout=w.Layout(width=width, display="none" if hidden else None),
        style=shared_style(cls, description_width=label_width),
        _dom_classes=(f"{css}{spec.name}",),  # in the constructor: no message after it
        **kwargs,
    )


def _control_kind(spec: ParamSpec, image_side: int | None) -> tuple[type[w.Widget], dict]:
    """The control class for ``spec`` and its value arguments."""
    if spec.kind == "layer":
        return w.Dropdown, {"options": [("(default layer)", "")], "value": ""}
    if spec.kind == "choice":
        return w.Dropdown, {"options": list(spec.choices), "value": spec.default}
    if spec.kind == "bool":
        return w.Checkbox, {"value": spec.default, "indent": False}
    lo = spec.min if spec.min is not None else -1e9
    hi = spec.max if spec.max is not None else 1e9
    if spec.image_bound and image_side is not None:
        hi = min(hi, image_side)
    bounds = {"value": min(max(spec.default, lo), hi), "min": lo, "max": hi}
    integer = spec.type is int
    if hi - lo <= _SLIDER_SPAN:
        step = spec.step or (1 if integer else (hi - lo) / 100)
        slider = w.IntSlider if integer else w.FloatSlider
        return slider, {**bounds, "step": step, "continuous_update": True}
    return (w.BoundedIntText if integer else w.BoundedFloatText), {**bounds, "step": spec.step or 1}


class ParamControls:
    """One control per declared parameter of every method (the layer excepted: it is the
    selection's own trait), the current method's shown, linked to ``selection.params``.

    A method's controls are built the first time it is selected (or ``controls[method]`` is
    read): the Explorer opens with the first method's few controls instead of all 35 (each a
    widget model the browser builds)."""

    def __init__(self, selection: Selection, image_side: int | None) -> None:
        self.selection = selection
        self.image_side = image_side
        self.heads = head_count(selection.model)
        self._max: dict[str, dict[str, float]] = {}
        self._syncing = False
        self.widget = w.VBox([])
        self.controls: dict[str, dict[str, w.Widget]] = _OnFirstUse(self._build)
        selection.observe(self._follow, ["method", "params"])
        self._follow()

    def _build(self, method: str) -> dict[str, w.Widget]:
        if method not in list_methods():
            raise KeyError(method)
        specs = [s for s in method_params(method) if s.kind != "layer"]
        controls = {s.name: param_control(s, self.image_side, hidden=True) for s in specs}
        self._max[method] = {n: getattr(c, "max", None) for n, c in controls.items()}
        for name, control in controls.items():
            if name == "head" and isinstance(control, w.Dropdown):
                self._fit_heads(control)
            control.observe(self._changed(method, name), "value")
        self.widget.children = [*self.widget.children, *controls.values()]
        return controls

    def _fit_heads(self, control: w.Dropdown) -> None:
        """A head picker offers the fusions and exactly the model's head indices (none on a
        model without attention, where the attention methods are disabled anyway)."""
        keep = [o for o in control.options if not str(o).isdigit()]
        control.options = [*keep, *(str(i) for i in range(self.heads))]

    def _changed(self, method: str, name: str) -> Callable[[dict], None]:
        def handler(change: dict) -> None:
            if self._syncing or method != self.selection.method:
                return
            if self.selection.params.get(name) != change["new"]:
                self.selection.params = {**self.selection.params, name: change["new"]}

        return handler

    def _follow(self, _change: Any = None) -> None:
        """Show the current method's controls (a style change, not a DOM rebuild, keeps a
        toggle fast) and give them the selection's values."""
        current = self.controls[self.selection.method]
        self._syncing = True
        try:
            for spec in method_params(self.selection.method):
                bound = self.selection.params.get(spec.at_most)
                if bound is not None and spec.name in current:
                    current[spec.name].max = min(bound, self._max[self.selection.method][spec.name])
            for name, value in self.selection.params.items():
                control = current.get(name)
                if control is None or control.value == value:
                    continue
                if isinstance(control, w.Dropdown) and value not in _values(control):
                    continue  # e.g. head "5" of a 2-head model: the method says why, in words
                control.value = value
        finally:
            self._syncing = False
        shown = {id(c) for c in current.values()}
        for control in self.widget.children:
            display = None if id(control) in shown else "none"
            if control.layout.display != display:
                control.layout.display = display

    def visible(self) -> list[w.Widget]:
        return [c for c in self.widget.children if c.layout.display != "none"]


class _OnFirstUse(dict):
    """A dict that builds a missing entry with ``build(key)`` (``KeyError`` if it cannot)."""

    def __init__(self, build: Callable[[str], Any]) -> None:
        super().__init__()
        self._build = build

    def __missing__(self, key: str) -> Any:
        value = self[key] = self._build(key)
        return value


def _values(control: w.Dropdown) -> list[Any]:
    return [o[1] if isinstance(o, tuple) else o for o in control.options]


class MethodToggles:
    """One toggle button per registered method, grouped by family, exactly one selected, linked
    to ``selection.method``. A button reads the method's label ("Grad-CAM++") and its tooltip
    the first sentence of its docstring. An (i) button beside each toggle opens the method's
    card (:func:`~xai_widgets.method_card`) in a panel below them; a second click closes it."""

    def __init__(self, selection: Selection) -> None:
        self.selection = selection
        self.buttons: dict[str, w.ToggleButton] = {}
        self.info: dict[str, w.Button] = {}
        self.card = w.HTML(layout=w.Layout(display="none", max_width="560px"))
        self.card.add_class("xw-method-card")
        self.card_shown = ""
        rows = []
        for family, family_label in FAMILIES.items():
            names = list_methods(family)
            if not names:
                continue
            row = []
            for name in names:
                button = w.ToggleButton(
                    value=name == selection.method,
                    description=get_method(name).label,
                    tooltip=_first_sentence(name),
                    layout=shared_layout(width="auto"),
                    style=shared_style(w.ToggleButton),
                    _dom_classes=(f"xw-method-{name}",),
                )
                button.observe(self._toggled(name), "value")
                self.buttons[name] = button
                row.append(self._with_info(name, button))
            label = w.HTML(
                f"<b>{family_label}</b>",
                layout=shared_layout(width="92px"),
                style=shared_style(w.HTML),
            )
            buttons = w.HBox(row, layout=shared_layout(flex_flow="row wrap"))
            rows.append(w.HBox([label, buttons], layout=shared_layout()))
        self.widget = w.VBox([*rows, self.card])
        selection.observe(lambda _c: self.select(selection.method), "method")

    def _with_info(self, name: str, button: w.ToggleButton) -> w.Widget:
        """The toggle with an (i) button beside it that opens the method's card (when the
        method has one: a method registered at run time may not)."""
        if not has_card(name):
            return button
        info = w.Button(
            description="i",
            tooltip=f"What {get_method(name).label} computes, where it misleads (method card)",
            layout=shared_layout(width="22px", padding="0", margin="2px 6px 2px 0"),
            style=shared_style(w.Button),
            _dom_classes=(f"xw-card-button-{name}",),
        )
        info.on_click(lambda _b: self.toggle_card(name))
        self.info[name] = info
        return w.HBox([button, info], layout=shared_layout())

    def toggle_card(self, name: str) -> None:
        """Show ``name``'s method card in the panel below the toggles, or close the panel when
        it already shows that card. The selected method does not change."""
        shown = "" if self.card_shown == name else name
        if shown:
            self.card.value = method_card(name)._repr_html_()
        self.card_shown = shown
        self.card.layout.display = None if shown else "none"
        for other, info in self.info.items():
            info.button_style = "info" if other == shown else ""

    def _toggled(self, name: str) -> Callable[[dict], None]:
        def handler(change: dict) -> None:
            if change["new"] and name != self.selection.method:
                self.selection.method = name
            elif not change["new"] and name == self.selection.method:
                self.buttons[name].value = True  # one method is always selected

        return handler

    def disable(self, reasons: dict[str, str]) -> None:
        """Disable the methods that cannot explain this model (name -> reason, shown on
        hover); every other method is enabled."""
        for name, button in self.buttons.items():
            reason = reasons.get(name, "")
            tooltip = f"Not available here: {reason}" if reason else _first_sentence(name)
            if button.disabled != bool(reason) or button.tooltip != tooltip:
                button.disabled, button.tooltip = bool(reason), tooltip

    def select(self, name: str) -> None:
        """Show ``name`` as the selected method."""
        for other, button in self.buttons.items():
            if button.value != (other == name):
                button.value = other == name


def _first_sentence(name: str) -> str:
    """The method's declared tip (a plain sentence), else its docstring's first sentence."""
    cls = get_method(name)
    if cls.tip:
        return cls.tip
    doc = " ".join((cls.__doc__ or name).split())
    return doc.split(". ")[0].rstrip(".:") + "."
