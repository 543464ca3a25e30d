"""How many widget models the Explorer opens at once, and the shared layouts and styles that
keep the number down.

Every widget model is one kernel message when the cell runs and one model the browser builds;
the Explorer opened 1,021 of them (about 1,500 messages in one burst, past ZMQ's default
queue of 1,000 per socket). Shared styles and layouts, controls built when their method is
first selected and CSS classes given in the constructor bring it to 658 models and under
900 messages."""

from __future__ import annotations

import ipywidgets as w
import pytest
from ipywidgets.widgets.widget import _instances

import xai_widgets as xw
from xai_widgets.methods.registry import list_methods
from xai_widgets.widgets.shared import shared_layout, shared_style


def test_shared_styles_and_layouts_are_one_model_per_look() -> None:
    a = w.Button(layout=shared_layout(width="22px"), style=shared_style(w.Button))
    b = w.Button(layout=shared_layout(width="22px"), style=shared_style(w.Button))
    assert a.layout is b.layout and a.style is b.style
    assert shared_layout(width="23px") is not a.layout
    slider = w.IntSlider(style=shared_style(w.IntSlider, description_width="72px"))
    assert isinstance(slider.style, w.SliderStyle) and slider.style.description_width == "72px"
    assert slider.style is not shared_style(w.IntSlider, description_width="90px")
    state = a.get_state()
    assert state["layout"] == f"IPY_MODEL_{a.layout.model_id}"
    assert a.layout.get_state()["_model_name"] == "LayoutModel"  # the browser sees a Layout


def test_a_shared_layout_refuses_a_change_that_would_show_everywhere() -> None:
    button = w.Button(layout=shared_layout(width="22px"))
    with pytest.raises(TypeError, match=r"shared by several controls.*own.*'display'"):
        button.layout.display = "none"
    assert button.layout.display is None
    with pytest.raises(TypeError, match=r"Button or w\.IntSlider"):
        shared_style(w.Box)


def test_a_closed_shared_layout_is_built_again() -> None:
    first = shared_layout(width="17px")
    first.close()
    again = shared_layout(width="17px")
    assert again is not first and again.comm is not None


def _opened(build) -> tuple[object, int]:
    before = len(_instances)
    obj = build()
    return obj, len(_instances) - before


def test_the_explorer_opens_few_widget_models() -> None:
    explorer, opened = _opened(lambda: xw.Explorer.from_zoo("shapes", n=8, data_size=0))
    try:
        assert opened <= 700, f"the Explorer opened {opened} widget models (was 1,021)"
        controls = explorer.explain_tab.controls
        method = explorer.selection.method
        assert set(controls.controls) == {method}  # only the shown method's controls exist
        occlusion = controls.controls["occlusion"]  # built on first use, hidden
        assert occlusion["patch"] in controls.widget.children
        assert occlusion["patch"].layout.display == "none"
        explorer.selection.method = "occlusion"
        assert occlusion["patch"].layout.display is None
        assert {c._dom_classes[0] for c in controls.visible()} >= {"xw-param-patch"}
        with pytest.raises(KeyError):
            controls.controls["no_such_method"]
        assert len(controls.controls) == 2 < len(list_methods())
    finally:
        explorer.close()
