"""The Explorer on a per-pixel, two-input model (issue 14): the prediction map beside the
picture, a region chosen by drag or click, every applicable method on the region's mean, the
explained input named in the status, probes that report the region's mean."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from traitlets import TraitError

import xai_widgets as xw
from xai_widgets.widgets.explain_tab import ExplainTab
from xai_widgets.widgets.zscores_tab import ZScoresTab

FAST = {
    "occlusion": {"patch": 32, "stride": 32}, "area_occlusion": {"n_segments": 16},
    "rise": {"masks": 64}, "lime": {"samples": 32}, "kernel_shap": {"samples": 32},
    "integrated_gradients": {"steps": 8}, "smoothgrad": {"samples": 4},
}  # fmt: skip


@pytest.fixture(scope="module")
def explorer():
    ex = xw.Explorer.from_zoo("fusion_small", n=2, size=256)
    assert ex.wait(120)
    yield ex
    ex.close()


def test_the_tabs_for_scenes_and_the_status_names_the_explained_input(explorer) -> None:
    assert [type(v) for v in explorer.views] == [ExplainTab, ZScoresTab]
    status = explorer.explain_tab.status.value
    assert "explaining sar; mwr held at this scene" in status
    assert "mean over the region" in status


def test_the_prediction_map_is_shown_and_top_classes_are_region_means(explorer) -> None:
    tab, sel = explorer.explain_tab, explorer.selection
    sel.region = None
    assert explorer.wait(60)
    assert tab.prediction.panel.layout.display is None
    state = tab.prediction.state()
    assert state == {"cls": 0, "region": (0, 0, 128, 128), "shown": True}
    session = sel.session()
    assert session.maps is not None
    mean = float(session.maps[0].mean())
    assert tab.top.buttons[0].description.startswith("ice")
    assert f"{mean:.3f}" in tab.prediction.caption.value
    assert "(dark purple 0 → yellow 1)" in tab.prediction.caption.value  # the colours' legend
    picture = tab.prediction.picture()
    assert picture is not None and picture.shape == (160, 160, 3)


def test_a_drag_sets_the_region_and_the_map_follows(explorer) -> None:
    tab, sel = explorer.explain_tab, explorer.selection
    sel.method = "saliency"
    assert explorer.wait(60)
    whole = explorer.explanation.heatmap.clone()
    scale = tab.prediction.scale  # 160 / 128
    tab.prediction._down(10 * scale, 20 * scale)  # the mouse, in canvas pixels (x, y)
    tab.prediction._up(50 * scale, 60 * scale)
    assert sel.region == (20, 10, 61, 51)
    assert explorer.wait(60)
    e = explorer.explanation
    assert e is not None and not torch.equal(e.heatmap, whole)
    assert "x 10..50, y 20..60" in tab.prediction.caption.value
    session = sel.session()
    region_mean = float(session.maps[0, 20:61, 10:51].mean())
    assert session.top(1)[0][1] == pytest.approx(region_mean, abs=1e-6)
    assert e.scores is not None
    assert float(e.scores[0]) == pytest.approx(region_mean, abs=1e-5)  # sigmoid output


def test_a_click_takes_a_square_and_whole_map_resets(explorer) -> None:
    tab, sel = explorer.explain_tab, explorer.selection
    scale = tab.prediction.scale
    tab.prediction._down(64 * scale, 64 * scale)
    tab.prediction._up(64 * scale + 1, 64 * scale)
    assert sel.region == (56, 56, 73, 73)  # 8 px around (64, 64): H / 16 on each side
    tab.prediction.panel.children[2].click()  # "whole map"
    assert sel.region is None
    assert explorer.wait(60)


def test_every_applicable_method_gives_a_map_of_the_region(explorer) -> None:
    tab, sel = explorer.explain_tab, explorer.selection
    sel.region = (32, 32, 96, 96)
    assert explorer.wait(60)
    assert set(tab.unavailable) == {"cam", "lrp", "sg_lrp", "attention", "attention_rollout"}
    assert "Zennit" in tab.unavailable["lrp"] and tab.toggles.buttons["lrp"].disabled
    for method in xw.list_methods():
        if method in tab.unavailable:
            continue
        sel.method = method
        if method in FAST:
            sel.params = FAST[method]
        assert explorer.wait(300), method
        assert tab.error.value == "", (method, tab.error.value)
        e = explorer.explanation
        assert e is not None and e.method == method
        assert e.heatmap.shape == (1, 128, 128) and bool(torch.isfinite(e.heatmap).all())
        assert "explaining sar" in tab.status.value


def test_a_probe_reports_the_region_mean(explorer) -> None:
    tab, sel = explorer.explain_tab, explorer.selection
    sel.method = "grad_cam"
    sel.region = (32, 32, 96, 96)
    assert explorer.wait(60)
    explorer.probe(128, 128)  # the main canvas's centre: inside the region
    assert explorer.wait(60)
    text = tab.probes.label.value
    assert "mean P(<i>ice</i>) over the explained region" in text, text
    assert "logit" not in text


def test_a_bad_region_is_refused_with_its_reason_and_the_view_keeps_working(explorer) -> None:
    sel = explorer.selection
    with pytest.raises(TraitError, match="not inside the 128 x 128 map"):
        sel.region = (0, 0, 200, 10)
    with pytest.raises(TraitError, match="four integers"):
        sel.region = (0.5, 0, 10, 10)
    sel.region = (0, 0, 16, 16)
    assert explorer.wait(60)
    assert explorer.explain_tab.error.value == ""


def test_a_classifier_hides_the_prediction_map() -> None:
    ex = xw.Explorer.from_zoo("shapes", n=2, data_size=0, size=128)
    assert ex.wait(60)
    assert ex.explain_tab.prediction.panel.layout.display == "none"
    with pytest.raises(ValueError, match="scenes are fixed"):
        xw.Explorer.from_zoo("fusion_small", n=1).selection.add_picture(np.zeros((8, 8, 3)))
    with pytest.raises(TypeError, match="dataset of a multi-input model must be columns"):
        xw.Explorer.from_zoo("fusion_small", n=1, dataset=3)
    with pytest.raises(ValueError, match=r"explain_input must be an input index in 0\.\.1"):
        xw.Explorer.from_zoo("fusion_small", n=1, explain_input=2)
    with pytest.raises(ValueError, match=r"explain_input=1 \('mwr'\) has shape \(14, 8, 8\)"):
        xw.Explorer.from_zoo("fusion_small", n=1, explain_input=1)
    ex.close()


def test_the_z_scores_tab_reads_the_mixing_layer_over_the_scenes(explorer) -> None:
    """The fusion model's 1x1 mixing layer: 84 inputs in six named groups, statistics over
    the 64 held-out scenes ``from_zoo`` passes as dataset columns (SAR, MWR, labels)."""
    tab = explorer.show_tab(ZScoresTab)
    assert explorer.wait(300)
    assert tab.error.value == ""
    result = tab.result
    assert result is not None and result.z.shape == (1, 84) and result.samples == 64
    assert list(result.groups) == ["Scale-0", "Scale-2", "Scale-4", "Scale-8", "Scale-16", "MWR"]
    assert "MWR" in tab.groups.value and "over 64 samples" in tab.caption.value
    tab.open_channel(3)
    assert "needs a one-input model" in tab.status.value
    explorer.show_tab(ExplainTab)


class _TwoCameras(torch.nn.Module):
    """A classifier of an RGB picture and a depth map (two inputs)."""

    def __init__(self) -> None:
        super().__init__()
        self.rgb = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.depth = torch.nn.Conv2d(1, 4, 3, padding=1)
        self.head = torch.nn.Linear(4, 3)

    def forward(self, rgb: torch.Tensor, depth: torch.Tensor) -> torch.Tensor:
        features = torch.relu(self.rgb(rgb) + self.depth(depth))
        return self.head(features.mean((2, 3)))


def test_a_two_input_classifier_is_explained_through_its_second_input() -> None:
    torch.manual_seed(0)
    model = _TwoCameras()
    scenes = [(torch.rand(3, 32, 32), torch.rand(1, 32, 32)) for _ in range(2)]
    ex = xw.Explorer(model, scenes, explain_input=1, tabs=[ExplainTab], size=128)
    assert ex.wait(60)
    tab = ex.explain_tab
    assert "explaining depth; rgb held at this scene" in tab.status.value
    assert tab.prediction.panel.layout.display == "none"  # a classifier: no prediction map
    ex.selection.method = "saliency"
    assert ex.wait(60)
    x = scenes[0][1][None].clone().requires_grad_(True)
    cls = int(model(scenes[0][0][None], x).argmax())
    model(scenes[0][0][None], x)[0, cls].backward()
    e = ex.explanation
    assert e is not None and e.target == [cls]
    torch.testing.assert_close(e.heatmap[0], x.grad[0].abs().amax(0), rtol=1e-4, atol=1e-7)
    ex.close()


def test_a_coarse_output_map_is_refused_in_the_view_with_its_sizes() -> None:
    class Coarse(torch.nn.Module):  # scores at 1/4 of the input's size
        def __init__(self) -> None:
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 2, 4, stride=4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(x)

    ex = xw.Explorer(Coarse(), torch.rand(2, 3, 32, 32), tabs=[ExplainTab], size=128)
    assert ex.wait(60)
    error = ex.explain_tab.error.value
    assert "output map is (8, 8) for an input of (32, 32)" in error, error
    ex.selection.index = 1  # the view keeps working: the next picture gives the same message
    assert ex.wait(60) and "output map is (8, 8)" in ex.explain_tab.error.value
    ex.close()


def test_a_torchvision_segmentation_model_needs_no_output_argument() -> None:
    """torchvision's segmentation models return {"out": (N, K, H, W), "aux": ...}: "out" is
    read without output=, the default layer stops before the class-score head, and LRP (which
    read output= twice before) explains the region."""
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    model = torchvision.models.segmentation.fcn_resnet50(
        weights=None, weights_backbone=None, num_classes=3, aux_loss=True
    ).eval()
    ex = xw.Explorer(model, torch.rand(1, 3, 64, 64), tabs=[ExplainTab], size=128)
    assert ex.wait(120)
    tab = ex.explain_tab
    assert tab.error.value == "", tab.error.value
    assert "layer <code>classifier.2</code>" in tab.status.value  # the ReLU before the head
    assert tab.prediction.state()["shown"]
    ex.selection.region = (8, 8, 40, 40)
    ex.selection.method = "lrp"
    assert ex.wait(120)
    assert tab.error.value == "" and ex.explanation is not None
    assert ex.explanation.method == "lrp" and bool(torch.isfinite(ex.explanation.heatmap).all())
    ex.close()


def test_tabs_for_classifiers_say_so_on_a_per_pixel_model() -> None:
    from xai_widgets.widgets.concepts_tab import ConceptsTab
    from xai_widgets.widgets.evaluate_tab import EvaluateTab

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(8, 3, 1)
    ).eval()
    ex = xw.Explorer(model, torch.rand(2, 3, 32, 32), tabs=[ExplainTab, EvaluateTab, ConceptsTab])
    assert ex.wait(60)
    for cls in (EvaluateTab, ConceptsTab):
        view = ex.show_tab(cls)
        assert ex.wait(120)
        assert f"the {view.title} tab needs a classifier" in view.error.value, view.error.value
        assert "3 classes on a 32 x 32 map" in view.error.value
    ex.show_tab(ExplainTab)
    ex.selection.method = "saliency"
    assert ex.wait(60) and ex.explain_tab.error.value == ""
    ex.close()
