"""Every registered method on torchvision architectures as users bring them (random weights,
64 x 96 px, small step counts): channels-last layers (ConvNeXt-T, Swin-T), functional ReLU
(GoogLeNet in train mode, DenseNet-121), no ReLU at all (EfficientNet-B0), class-score maps
(SqueezeNet), adaptive pooling in the body (VGG-11-BN), a float64 ResNet-18, and ResNet-18s
returning a tuple and a dict.

Asserted for each: no map over the wrong axes (a layer map has the layer's (h, w), the heatmap
the input's (H, W), non-square so a swap shows), guided backprop differs from the gradient
wherever a ReLU exists, every refusal is a ValueError whose advice holds, and the model is left
bit-identical. Plus the default layer of every torchvision classification architecture that
builds at 64-112 px (shapes only: weights on the meta device). All slow (minutes on 2 cores).
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import torch
import torchvision
from torch import nn

import xai_widgets as xw
from helpers import assert_unchanged, snapshot
from xai_widgets.layers import default_layer

pytestmark = pytest.mark.slow

FAST = {
    "smoothgrad": {"samples": 2},
    "integrated_gradients": {"steps": 2},
    "occlusion": {"patch": 32, "stride": 32},
    "area_occlusion": {"segments": "grid", "n_segments": 4},
    "lime": {"segments": "grid", "n_segments": 4, "samples": 8},
    "kernel_shap": {"segments": "grid", "n_segments": 4, "samples": 8},
    "rise": {"masks": 8, "cell": 4},
}
LRP = {"lrp", "sg_lrp"}  # Zennit's rules: refused, naming the module, where none applies
NO_RELU = {"convnext_tiny", "swin_t", "efficientnet_b0"}
GUIDED = {"guided_backprop", "deconvnet", "guided_grad_cam"}


class Packed(nn.Module):
    """ResNet-18 returning (logits, aux) or {"logits": ..., "aux": ...}."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.net = torchvision.models.resnet18(weights=None, num_classes=10)
        self.kind = kind

    def forward(self, x: torch.Tensor):
        logits = self.net(x)
        aux = logits[:, :3]
        return (logits, aux) if self.kind == "tuple" else {"logits": logits, "aux": aux}


def build(name: str) -> nn.Module:
    torch.manual_seed(0)
    if name in ("tuple", "dict"):
        return Packed(name).eval()
    if name == "resnet18_float64":
        return torchvision.models.resnet18(weights=None, num_classes=10).double().eval()
    if name == "googlenet":
        return torchvision.models.googlenet(weights=None, init_weights=True).train()
    return torchvision.models.get_model(name, weights=None).eval()


MODELS = [
    "convnext_tiny",
    "swin_t",
    "googlenet",
    "efficientnet_b0",
    "densenet121",
    "squeezenet1_1",
    "vgg11_bn",
    "resnet18_float64",
    "tuple",
    "dict",
]


