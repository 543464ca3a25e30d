"""Filters.caption, top_filters and post_activation: what the Filters and Activations views
say about a layer (issue 9), on the fixture models and the zoo models."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from helpers import make_input, make_model
from xai_widgets import data, zoo
from xai_widgets import features as xf


def test_filter_captions_are_true() -> None:
    shapes = zoo.load("shapes")  # one grey input channel
    first = xf.filters(shapes, "features.0")
    assert first.mode == "rgb"
    assert (
        first.caption
        == "features.0: 8 filters of 1 input channel, 3 x 3 each, shown as grey pictures"
    )
    assert "(rgb)" not in first.caption
    colour = xf.filters(make_model("vgg"), "features.0")
    assert "8 filters of 3 input channels" in colour.caption and "colour pictures" in colour.caption
    deep = xf.filters(shapes, "features.9")
    assert deep.caption.startswith("features.9: 32 filters of 32 input channels, 3 x 3 each")
    norms = xf.filters(shapes, "features.9", mode="norms")
    assert "L2 norm" in norms.caption and "32 filters of 32 input channels" in norms.caption


def test_top_filters_are_the_largest_norms() -> None:
    model = zoo.load("counting")
    summary = xf.top_filters(model, "layer3.0.conv2", k=8)
    w = model.layer3[0].conv2.weight.detach()
    norms = w.flatten(1).norm(dim=1)
    assert summary.indices.tolist() == torch.argsort(norms, descending=True)[:8].tolist()
    assert torch.equal(summary.weights, w[summary.indices])
    assert torch.allclose(summary.norms, norms[summary.indices])
    assert torch.all(summary.norms[:-1] >= summary.norms[1:])
    assert summary.norms.min() >= norms.median()  # the strongest, not any 8
    assert summary.input_norms.shape == (8, 64)
    assert torch.allclose(summary.input_norms.pow(2).sum(1).sqrt(), summary.norms, rtol=1e-5)
    assert summary.caption.startswith("layer3.0.conv2: the 8 strongest of 64 filters (L2 norm")
    assert len(xf.top_filters(model, "conv1", k=100).indices) == 16  # capped
    with pytest.raises(ValueError, match="k must be an int >= 1"):
        xf.top_filters(model, "conv1", k=0)
    with pytest.raises(ValueError, match="not a Conv2d"):
        xf.top_filters(model, "bn1")


def test_post_activation_follows_the_layer_into_its_relu() -> None:
    model = zoo.load("shapes")
    c = zoo.card("shapes")
    x = data.normalize(data.dataset(c.dataset, 3, seed=2, **c.dataset_kwargs)[0], c)
    conv = xf.post_activation(model, x, "features.9")
    assert conv.activation == "features.10" and conv.note == "after features.10 (ReLU)"
    raw = xf.activations(model, x, "features.9")  # the conv's own output, with negatives
    assert raw.min() < 0 and torch.equal(conv.maps, raw.clamp(min=0))
    itself = xf.post_activation(model, x, "features.10")
    assert itself.activation is None and "itself an activation (ReLU)" in itself.note
    pool = xf.post_activation(model, x, "features.11")
    assert pool.activation is None and "no activation module follows" in pool.note


def test_post_activation_in_a_resnet_block() -> None:
    model = zoo.load("counting")
    c = zoo.card("counting")
    x = data.normalize(data.dataset(c.dataset, 2, seed=2, **c.dataset_kwargs)[0], c)
    bn1 = xf.post_activation(model, x, "layer1.0.bn1")
    # The block's ReLU module runs twice; its first call reads bn1's output.
    assert bn1.activation == "layer1.0.relu"
    assert torch.equal(bn1.maps, xf.activations(model, x, "layer1.0.bn1").clamp(min=0))
    bn2 = xf.post_activation(model, x, "layer1.0.bn2")
    assert bn2.activation is None  # the residual add changes bn2's output before the ReLU
    stem = xf.post_activation(model, x, "bn1")
    assert stem.activation == "relu" and stem.maps.min() >= 0


def test_post_activation_sees_no_functional_relu() -> None:
    model = make_model("functional")  # F.relu in forward: not a module
    out = xf.post_activation(model, make_input(), "conv1")
    assert out.activation is None and "no activation module follows" in out.note
    assert torch.equal(out.maps, xf.activations(model, make_input(), "conv1"))


def test_post_activation_non_inplace_and_other_types() -> None:
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.GELU(), nn.Conv2d(4, 2, 3))
    x = make_input(1, 12)
    out = xf.post_activation(model, x, "0")
    assert out.activation == "1" and out.note == "after 1 (GELU)"
    assert torch.allclose(out.maps, nn.functional.gelu(xf.activations(model, x, "0")))
