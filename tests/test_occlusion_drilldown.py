"""Approximate occlusion (``approximate=True``): the drill-down and its guides. Close to the
exact map on ResNet-18 (>= 0.95 on four photos), exact where its guide is, the deep guide's
cut where every path passes, the model untouched."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import torchvision
from torch import nn

import xai_widgets as xw
from helpers import assert_unchanged, snapshot
from xai_widgets.methods import drill, drilldown
from xai_widgets.methods.incremental import Incremental
from xai_widgets.methods.incremental.linear import choose, cuts
from xai_widgets.methods.occlusion import Occlusion, OcclusionGrid, window_starts
from xai_widgets.targets import Target

PHOTOS = {"chelsea": 0.97, "astronaut": 0.96, "coffee": 0.965, "rocket": 0.95}
"""scikit-image photos and the correlation the drill-down keeps on each, its measured one less
0.01 (0.980 / 0.970 / 0.975 / 0.961 on torch 2.14; with the input gradient's guide and 250
windows 0.977 / 0.939 / 0.959 / 0.896)."""

DEEP_NOTE = (
    "100 of 729 computed, the rest estimated "
    "(drill-down, guided by the first-order drop after layer2.1.relu (ReLU))"
)


def photo_input(name: str, size: int = 224) -> torch.Tensor:
    """scikit-image's photo ``name`` squashed to ``size`` px and normalised: the input of this
    test and of ``benchmarks/bench_occlusion.py`` (which imports it), so both measure the same."""
    from skimage import data

    photo = torch.tensor(getattr(data, name)()).permute(2, 0, 1)[None].float() / 255
    return (F.interpolate(photo, size=(size, size), mode="bilinear") - 0.45) / 0.225


@pytest.fixture(scope="module")
def resnet18_maps() -> dict[str, tuple[torch.Tensor, xw.Explanation]]:
    """ResNet-18 as torchvision builds it (random weights), each photo at 224 px, patch 16 /
    stride 8 as in the benchmark: (exact heatmap, approximate Explanation) per photo."""
    torch.manual_seed(0)
    model = torchvision.models.resnet18().eval()
    maps = {}
    for name in PHOTOS:
        x = photo_input(name)
        exact = xw.explain(model, x, "occlusion", patch=16, stride=8).heatmap
        approx = xw.explain(model, x, "occlusion", patch=16, stride=8, approximate=True)
        maps[name] = (exact, approx)
    return maps


def _rho(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1])


@pytest.mark.slow
def test_approximate_reaches_095_on_every_photo_with_a_seventh_of_the_windows(
    resnet18_maps,
) -> None:
    """Issue 15's goal: correlation >= 0.95 with the exact map on ResNet-18, here on each of
    four photos, from 100 of 729 windows guided at the end of layer2."""
    for name, (exact, approx) in resnet18_maps.items():
        assert approx.params["engine"] == "incremental" and approx.params["approximate"] is True
        assert approx.params["windows"] == DEEP_NOTE
        assert not torch.allclose(exact, approx.heatmap)  # it does cut work
        assert _rho(exact, approx.heatmap) >= PHOTOS[name], name


def test_cuts_are_where_every_path_passes_and_the_guide_takes_the_deepest_cheap_one() -> None:
    torch.manual_seed(0)
    model = torchvision.models.resnet18().eval()
    x = torch.randn(1, 3, 224, 224)
    with torch.no_grad():
        run = Incremental.start(model, x, model(x))
    names = [node.name for node in cuts(run)]
    assert names[:4] == ["conv1", "bn1", "relu", "maxpool"]
    assert "layer2_1_relu_1" in names and "add_3" in names  # a block's end
    inside = ("layer1_0_conv1", "layer2_0_bn2", "layer2_0_downsample_0", "layer3_1_relu")
    assert not set(inside) & set(names)  # the skip connection passes these by
    starts = window_starts(224, 16, 8)
    node, share = choose(run, starts, starts, 16)
    assert node.name == "layer2_1_relu_1" and 0.12 < share < 0.15  # layer3 would be 0.23
    assert choose(run, starts, starts, 16, share=0.001) is None


def _linear_after_the_cut() -> nn.Module:
    """A cheap conv and ReLU, then only linear layers: the guide's linearisation is exact."""
    return nn.Sequential(
        nn.Conv2d(3, 2, 3, padding=1), nn.ReLU(), nn.Conv2d(2, 48, 5, padding=2),
        nn.Flatten(), nn.Linear(48 * 40 * 40, 3),
    ).double().eval()  # fmt: skip


