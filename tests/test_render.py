"""Tests of xai_widgets.render: pure array -> RGBA functions, checked against matplotlib/torch."""

from __future__ import annotations

import matplotlib
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from xai_widgets import render as r

RNG = np.random.default_rng(0)


def mpl(name: str, values: object) -> np.ndarray:
    return matplotlib.colormaps[name](values, bytes=True)


# ---------------------------------------------------------------- conversion


def test_to_numpy_shares_memory_and_converts_odd_dtypes() -> None:
    a = np.zeros((3, 4), np.float32)
    assert r.to_numpy(a) is a
    t = torch.zeros(3, 4, requires_grad=True)
    out = r.to_numpy(t)
    assert out.dtype == np.float32 and np.shares_memory(out, t.detach().numpy())
    assert r.to_numpy(torch.ones(2, dtype=torch.bfloat16)).dtype == np.float32
    assert r.to_numpy(np.array([True, False])).tolist() == [1.0, 0.0]
    with pytest.raises(TypeError, match="numeric"):
        r.to_numpy(np.array(["a", "b"]))


def test_image_to_uint8_accepts_the_documented_layouts() -> None:
    chw = torch.rand(3, 5, 6)
    expected = np.rint(chw.permute(1, 2, 0).numpy().astype(np.float64) * 255).astype(np.uint8)
    assert np.array_equal(r.image_to_uint8(chw), expected)
    assert np.array_equal(r.image_to_uint8(chw.numpy()), expected)  # (3, H, W) array, W != 1|3|4
    grey = RNG.integers(0, 256, (5, 6), dtype=np.uint8)
    for g in (grey, grey[..., None], grey[None], Image.fromarray(grey)):
        out = r.image_to_uint8(g)
        assert out.shape == (5, 6, 3) and (out == grey[..., None]).all()
    rgba = RNG.integers(0, 256, (5, 6, 4), dtype=np.uint8)
    assert np.array_equal(r.image_to_uint8(rgba), rgba[..., :3])
    assert np.array_equal(r.image_to_uint8(rgba.astype(np.int64)), rgba[..., :3])
    slack = r.image_to_uint8(np.array([[1.004, -0.003]]))  # within 1%: clipped, not rescaled
    assert slack[0, :, 0].tolist() == [255, 0]


def test_image_to_uint8_min_max_scales_a_normalized_tensor() -> None:
    x = torch.tensor([[[-2.0, 0.0], [1.0, 2.0]]])  # (1, 2, 2), like an ImageNet-normalized input
    out = r.image_to_uint8(x)[..., 0]
    assert out.tolist() == [[0, 128], [191, 255]]


@pytest.mark.parametrize(
    ("bad", "exc", "match"),
    [
        (np.zeros((2, 3, 4, 4)), ValueError, r"shape \(2, 3, 4, 4\).*expected \(H, W\)"),
        (np.zeros((4, 4, 2)), ValueError, "not supported"),
        (np.array([["a"]]), TypeError, "numeric"),
        (np.full((4, 4), np.nan), ValueError, "NaN"),
    ],
)
def test_image_to_uint8_rejects_with_a_clear_message(bad: object, exc: type, match: str) -> None:
    with pytest.raises(exc, match=match):
        r.image_to_uint8(bad)


# ---------------------------------------------------------------- range and normalization


@pytest.mark.parametrize(
    ("mode", "expected_range", "expected"),
    [
        ("abs", (0.0, 4.0), [1.0, 0.0, 0.25, 0.5]),
        ("positive", (0.0, 2.0), [0.0, 0.0, 0.5, 1.0]),
        ("signed", (-4.0, 4.0), [0.0, 0.5, 0.625, 0.75]),
        ("minmax", (-4.0, 2.0), [0.0, 4 / 6, 5 / 6, 1.0]),
    ],
)
def test_value_range_and_normalize_modes(mode: str, expected_range: tuple, expected: list) -> None:
    h = np.array([-4.0, 0.0, 1.0, 2.0])
    assert r.value_range(h, mode) == expected_range
    out = r.normalize(h, mode)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expected, atol=1e-7)


def test_percentile_clip_saturates_the_hot_pixel_only() -> None:
    h = np.tile(np.linspace(0.0, 1.0, 100), (100, 1))
    h[0, 0] = 1000.0
    plain = r.normalize(h)
    assert plain[0, 0] == 1 and plain[1:].max() < 0.002  # the hot pixel darkens everything else
    vmin, vmax = r.value_range(h, clip=99.5)
    assert vmin == 0 and vmax == pytest.approx(np.percentile(np.abs(h), 99.5))
    clipped = r.normalize(h, clip=99.5)
    assert clipped[0, 0] == 1.0
    assert clipped[5, 50] == pytest.approx(h[5, 50] / vmax, rel=1e-6)
    assert (clipped[1:, :90] < 1).all() and clipped[1:, :90].max() > 0.85


