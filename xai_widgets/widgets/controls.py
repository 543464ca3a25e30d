"""Controls derived from the methods' own parameter declarations (never declared twice).

``param_control(spec)`` turns a :class:`~xai_widgets.methods.ParamSpec` into an ipywidgets
control: a slider when the declared range is small enough to slide through, a bounded text
box otherwise; a ``layer`` parameter becomes a dropdown of the spatial layers with their shapes.
Every control carries the CSS class ``xw-param-<name>``.

Example::

    controls = {s.name: param_control(s) for s in method_params("occlusion")}
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import ipywidgets as w

from ..methods.registry import FAMILIES, ParamSpec, list_methods, method_params

__all__ = ["FAMILY_LABELS", "MethodToggles", "layer_options", "param_control"]

FAMILY_LABELS = FAMILIES
_SLIDER_SPAN = 5000
_STYLE = {"description_width": "72px"}


def layer_options(layers: Sequence[tuple[str, tuple[int, ...]]]) -> list[tuple[str, str]]:
    """Dropdown options: ('name  C x h x w', name), the default ('' = the last spatial layer,
    named) first."""
    last = f": {layers[-1][0]}" if layers else ""
    options = [(f"(last spatial layer{last})", "")]
    for name, shape in layers:
        options.append((f"{name}  {' x '.join(map(str, shape[1:]))}", name))
    return options


def param_control(spec: ParamSpec, image_side: int | None = None) -> w.Widget:
    """A control for one declared parameter; ``image_side`` caps parameters whose range is
    bounded by the image (declared with ``image_bound``)."""
    common = {"description": spec.name, "style": _STYLE, "tooltip": spec.help}
    if spec.kind == "layer":
        control = w.Dropdown(options=[("(last spatial layer)", "")], value="", **common)
    else:
        lo = spec.min if spec.min is not None else -1e9
        hi = spec.max if spec.max is not None else 1e9
        if spec.image_bound and image_side is not None:
            hi = min(hi, image_side)
        value = min(max(spec.default, lo), hi)
        integer = spec.type is int
        if hi - lo <= _SLIDER_SPAN:
            cls = w.IntSlider if integer else w.FloatSlider
            step = spec.step or (1 if integer else (hi - lo) / 100)
            control = cls(value=value, min=lo, max=hi, step=step, continuous_update=True, **common)
        else:
            cls = w.BoundedIntText if integer else w.BoundedFloatText
            control = cls(value=value, min=lo, max=hi, step=spec.step or 1, **common)
    control.add_class(f"xw-param-{spec.name}")
    control.layout = w.Layout(width="300px")
    return control


class MethodToggles:
    """One toggle button per registered method, grouped by family, exactly one selected.

    Each button carries the CSS class ``xw-method-<name>``; ``on_select(name)`` is called when
    the user picks another method.
    """

    def __init__(self, selected: str, on_select: Callable[[str], None]) -> None:
        self.buttons: dict[str, w.ToggleButton] = {}
        self.on_select = on_select
        rows = []
        for family in FAMILIES:
            names = list_methods(family)
            if not names:
                continue
            row = []
            for name in names:
                button = w.ToggleButton(
                    value=name == selected,
                    description=name,
                    tooltip=_first_line(name),
                    layout=w.Layout(width="auto"),
                )
                button.add_class(f"xw-method-{name}")
                button.observe(self._toggled(name), "value")
                self.buttons[name] = button
                row.append(button)
            label = w.HTML(f"<b>{FAMILY_LABELS[family]}</b>", layout=w.Layout(width="92px"))
            rows.append(w.HBox([label, w.HBox(row, layout=w.Layout(flex_flow="row wrap"))]))
        self.widget = w.VBox(rows)
        self._selected = selected

    def _toggled(self, name: str) -> Callable[[dict], None]:
        def handler(change: dict) -> None:
            if change["new"] and name != self._selected:
                self.select(name)
                self.on_select(name)
            elif not change["new"] and name == self._selected:
                self.buttons[name].value = True  # one method is always selected

        return handler

    def select(self, name: str) -> None:
        """Show ``name`` as the selected method (without calling ``on_select``)."""
        self._selected = name
        for other, button in self.buttons.items():
            if button.value != (other == name):
                button.value = other == name


def _first_line(name: str) -> str:
    from ..methods.registry import get_method

    doc = (get_method(name).__doc__ or name).strip().splitlines()[0]
    return doc.rstrip(":")


def method_controls(name: str, image_side: int | None) -> dict[str, w.Widget]:
    """Controls for each declared parameter of ``name``."""
    return {spec.name: param_control(spec, image_side) for spec in method_params(name)}
