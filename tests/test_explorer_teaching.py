"""What a student sees is true: the stride never passes the patch, photos are fitted to the
model while the canvas shows the photo, long work states its cost first, large pictures get a
note. (Issue 9's widget behaviours, driven from Python.)"""

from __future__ import annotations

import html

import numpy as np
import pytest
import torch

import xai_widgets as xw
from helpers import make_input, make_model


@pytest.fixture
def explorer():
    ex = xw.Explorer(make_model("resnet"), make_input(n=2, size=32), size=128)
    assert ex.wait()
    yield ex
    ex.close()


def test_the_stride_never_exceeds_the_patch(explorer) -> None:
    sel, tab = explorer.selection, explorer.explain_tab
    sel.method = "occlusion"
    stride = tab.controls.controls["occlusion"]["stride"]
    assert stride.max == 16 == sel.params["patch"]
    sel.params = {"patch": 4}  # a smaller patch pulls the stride down with it
    assert sel.params["stride"] == 4 and stride.max == 4 and stride.value == 4
    tab.controls.controls["occlusion"]["patch"].value = 12  # as a drag does
    assert stride.max == 12
    assert sel.params == {"patch": 12, "stride": 4, "baseline": 0.0, "approximate": False}
    assert explorer.wait() and explorer.explanation.params["stride"] <= 12
    with pytest.raises(ValueError, match=r"'stride' must be <= patch \(4\)"):
        xw.explain(sel.model, make_input(n=1), "occlusion", patch=4, stride=8)


def test_long_work_shows_its_cost_first(explorer) -> None:
    sel, tab = explorer.selection, explorer.explain_tab
    statuses = []
    tab.status.observe(lambda c: statuses.append(c["new"]), "value")
    sel.method = "occlusion"
    sel.params = {"patch": 4, "stride": 1}
    assert explorer.wait()
    costs = [s for s in statuses if "data-cost" in s]
    assert costs, statuses
    assert "842 forward passes" in costs[-1] and " s (estimated" in costs[-1]  # 29 x 29 + 1
    assert statuses.index(costs[-1]) < len(statuses) - 1  # before the map, not instead of it


def test_photos_are_fitted_to_the_model_and_shown_as_photos() -> None:
    model = make_model("resnet")
    photo = (np.random.default_rng(0).random((300, 400, 3)) * 255).astype(np.uint8)
    photo[:, :50] = 0  # a dark band the centre crop cuts away
    ex = xw.Explorer(model, [photo], input_size=32, size=128)
    pic = ex.selection.pictures[0]
    assert tuple(pic.input.shape) == (3, 32, 32)
    assert pic.display.shape == (300, 300, 3)  # the photo's own pixels, cropped like the input
    assert pic.display[:, :10].mean() > 60  # the band at the left edge was cropped away
    small = torch.nn.functional.interpolate(
        torch.from_numpy(pic.display).permute(2, 0, 1)[None].float() / 255, size=(32, 32),
        mode="bilinear", antialias=True, align_corners=False,
    )[0]  # fmt: skip
    assert (small - pic.input).abs().mean() < 0.02
    assert ex.notes.value == ""
    assert ex.wait() and ex.explanation is not None
    ex.close()


def test_a_large_picture_without_a_size_gets_a_note() -> None:
    big = torch.rand(3, 600, 600)
    ex = xw.Explorer(make_model("resnet"), [big], size=128)
    assert "input_size=224" in ex.notes.value and "600 px" in ex.notes.value
    ex.close()
    with pytest.raises(ValueError, match="input_size must be"):
        xw.Explorer(make_model("resnet"), [big], input_size=-3)


def test_every_map_says_what_its_colours_mean(explorer) -> None:
    sel, tab = explorer.selection, explorer.explain_tab
    meaning = tab.overlay.colour_bar.meaning
    assert "brighter = more important for" in meaning.value  # Grad-CAM: non-negative
    sel.method = "saliency"
    assert explorer.wait()
    assert "red supports" not in meaning.value and "brighter" in meaning.value
    sel.method = "integrated_gradients"
    assert explorer.wait()
    name = sel.class_name(explorer.explanation.target[0])
    assert html.escape(xw.render.legend("signed", name)) == meaning.value
    assert "red supports" in meaning.value and "blue speaks against it" in meaning.value


def test_a_flat_map_is_said_in_words_never_stretched() -> None:
    model = make_model("resnet")
    with torch.no_grad():
        model.fc.weight[3] = -model.fc.weight[3].abs() - 0.1  # no positive evidence for class 3
    ex = xw.Explorer(model, make_input(n=1, size=32), size=128)
    ex.selection.target = 3
    assert ex.wait()
    tab = ex.explain_tab
    assert float(np.abs(tab.heat).max()) == 0  # Grad-CAM is zero everywhere for class 3
    text = tab.overlay.colour_bar.meaning.value
    assert "Grad-CAM found no positive evidence for class 3 at layer" in text
    assert tab.canvas.heatmap is None  # nothing painted as if it were a finding
    ex.selection.target = None
    assert ex.wait() and tab.canvas.heatmap is not None
    ex.close()


def test_a_method_that_cannot_explain_the_model_is_disabled_with_its_reason(monkeypatch) -> None:
    cam = xw.methods.get_method("cam")
    monkeypatch.setattr(cam, "unavailable", lambda self, model, x, cache: "needs a GAP head")
    ex = xw.Explorer(make_model("vgg"), make_input(n=2), size=128)
    assert ex.wait()
    tab = ex.explain_tab
    button = tab.toggles.buttons["cam"]
    assert button.disabled and button.tooltip == "Not available here: needs a GAP head"
    assert not tab.toggles.buttons["grad_cam"].disabled
    ex.compare(["cam", "saliency"])
    assert ex.wait()
    assert "skipped: needs a GAP head" in tab.compare.tiles["cam"][1].value
    assert "ms" in tab.compare.tiles["saliency"][1].value
    ex.close()