def _input() -> torch.Tensor:
    return torch.randn(1, 3, 64, 96, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("name", MODELS)
def test_every_method_on_torchvision_models(name: str) -> None:
    model, x = build(name), _input()
    before = snapshot(model)
    layers = dict(xw.spatial_layers(model, x))
    default = default_layer(model, x)
    results, refusals = {}, {}
    for method in xw.list_methods():
        params = FAST.get(method, {})
        try:
            if method == "score_cam":  # exact is minutes here: the first partial map streams
                stream = xw.explain_stream(model, x, method, target=3, batch_size=64)
                results[method] = next(iter(stream))
                stream.close()
                assert results[method].fraction < 1
            else:
                results[method] = xw.explain(model, x, method, target=3, **params)
        except ValueError as error:
            refusals[method] = str(error)
    for method, e in results.items():
        assert e.heatmap.shape == (1, 64, 96) and torch.isfinite(e.heatmap).all(), method
        assert e.heatmap.dtype == torch.float32
        if xw.methods.get_method(method).space == "layer":
            assert e.attribution.shape == (1, *layers[default][2:]), method
    expected = {"cam"} | LRP | (GUIDED if name in NO_RELU else set())
    expected |= set(xw.list_methods("attention"))  # none of these is a transformer
    assert set(refusals) <= expected, refusals
    for method in refusals.keys() & LRP:  # the module LRP has no rule for, with its type
        assert re.search(r"'[\w.]+' \(\w+\)", refusals[method]), refusals[method]
    for method in refusals.keys() & GUIDED:
        assert "applies no ReLU" in refusals[method] and "'saliency'" in refusals[method]
    if "cam" in refusals:
        _check_cam_advice(model, x, refusals["cam"])
    if name not in NO_RELU:
        for method in ("guided_backprop", "deconvnet"):
            assert results[method].notes["relu_reached"] > 0
            ours, plain = results[method].attribution, results["saliency"].attribution
            assert (ours - plain).norm() > 0.01 * plain.norm(), method  # relative: tiny init
    assert_unchanged(before, model)


def _check_cam_advice(model: nn.Module, x: torch.Tensor, text: str) -> None:
    """The refusal names CAM's requirement and advice that works for this model."""
    assert "global-average-pool + linear" in text
    suggested = re.search(r"choose layer '([^']+)', where it holds", text)
    if suggested:
        xw.explain(model, x, "cam", layer=suggested.group(1))
    else:
        assert "'grad_cam'" in text
    assert "choose the last spatial layer before the pooling" not in text


@pytest.mark.parametrize(
    ("name", "layer"), [("convnext_tiny", "features.5.0.block.4"), ("swin_t", "features.5.1")]
)
def test_channels_last_layers_give_maps_over_their_own_axes(name: str, layer: str) -> None:
    model, x = build(name), _input()
    shapes = dict(xw.spatial_layers(model, x))
    kept = {}
    handle = model.get_submodule(layer).register_forward_hook(
        lambda m, i, o: kept.setdefault("a", o)
    )
    with torch.enable_grad():
        out = model(x)
    handle.remove()
    a = kept["a"]  # (N, h, w, C) as the model keeps it
    assert shapes[layer] == (1, a.shape[3], a.shape[1], a.shape[2]) and a.shape[1:3] == (4, 6)
    e = xw.explain(model, x, "grad_cam", layer=layer, target=3)
    (g,) = torch.autograd.grad(out[0, 3], a)
    expected = (g.mean((1, 2), keepdim=True) * a).sum(-1).clamp(min=0).detach()
    torch.testing.assert_close(e.attribution, expected, rtol=1e-4, atol=1e-6)


@contextmanager
def meta_weights() -> Iterator[None]:
    """Parameters and buffers made on the meta device (shape-only models; configuration
    tensors, e.g. RegNet's, stay real)."""
    original = nn.Module.register_parameter, nn.Module.register_buffer
    register_parameter, register_buffer = original

    def parameter(module, name, param):
        if param is not None:
            param = nn.Parameter(param.to("meta"), requires_grad=param.requires_grad)
        register_parameter(module, name, param)

    def buffer(module, name, tensor, persistent=True):
        register_buffer(module, name, None if tensor is None else tensor.to("meta"), persistent)

    nn.Module.register_parameter, nn.Module.register_buffer = parameter, buffer  # type: ignore
    try:
        yield
    finally:
        nn.Module.register_parameter, nn.Module.register_buffer = (
            register_parameter,
            register_buffer,
        )


# maxvit_t partitions 7 x 7 windows at four scales: it needs a multiple of 224 px
ARCHITECTURES = [
    n for n in torchvision.models.list_models(module=torchvision.models) if n != "maxvit_t"
]
FIXED = {
    "alexnet": "features.11",
    "googlenet": "inception5b",
    "inception_v3": "Mixed_7c",
    "mnasnet": "layers",
    "regnet": "trunk_output",
    "resnet": "layer4",
    "resnext": "layer4",
    "wide_resnet": "layer4",
    "shufflenet": "conv5",
    "swin": "permute",
}


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_default_layer_of_every_torchvision_classifier(name: str) -> None:
    size = 96 if name.endswith("_32") else 112
    kwargs = {"image_size": size} if name.startswith("vit") else {}
    with warnings.catch_warnings(), meta_weights():
        warnings.simplefilter("ignore")
        model = torchvision.models.get_model(name, weights=None, **kwargs).eval()
    x = torch.empty(1, 3, size, size, device="meta")
    chosen = default_layer(model, x)
    family = next((f for f in sorted(FIXED, key=len, reverse=True) if name.startswith(f)), "")
    if name.startswith("vit"):  # the last block's first norm (pytorch-grad-cam's ViT recipe):
        # the last block's output reaches the head only through the class token
        expected = f"encoder.layers.encoder_layer_{len(model.encoder.layers) - 1}.ln_1"
    elif family:
        expected = FIXED[family]
    elif name.startswith("vgg"):
        expected = f"features.{len(model.features) - 2}"  # the last ReLU, not the max-pool
    else:  # convnext, densenet, efficientnet, mobilenet, squeezenet: the feature extractor
        expected = "features"
    assert chosen == expected
    assert chosen in dict(xw.spatial_layers(model, x))
