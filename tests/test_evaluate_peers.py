"""Quantus (Hedström et al. 2023) as the oracle where its definitions coincide with ours:
RegionPerturbation (patch dividing the image, zero fill as a constant baseline, logits),
PointingGame (one maximum, no tolerance), RelevanceMassAccuracy (non-negative maps),
RelevanceRankAccuracy (no ties)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers import make_input, make_model
from xai_widgets import evaluate as ev

quantus = pytest.importorskip("quantus")


def _setup(n: int = 3):
    model = make_model("vgg")
    x = make_input(n)
    with torch.no_grad():
        y = model(x).argmax(1)
    heat = torch.rand(n, 32, 32, generator=torch.Generator().manual_seed(5)) - 0.3
    mask = torch.zeros(n, 32, 32, dtype=torch.bool)
    for i in range(n):
        mask[i, 4 + 3 * i : 16 + 3 * i, 6 : 20 + i] = True
    return model, x, y, heat, mask


@pytest.mark.parametrize("order", ["morf", "lerf"])
def test_region_perturbation_matches_quantus(order: str) -> None:
    model, x, y, heat, _ = _setup()
    ours = ev.region_perturbation(model, x, heat, order=order, patch=8, steps=12, fill="zero")
    metric = quantus.RegionPerturbation(
        patch_size=8,
        order=order,
        regions_evaluation=12,
        normalise=False,
        abs=False,
        perturb_baseline=0.0,
        disable_warnings=True,
    )
    theirs = metric(
        model=model,
        x_batch=x.numpy(),
        y_batch=y.numpy(),
        a_batch=heat[:, None].numpy(),
        device="cpu",
        softmax=False,
    )
    drops = ours.scores[:, :1] - ours.scores[:, 1:]
    np.testing.assert_allclose(drops.numpy(), np.asarray(theirs), rtol=1e-4, atol=1e-4)


def test_localisation_matches_quantus() -> None:
    model, x, y, heat, mask = _setup()
    positive = heat.clamp(min=0)
    kwargs = dict(model=model, x_batch=x.numpy(), y_batch=y.numpy(), s_batch=mask[:, None].numpy())
    common = dict(abs=False, normalise=False, disable_warnings=True)
    pg = quantus.PointingGame(**common)(a_batch=heat[:, None].numpy(), **kwargs)
    np.testing.assert_array_equal(ev.pointing_game(heat, mask).numpy(), np.asarray(pg, float))
    mass = quantus.RelevanceMassAccuracy(**common)(a_batch=positive[:, None].numpy(), **kwargs)
    np.testing.assert_allclose(ev.relevance_mass(positive, mask).numpy(), mass, rtol=1e-5)
    # our relevance mass counts only positive relevance: with the signed map they differ
    signed = quantus.RelevanceMassAccuracy(**common)(a_batch=heat[:, None].numpy(), **kwargs)
    assert not np.allclose(ev.relevance_mass(heat, mask).numpy(), signed)
    rank = quantus.RelevanceRankAccuracy(**common)(a_batch=heat[:, None].numpy(), **kwargs)
    np.testing.assert_allclose(ev.relevance_rank(heat, mask).numpy(), rank, rtol=1e-6)