def test_minmax_clip_trims_both_tails() -> None:
    h = np.linspace(-1.0, 1.0, 1000)
    h[0], h[-1] = -500.0, 500.0
    lo, hi = r.value_range(h, "minmax", clip=99)
    assert (lo, hi) == pytest.approx(tuple(np.percentile(h, [1, 99])))
    assert -1 < lo < -0.9 and 0.9 < hi < 1
    out = r.normalize(h, "minmax", clip=99)
    assert out[0] == 0 and out[-1] == 1 and out[500] == pytest.approx(0.5, abs=0.01)


def test_clip_on_a_mostly_zero_map_keeps_the_unclipped_range() -> None:
    h = np.zeros((20, 20))
    h[3, 3] = 5.0  # 99th percentile is 0: clipping would collapse the range
    assert r.value_range(h, clip=99) == (0.0, 5.0)


@pytest.mark.parametrize("mode", r.MODES)
@pytest.mark.parametrize("const", [0.0, 3.0, -2.5])
def test_degenerate_maps_have_a_positive_width(mode: str, const: float) -> None:
    h = np.full((4, 5), const, np.float32)
    vmin, vmax = r.value_range(h, mode)
    assert vmax > vmin
    out = r.normalize(h, mode)
    assert np.isfinite(out).all()
    if mode == "signed":
        expected = 0.5 if const == 0 else (1.0 if const > 0 else 0.0)
    elif mode == "minmax" or const == 0 or (mode == "positive" and const < 0):
        expected = 0.0
    else:
        expected = 1.0  # a constant nonzero |h| is its own maximum
    assert (out == expected).all()


def test_bad_heatmaps_and_arguments_raise() -> None:
    with pytest.raises(ValueError, match="2 non-finite"):
        r.value_range(np.array([1.0, np.nan, np.inf]))
    with pytest.raises(ValueError, match=r"unknown mode 'log'.*abs, positive, signed, minmax"):
        r.normalize(np.ones(3), "log")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"clip must be a percentile in \(50, 100\]"):
        r.value_range(np.ones(3), clip=0.995)
    with pytest.raises(ValueError, match="empty"):
        r.normalize(np.zeros((0, 3)))


# ---------------------------------------------------------------- colours


def test_colormap_matches_matplotlib_exactly() -> None:
    values = r.normalize(np.array([[0.0, -1.0], [2.0, -4.0]]))  # abs: 0, .25, .5, 1
    np.testing.assert_array_equal(values, [[0.0, 0.25], [0.5, 1.0]])
    out = r.colormap(values, "inferno")
    assert out.shape == (2, 2, 4) and out.dtype == np.uint8
    np.testing.assert_array_equal(out, mpl("inferno", values))
    np.testing.assert_array_equal(out[0, 0], mpl("inferno", 0.0))
    np.testing.assert_array_equal(out[1, 1], mpl("inferno", 1.0))
    np.testing.assert_array_equal(
        r.colormap(np.array([-3.0, 7.0]), "viridis"), mpl("viridis", [0.0, 1.0])
    )


def test_signed_zero_is_the_centre_colour_of_the_diverging_map() -> None:
    h = np.array([[-3.0, 0.0, 3.0]])
    assert r.default_cmap("signed") == "RdBu_r" and r.default_cmap("abs") == "inferno"
    rgba = r.render_heatmap(h, mode="signed")
    np.testing.assert_array_equal(rgba[0, 1], mpl("RdBu_r", 0.5))
    assert rgba[0, 0, 2] > rgba[0, 0, 0] and rgba[0, 2, 0] > rgba[0, 2, 2]  # blue < 0 < red


def test_unknown_colormap_lists_valid_names() -> None:
    with pytest.raises(ValueError, match=r"unknown colormap 'infernoo'.*'inferno'.*'RdBu_r'"):
        r.colormap(np.zeros(3), "infernoo")


def test_colorbar_ends_and_orientation() -> None:
    bar = r.colorbar(0.0, 2.0, "magma", length=64, thickness=5)
    assert bar.shape == (5, 64, 4)
    np.testing.assert_array_equal(bar[:, 0], np.broadcast_to(mpl("magma", 0.0), (5, 4)))
    np.testing.assert_array_equal(bar[:, -1], np.broadcast_to(mpl("magma", 1.0), (5, 4)))
    vert = r.colorbar(-1.0, 1.0, "RdBu_r", length=64, thickness=5, orientation="vertical")
    assert vert.shape == (64, 5, 4)
    np.testing.assert_array_equal(vert[0, 0], mpl("RdBu_r", 1.0))  # high values on top
    with pytest.raises(ValueError, match="vmin < vmax"):
        r.colorbar(1.0, 1.0, "magma")


# ---------------------------------------------------------------- resampling


