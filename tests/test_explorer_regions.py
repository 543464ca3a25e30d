"""Region methods in the Explorer: the boundaries toggle and click-to-occlude a region."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import xai_widgets as xw
from helpers import make_input, make_model
from xai_widgets.methods.segments import segment
from xai_widgets.widgets.canvas import Encoded
from xai_widgets.widgets.regions import LINE, boundaries


def mouse(canvas, event: str, x: float, y: float) -> None:
    canvas._handle_custom_msg({"event": event, "x": float(x), "y": float(y)}, [])


@pytest.fixture
def explorer():
    ex = xw.Explorer(make_model("resnet"), make_input(n=2, size=32, seed=3), size=160)
    assert ex.wait()
    ex.selection.method = "area_occlusion"
    ex.set_param("segments", "grid")
    ex.set_param("n_segments", 16)  # a 4 x 4 grid of 8 x 8 px regions
    assert ex.wait(60)
    yield ex
    ex.close()


def test_boundaries_are_the_methods_own_regions(explorer) -> None:
    tab = explorer.explain_tab
    toggle = tab.regions.toggle
    assert toggle.layout.display is None  # offered for a region method
    assert tab.canvas.regions is None  # off by default
    toggle.value = True
    assert explorer.wait()
    drawn = tab.canvas.regions
    assert isinstance(drawn, Encoded)
    labels = segment(explorer.selection.session(0).x, "grid", 16)[0].numpy()
    expected = boundaries(labels, (160, 160))
    assert np.array_equal(drawn.array, expected)
    lines = (drawn.array[..., 3] > 0).mean()
    assert 0.02 < lines < 0.2, lines  # three lines each way on a 160 px canvas
    # on screen: the line colour where a border runs (x = 40 canvas px between grid columns)
    composite = tab.canvas.composite()
    assert np.abs(composite[10, 39].astype(int) - LINE[:3]).max() < 40
    # another setting, other regions; a method without regions hides the toggle and the lines
    explorer.set_param("n_segments", 4)
    assert explorer.wait()
    assert (tab.canvas.regions.array[..., 3] > 0).mean() < lines
    explorer.selection.method = "grad_cam"
    assert explorer.wait()
    assert toggle.layout.display == "none" and tab.canvas.regions is None


def test_a_click_occludes_the_clicked_region(explorer) -> None:
    sel, tab = explorer.selection, explorer.explain_tab
    mouse(tab.canvas.widget, "mouse_move", 100, 60)
    assert tab.canvas.pointer is None  # no square outline while regions are probed
    mouse(tab.canvas.widget, "mouse_down", 100, 60)  # model pixel (x, y) = (20, 12)
    assert explorer.wait()
    session = sel.session(0)
    probe = session.probe_map()
    assert probe is not None
    region = torch.zeros(32, 32, dtype=torch.bool)
    region[8:16, 16:24] = True  # the grid cell holding (x, y) = (20, 12)
    touched = session.probe_count > 0
    assert torch.equal(touched, region)
    text = tab.probes.label.value
    assert "region of 64 px" in text and "(16, 8) to (23, 15)" in text, text
    patch = tab.canvas.patch
    assert isinstance(patch, Encoded) and patch.array.shape == (32, 32, 4)
    assert np.array_equal(patch.array[..., 3] > 0, region.numpy())
    # the drop is the same forward as occluding that region by hand
    x = session.x.clone()
    x[..., region] = 0.0
    with torch.no_grad():
        logit = sel.model(x)[0, session.predicted].item()
    expected = session.fwd.output[0, session.predicted].item() - logit
    assert abs(float(probe[12, 20]) - expected) < 1e-5
    # a square again once a non-region method is shown
    sel.method = "saliency"
    assert explorer.wait()
    mouse(tab.canvas.widget, "mouse_move", 100, 60)
    assert tab.canvas.pointer is not None


def test_a_probed_region_must_be_a_boolean_mask_of_the_picture(explorer) -> None:
    session = explorer.selection.session(0)
    with pytest.raises(ValueError, match="boolean"):
        session.probe(torch.zeros(8, 8, dtype=torch.bool), 0.0, None)
    with pytest.raises(ValueError, match="at least one pixel"):
        session.probe(torch.zeros(32, 32, dtype=torch.bool), 0.0, None)
