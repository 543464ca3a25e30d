"""The Z-scores tab driven from Python: bars equal ``zscores``, a class switch only redraws, a
bar click opens the channel in the Activations tab, dead inputs are said."""

from __future__ import annotations

import time

import numpy as np
import pytest

import xai_widgets as xw
from helpers import make_input, make_model
from xai_widgets.widgets import ActivationsView, ZScoresTab


@pytest.fixture
def explorer():
    data = make_input(n=40, size=32, seed=4)
    ex = xw.Explorer(make_model("resnet"), make_input(n=3, size=32), size=96, dataset=data)
    yield ex
    ex.close()


def test_bars_are_the_zscores_of_the_data_and_a_class_switch_only_redraws(explorer) -> None:
    tab = explorer.show_tab(ZScoresTab)
    assert explorer.wait(60) and tab.error.value == "", tab.error.value
    sel = explorer.selection
    expected = xw.zscores(sel.model, sel.dataset)
    np.testing.assert_allclose(tab.result.z.numpy(), expected.z.numpy(), rtol=1e-6)
    assert [b[0] for b in tab.bars] == [r.index for r in expected.top(tab.k.value, 0)]
    assert "inputs of <code>fc</code> over 40 samples" in tab.caption.value
    calls = []
    handle = sel.model.register_forward_pre_hook(lambda m, a: calls.append(1))
    try:
        started = time.perf_counter()
        tab.output.value = 2
        redraw_ms = (time.perf_counter() - started) * 1000
    finally:
        handle.remove()
    assert calls == [] and redraw_ms < 1000  # no forward: a redraw only
    assert [b[0] for b in tab.bars] == [r.index for r in expected.top(tab.k.value, 2)]
    assert "class 2" in tab.caption.value


def test_a_bar_click_opens_its_channel_in_the_activations_tab(explorer) -> None:
    tab = explorer.show_tab(ZScoresTab)
    assert explorer.wait(60)
    first = tab.bars[0][0]
    tab.chart.widget._canvases[-1]._handle_custom_msg(
        {"event": "mouse_down", "x": 50.0, "y": 100.0}, []
    )  # the first bar
    assert explorer.wait(60)
    view = explorer.view(ActivationsView)
    assert explorer.tabs.selected_index == explorer.views.index(view)
    assert view.channel == first and view.layer == "layer2"
    assert view.shown["channel"] == first


def test_dead_inputs_are_said() -> None:
    from torch import nn

    model = nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)
    ).eval()
    with __import__("torch").no_grad():
        model[0].bias[1] = -100.0  # channel 1 never fires: zero variance
    ex = xw.Explorer(model, make_input(n=4, size=16), size=64)
    tab = ex.show_tab(ZScoresTab)
    assert ex.wait(60) and tab.error.value == ""
    assert tab.result.dead == (1,) and "1 dead input(s)" in tab.caption.value
    assert all(b[0] != 1 for b in tab.bars)
    ex.close()
