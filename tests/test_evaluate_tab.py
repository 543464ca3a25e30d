"""The Evaluate tab driven from Python: curves beside the map with the random baseline, the
fill chosen in the tab, localisation on a data set with masks, the gallery table, the sanity
slider."""

from __future__ import annotations

import pytest
import torch

import xai_widgets as xw
from helpers import make_input, make_model
from xai_widgets import evaluate as ev
from xai_widgets.widgets.evaluate_tab import EvaluateTab


@pytest.fixture
def explorer():
    masks = [torch.zeros(32, 32, dtype=torch.bool) for _ in range(4)]
    for m in masks:
        m[8:20, 8:20] = True
    ex = xw.Explorer(make_model("resnet"), make_input(n=4, size=32), size=96, masks=masks)
    yield ex
    ex.close()


def test_curves_follow_the_method_and_equal_the_functions(explorer) -> None:
    tab = explorer.show_tab(EvaluateTab)
    assert explorer.wait(60) and tab.error.value == "", tab.error.value
    assert set(tab.curves) == {"method morf", "method lerf", "random morf", "random lerf"}
    sel = explorer.selection
    session = sel.session()
    heat = xw.explain(sel.model, session.x, "grad_cam").heatmap
    fresh = ev.region_perturbation(
        sel.model, session.x, heat, target=tab.curves["method morf"].target, steps=16
    )
    torch.testing.assert_close(tab.curves["method morf"].scores, fresh.scores)
    assert "AOPC" in tab.summary.value and "pointing game" in tab.summary.value
    assert tab.plot.value[:4] == b"\x89PNG"
    before = dict(tab.curves)
    sel.method = "saliency"  # the curves follow the method
    assert explorer.wait(60)
    assert "Saliency" in tab.status.value and tab.method.value == "saliency"
    assert not torch.equal(tab.curves["method morf"].scores, before["method morf"].scores)
    # the random baseline does not depend on the method: reused, not recomputed
    assert tab.curves["random morf"] is before["random morf"]
    noise = ev.random_heatmap(session.x, 0)
    target = before["random morf"].target
    again = ev.region_perturbation(sel.model, session.x, noise, target=target, steps=16)
    torch.testing.assert_close(tab.curves["random morf"].scores, again.scores)
    tab.method.value = "input_x_gradient"  # and the tab's own picker sets it
    assert explorer.wait(60)
    assert sel.method == "input_x_gradient" and "Gradient" in tab.status.value


def test_the_fill_and_the_kind_are_chosen_in_the_tab(explorer) -> None:
    tab = explorer.show_tab(EvaluateTab)
    assert explorer.wait(60)
    tab.fill.value = "blur"
    assert explorer.wait(60) and tab.curves["method morf"].settings["fill"] == "blur"
    tab.kind.value = "pixel"
    assert explorer.wait(60)
    assert set(tab.curves) == {
        "method deletion",
        "method insertion",
        "random deletion",
        "random insertion",
    }
    assert "Deletion AUC" in tab.summary.value


def test_the_gallery_table_and_the_sanity_slider(explorer) -> None:
    tab = explorer.show_tab(EvaluateTab)
    tab.run_gallery(["saliency", "grad_cam"])
    assert explorer.wait(120) and tab.error.value == "", tab.error.value
    assert tab.table is not None and "random" in tab.table_html.value
    methods = {row["method"] for row in tab.table.rows}
    assert {"saliency", "grad_cam", "random"} <= methods
    assert tab.sanity_pictures.layout.display == "none"  # no broken-picture icons before
    tab.run_sanity()
    assert explorer.wait(120) and tab.sanity is not None
    assert tab.sanity_pictures.layout.display == "flex" and tab.sanity_plot.value[:4] == b"\x89PNG"
    assert tab.top_k.max == len(tab.sanity.layers)
    tab.top_k.value = tab.top_k.max
    assert "rank correlation" in tab.sanity_text.value
