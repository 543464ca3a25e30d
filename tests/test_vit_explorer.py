"""The Explorer on a vision transformer (issue 12): the layer picker lists encoder blocks, the
attention methods draw, a bad head is shown as an error and the next input works; on a CNN the
attention methods are disabled with their reason."""

from __future__ import annotations

import html

import pytest
import torch
from vit_helpers import make_vit

import xai_widgets as xw
from helpers import make_input, make_model

BLOCKS = [f"encoder.layers.encoder_layer_{i}" for i in range(3)]


@pytest.fixture
def explorer():
    images = torch.rand(3, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    ex = xw.Explorer(make_vit(), list(images), classes=list("abcd"), size=128)
    assert ex.wait(60)
    yield ex
    ex.close()


def test_layer_picker_lists_encoder_blocks_and_the_default(explorer) -> None:
    tab = explorer.explain_tab
    values = [v for _, v in tab.layer_picker.options]
    assert values[0] == "" and "conv_proj" in values
    assert [v for v in values if v.startswith("encoder")] == BLOCKS  # not every norm and MLP
    assert "encoder.layers.encoder_layer_2.ln_1" in tab.layer_picker.options[0][0]
    assert explorer.explanation.method == "grad_cam"
    assert explorer.explanation.heatmap.abs().max() > 0
    assert tab.error.value == ""


def test_attention_methods_draw_and_a_bad_head_is_an_error_then_work(explorer) -> None:
    sel, tab = explorer.selection, explorer.explain_tab
    assert "attention" not in tab.unavailable
    sel.method = "attention"
    assert explorer.wait(60) and tab.error.value == "", tab.error.value
    assert explorer.explanation.method == "attention"
    assert explorer.explanation.params["layer"] == BLOCKS[-1]
    sel.layer = BLOCKS[0]
    assert explorer.wait(60) and explorer.explanation.params["layer"] == BLOCKS[0]
    explorer.set_param("head", "5")  # the model has 2 heads
    assert explorer.wait(60)
    error = html.unescape(tab.error.value)
    assert "parameter 'head'" in error and "0 to 1" in error
    explorer.set_param("head", "1")
    assert explorer.wait(60) and tab.error.value == ""
    assert explorer.explanation.params["head"] == "1"
    sel.method = "attention_rollout"
    assert explorer.wait(60) and tab.error.value == ""
    assert explorer.explanation.method == "attention_rollout"


def test_attention_is_disabled_on_a_cnn_with_its_reason() -> None:
    ex = xw.Explorer(make_model("vgg"), make_input(n=2), size=128)
    assert ex.wait(60)
    tab = ex.explain_tab
    for name in ("attention", "attention_rollout"):
        assert "no attention module" in tab.unavailable[name]
        assert tab.toggles.buttons[name].disabled
    ex.close()


def test_heads_grid_shows_every_head_and_a_click_picks_it(explorer) -> None:
    sel, tab = explorer.selection, explorer.explain_tab
    assert tab.heads.widget.layout.display == "none"  # Grad-CAM: no heads
    sel.method = "attention"
    assert explorer.wait(60)
    assert tab.heads.widget.layout.display is None and len(tab.heads.buttons) == 2
    assert tab.heads.maps is not None and tab.heads.maps.shape == (2, 4, 4)
    assert all(image.value[:4] == b"\x89PNG" for image in tab.heads.images)
    tab.heads.buttons[1].click()
    assert explorer.wait(60) and sel.params["head"] == "1"
    assert explorer.explanation.params["head"] == "1" and tab.error.value == ""
    single = explorer.explanation.attribution[0].numpy()
    assert abs(single - tab.heads.maps[1]).max() < 1e-5


def test_every_method_draws_or_is_disabled_with_its_reason(explorer) -> None:
    sel, tab = explorer.selection, explorer.explain_tab
    assert {"cam", "lrp", "sg_lrp"} <= set(tab.unavailable)
    assert "LayerNorm" in tab.unavailable["lrp"]
    for method in ("attention", "attention_rollout", "grad_cam_pp", "saliency"):
        sel.method = method
        assert explorer.wait(60) and tab.error.value == "", (method, tab.error.value)


def test_the_head_picker_offers_exactly_the_models_heads(explorer) -> None:
    picker = explorer.explain_tab.controls.controls["attention"]["head"]
    assert list(picker.options) == ["mean", "max", "min", "0", "1"]  # make_vit: 2 heads
    cnn = xw.Explorer(make_model("vgg"), make_input(n=2), size=128)
    assert cnn.wait(60)
    assert list(cnn.explain_tab.controls.controls["attention"]["head"].options) == [
        "mean", "max", "min"
    ]  # fmt: skip
    cnn.close()


def test_activations_and_filters_tabs_on_a_token_layer(explorer) -> None:
    """An encoder block's tokens are shown as their patch grid (D maps of h x w); the Filters
    tab shows the convolutional stem and says the blocks have no convolution filters."""
    from xai_widgets import features as xf
    from xai_widgets.widgets.views import ActivationsView, FiltersView

    sel = explorer.selection
    x = sel.session().x
    maps = xf.post_activation(sel.model, x, BLOCKS[1]).maps
    with torch.no_grad():
        tokens = {}
        handle = sel.model.get_submodule(BLOCKS[1]).register_forward_hook(
            lambda m, a, out: tokens.setdefault("out", out)
        )
        try:
            sel.model(x)
        finally:
            handle.remove()
    out = tokens["out"]  # (1, 1 + h*w, D): class token first
    d, side = out.shape[2], int((out.shape[1] - 1) ** 0.5)
    assert maps.shape == (1, d, side, side)
    torch.testing.assert_close(maps[0, :, 1, 2], out[0, 1 + 1 * side + 2])
    tab = explorer.show_tab(ActivationsView)
    sel.layer = BLOCKS[1]
    assert explorer.wait(60) and tab.error.value == "", tab.error.value
    filters = explorer.show_tab(FiltersView)
    assert explorer.wait(60) and filters.error.value == "", filters.error.value
    assert "no convolution filters" in filters.caption.value
