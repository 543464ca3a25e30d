"""Incremental occlusion (Krypton): equal to full-forward occlusion where the model can be
traced, the full forwards (said in the params) where it cannot, the model left untouched."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

import xai_widgets as xw
from helpers import MODEL_NAMES, assert_unchanged, make_input, make_model, snapshot
from xai_widgets.methods.occlusion import OcclusionGrid
from xai_widgets.targets import Target


def full_map(model: nn.Module, x: torch.Tensor, patch: int, stride: int) -> torch.Tensor:
    """The occlusion map from batched full forwards of every occluded copy (the reference)."""
    grid = OcclusionGrid.build(x.shape[2], x.shape[3], patch, stride)
    with torch.no_grad():
        *_, (drops, _done) = grid.iter_drops(
            model, x, Target.from_spec(None, len(x)), 0.0, engine="full"
        )
    return grid.assemble(drops)


def assert_exact(
    model: nn.Module, x: torch.Tensor, patch: int = 16, stride: int = 8, engine: str = "incremental"
) -> None:
    e = xw.explain(model, x, "occlusion", patch=patch, stride=stride)
    assert e.params["engine"] == engine, e.params
    if engine == "full":
        assert e.params["engine_reason"], e.params  # a fallback always says why
    ref = full_map(model, x, patch, stride)
    span = float(ref.max() - ref.min())
    assert span > 0
    assert float((e.heatmap - ref).abs().max()) < 1e-4 * span


def test_resnet18_equals_full_forwards() -> None:
    torch.manual_seed(0)
    assert_exact(torchvision.models.resnet18(num_classes=10).eval(), torch.randn(2, 3, 64, 64))


def test_vgg11_equals_full_forwards() -> None:
    torch.manual_seed(0)
    model = torchvision.models.vgg11(num_classes=10).eval()
    assert_exact(model, torch.randn(1, 3, 64, 64), patch=16, stride=16)


@pytest.mark.parametrize("name", [n for n in xw.zoo.names() if xw.zoo.SPECS[n].task != "dense"])
def test_zoo_models_equal_full_forwards(name: str) -> None:
    model = xw.zoo.load(name)
    card = xw.zoo.card(name)
    x = torch.randn(2, card.channels, *card.input_size, generator=torch.Generator().manual_seed(0))
    patch = max(4, card.input_size[0] // 4)
    # a vision transformer mixes every patch with every other (attention): no rule, full forwards
    engine = (
        "full"
        if any(isinstance(m, nn.MultiheadAttention) for m in model.modules())
        else ("incremental")
    )
    assert_exact(model, x, patch=patch, stride=patch // 2, engine=engine)


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_fixture_models_equal_full_forwards(name: str) -> None:
    assert_exact(make_model(name), make_input(), patch=8, stride=3)


class Odd(nn.Module):
    """Every window geometry: stride 2, dilation, groups, asymmetric padding, pools with
    padding and ceil_mode, functional pools, a residual add of unequal rectangles, arithmetic
    with constants, a mean head."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(3, 8, 5, stride=2, padding=(2, 1))
        self.b = nn.Conv2d(8, 8, 3, padding=2, dilation=2, groups=4)
        self.c = nn.Conv2d(8, 8, 1)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True)
        self.avg = nn.AvgPool2d(3, stride=1, padding=1)
        self.act = nn.Hardswish()
        self.fc = nn.Linear(8, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.gelu(self.a(x))
        y = self.act(self.b(y)) * 0.5 + self.c(y)
        y = self.avg(self.pool(y)) - 1.0
        y = F.avg_pool2d(torch.sigmoid(y), 2)
        return self.fc(y.mean((2, 3)))


def test_every_window_geometry_equals_full_forwards() -> None:
    torch.manual_seed(0)
    assert_exact(Odd().eval(), torch.randn(2, 3, 37, 41), patch=7, stride=4)


class Branchy(nn.Module):
    """Data-dependent control flow: torch.fx cannot trace it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        if y.mean() > 0:
            y = y.relu()
        return self.fc(y.mean((2, 3)))


def test_untraceable_model_falls_back_to_full_forwards() -> None:
    torch.manual_seed(0)
    model, x = Branchy().eval(), torch.randn(2, 3, 24, 24)
    e = xw.explain(model, x, "occlusion", patch=8, stride=4)
    assert e.params["engine"] == "full"
    assert "torch.fx cannot trace" in e.params["engine_reason"]
    assert torch.equal(e.heatmap, full_map(model, x, 8, 4))
    # the drill-down needs no tracing: on full forwards it computes the same windows
    approx = xw.explain(model, x, "occlusion", patch=8, stride=4, approximate=True)
    assert approx.params["engine"] == "full" and approx.params["approximate"] is True
    windows = "11 of 25 computed, the rest estimated (drill-down, gradient-guided)"
    assert approx.params["windows"] == windows


def test_unknown_layer_and_hooks_fall_back_with_the_reason() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.LayerNorm([4, 14, 14]), nn.Flatten(), nn.Linear(784, 2)
    )
    e = xw.explain(model.eval(), torch.randn(1, 3, 16, 16), "occlusion", patch=4, stride=4)
    assert e.params["engine"] == "full" and "'1' (LayerNorm)" in e.params["engine_reason"]
    hooked = make_model("resnet")
    hooked.fc.register_forward_hook(lambda m, i, o: o * 2)
    e = xw.explain(hooked, make_input(), "occlusion", patch=8, stride=8)
    assert e.params["engine"] == "full" and "forward hooks" in e.params["engine_reason"]
    assert torch.equal(e.heatmap, full_map(hooked, make_input(), 8, 8))


def test_stream_is_incremental_and_ends_with_the_exact_map() -> None:
    model, x = make_model("resnet"), make_input()
    parts = list(xw.explain_stream(model, x, "occlusion", patch=8, stride=2))
    assert len(parts) > 1 and parts[0].fraction < 1 and parts[-1].fraction == 1
    assert all(p.params["engine"] == "incremental" for p in parts)
    assert float((parts[-1].heatmap - full_map(model, x, 8, 2)).abs().max()) < 1e-5


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_model_left_untouched(mode: str) -> None:
    model = torchvision.models.resnet18(num_classes=4).train(mode == "train")
    before = snapshot(model)
    inplace = [m.inplace for m in model.modules() if isinstance(m, nn.ReLU)]
    e = xw.explain(model, torch.randn(1, 3, 32, 32), "occlusion", patch=8, stride=8)
    assert e.params["engine"] == "incremental"
    assert_unchanged(before, model)
    assert [m.inplace for m in model.modules() if isinstance(m, nn.ReLU)] == inplace
    assert model.training == (mode == "train")


def test_ceiling_counts_the_changed_convolution_work() -> None:
    """The issue's figure: about 2.8x for ResNet-18 at 224 px, patch 16, stride 8; our engine
    computes at least the changed places and at most a full forward per window."""
    from xai_widgets.methods.incremental import Incremental
    from xai_widgets.methods.incremental.cost import conv_work

    torch.manual_seed(0)
    model = torchvision.models.resnet18().eval()
    with torch.no_grad():
        x = torch.randn(1, 3, 224, 224)
        full, changed = conv_work(Incremental.start(model, x, model(x)), 224, 224, 16, 8)
        assert 2.7 < full / changed < 2.9
        x = torch.randn(1, 3, 64, 64)
        run = Incremental.start(model, x, model(x))
        full, changed = conv_work(run, 64, 64, 16, 8)
        grid = OcclusionGrid.build(64, 64, 16, 8)
        top, left = grid.starts
        w = torch.arange(grid.shape[0] * grid.shape[1])
        run.forward(top[w // grid.shape[1]], left[w % grid.shape[1]], 0 * w, (16, 16), 0.0)
    assert changed <= run.macs <= full
