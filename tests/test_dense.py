"""Per-pixel and multi-input models (issue 14): a class's mean score over a region as the
explained target, one input explained while the others are held, and the model contract."""

from __future__ import annotations

import pytest
import torch

import xai_widgets as xw
from helpers import assert_unchanged, snapshot
from xai_widgets import data, zoo
from xai_widgets.dense import OneInput, RegionTarget, region_mask, region_target
from xai_widgets.layers import default_layer

BOX = (32, 40, 80, 100)  # top, left, bottom, right


@pytest.fixture(scope="module")
def scene() -> tuple:
    model = zoo.load("fusion_small")
    sar, mwr, _labels = data.dataset("sea_ice", 2, seed=3)
    return model, sar[:1], mwr[:1]


def test_the_region_target_is_the_class_mean_over_the_box(scene: tuple) -> None:
    model, sar, mwr = scene
    out = model(sar, mwr)
    target = region_target(0, BOX, size=(128, 128))
    expected = out[:, 0, 32:80, 40:100].mean((1, 2))
    torch.testing.assert_close(target(out), expected)
    whole = region_target(0, None, size=(128, 128))
    torch.testing.assert_close(whole(out), out[:, 0].mean((1, 2)))


def test_saliency_of_the_region_equals_autograd_by_hand(scene: tuple) -> None:
    model, sar, mwr = scene
    x = sar.clone().requires_grad_(True)
    model(x, mwr)[0, 0, 32:80, 40:100].mean().backward()
    one = OneInput(model, (sar, mwr), index=0)
    e = xw.explain(one, sar, "input_x_gradient", target=region_target(0, BOX, size=(128, 128)))
    torch.testing.assert_close(e.attribution, x.grad * sar, rtol=1e-4, atol=1e-7)
    assert e.scores is not None
    torch.testing.assert_close(e.scores, model(sar, mwr)[:, 0, 32:80, 40:100].mean((1, 2)))


def test_one_input_holds_the_others_along_any_batch(scene: tuple) -> None:
    model, sar, mwr = scene
    one = OneInput(model, (sar, mwr), index=0)
    batch = torch.cat([sar, sar.flip(-1), sar * 0.5])
    torch.testing.assert_close(one(batch), model(batch, mwr.expand(3, -1, -1, -1)))
    assert one.describe() == "explaining sar; mwr held at this scene's values"


def test_occlusion_of_the_region_is_the_drop_of_its_mean(scene: tuple) -> None:
    model, sar, mwr = scene
    one = OneInput(model, (sar, mwr), index=0)
    target = region_target(0, BOX, size=(128, 128))
    e = xw.explain(one, sar, "occlusion", target=target, patch=32, stride=32, baseline=0.0)
    occluded = sar.clone()
    occluded[..., 32:64, 64:96] = 0.0
    drop = target(model(sar, mwr)) - target(model(occluded, mwr))
    torch.testing.assert_close(e.attribution[0, 0, 40, 70], drop[0], rtol=1e-4, atol=1e-6)


def test_the_default_layer_sees_the_explained_input(scene: tuple) -> None:
    """The radiometer's standardization is the last spatial layer before the mixing layer,
    but it does not depend on SAR: Grad-CAM of SAR must not default to it."""
    model, sar, mwr = scene
    assert default_layer(OneInput(model, (sar, mwr), 0), sar) == "model.branch16"
    assert default_layer(OneInput(model, (sar, mwr), 1), mwr) == "model.mwr_norm"


@pytest.mark.parametrize("method", xw.list_methods())
def test_every_method_leaves_the_fusion_model_unchanged(scene: tuple, method: str) -> None:
    model, sar, mwr = scene
    before = snapshot(model)
    one = OneInput(model, (sar, mwr), index=0)
    target = region_target(0, BOX, size=(128, 128))
    fast = {"occlusion": {"patch": 32, "stride": 32}, "rise": {"masks": 64},
            "lime": {"samples": 32}, "kernel_shap": {"samples": 32},
            "integrated_gradients": {"steps": 8}, "smoothgrad": {"samples": 4}}  # fmt: skip
    try:
        e = xw.explain(one, sar, method, target=target, **fast.get(method, {}))
    except ValueError as exc:  # a method that does not apply says why (CAM, LRP, attention)
        assert method in {"cam", "lrp", "sg_lrp", "attention", "attention_rollout"}, exc
    else:
        assert e.heatmap.shape == (1, 128, 128) and torch.isfinite(e.heatmap).all()
    assert_unchanged(before, model)


def test_bad_regions_and_inputs_are_named() -> None:
    with pytest.raises(ValueError, match="covers no pixel"):
        region_mask((200, 0, 210, 10), (128, 128))
    with pytest.raises(TypeError, match="top, left, bottom, right"):
        region_mask((1, 2, 3), (128, 128))  # type: ignore[arg-type]
    target = RegionTarget(0, torch.ones(8, 8, dtype=torch.bool))
    with pytest.raises(ValueError, match="per-pixel scores"):
        target(torch.zeros(2, 3))
    with pytest.raises(ValueError, match="output map is"):
        target(torch.zeros(2, 1, 16, 16))
    with pytest.raises(ValueError, match="out of range"):
        RegionTarget(3, torch.ones(8, 8, dtype=torch.bool))(torch.zeros(1, 2, 8, 8))
    model = zoo.load("fusion_small")
    with pytest.raises(ValueError, match="out of range for 2 inputs"):
        OneInput(model, (torch.zeros(1, 1, 8, 8), torch.zeros(1, 14, 1, 1)), index=2)
    with pytest.raises(TypeError, match="tuple of two or more"):
        OneInput(model, (torch.zeros(1, 1, 8, 8),))