def test_the_deep_guide_is_the_exact_drop_where_the_layers_after_its_cut_are_linear() -> None:
    """After the ReLU (the deepest cut within a fifth of the work) the model is linear, so
    every window's first-order drop there is its exact drop and the drill-down's map is the
    exact one, from a quarter of the windows."""
    torch.manual_seed(0)
    model, x = _linear_after_the_cut(), torch.randn(2, 3, 40, 40, dtype=torch.double)
    before = snapshot(model)
    options = {"patch": 4, "stride": 2, "target": 1, "baseline": 0.5}
    approx = xw.explain(model, x, "occlusion", approximate=True, **options)
    exact = xw.explain(model, x, "occlusion", **options)
    assert approx.params["windows"] == (
        "100 of 361 computed, the rest estimated (drill-down, guided by the first-order drop "
        "after 1 (ReLU))"
    )
    torch.testing.assert_close(approx.heatmap, exact.heatmap)
    assert_unchanged(before, model)
    # the guide alone: window for window the drops of the full forwards
    grid = OcclusionGrid.build(40, 40, 4, 2)
    target = Target.from_spec(1, 2)
    run = grid.open(model, x, target, 0.5)
    linear = drilldown.deep_guide(run, grid, target)
    assert linear is not None and linear.cut.name == "_1"
    run.guide_with(linear)
    for _ in run.compute(torch.arange(361), exact=False):
        pass
    assert not run.done.any() and run.guided.all()
    *_, (drops, _) = grid.iter_drops(model, x, Target.from_spec(1, 2), 0.5, engine="full")
    torch.testing.assert_close(run.guide.view_as(drops), drops)


