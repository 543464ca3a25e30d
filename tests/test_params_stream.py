"""The parameter system (kinds, checks, errors) and the streaming protocol of methods."""

from __future__ import annotations

from dataclasses import dataclass

import pytest
import torch

import xai_widgets as xw
from helpers import assert_unchanged, make_input, make_model, snapshot
from xai_widgets.layers import default_layer
from xai_widgets.params import check_params, declared, param


@dataclass(frozen=True)
class Settings:
    steps: int = param(32, min=1, max=512, help="Number of steps.")
    fill: str = param("noise", choices=("noise", "mean", "zero"), help="How pixels are removed.")
    exact: bool = param(True, help="Whether to compute exactly.")
    layer: str = param("", kind="layer", help="The layer.")


def test_kinds_are_declared_once_and_inferred() -> None:
    kinds = {s.name: s.kind for s in declared(Settings)}
    assert kinds == {"steps": "number", "fill": "choice", "exact": "bool", "layer": "layer"}
    fill = next(s for s in declared(Settings) if s.name == "fill")
    assert fill.choices == ("noise", "mean", "zero") and fill.type is str


@pytest.mark.parametrize(
    ("values", "exc", "pattern"),
    [
        ({"fill": "nope"}, ValueError, r"parameter 'fill' must be one of 'noise', 'mean', 'zero'"),
        ({"exact": 1}, TypeError, r"parameter 'exact' must be True or False"),
        ({"steps": 0}, ValueError, r"parameter 'steps' must be >= 1"),
        ({"steps": 2.5}, TypeError, r"parameter 'steps' must be an int"),
        ({"layer": 3}, TypeError, r"parameter 'layer' must be a dotted layer name"),
        ({"nope": 1}, TypeError, r"unknown parameter\(s\) nope; accepted: steps, fill, exact"),
    ],
)
def test_bad_values_name_the_parameter_and_what_is_accepted(values, exc, pattern) -> None:
    with pytest.raises(exc, match=pattern):
        check_params(Settings, values, "demo")


def test_a_choice_needs_its_default_among_the_choices() -> None:
    with pytest.raises(ValueError, match="choices that include its default"):
        param("x", choices=("a", "b"), help="h")


def test_methods_carry_textbook_labels() -> None:
    assert xw.method_label("grad_cam_pp") == "Grad-CAM++"
    assert xw.method_label("integrated_gradients") == "Integrated Gradients"
    assert all(xw.method_label(m) for m in xw.list_methods())


def test_occlusion_streams_coarse_first_and_ends_exact() -> None:
    model, x = make_model("resnet"), make_input()
    before = snapshot(model)
    parts = list(xw.explain_stream(model, x, "occlusion", patch=4, stride=2, target=1))
    fractions = [e.fraction for e in parts]
    assert len(parts) >= 2 and fractions[0] < 1 and fractions[-1] == 1.0
    assert fractions == sorted(fractions)
    exact = xw.explain(model, x, "occlusion", patch=4, stride=2, target=1)
    torch.testing.assert_close(parts[-1].heatmap, exact.heatmap)
    assert parts[0].heatmap.shape == exact.heatmap.shape
    assert not torch.equal(parts[0].heatmap, exact.heatmap)  # a coarse map, not the answer
    assert_unchanged(before, model)


def test_approximate_occlusion_streams_its_drill_down() -> None:
    model, x = make_model("resnet"), make_input()
    before = snapshot(model)
    options = {"patch": 4, "stride": 2, "target": 1, "approximate": True}
    parts = list(xw.explain_stream(model, x, "occlusion", **options))
    fractions = [e.fraction for e in parts]
    assert len(parts) >= 3 and fractions[0] < 0.5 and fractions[-1] == 1.0
    assert fractions == sorted(fractions)
    final = xw.explain(model, x, "occlusion", **options)
    torch.testing.assert_close(parts[-1].heatmap, final.heatmap)
    assert parts[-1].params["windows"] == final.params["windows"]
    exact = xw.explain(model, x, "occlusion", patch=4, stride=2, target=1).heatmap
    rho = torch.corrcoef(torch.stack([exact.flatten(), final.heatmap.flatten()]))[0, 1]
    first = torch.corrcoef(torch.stack([exact.flatten(), parts[0].heatmap.flatten()]))[0, 1]
    # 0.85 -> 0.93 here (with plain interpolation instead of the gradient's guide 0.43 -> 0.84)
    assert rho > first + 0.05 and rho > 0.9, (float(first), float(rho))
    assert_unchanged(before, model)


def test_a_method_that_does_not_stream_yields_once() -> None:
    model, x = make_model("resnet"), make_input()
    parts = list(xw.explain_stream(model, x, "grad_cam"))
    assert [e.fraction for e in parts] == [1.0]
    torch.testing.assert_close(parts[0].heatmap, xw.explain(model, x, "grad_cam").heatmap)


def test_a_stream_left_early_leaves_the_model_as_it_was() -> None:
    model, x = make_model("vgg"), make_input()
    before = snapshot(model)
    stream = xw.explain_stream(model, x, "occlusion", patch=4, stride=1)
    next(stream)
    stream.close()
    assert_unchanged(before, model)


def test_the_default_layer_is_never_a_pooling_layer() -> None:
    model, x = make_model("vgg"), make_input()
    assert xw.spatial_layers(model, x)[-1][0] in ("features", "features.5")
    assert default_layer(model, x) == "features.4"
    assert xw.explain(model, x, "grad_cam").params["layer"] == "features.4"


def test_every_method_declares_a_plain_tooltip() -> None:
    for name in xw.list_methods():
        tip = xw.methods.get_method(name).tip
        assert tip.endswith(".") and tip[0].isupper(), name
        assert not any(ch in tip for ch in "∂Σ_^/"), (name, tip)  # words, not notation


def test_the_coarse_first_map_needs_at_most_one_batch_of_windows() -> None:
    """ResNet-18 at 224 px with patch 16 / stride 8 has 27 x 27 windows: every fourth row and
    column (and the last) give 8 x 8 = 64; small grids keep every third."""
    from xai_widgets.methods.occlusion import COARSE_WINDOWS, OcclusionGrid, coarse_step

    assert coarse_step(27, 27) == 4 and coarse_step(15, 15) == 3
    for side, patch, stride in ((224, 16, 8), (64, 8, 4), (300, 8, 4), (32, 4, 2)):
        grid = OcclusionGrid.build(side, side, patch, stride)
        _, (rows, cols) = grid.coarse_first(coarse_step(*grid.shape))
        assert len(rows) * len(cols) <= COARSE_WINDOWS or min(grid.shape) < 3
        assert rows[-1] == grid.shape[0] - 1 and cols[-1] == grid.shape[1] - 1
