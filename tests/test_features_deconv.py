"""Deconvnet reconstruction == the explicit Zeiler & Fergus deconvnet (transposed convolutions
with the layer's own filters, unpooling with recorded switches, ReLU on the signal)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from helpers import make_input, make_model
from xai_widgets import features as xf


def tiny() -> nn.Sequential:
    torch.manual_seed(2)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1),
        nn.ReLU(inplace=True),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 5, 3, padding=1),
        nn.ReLU(inplace=True),
    ).eval()


def explicit_deconvnet(model: nn.Sequential, x: torch.Tensor, channel: int, mode: str):
    """Zeiler & Fergus 2014, Sec. 2.1, written out layer by layer."""
    conv1, _, _, conv2, _ = model
    with torch.no_grad():
        a1 = F.relu(conv1(x))
        p1, switches = F.max_pool2d(a1, 2, return_indices=True)
        a2 = F.relu(conv2(p1))
        r = torch.zeros_like(a2)
        chosen = a2[:, channel]
        if mode == "all":
            r[:, channel] = chosen
        else:
            for n in range(x.shape[0]):
                i, j = divmod(int(chosen[n].argmax()), chosen.shape[2])
                r[n, channel, i, j] = chosen[n, i, j]
        r = F.relu(r)  # rectify
        r = F.conv_transpose2d(r, conv2.weight, padding=1)  # flipped filters
        r = F.max_unpool2d(r, switches, 2, output_size=a1.shape[-2:])  # switches
        r = F.relu(r)
        return F.conv_transpose2d(r, conv1.weight, padding=1)


@pytest.mark.parametrize("mode", ["max", "all"])
def test_equals_the_explicit_deconvnet(mode: str) -> None:
    model, x = tiny(), make_input(3, 16)
    for channel in range(5):
        ours = xf.deconvnet_reconstruction(model, x, "4", channel, position=mode)
        expected = explicit_deconvnet(model, x, channel, mode)
        assert ours.shape == x.shape
        assert torch.allclose(ours, expected, atol=1e-6), channel
        if mode == "max":
            assert ours.abs().sum() > 0


def test_single_unit_lies_in_its_receptive_field() -> None:
    model, x = make_model("vgg"), make_input(1)
    r = xf.deconvnet_reconstruction(model, x, "features.3", 3, position=(4, 5))
    top, left, bottom, right = xf.receptive_field(model, "features.3", x, (4, 5))
    support = r[0].abs().sum(0) > 0
    outside = support.clone()
    outside[max(top, 0) : bottom, max(left, 0) : right] = False
    assert support.any() and not outside.any()


def test_on_a_residual_model() -> None:
    r = xf.deconvnet_reconstruction(make_model("resnet"), make_input(2), "layer2", 1)
    assert r.shape == (2, 3, 32, 32) and torch.isfinite(r).all()


def test_errors() -> None:
    model, x = tiny(), make_input(1, 16)
    with pytest.raises(ValueError, match="5 channels"):
        xf.deconvnet_reconstruction(model, x, "4", 5)
    with pytest.raises(ValueError, match="outside layer '4'"):
        xf.deconvnet_reconstruction(model, x, "4", 0, position=(8, 0))
    with pytest.raises(ValueError, match="'max', 'all' or"):
        xf.deconvnet_reconstruction(model, x, "4", 0, position="centre")
    with pytest.raises(ValueError, match="unknown layer"):
        xf.deconvnet_reconstruction(model, x, "5", 0)