def test_without_a_cheap_cut_the_input_gradient_guides() -> None:
    """One expensive convolution: no cut within a fifth of the work, so the input gradient
    guides (exact for this model, linear in its input)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 5, padding=2), nn.Flatten(), nn.Linear(4 * 20 * 20, 3))
    model = model.double().eval()
    x = torch.randn(2, 3, 20, 20, dtype=torch.double)
    grid = OcclusionGrid.build(20, 20, 4, 2)
    run = grid.open(model, x, Target.from_spec(1, 2), 0.5)
    assert drilldown.deep_guide(run, grid, run.target) is None


def test_the_gradient_guide_is_the_exact_drop_of_a_linear_model() -> None:
    """For a model linear in its input, grad . (x - baseline) over a window is exactly the
    window's drop, so the guided drill-down gives the exact map from a third of the windows;
    a model whose score does not reach x by gradients gets the plain interpolation, said so."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 5, padding=2), nn.Flatten(), nn.Linear(4 * 20 * 20, 3))
    model = model.double().eval()
    x = torch.randn(2, 3, 20, 20, dtype=torch.double)
    grid = OcclusionGrid.build(20, 20, 4, 2)
    *_, (drops, _) = grid.iter_drops(model, x, Target.from_spec(1, 2), 0.5, engine="full")
    target = Target.from_spec(1, 2)
    with torch.no_grad():
        target.bind(model(x))
    guide = drill.taylor(model, x, target, 0.5, grid)
    assert guide is not None
    torch.testing.assert_close(guide, drops)
    approx = xw.explain(model, x, "occlusion", patch=4, stride=2, baseline=0.5, target=1,
                        approximate=True)  # fmt: skip
    exact = xw.explain(model, x, "occlusion", patch=4, stride=2, baseline=0.5, target=1)
    torch.testing.assert_close(approx.heatmap, exact.heatmap)
    assert "gradient-guided" in approx.params["windows"]

    class Detached(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = model

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.net(x.detach())

    plain = xw.explain(Detached().eval(), x, "occlusion", patch=4, stride=2, approximate=True)
    assert plain.params["windows"].endswith("(drill-down, no gradient: plain interpolation)")


def test_a_score_without_a_gradient_at_the_cut_falls_back_to_plain_interpolation() -> None:
    """The deep cut is found, but the score is detached after it: no deep guide, no input
    gradient either; the plain interpolation, said so, and the model untouched."""

    class DetachedHead(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.body = _linear_after_the_cut()[:3]
            self.head = nn.Linear(48, 3).double()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.body(x).mean((2, 3)).detach())

    torch.manual_seed(0)
    model, x = DetachedHead().eval(), torch.randn(1, 3, 40, 40, dtype=torch.double)
    before = snapshot(model)
    e = xw.explain(model, x, "occlusion", patch=4, stride=2, approximate=True)
    assert e.params["windows"].endswith("(drill-down, no gradient: plain interpolation)")
    assert_unchanged(before, model)


def test_drill_down_interpolates_exactly_where_the_map_is_linear() -> None:
    assert drill.stage_one(7) == [0, 2, 4, 6] and drill.stage_one(6) == [0, 2, 4, 5]
    assert drill.stage_one(27, 3) == [0, 3, 6, 9, 12, 15, 18, 21, 24, 26]
    assert drill.sparse(9) == [0, 4, 8] and set(drill.sparse(27)) <= set(drill.stage_one(27))
    assert set(drill.sparse(27, 3)) <= set(drill.stage_one(27, 3))
    r, c = torch.arange(9.0)[:, None], torch.arange(6.0)[None, :]
    plane = (3 * r - 2 * c + 1)[None].double()
    est = drill.estimate(plane, drill.stage_one(9), drill.stage_one(6))
    torch.testing.assert_close(est, plane)  # linear data: the interpolation is exact
    rough = torch.randn(1, 9, 6, dtype=torch.double)  # drops linear in the guide: exact too
    est = drill.estimate(2 * rough - 1, drill.stage_one(9), drill.stage_one(6), rough)
    torch.testing.assert_close(est, 2 * rough - 1)
    flat = drill.estimate(plane, drill.stage_one(9), drill.stage_one(6), torch.ones_like(plane))
    torch.testing.assert_close(flat, plane)  # a flat guide: the plain interpolation
    w = drill.interpolation([0, 3], 4, plane)
    torch.testing.assert_close(w.sum(1), torch.ones(4, dtype=w.dtype))
    order, quick = drill.stage_one_order((9, 9))
    assert (
        quick == 9
        and len(order) == 25
        and set(order[:9].tolist()) == {r * 9 + c for r in (0, 4, 8) for c in (0, 4, 8)}
    )
    # stage two: the strongest of the windows not yet done, relative to each sample's largest
    est = torch.zeros(2, 3, 3)
    est[0, 1, 1], est[0, 2, 2], est[1, 0, 1], est[1, 2, 2] = 5.0, 4.0, 0.1, 1.0
    done = torch.zeros(3, 3, dtype=torch.bool)
    done[2, 2] = True
    assert drill.refine_order(est, done, 0.25).tolist() == [4, 1]  # 0.25 of 8 windows: 2
    assert drill.planned((27, 27)) == 196 + 54  # a tenth of the other 533, rounded up
    assert drill.planned((27, 27), 0.0, 3) == 100


def test_the_layout_keeps_ten_rows_and_the_cost_counts_the_guide() -> None:
    assert drilldown.layout((27, 27), True) == drilldown.DEEP  # every third: 10 rows
    assert drilldown.layout((15, 15), True) == drilldown.DEEP_SMALL  # every third: only 6
    assert drilldown.layout((27, 27), False) == drilldown.INPUT
    x = torch.zeros(1, 3, 224, 224)  # the cost the Explorer announces: forwards to run
    # 100 windows, a fifth of one for each of the other 629 (126), the clean one, the gradient
    assert Occlusion(approximate=True).cost(x) == 229 and Occlusion().cost(x) == 730
