"""xai_widgets.evaluate: every curve equals a plain, one-image-at-a-time re-implementation on
fixed inputs; the curves are batched; settings are declared; progress and cancel work."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from helpers import make_input, make_model
from xai_widgets import evaluate as ev
from xai_widgets.params import declared


def _logit(model: nn.Module, image: torch.Tensor, cls: int) -> float:
    with torch.no_grad():
        return float(model(image[None])[0, cls])


def _prob(model: nn.Module, image: torch.Tensor, cls: int) -> float:
    with torch.no_grad():
        return float(torch.softmax(model(image[None]), 1)[0, cls])


def _plain_region_curve(model, x, heat, patch, steps, fill, order):
    """Samek et al. as written: regions ranked by summed relevance, removed one by one."""
    n, _, h, w = x.shape
    curves = []
    for i in range(n):
        cls = int(model(x[i : i + 1]).argmax())
        regions = []
        for top in range(0, h, patch):
            for left in range(0, w, patch):
                total = float(heat[i, top : top + patch, left : left + patch].sum())
                regions.append((total, top, left))
        regions.sort(key=lambda r: -r[0] if order == "morf" else r[0])
        image = x[i].clone()
        scores = [_logit(model, image, cls)]
        for _, top, left in regions[:steps]:
            image[:, top : top + patch, left : left + patch] = fill[
                i, :, top : top + patch, left : left + patch
            ]
            scores.append(_logit(model, image, cls))
        curves.append(scores)
    return torch.tensor(curves)


def _plain_pixel_curve(model, x, heat, steps, fill, insert):
    """Petsiuk et al. as written: pixels sorted by relevance, removed (revealed) in steps."""
    n, _, h, w = x.shape
    curves = []
    for i in range(n):
        cls = int(model(x[i : i + 1]).argmax())
        order = np.argsort(-heat[i].flatten().numpy(), kind="stable")
        scores = []
        for k in range(steps + 1):
            count = round(k * h * w / steps)
            taken = torch.zeros(h * w, dtype=torch.bool)
            taken[torch.from_numpy(order[:count].copy())] = True
            taken = taken.reshape(h, w)
            kept, filler = (x[i], fill[i]) if insert else (fill[i], x[i])
            image = torch.where(taken, kept, filler)
            scores.append(_prob(model, image, cls))
        curves.append(scores)
    return torch.tensor(curves)


@pytest.fixture
def vgg() -> nn.Module:
    return make_model("vgg")


@pytest.fixture
def heat() -> torch.Tensor:
    return torch.rand(2, 32, 32, generator=torch.Generator().manual_seed(3))  # no ties


@pytest.mark.parametrize("order", ["morf", "lerf"])
@pytest.mark.parametrize("fill", ["zero", "noise", "mean", "blur"])
def test_region_perturbation_equals_plain(vgg, heat, order, fill) -> None:
    x = make_input()
    curve = ev.region_perturbation(vgg, x, heat, order=order, patch=8, steps=10, fill=fill)
    plain = _plain_region_curve(vgg, x, heat, 8, 10, ev.fill_image(x, fill, 0), order)
    assert curve.scores.shape == (2, 11)
    torch.testing.assert_close(curve.scores, plain, rtol=1e-4, atol=1e-4)
    steps = torch.arange(11, dtype=torch.float64)
    assert torch.allclose(curve.fractions, steps * 64 / 1024, atol=1e-9)
    # AOPC as Samek et al. eq. 12
    aopc = (plain[:, :1] - plain).sum(1) / 11
    torch.testing.assert_close(curve.aopc, aopc, rtol=1e-4, atol=1e-4)


def test_region_perturbation_with_edge_regions(vgg, heat) -> None:
    """A patch that does not divide the image: the edge regions are smaller."""
    x = make_input()
    curve = ev.region_perturbation(vgg, x, heat, patch=6, steps=36, fill="zero")
    plain = _plain_region_curve(vgg, x, heat, 6, 36, torch.zeros_like(x), "morf")
    torch.testing.assert_close(curve.scores, plain, rtol=1e-4, atol=1e-4)
    assert curve.fractions[-1] == pytest.approx(1.0)


@pytest.mark.parametrize("insert", [False, True])
@pytest.mark.parametrize("fill", ["zero", "blur", "noise"])
def test_deletion_insertion_equal_plain(vgg, heat, insert, fill) -> None:
    x = make_input()
    fn = ev.insertion if insert else ev.deletion
    curve = fn(vgg, x, heat, steps=16, fill=fill)
    plain = _plain_pixel_curve(vgg, x, heat, 16, ev.fill_image(x, fill, 0), insert)
    torch.testing.assert_close(curve.scores, plain, rtol=1e-4, atol=1e-5)
    assert curve.kind == ("insertion" if insert else "deletion")
    # Petsiuk et al.'s normalised AUC: (sum - first/2 - last/2) / (steps)
    auc = (plain.sum(1) - plain[:, 0] / 2 - plain[:, -1] / 2) / 16
    torch.testing.assert_close(curve.auc, auc, rtol=1e-4, atol=1e-5)
    torch.testing.assert_close(curve.fractions, torch.arange(17, dtype=torch.float64) / 16)


def test_abs_rank_orders_by_magnitude(vgg, heat) -> None:
    x = make_input()
    signed = heat - 0.5
    by_abs = ev.region_perturbation(vgg, x, signed, rank="abs", patch=8, steps=5, fill="zero")
    same = ev.region_perturbation(vgg, x, signed.abs(), patch=8, steps=5, fill="zero")
    torch.testing.assert_close(by_abs.scores, same.scores)
    other = ev.region_perturbation(vgg, x, signed, patch=8, steps=5, fill="zero")
    assert not torch.allclose(by_abs.scores, other.scores)


def test_target_is_respected(vgg, heat) -> None:
    x = make_input()
    c = ev.region_perturbation(vgg, x, heat, target=[1, 3], patch=8, steps=4, fill="zero")
    assert c.target == [1, 3]
    d = ev.deletion(vgg, x, heat, target=2, steps=4)
    with torch.no_grad():
        out = vgg(x)
    assert c.scores[0, 0] == pytest.approx(float(out[0, 1]), abs=1e-5)
    assert d.scores[1, 0] == pytest.approx(float(torch.softmax(out, 1)[1, 2]), abs=1e-6)


def test_fills() -> None:
    from scipy.ndimage import gaussian_filter

    x = make_input(2, 32)
    assert torch.equal(ev.fill_image(x, "zero", 0), torch.zeros_like(x))
    mean = ev.fill_image(x, "mean", 0)
    torch.testing.assert_close(mean[:, :, 5, 7], x.mean((2, 3)))
    noise = ev.fill_image(x, "noise", 4)
    for i in range(2):
        assert float(noise[i].min()) >= float(x[i].min())
        assert float(noise[i].max()) <= float(x[i].max())
    assert torch.equal(noise, ev.fill_image(x, "noise", 4))  # seeded
    assert not torch.equal(noise, ev.fill_image(x, "noise", 5))
    blur = ev.fill_image(x, "blur", 0)
    sigma = 0.1 * 32
    want = gaussian_filter(x.numpy(), sigma=(0, 0, sigma, sigma), mode="nearest", truncate=3.0)
    np.testing.assert_allclose(blur.numpy(), want, rtol=1e-4, atol=1e-5)


def test_curves_are_batched(vgg, heat) -> None:
    """One curve = a handful of large forwards, not one forward per step."""
    x = make_input()
    sizes: list[int] = []
    handle = vgg.register_forward_pre_hook(lambda m, args: sizes.append(args[0].shape[0]))
    try:
        ev.deletion(vgg, x, heat, steps=50)
    finally:
        handle.remove()
    assert sum(sizes) == 2 * 51  # the clean forward is step 0
    assert len(sizes) <= 3


def test_progress_and_cancel(vgg, heat) -> None:
    x = make_input()
    seen: list[float] = []
    ev.region_perturbation(vgg, x, heat, patch=4, steps=60, progress=seen.append)
    assert seen and seen[-1] == pytest.approx(1.0)
    assert seen == sorted(seen)

    class Cancel(Exception):
        pass

    def cancel(fraction: float) -> None:
        raise Cancel

    with pytest.raises(Cancel):
        ev.deletion(vgg, x, heat, steps=60, progress=cancel)


def test_declared_choices() -> None:
    choices = {s.name: s.choices for s in declared(ev.RegionSettings) if s.kind == "choice"}
    assert choices == {
        "order": ("morf", "lerf"),
        "fill": ("noise", "mean", "blur", "zero"),
        "rank": ("signed", "abs"),
    }
    pixel = {s.name: s.choices for s in declared(ev.PixelSettings) if s.kind == "choice"}
    assert pixel["fill"] == ("noise", "mean", "blur", "zero")
    assert {s.name for s in declared(ev.BenchmarkSettings)} >= {"fill", "patch", "steps"}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda m, x, h: ev.region_perturbation(m, x, h[:, :16]), "'heatmap'"),
        (lambda m, x, h: ev.deletion(m, x, h[:1]), "'heatmap'"),
        (lambda m, x, h: ev.region_perturbation(m, x, h, patch=33), "'patch'"),
        (lambda m, x, h: ev.region_perturbation(m, x, h, steps=0), "'steps'"),
        (lambda m, x, h: ev.region_perturbation(m, x, h, patch=8, steps=17), "'steps'"),
        (lambda m, x, h: ev.insertion(m, x, h, steps=0), "'steps'"),
        (lambda m, x, h: ev.region_perturbation(m, x, h, fill="grey"), "'fill'"),
        (lambda m, x, h: ev.deletion(m, x, h, fill="grey"), "'fill'"),
        (lambda m, x, h: ev.region_perturbation(m, x, h, order="up"), "'order'"),
        (lambda m, x, h: ev.region_perturbation(m, x, h, rank="max"), "'rank'"),
        (lambda m, x, h: ev.region_perturbation(m, x, h * math.nan), "'heatmap'"),
        (lambda m, x, h: ev.pointing_game(h, h > 0.5, tolerance=-1), "'tolerance'"),
        (lambda m, x, h: ev.pointing_game(h, torch.ones(2, 16, 16, dtype=torch.bool)), "'mask'"),
        (lambda m, x, h: ev.relevance_mass(h, (h > 0.5).float()), "'mask'"),
        (lambda m, x, h: ev.relevance_rank(h, [[True]]), "'mask'"),
        (lambda m, x, h: ev.benchmark(m, x, ["saliency"], metrics=["pointing_game"]), "mask"),
        (lambda m, x, h: ev.benchmark(m, x, ["nope"]), "nope"),
        (lambda m, x, h: ev.benchmark(m, x, ["saliency"], fill="grey"), "'fill'"),
        (lambda m, x, h: ev.benchmark(m, x, ["saliency"], metrics=["auc"]), "'metrics'"),
        (lambda m, x, h: ev.randomization(m, x, "saliency", cascade="yes"), "'cascade'"),
    ],
)
def test_bad_input_names_the_parameter(vgg, heat, call, message) -> None:
    x = make_input()
    calls: list[int] = []
    handle = vgg.register_forward_pre_hook(lambda m, a: calls.append(1))
    try:
        with pytest.raises((ValueError, TypeError), match=message):
            call(vgg, x, heat)
    finally:
        handle.remove()
    assert not calls, "the check must come before any work"
