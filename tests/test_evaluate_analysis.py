"""xai_widgets.evaluate: localisation scores, similarity measures, the randomisation test and
the benchmark table, each against a plain re-implementation on fixed inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import xai_widgets as xw
from helpers import make_input, make_model
from xai_widgets import evaluate as ev


def _maps(n: int = 4, size: int = 16, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    heat = torch.randn(n, size, size, generator=gen)
    mask = torch.zeros(n, size, size, dtype=torch.bool)
    for i in range(n):
        top, left = 2 + i, 3 + 2 * i
        mask[i, top : top + 5, left : left + 6] = True
    return heat, mask


def test_pointing_game_plain() -> None:
    heat, mask = _maps()
    got = ev.pointing_game(heat, mask)
    for i in range(4):
        r, c = divmod(int(heat[i].argmax()), 16)
        assert got[i] == float(mask[i, r, c])
    # a maximum planted inside / outside the mask
    heat[0, 4, 5], heat[1, 15, 15] = 100.0, 100.0
    got = ev.pointing_game(heat, mask)
    assert got[0] == 1.0 and got[1] == 0.0


def test_pointing_game_tolerance_and_ties() -> None:
    heat = torch.zeros(1, 16, 16)
    mask = torch.zeros(1, 16, 16, dtype=torch.bool)
    mask[0, 5, 5] = True
    heat[0, 5, 8] = 1.0  # 3 px to the right of the mask
    assert ev.pointing_game(heat, mask, tolerance=2.9)[0] == 0.0
    assert ev.pointing_game(heat, mask, tolerance=3)[0] == 1.0
    # diagonal distance sqrt(8) = 2.83
    heat2 = torch.zeros(1, 16, 16)
    heat2[0, 7, 7] = 1.0
    assert ev.pointing_game(heat2, mask, tolerance=2.8)[0] == 0.0
    assert ev.pointing_game(heat2, mask, tolerance=2.9)[0] == 1.0
    # a constant map does not hit by default; an empty mask is undefined
    assert ev.pointing_game(torch.zeros(1, 16, 16), mask)[0] == 0.0
    assert math.isnan(ev.pointing_game(heat, torch.zeros_like(mask))[0])


def test_relevance_mass_plain() -> None:
    heat, mask = _maps()
    got = ev.relevance_mass(heat, mask)
    for i in range(4):
        pos = heat[i].clamp(min=0)
        assert got[i] == pytest.approx(float(pos[mask[i]].sum() / pos.sum()), rel=1e-5)
    assert ev.relevance_mass(-heat.abs(), mask).eq(0).all()  # no positive relevance at all
    assert math.isnan(ev.relevance_mass(heat[:1], torch.zeros_like(mask[:1]))[0])


def test_relevance_rank_plain() -> None:
    heat, mask = _maps()
    got = ev.relevance_rank(heat, mask)
    for i in range(4):
        k = int(mask[i].sum())
        top = torch.argsort(heat[i].flatten(), descending=True)[:k]
        assert got[i] == pytest.approx(float(mask[i].flatten()[top].float().mean()))
    perfect = mask.float() + 0.01 * torch.rand(mask.shape)
    assert ev.relevance_rank(perfect, mask).eq(1).all()
    assert ev.relevance_mass(mask.float(), mask).eq(1).all()


def test_spearman_matches_scipy() -> None:
    from scipy.stats import spearmanr

    from xai_widgets.evaluate.similarity import spearman

    gen = torch.Generator().manual_seed(2)
    a = torch.randn(3, 12, 12, generator=gen)
    b = a + torch.randn(3, 12, 12, generator=gen)
    b[1] = b[1].round()  # ties: average ranks
    b[2] = b[2].clamp(min=0)  # many tied zeros, as a ReLU map
    got = spearman(a, b)
    for i in range(3):
        want = spearmanr(a[i].flatten().numpy(), b[i].flatten().numpy()).statistic
        assert got[i] == pytest.approx(want, abs=1e-6)
    assert spearman(a[:1], torch.zeros(1, 12, 12))[0] == 0.0  # constant map: no shared order


def test_ssim_matches_skimage() -> None:
    from skimage.metrics import structural_similarity

    from xai_widgets.evaluate.similarity import ssim, unit_scale

    gen = torch.Generator().manual_seed(4)
    a = unit_scale(torch.rand(2, 20, 24, generator=gen))
    b = unit_scale(a + 0.3 * torch.rand(2, 20, 24, generator=gen))
    got = ssim(a, b)
    for i in range(2):
        want = structural_similarity(a[i].numpy(), b[i].numpy(), data_range=1.0)
        assert got[i] == pytest.approx(want, abs=1e-5)
    assert ssim(a, a).sub(1).abs().max() < 1e-6


def test_randomization_steps_equal_randomized_copies() -> None:
    model = make_model("vgg")
    x = make_input(2)
    layers = ev.randomization_layers(model, x)
    assert layers == ["classifier.3", "classifier.1", "features.3", "features.0"]
    r = ev.randomization(model, x, "saliency")
    assert r.maps.shape == (5, 2, 32, 32)
    assert r.spearman_abs.shape == r.ssim.shape == r.spearman_signed.shape == (4, 2)
    torch.testing.assert_close(r.maps[0], xw.explain(model, x, "saliency").heatmap)
    for k in (1, 3):  # step k == the map of the copy with the top k layers re-initialised
        copy = ev.randomized(model, layers[:k])
        want = xw.explain(copy, x, "saliency", target=r.target).heatmap
        torch.testing.assert_close(r.maps[k], want)
    from xai_widgets.evaluate.similarity import spearman, ssim, unit_scale

    torch.testing.assert_close(r.spearman_abs[2], spearman(r.maps[0].abs(), r.maps[3].abs()))
    torch.testing.assert_close(r.spearman_signed[0], spearman(r.maps[0], r.maps[1]))
    want_ssim = ssim(unit_scale(r.maps[0].abs()), unit_scale(r.maps[4].abs()))
    torch.testing.assert_close(r.ssim[3], want_ssim)
    # the last step has every layer re-initialised: the map changed
    assert r.spearman_abs[-1].mean() < 0.9


def test_randomization_independent() -> None:
    model = make_model("resnet")
    x = make_input(2)
    layers = ev.randomization_layers(model, x)
    assert layers[0] == "fc" and layers[-1] == "stem.0"
    r = ev.randomization(model, x, "grad_cam", cascade=False, seed=3)
    k = 2
    alone = ev.randomized(model, [layers[k - 1]], seed=3)
    want = xw.explain(alone, x, "grad_cam", target=r.target).heatmap
    torch.testing.assert_close(r.maps[k], want)
    with pytest.raises(ValueError, match="'layers'"):
        ev.randomized(model, ["nope"])


def _values(table: ev.Table, method: str, metric: str) -> torch.Tensor:
    return table.values[method][metric]


def test_benchmark_equals_direct_calls() -> None:
    model = make_model("vgg")
    x = make_input(6)
    _, mask = _maps(6, 32)
    t = ev.benchmark(
        model,
        x,
        ["saliency", ("occlusion", {"patch": 8, "stride": 8})],
        masks=mask,
        steps=8,
        fill="blur",
        batch=4,
    )
    occ = "occlusion(patch=8, stride=8)"
    assert t.methods == ["random", "saliency", occ]
    assert t.metrics == [
        "morf",
        "deletion",
        "insertion",
        "pointing_game",
        "relevance_mass",
        "relevance_rank",
    ]
    heat = xw.explain(model, x, "occlusion", patch=8, stride=8).heatmap
    morf = ev.region_perturbation(model, x, heat, steps=8, fill="blur").aopc
    torch.testing.assert_close(_values(t, occ, "morf"), morf.double(), rtol=1e-5, atol=1e-6)
    ins = ev.insertion(model, x, heat, steps=8, fill="blur").auc
    torch.testing.assert_close(_values(t, occ, "insertion"), ins.double(), rtol=1e-5, atol=1e-6)
    rand = ev.random_heatmap(x, 0)
    dele = ev.deletion(model, x, rand, steps=8, fill="blur").auc
    torch.testing.assert_close(_values(t, "random", "deletion"), dele.double(), atol=1e-6, rtol=0)
    mass = ev.relevance_mass(xw.explain(model, x, "saliency").heatmap, mask)
    torch.testing.assert_close(_values(t, "saliency", "relevance_mass"), mass.double())

    # the summaries: mean, SE (n - 1), paired difference to random
    row = t.stat(occ, "morf")
    v, r = _values(t, occ, "morf").numpy(), _values(t, "random", "morf").numpy()
    assert row["mean"] == pytest.approx(v.mean())
    assert row["se"] == pytest.approx(v.std(ddof=1) / np.sqrt(6))
    assert row["diff"] == pytest.approx((v - r).mean())
    assert row["diff_se"] == pytest.approx((v - r).std(ddof=1) / np.sqrt(6))
    assert row["z"] == pytest.approx(row["diff"] / row["diff_se"])
    rows = t.rows
    assert len(rows) == 3 * 6 and rows[0]["method"] == "random"
    assert {"method", "label", "metric", "mean", "se", "diff", "diff_se", "verdict"} <= set(rows[0])
    html = t._repr_html_()
    assert html.startswith("<table") and "Occlusion" in html and "Random" in html
    best = t.sorted("deletion").methods
    means = [t.stat(m, "deletion")["mean"] for m in best]
    assert means == sorted(means)  # lower deletion AUC is better
    assert "| Method |" in t.markdown()


def test_benchmark_progress_and_cancel() -> None:
    model = make_model("functional")
    x = make_input(3)
    seen: list[float] = []
    ev.benchmark(model, x, ["saliency"], metrics=["deletion"], steps=4, progress=seen.append)
    assert seen[-1] == pytest.approx(1.0) and seen == sorted(seen)

    class Cancel(Exception):
        pass

    calls = []

    def cancel(fraction: float) -> None:
        calls.append(fraction)
        if len(calls) == 2:
            raise Cancel

    with pytest.raises(Cancel):
        ev.benchmark(model, x, ["saliency", "grad_cam"], steps=4, progress=cancel)


def test_verdicts() -> None:
    n = 20
    base = torch.linspace(0, 1, n, dtype=torch.float64)
    values = {
        "random": {"morf": base, "deletion": base},
        "good": {"morf": base + 1 + 0.01 * torch.randn(n, dtype=torch.float64), "deletion": base},
        "bad": {"morf": base - 1, "deletion": base - 0.5 + 0.01 * torch.sin(base * 9)},
    }
    t = ev.Table(["random", "good", "bad"], ["morf", "deletion"], values)
    assert t.stat("good", "morf")["verdict"] == "better"
    assert t.stat("bad", "morf")["verdict"] == "worse"
    assert t.stat("bad", "deletion")["verdict"] == "better"  # lower deletion AUC is better
    assert t.stat("good", "deletion")["verdict"] == "like random"


def test_benchmark_reuses_heatmaps() -> None:
    model = make_model("vgg")
    x = make_input(3)
    first = ev.benchmark(model, x, ["saliency"], metrics=["morf"], steps=4, fill="zero")
    assert first.heatmaps["saliency"].shape == (3, 32, 32)
    calls: list[int] = []
    handle = model.register_forward_pre_hook(lambda m, a: calls.append(a[0].shape[0]))
    try:
        again = ev.benchmark(
            model, x, ["saliency"], metrics=["morf"], steps=4, fill="zero", heatmaps=first.heatmaps
        )
    finally:
        handle.remove()
    torch.testing.assert_close(again.values["saliency"]["morf"], first.values["saliency"]["morf"])
    # no explanation ran: the target forward (3 images), then random and saliency: one batch
    # each of the 3 clean images and their 3 x 4 steps
    assert calls == [3, 15, 15]
