"""data.sea_ice: shapes, units, determinism, and the properties the fusion task rests on (SAR
sharp but ambiguous, the radiometer clear but coarse)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from xai_widgets import data


@pytest.fixture(scope="module")
def scenes():
    return data.sea_ice(48, size=128, seed=5)


def test_shapes_units_and_determinism(scenes):
    sar, mwr, labels = scenes
    assert sar.shape == (48, 1, 128, 128) and sar.dtype == torch.float32
    assert mwr.shape == (48, 14, 8, 8) and mwr.dtype == torch.float32
    assert labels.shape == (48, 128, 128) and labels.dtype == torch.long
    assert 0 <= float(sar.min()) and float(sar.max()) <= 1
    assert 50 < float(mwr.min()) and float(mwr.max()) < 300  # kelvin
    assert set(labels.unique().tolist()) == {0, 1}
    fraction = labels.float().mean((1, 2))
    assert 0.05 < float(fraction.min()) and float(fraction.max()) < 0.95
    again = data.dataset("sea_ice", 48, seed=5)  # the registry entry, size 128 by default
    assert all(torch.equal(a, b) for a, b in zip(scenes, again, strict=True))
    other = data.sea_ice(4, size=64, seed=6)
    assert not torch.equal(other[0], sar[:4, :, :64, :64])
    assert other[1].shape == (4, 14, 4, 4)
    assert data.class_names("sea_ice") == ("water", "ice") and "sea_ice" in data.dataset_names()


def test_sar_is_sharp_but_ambiguous_mwr_clear_but_coarse(scenes):
    sar, mwr, labels = scenes
    ice = labels.bool()
    smooth = F.avg_pool2d(sar, 5, 1, 2)[:, 0]
    best_sar = max(
        float(((smooth > t) == ice).float().mean()) for t in torch.arange(0.2, 0.8, 0.02)
    )
    assert best_sar < 0.88  # wind-roughened water looks like ice
    # the radiometer: pure-ice footprints are tens of kelvin warmer than pure-water ones (36.5V)
    fraction = F.avg_pool2d(labels[:, None].float(), 16)[:, 0]
    tb = mwr[:, 11]
    assert float(tb[fraction > 0.99].mean() - tb[fraction < 0.01].mean()) > 30
    # ... but at 1/16 resolution: thresholding it upsampled misses the edges
    up = F.interpolate(mwr[:, 11:12], scale_factor=16, mode="bilinear")[:, 0]
    best_mwr = max(float(((up > t) == ice).float().mean()) for t in range(200, 245, 2))
    assert 0.8 < best_mwr < 0.95


@pytest.mark.parametrize(
    "kwargs, match", [({"n": -1}, "n must"), ({"n": 2, "size": 40}, "multiple of 16")]
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        data.sea_ice(**kwargs)


def test_empty():
    sar, mwr, labels = data.sea_ice(0, size=32)
    assert sar.shape == (0, 1, 32, 32) and mwr.shape == (0, 14, 2, 2) and labels.shape[0] == 0
