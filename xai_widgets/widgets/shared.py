"""Layouts and styles shared by the controls that look alike.

In ipywidgets 8 a control is three widget models: itself, its ``Layout`` and its ``Style``,
each opened with its own kernel message and built as its own model in the browser. Built one
per control, they were two thirds of the Explorer's widgets (435 layouts and 206 styles of
1,021, published as about 1,500 messages in one burst when the cell runs). A layout or style
that many controls share is one model: ipywidgets lets views share them (``Button(layout=L)``
for several buttons is the documented way).

A shared object is frozen once built: setting one of its traits raises ``TypeError``, because
the change would show on every control that shares it. A control that shows, hides or resizes
itself keeps a layout of its own (``w.Layout(...)``).

Example::

    button = w.Button(layout=shared_layout(width="22px"), style=shared_style(w.Button))
    button.layout is shared_layout(width="22px")    # True: one model for all such buttons
"""

from __future__ import annotations

from typing import Any

import ipywidgets as w

__all__ = ["shared_layout", "shared_style"]


class _Frozen:
    """Refuses trait changes after construction (a shared object changes for all who share it)."""

    _frozen = False

    def __setattr__(self, name: str, value: Any) -> None:
        if self._frozen and name in self.keys:  # type: ignore[attr-defined]
            raise TypeError(
                f"this {type(self).__name__} is shared by several controls; give the control "
                f"its own (w.{type(self).__bases__[1].__name__}(...)) to change {name!r}"
            )
        super().__setattr__(name, value)


_CLASSES: dict[type, type] = {}
_CACHE: dict[tuple, w.Widget] = {}


def _frozen_class(base: type) -> type:
    cls = _CLASSES.get(base)
    if cls is None:
        cls = _CLASSES[base] = type(f"Shared{base.__name__}", (_Frozen, base), {})
    return cls


def _shared(base: type, traits: dict[str, Any]) -> w.Widget:
    key = (base, tuple(sorted(traits.items())))
    obj = _CACHE.get(key)
    if obj is None or obj.comm is None:  # closed (Widget.close_all): build a new one
        obj = _frozen_class(base)(**traits)
        obj._frozen = True
        _CACHE[key] = obj
    return obj


def shared_layout(**traits: Any) -> w.Layout:
    """The shared, frozen ``Layout`` with these traits (one per distinct set, per kernel)."""
    return _shared(w.Layout, traits)


def shared_style(control: type[w.DOMWidget], **traits: Any) -> w.Style:
    """The shared, frozen style of the class ``control`` uses (``SliderStyle`` for a slider,
    ``ButtonStyle`` for a button, ...) with these traits."""
    trait = control.class_traits().get("style")
    if trait is None:
        raise TypeError(f"{control.__name__} has no style; accepted: a control class such as "
                        "w.Button or w.IntSlider")  # fmt: skip
    return _shared(trait.klass, traits)