@pytest.mark.parametrize("shape", [(7, 7), (2, 5, 9)])
@pytest.mark.parametrize("size", [(32, 32), (13, 40), (3, 4), (1, 1), (7, 9)])
def test_upsample_equals_torch_bilinear(shape: tuple, size: tuple) -> None:
    h = RNG.normal(size=shape).astype(np.float32)
    ours = r.upsample(h, size)
    t = torch.from_numpy(h).reshape(-1, 1, *shape[-2:])
    ref = F.interpolate(t, size=size, mode="bilinear", align_corners=False).reshape(
        *shape[:-2], *size
    )
    assert ours.shape == ref.shape and ours.dtype == np.float32
    np.testing.assert_allclose(ours, ref.numpy(), atol=1e-5, rtol=0)


def test_upsample_keeps_float64_and_rejects_bad_input() -> None:
    assert r.upsample(np.ones((2, 2)), (4, 4)).dtype == np.float64
    with pytest.raises(ValueError, match=r"\(H, W\) or \(N, H, W\).*\(2, 2, 3, 3\)"):
        r.upsample(np.ones((2, 2, 3, 3)), (4, 4))
    with pytest.raises(ValueError, match="size must be"):
        r.upsample(np.ones((2, 2)), (0, 4))


# ---------------------------------------------------------------- overlay and one-call path


def test_overlay_alpha_extremes_and_per_pixel_alpha() -> None:
    img = RNG.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    heat = r.colormap(RNG.random((6, 8)))
    opaque = np.concatenate([img, np.full((6, 8, 1), 255, np.uint8)], axis=-1)
    np.testing.assert_array_equal(r.overlay(img, heat, alpha=0.0), opaque)
    np.testing.assert_array_equal(r.overlay(img, heat, alpha=1.0), heat)
    mask = np.zeros((6, 8))
    mask[:, 4:] = 1.0
    mixed = r.overlay(img, heat, alpha=mask)
    np.testing.assert_array_equal(mixed[:, :4], opaque[:, :4])
    np.testing.assert_array_equal(mixed[:, 4:], heat[:, 4:])
    half = r.overlay(img, heat, alpha=0.5).astype(int)
    assert np.abs(half[..., :3] - (img.astype(int) + heat[..., :3]) / 2).max() <= 0.5
    assert (half[..., 3] == 255).all()
    with pytest.raises(ValueError, match=r"alpha must lie in \[0, 1\]"):
        r.overlay(img, heat, alpha=1.5)
    with pytest.raises(ValueError, match="heat_rgba must be"):
        r.overlay(img, np.zeros((6, 8), np.uint8))


def test_render_heatmap_is_normalize_upsample_colormap_overlay() -> None:
    heat = torch.randn(1, 1, 4, 4)
    image = torch.rand(3, 16, 12)
    values = r.upsample(r.normalize(heat[0, 0].numpy(), "signed"), (16, 12))
    expected = r.overlay(image, r.colormap(values, "RdBu_r"), alpha=0.3)
    got = r.render_heatmap(heat, image, mode="signed", alpha=0.3)
    np.testing.assert_array_equal(got, expected)
    bare = r.render_heatmap(heat[0, 0], size=(8, 8))
    assert bare.shape == (8, 8, 4)
    assert r.render_heatmap(heat, image, size=(20, 10)).shape == (20, 10, 4)
    zeros = r.render_heatmap(np.zeros((4, 4)), mode="signed")
    assert (zeros == mpl("RdBu_r", 0.5)).all()
    with pytest.raises(ValueError, match=r"one \(H, W\) map, got shape \(2, 4, 4\)"):
        r.render_heatmap(np.zeros((2, 4, 4)))


# ---------------------------------------------------------------- layout and PNG


def test_grid_layout_sizes_and_placement() -> None:
    a = np.full((10, 20, 4), 50, np.uint8)
    b = np.full((15, 5, 3), 100, np.uint8)
    c = np.full((4, 4, 4), 150, np.uint8)
    out = r.grid([a, b, c], pad=2, background=0)  # ncols = ceil(sqrt(3)) = 2, rows = 2
    assert out.shape == (2 * 15 + 2, 2 * 20 + 2, 4)
    assert (out[:10, :20] == 50).all()
    assert (out[:15, 22:27, :3] == 100).all() and (out[:15, 22:27, 3] == 255).all()
    assert (out[17:21, :4] == 150).all()
    assert (out[15:17] == [0, 0, 0, 255]).all()  # padding row between the two rows
    assert (out[17:, 22:] == [0, 0, 0, 255]).all()  # empty fourth cell
    assert r.grid([a, b, c], ncols=3, pad=0).shape == (15, 60, 4)
    assert r.grid([a], background=(1, 2, 3, 0)).shape == (10, 20, 4)
    with pytest.raises(ValueError, match="at least one image"):
        r.grid([])


def test_png_round_trip() -> None:
    rgba = RNG.integers(0, 256, (7, 9, 4), dtype=np.uint8)
    data = r.to_png(rgba)
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    np.testing.assert_array_equal(r.from_png(data), rgba)
    rgb = rgba[..., :3]
    np.testing.assert_array_equal(r.from_png(r.to_png(rgb)), rgb)
    with pytest.raises(ValueError, match="uint8"):
        r.to_png(rgba.astype(np.float32))
