"""Models as users bring them, on tiny hand-made models (fast; the torchvision architectures
are in test_architectures.py): tuple/dict/object outputs and ``output=``, numpy targets, other
dtypes, channels-last layers, guided backprop on functional ReLU, the default layer, CAM's
refusals and Score-CAM streaming."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import xai_widgets as xw
from helpers import assert_unchanged, make_input, make_model, snapshot
from xai_widgets import features as xf
from xai_widgets.layers import default_layer
from xai_widgets.outputs import select_logits

FAST = {
    "smoothgrad": {"samples": 2},
    "integrated_gradients": {"steps": 3},
    "occlusion": {"patch": 16, "stride": 16},
}


class Wrapped(nn.Module):
    """The fixture ResNet with its logits packed as ``kind``: tuple, dict, object, scores."""

    def __init__(self, kind: str) -> None:
        super().__init__()
        self.net = make_model("resnet")
        self.kind = kind

    def forward(self, x: torch.Tensor):
        logits = self.net(x)
        aux = logits[:, :1] * 2
        if self.kind == "tuple":
            return logits, aux
        if self.kind == "dict":
            return {"logits": logits, "aux": aux}
        if self.kind == "object":
            return SimpleNamespace(logits=logits, hidden=aux)
        return {"scores": logits, "aux": aux}


class ChannelsLast(nn.Module):
    """A ConvNeXt-style block: conv, a functional permute to (N, h, w, C), LayerNorm, Linear,
    GELU, Linear, permuted back; ReLU conv; GAP + linear head."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.stem = nn.Conv2d(3, 8, 4, stride=4)
        self.norm = nn.LayerNorm(8)
        self.up = nn.Linear(8, 16)
        self.act = nn.GELU()
        self.down = nn.Linear(16, 8)
        self.conv = nn.Conv2d(8, 6, 3, padding=1)
        self.fc = nn.Linear(6, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        y = self.down(self.act(self.up(self.norm(x.permute(0, 2, 3, 1)))))
        x = x + y.permute(0, 3, 1, 2)
        return self.fc(F.relu(self.conv(x)).mean((2, 3)))


class GeluNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = nn.Conv2d(3, 6, 3, padding=1)
        self.act = nn.GELU()
        self.fc = nn.Linear(6, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.act(self.conv(x)).mean((2, 3)))


class DenseNetLike(nn.Module):
    """features (conv, BN) -> functional ReLU -> GAP -> linear, as torchvision's DenseNet."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8))
        self.classifier = nn.Linear(8, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.adaptive_avg_pool2d(F.relu(self.features(x)), 1)
        return self.classifier(torch.flatten(out, 1))


class SqueezeLike(nn.Module):
    """A conv head making class-score maps (SqueezeNet): the default stops before it."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.features = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Sequential(
            nn.Dropout(), nn.Conv2d(8, 5, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.flatten(self.classifier(self.features(x)), 1)


@pytest.mark.parametrize("kind", ["tuple", "dict", "object"])
@pytest.mark.parametrize(
    "method", [m for m in xw.list_methods() if m not in xw.list_methods("attention")]
)
def test_every_method_finds_the_logits_of_tuple_dict_object_outputs(kind, method) -> None:
    model, x = Wrapped(kind).eval(), make_input()
    before = snapshot(model)
    e = xw.explain(model, x, method, target=[1, 2], **FAST.get(method, {}))
    plain = xw.explain(model.net, x, method, target=[1, 2], **FAST.get(method, {}))
    torch.testing.assert_close(e.heatmap, plain.heatmap)
    assert_unchanged(before, model)


@pytest.mark.parametrize(
    "method", [m for m in xw.list_methods() if m not in xw.list_methods("attention")]
)
def test_every_method_takes_an_explicit_output_key(method) -> None:
    """output= names the scores in a dict every method reads the same way (LRP read them twice,
    and failed, before 2026-11-24)."""
    model, x = Wrapped("scores").eval(), make_input()
    before = snapshot(model)
    e = xw.explain(model, x, method, target=[1, 2], output="scores", **FAST.get(method, {}))
    plain = xw.explain(model.net, x, method, target=[1, 2], **FAST.get(method, {}))
    torch.testing.assert_close(e.heatmap, plain.heatmap)
    assert_unchanged(before, model)


def test_output_selects_by_index_key_or_callable_and_errors_name_it() -> None:
    x = make_input()
    plain = xw.explain(make_model("resnet"), x, "saliency", target=1).attribution
    for kind, spec in [("tuple", 0), ("scores", "scores"), ("scores", lambda o: o["scores"])]:
        got = xw.explain(Wrapped(kind).eval(), x, "saliency", target=1, output=spec)
        torch.testing.assert_close(got.attribution, plain)
    with pytest.raises(
        ValueError, match=r"model returned a dict with keys 'scores', 'aux'.*output="
    ):
        xw.explain(Wrapped("scores").eval(), x, "grad_cam")
    with pytest.raises(ValueError, match=r"output='nope' does not select anything"):
        xw.explain(Wrapped("dict").eval(), x, "saliency", output="nope")
    with pytest.raises(ValueError, match=r"target class 1 is out of range for a model with 1 out"):
        xw.explain(Wrapped("tuple").eval(), x, "saliency", target=1, output=1)
    with pytest.raises(TypeError, match="output= must be None"):
        xw.explain(Wrapped("tuple").eval(), x, "saliency", output=1.5)
    assert select_logits((torch.ones(2, 3), 5)).shape == (2, 3)


@pytest.mark.parametrize(
    "target",
    [np.int64(2), np.array(2), np.array([2, 1]), [np.int64(2), np.int32(1)], torch.tensor(2)],
)
def test_numpy_and_tensor_integers_are_targets(target) -> None:
    e = xw.explain(make_model("resnet"), make_input(), "saliency", target=target)
    assert e.target in ([2, 2], [2, 1])


@pytest.mark.parametrize(
    ("target", "pattern"),
    [
        (np.array([1.0, 2.0]), "1-D with integer class indices"),
        (np.bool_(True), "integer class indices"),
        ([np.float32(1), 2], "got float32"),
        (np.array([[1, 2]]), "1-D"),
    ],
)
def test_non_integer_targets_are_refused(target, pattern) -> None:
    with pytest.raises(TypeError, match=pattern):
        xw.explain(make_model("resnet"), make_input(), "saliency", target=target)


@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("method", ["saliency", "grad_cam", "occlusion"])
def test_models_of_other_dtypes_take_float32_input(dtype, method) -> None:
    model, x = make_model("resnet"), make_input()
    reference = xw.explain(model, x, method, target=1, **FAST.get(method, {})).heatmap
    cast = make_model("resnet").to(dtype)
    before = snapshot(cast)
    e = xw.explain(cast, x, method, target=1, **FAST.get(method, {}))
    assert e.heatmap.dtype == torch.float32 and e.attribution.dtype == torch.float32
    if dtype == torch.float64:
        torch.testing.assert_close(
            e.heatmap, reference, rtol=1e-4, atol=1e-5 * reference.abs().amax()
        )
    else:  # 8 (bfloat16) or 11 (float16) bits of mantissa through the network: the same map
        a, b = e.heatmap.flatten(1), reference.flatten(1)
        assert (
            torch.cosine_similarity(a - a.mean(1, keepdim=True), b - b.mean(1, keepdim=True)) > 0.9
        ).all()
    assert_unchanged(before, cast)
    if dtype == torch.float64:
        assert xw.explain(cast, x.double(), method, **FAST.get(method, {})).heatmap.dtype == dtype


def test_channels_last_layers_are_listed_and_read_as_nchw() -> None:
    model, x = ChannelsLast().eval(), make_input(size=32)[:, :, :, :24]  # h 8, w 6
    shapes = dict(xw.spatial_layers(model, x))
    assert shapes["norm"] == (2, 8, 8, 6) and shapes["up"] == (2, 16, 8, 6)
    assert shapes["act"] == (2, 16, 8, 6) and shapes["stem"] == (2, 8, 8, 6)
    # Grad-CAM on the channels-last layer equals the textbook computation over its own axes
    e = xw.explain(model, x, "grad_cam", layer="act", target=[0, 3])
    kept = {}
    handle = model.act.register_forward_hook(lambda m, i, o: kept.setdefault("a", o))
    out = model(x)
    handle.remove()
    a = kept["a"]  # (N, h, w, C)
    (g,) = torch.autograd.grad(out[[0, 1], [0, 3]].sum(), a)
    expected = (g.mean((1, 2), keepdim=True) * a).sum(-1).clamp(min=0)
    assert e.attribution.shape == (2, 8, 6)
    torch.testing.assert_close(e.attribution, expected.detach(), rtol=1e-4, atol=1e-6)
    # feature functions read it as (N, C, h, w) too
    acts = xf.activations(model, x, "act")
    torch.testing.assert_close(acts, a.detach().permute(0, 3, 1, 2))


def test_guided_backprop_reaches_functional_relu_and_notes_it() -> None:
    model, x = make_model("functional"), make_input()
    before = snapshot(model)
    gb = xw.explain(model, x, "guided_backprop", target=1)
    plain = xw.explain(model, x, "saliency", target=1).attribution
    assert not torch.allclose(gb.attribution, plain)
    assert gb.notes["relu_reached"] == 1 and gb.notes["relu_rule"] == "guided"
    assert "1 ReLU call" in gb.notes["summary"]
    assert_unchanged(before, model)
    mixed = xw.explain(ChannelsLast().eval(), make_input(size=32), "deconvnet")
    assert mixed.notes["plain_gradient_activations"] == {"GELU": 1}
    assert "plain gradient kept through GELU x1" in mixed.notes["summary"]


class ReluSpelling(nn.Module):
    """The fixture functional net with its ReLU spelled one of the ways PyTorch offers."""

    def __init__(self, relu) -> None:
        super().__init__()
        self.net, self.relu = make_model("functional"), relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(self.relu(self.net.conv1(x)), 2)
        return self.net.head(self.net.conv2(x).mean((2, 3)))


@pytest.mark.parametrize(
    "relu",
    [
        lambda t: F.relu(t, inplace=True),
        torch.relu,
        torch.relu_,
        lambda t: t.relu(),
        lambda t: t.relu_(),
        F.relu_,
    ],
)
@pytest.mark.parametrize("method", ["guided_backprop", "deconvnet"])
def test_every_spelling_of_relu_gets_the_rule_of_an_nn_relu_module(relu, method) -> None:
    x = make_input()
    expected = xw.explain(ReluSpelling(nn.ReLU()).eval(), x, method, target=1)
    got = xw.explain(ReluSpelling(relu).eval(), x, method, target=1)
    assert expected.notes["relu_reached"] == got.notes["relu_reached"] == 1
    torch.testing.assert_close(got.attribution, expected.attribution)


@pytest.mark.parametrize("method", ["guided_backprop", "deconvnet", "guided_grad_cam"])
def test_a_model_without_relu_is_refused_not_passed_off_as_guided(method) -> None:
    model = GeluNet().eval()
    before = snapshot(model)
    with pytest.raises(ValueError, match=r"no ReLU .*GELU x1.*use 'saliency'"):
        xw.explain(model, make_input(), method)
    assert xw.explain(model, make_input(), "saliency").heatmap.shape == (2, 32, 32)
    assert_unchanged(before, model)


def test_default_layer_stops_before_class_score_maps_and_pooling() -> None:
    assert default_layer(SqueezeLike().eval(), make_input()) == "features.1"
    assert default_layer(make_model("vgg"), make_input()) == "features.4"


def test_cam_refusals_give_advice_that_holds() -> None:
    x = make_input()
    model = DenseNetLike().eval()
    with pytest.raises(ValueError, match=r"'features' is already this model's last spatial"):
        xw.explain(model, x, "cam")
    assert "choose the last spatial layer" not in _error(model, x, "cam")
    resnet = make_model("resnet")
    text = _error(resnet, x, "cam", layer="layer1")
    assert "choose layer 'layer2', where it holds" in text
    xw.explain(resnet, x, "cam", layer="layer2")  # the advice holds
    text = _error(make_model("vgg"), x, "cam", layer="features.1")
    assert "nor after 'features.4'" in text and "'grad_cam'" in text
    xw.explain(make_model("vgg"), x, "grad_cam", layer="features.1")


def _error(model: nn.Module, x: torch.Tensor, method: str, **params) -> str:
    with pytest.raises(ValueError) as info:
        xw.explain(model, x, method, **params)
    return str(info.value)


def test_score_cam_streams_partial_maps_and_ends_exact() -> None:
    model, x = make_model("resnet"), make_input()
    seen: list[float] = []
    parts = list(
        xw.explain_stream(model, x, "score_cam", layer="layer1", batch_size=2, progress=seen.append)
    )
    fractions = [p.fraction for p in parts]
    assert len(parts) > 4 and fractions == sorted(fractions) and fractions[-1] == 1.0
    assert seen[-1] == 1.0 and len(seen) == 12  # 2 samples x 12 channels, 2 per batch
    assert all(p.heatmap.shape == (2, 32, 32) and torch.isfinite(p.heatmap).all() for p in parts)
    exact = xw.explain(model, x, "score_cam", layer="layer1", batch_size=2)
    assert torch.equal(parts[-1].attribution, exact.attribution)
    assert not torch.equal(parts[0].attribution, exact.attribution)
