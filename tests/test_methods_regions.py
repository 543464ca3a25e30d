"""Region and sampling methods against peers and exact values: area_occlusion vs Captum's
FeatureAblation, lime vs Captum's Lime, kernel_shap vs Shapley values by enumeration, rise vs
the paper's estimator by hand; segmentations, streaming and bad input."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from captum._utils.models.linear_model import SkLearnRidge
from captum.attr import FeatureAblation, Lime

import xai_widgets as xw
from helpers import make_input, make_model
from xai_widgets.methods.rise import rise_masks
from xai_widgets.methods.segments import grid_labels, segment


def corr(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.corrcoef(torch.stack([a.flatten(), b.flatten()]))[0, 1])


def predicted(model, x) -> int:
    with torch.no_grad():
        return int(model(x).argmax(1)[0])


def coalition_values(model, x, labels, target, baseline=0.0) -> torch.Tensor:
    """v(S) for every subset S of the M regions kept on (row-major over bits, region 0 the
    most significant bit), by forwarding each masked copy (in plain batches of 256)."""
    m = int(labels.max()) + 1
    bits = torch.tensor(list(itertools.product([0, 1], repeat=m)), dtype=torch.bool)
    values = []
    with torch.no_grad():
        for part in bits.split(256):
            copies = torch.where(part[:, labels][:, None], x[0], torch.tensor(baseline))
            values.append(model(copies)[:, target].to(torch.float64))
    return torch.cat(values)


def exact_shapley(values: torch.Tensor, m: int) -> torch.Tensor:
    """phi_j = sum_{S not containing j} |S|! (M - |S| - 1)! / M! (v(S + j) - v(S))."""
    index = torch.arange(2**m)
    bits = torch.tensor(list(itertools.product([0, 1], repeat=m)), dtype=torch.bool)
    size = bits.sum(1)
    weight = torch.tensor(
        [math.factorial(k) * math.factorial(m - k - 1) / math.factorial(m) if k < m else 0.0
         for k in range(m + 1)], dtype=torch.float64,
    )[size]  # fmt: skip
    phi = torch.zeros(m, dtype=torch.float64)
    for j in range(m):
        without = ~bits[:, j]
        with_j = index[without] + 2 ** (m - 1 - j)
        phi[j] = (weight[without] * (values[with_j] - values[without])).sum()
    return phi


def region_values(heatmap: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    m = int(labels.max()) + 1
    return torch.stack([heatmap[labels == j][0] for j in range(m)]).to(torch.float64)


def test_kernel_shap_is_exact_with_8_regions() -> None:
    model, x = make_model("vgg"), make_input(n=1)
    labels = grid_labels(32, 32, 8)  # 2 x 4 cells
    assert int(labels.max()) + 1 == 8
    t = predicted(model, x)
    e = xw.explain(model, x, "kernel_shap", segments=labels, samples=500, target=t)
    exact = exact_shapley(coalition_values(model, x, labels, t), 8)
    ours = region_values(e.heatmap[0], labels)
    assert (ours - exact).abs().max() < 1e-4, (ours, exact)
    with torch.no_grad():  # efficiency: sum = f(x) - f(all regions off)
        gap = model(x)[0, t] - model(torch.zeros_like(x))[0, t]
    assert abs(float(ours.sum()) - float(gap)) < 1e-4


@pytest.mark.slow
def test_kernel_shap_with_12_regions_and_2000_samples_correlates_with_exact() -> None:
    model, x = make_model("resnet"), make_input(n=1, seed=4)
    labels = grid_labels(32, 32, 12)  # 3 x 4 cells
    assert int(labels.max()) + 1 == 12
    t = predicted(model, x)
    e = xw.explain(model, x, "kernel_shap", segments=labels, samples=2000, target=t)
    exact = exact_shapley(coalition_values(model, x, labels, t), 12)
    ours = region_values(e.heatmap[0], labels)
    assert corr(ours, exact) >= 0.98
    assert abs(float(ours.sum() - exact.sum())) < 1e-4  # efficiency held exactly


@pytest.mark.parametrize("baseline", [0.0, -0.5])
def test_area_occlusion_matches_captum_feature_ablation(baseline) -> None:
    model, x = make_model("resnet"), make_input(n=2)
    labels = segment(x, "slic", 30)
    e = xw.explain(model, x, "area_occlusion", segments=labels, baseline=baseline, target=[1, 2])
    theirs = FeatureAblation(model).attribute(
        x, target=[1, 2], feature_mask=labels[:, None].expand(-1, 3, -1, -1), baselines=baseline
    )
    for ours, ref in zip(e.attribution, theirs, strict=True):
        assert corr(ours, ref) >= 0.999
    torch.testing.assert_close(e.attribution, theirs, atol=1e-5, rtol=1e-4)


@pytest.mark.slow
def test_lime_correlates_with_captum_lime_at_2000_samples() -> None:
    """Same regions, kernel (exp(-d^2 / 2 w^2) on the cosine distance of the on/off vector)
    and ridge (alpha 1); different random masks."""
    model, x = make_model("vgg"), make_input(n=1)
    labels = grid_labels(32, 32, 16)
    t = predicted(model, x)

    def kernel(original, perturbed, interpretable, **kwargs):
        d = 1 - interpretable.float().mean().sqrt()
        return torch.exp(-(d**2) / (2 * 0.25**2))

    ours = xw.explain(model, x, "lime", segments=labels, samples=2000, target=t).heatmap[0]
    lime = Lime(model, interpretable_model=SkLearnRidge(alpha=1.0), similarity_func=kernel)
    theirs = lime.attribute(
        x, target=t, feature_mask=labels[None, None].expand(1, 3, -1, -1), n_samples=2000,
        baselines=0.0, perturbations_per_eval=64,
    )[0, 0]  # fmt: skip
    assert corr(ours, theirs) >= 0.9


def test_rise_equals_the_papers_estimator_by_hand() -> None:
    model, x = make_model("functional"), make_input(n=2)
    e = xw.explain(model, x, "rise", masks=100, cell=5, p=0.4, seed=3, target=[0, 1])
    masks = rise_masks(100, 5, 0.4, (32, 32), 3, x.device).make(slice(0, 100))
    assert masks.shape == (100, 32, 32) and 0 <= masks.min() and masks.max() <= 1 + 1e-6
    expected = torch.zeros(2, 32, 32)
    with torch.no_grad():
        for mask in masks:  # one mask per forward: E[f(x * M) M] / p
            scores = model(x * mask)[[0, 1], [0, 1]]
            expected += scores[:, None, None] * mask
    expected /= 100 * 0.4
    torch.testing.assert_close(e.heatmap, expected, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("area_occlusion", {"segments": "grid", "n_segments": 36}),
        ("lime", {"segments": "grid", "n_segments": 16, "samples": 200}),
        ("kernel_shap", {"segments": "grid", "n_segments": 16, "samples": 200}),
        ("rise", {"masks": 200, "cell": 4}),
    ],
)
def test_streams_coarse_first_and_end_with_the_exact_result(method, params) -> None:
    model, x = make_model("vgg"), make_input(n=1)
    parts = list(xw.explain_stream(model, x, method, **params))
    fractions = [p.fraction for p in parts]
    assert len(parts) >= 2 and fractions[0] < 1 and fractions[-1] == 1.0
    assert fractions == sorted(fractions)
    assert torch.isfinite(parts[0].heatmap).all() and parts[0].heatmap.abs().max() > 0
    full = xw.explain(model, x, method, **params)
    torch.testing.assert_close(parts[-1].heatmap, full.heatmap, atol=1e-5, rtol=1e-4)


def test_area_occlusion_coarse_map_comes_from_about_9_groups() -> None:
    model, x = make_model("vgg"), make_input(n=1)
    first = next(iter(xw.explain_stream(model, x, "area_occlusion", segments="grid")))
    assert first.fraction < 0.2  # 9 group forwards of 9 + 49
    assert 1 < len(torch.unique(first.heatmap)) <= 9


@pytest.mark.parametrize("name", ["slic", "quickshift", "felzenszwalb", "grid"])
def test_segmentations_give_consecutive_label_maps(name) -> None:
    from skimage import data as skdata

    photo = torch.from_numpy(skdata.chelsea()[::6, ::6].copy()).permute(2, 0, 1).float() / 255
    x = torch.stack([photo, photo.flip(2)])
    labels = segment(x, name, 30)
    assert labels.shape == (2, *photo.shape[1:]) and labels.dtype == torch.int64
    for lab in labels:
        m = int(lab.max()) + 1
        assert torch.equal(torch.unique(lab), torch.arange(m))
        assert 8 <= m <= 90, (name, m)  # about n_segments=30
    if name == "grid":
        assert int(labels.max()) + 1 == 30


def test_a_user_label_map_is_used_as_given() -> None:
    model, x = make_model("vgg"), make_input(n=2)
    regions = torch.zeros(32, 32, dtype=torch.int32)
    regions[:, 16:] = 7  # two "anatomical" regions with arbitrary ids
    per_sample = torch.stack([regions, 1 - regions.clamp(max=1)]).to(torch.int64)
    for labels in (regions, per_sample):
        e = xw.explain(model, x, "area_occlusion", segments=labels)
        for heat in e.heatmap:
            assert len(torch.unique(heat[:, :16])) == 1 and len(torch.unique(heat[:, 16:])) == 1
    assert e.params["segments"] is per_sample


@pytest.mark.parametrize(
    ("params", "error", "match"),
    [
        ({"segments": torch.zeros(32, 32)}, TypeError, "integer dtype"),
        ({"segments": torch.zeros(16, 32, dtype=torch.long)}, ValueError, r"\(H, W\) = \(32, 32\)"),
        ({"segments": torch.zeros(3, 32, 32, dtype=torch.long)}, ValueError, r"\(N, H, W\)"),
        ({"segments": torch.zeros(32, dtype=torch.long)}, ValueError, "must be .H, W. or"),
        ({"n_segments": 1}, ValueError, "'n_segments' must be >= 2"),
        ({"segments": "watershed"}, ValueError, "'segments' must be one of 'slic'"),
    ],
)
@pytest.mark.parametrize("method", ["area_occlusion", "lime", "kernel_shap"])
def test_bad_region_parameters_name_what_is_accepted(method, params, error, match) -> None:
    with pytest.raises(error, match=match):
        xw.explain(make_model("vgg"), make_input(), method, **params)


def test_bad_rise_parameters() -> None:
    with pytest.raises(ValueError, match="'cell'"):
        xw.explain(make_model("vgg"), make_input(), "rise", cell=40)
    with pytest.raises(ValueError, match="'p' must be <= 1"):
        xw.explain(make_model("vgg"), make_input(), "rise", p=1.5)


def test_perturbation_family_and_labels() -> None:
    assert xw.list_methods("perturbation") == [
        "occlusion", "area_occlusion", "lime", "kernel_shap", "rise"
    ]  # fmt: skip
    assert [xw.method_label(n) for n in ("lime", "kernel_shap", "rise")] == [
        "LIME", "KernelSHAP", "RISE"
    ]  # fmt: skip
