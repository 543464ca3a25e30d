"""Pure rendering: raw heatmaps and images -> RGBA ``uint8`` arrays and PNG bytes.

Nothing here holds state, builds a widget or runs a model; inputs may be NumPy arrays, torch
tensors (any device, converted with ``numpy(force=True)``) or PIL images. The one-call path used
by widgets and ``Explanation.to_image()`` is :func:`render_heatmap`::

    heat --normalize(mode, clip)--> [0, 1] --upsample--> image size --colormap--> RGBA
         --overlay(alpha)--> opaque RGBA over the image

Modes (see :func:`value_range`): ``"abs"``, ``"positive"``, ``"signed"`` (diverging, zero in the
middle), ``"minmax"``. Input conversion, :func:`upsample`, :func:`grid` and PNG I/O live in
``_imaging`` and are re-exported here, as are the words beside a colour bar from ``_legend``
(:func:`legend`, :func:`flatness`, :func:`flat_message`, :func:`natural_mode`); import
everything from ``xai_widgets.render``.

Example::

    rgba = render_heatmap(cam[0], image=x[0], mode="positive", alpha=0.6)
    png = to_png(rgba)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

import matplotlib
import numpy as np
from matplotlib.colors import Colormap
from PIL import Image

from ._imaging import as_array, as_size, from_png, grid, image_to_uint8, to_numpy, to_png, upsample
from ._legend import Flatness, flat_message, flatness, legend, natural_mode

__all__ = [
    "MODES",
    "Flatness",
    "colorbar",
    "colormap",
    "default_cmap",
    "flat_message",
    "flatness",
    "from_png",
    "grid",
    "image_to_uint8",
    "legend",
    "natural_mode",
    "normalize",
    "overlay",
    "render_heatmap",
    "to_numpy",
    "to_png",
    "upsample",
    "value_range",
]

Mode = Literal["abs", "positive", "signed", "minmax"]
MODES: tuple[str, ...] = ("abs", "positive", "signed", "minmax")
_SOME_CMAPS = "'inferno', 'viridis', 'magma', 'gray', 'jet', 'RdBu_r', 'bwr', 'seismic'"


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"unknown mode {mode!r}; expected one of {', '.join(MODES)}")


def _finite_heat(heat: Any) -> np.ndarray:
    h = to_numpy(heat)
    if h.size == 0:
        raise ValueError(f"heatmap is empty (shape {h.shape})")
    bad = h.size - int(np.isfinite(h).sum())
    if bad:
        raise ValueError(f"heatmap has {bad} non-finite values (NaN or inf); fix the method output")
    return h


def _mapped(h: np.ndarray, mode: str) -> np.ndarray:
    """The values placed on the colour axis: |h| ("abs"), max(h, 0) ("positive"), h otherwise."""
    if mode == "abs":
        return np.abs(h)
    if mode == "positive":
        return np.maximum(h, 0)
    return h


def _range(h: np.ndarray, mode: str, clip: float | None) -> tuple[float, float]:
    _check_mode(mode)
    if clip is not None and not 50 < clip <= 100:
        raise ValueError(f"clip must be a percentile in (50, 100], e.g. 99.5; got {clip!r}")
    v = _mapped(h, mode)
    if mode == "minmax":
        lo, hi = float(v.min()), float(v.max())
        if clip is not None:
            lo_c, hi_c = (float(p) for p in np.percentile(v, [100 - clip, clip]))
            if hi_c > lo_c:
                lo, hi = lo_c, hi_c
        return (lo, hi) if hi > lo else (lo, lo + max(1.0, abs(lo)))
    v = np.abs(v)
    top = float(v.max())
    if clip is not None and (top_c := float(np.percentile(v, clip))) > 0:
        top = top_c
    if top <= 0:
        top = 1.0
    return (-top, top) if mode == "signed" else (0.0, top)


def value_range(heat: Any, mode: Mode = "abs", clip: float | None = None) -> tuple[float, float]:
    """The (vmin, vmax) a colour bar shows for ``heat`` under ``mode``.

    * ``"abs"``: (0, max|h|), the map shows |h|.
    * ``"positive"``: (0, max(h, 0)), negatives show as 0.
    * ``"signed"``: (-m, m) with m = max|h|, so 0 sits in the middle of a diverging map.
    * ``"minmax"``: (min h, max h).

    ``clip`` (a percentile in (50, 100]) replaces the max by ``percentile(v, clip)`` of the
    mapped values v (|h| for abs/signed, max(h, 0) for positive, all pixels); for minmax the min
    also becomes ``percentile(h, 100 - clip)``. A few hot pixels then saturate instead of
    darkening the rest. If the percentile collapses the range (a mostly-zero map) the unclipped
    range is kept. One range is computed over the whole array, so (N, H, W) maps share a scale.

    Degenerate maps never divide by zero: an all-zero map gives (0, 1) (signed: (-1, 1)), a
    constant c under minmax gives (c, c + max(1, |c|)); :func:`normalize` then yields 0 (0.5 for
    signed). NaN or inf in ``heat`` raise ValueError.

    Example: ``value_range(np.array([-2.0, 1.0]), "signed") == (-2.0, 2.0)``.
    """
    return _range(_finite_heat(heat), mode, clip)


def normalize(heat: Any, mode: Mode = "abs", clip: float | None = None) -> np.ndarray:
    """Scale ``heat`` to float32 in [0, 1] consistently with :func:`value_range`.

    ``out = clip((v - vmin) / (vmax - vmin), 0, 1)`` with v the mapped values (|h|, max(h, 0)
    or h), so signed maps put 0 at exactly 0.5. The shape is kept.

    Example: ``normalize(np.array([-2.0, 0.0, 1.0]), "signed") -> [0.0, 0.5, 0.75]``.
    """
    h = _finite_heat(heat)
    vmin, vmax = _range(h, mode, clip)
    out = (_mapped(h, mode).astype(np.float64) - vmin) / (vmax - vmin)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def default_cmap(mode: Mode) -> str:
    """``"RdBu_r"`` (blue < 0 < red, white at 0) for ``"signed"``, ``"inferno"`` otherwise.

    Both are perceptually ordered and readable in greyscale; inferno is dark at 0, so an overlay
    keeps unimportant regions dim. Example: ``default_cmap("signed") == "RdBu_r"``.
    """
    _check_mode(mode)
    return "RdBu_r" if mode == "signed" else "inferno"


def _get_cmap(cmap: str | Colormap) -> Colormap:
    if isinstance(cmap, Colormap):
        return cmap
    try:
        return matplotlib.colormaps[cmap]
    except KeyError:
        raise ValueError(
            f"unknown colormap {cmap!r}; try one of {_SOME_CMAPS} (any name in "
            "matplotlib.colormaps, '_r' reverses)"
        ) from None


def colormap(values01: Any, cmap: str | Colormap = "inferno") -> np.ndarray:
    """Map values in [0, 1] to RGBA ``uint8`` of shape ``values01.shape + (4,)``.

    ``rgba = matplotlib.colormaps[cmap](clip(v, 0, 1), bytes=True)``; NaN takes the colormap's
    "bad" colour (transparent by default). ``uint8`` input is read as v / 255. ``cmap`` is a
    matplotlib name or a ``Colormap``.

    Example: ``colormap(np.array([0.0, 1.0]), "gray") -> [[0, 0, 0, 255], [255, 255, 255, 255]]``.
    """
    v = to_numpy(values01)
    if v.dtype == np.uint8:
        v = v.astype(np.float32) / 255
    return _get_cmap(cmap)(np.clip(v, 0.0, 1.0), bytes=True)


def colorbar(
    vmin: float,
    vmax: float,
    cmap: str | Colormap,
    length: int = 256,
    thickness: int = 12,
    orientation: Literal["horizontal", "vertical"] = "horizontal",
) -> np.ndarray:
    """RGBA ``uint8`` strip of ``cmap`` from vmin to vmax, without text (a widget labels ends).

    ``strip[i] = colormap(i / (length - 1))``: vmin at the left (horizontal, shape
    (thickness, length, 4)) or at the bottom (vertical, (length, thickness, 4)); the end pixels
    are exactly the colours of 0 and 1. The pixels do not depend on vmin/vmax, which are checked
    (finite, vmax > vmin, e.g. from :func:`value_range`) and define what the ends mean.

    Example: ``colorbar(*value_range(cam), "inferno").shape == (12, 256, 4)``.
    """
    if not (np.isfinite([vmin, vmax]).all() and vmax > vmin):
        raise ValueError(f"colorbar needs finite vmin < vmax, got ({vmin}, {vmax})")
    if length < 2 or thickness < 1:
        raise ValueError(f"need length >= 2 and thickness >= 1, got {length}, {thickness}")
    strip = colormap(np.linspace(0.0, 1.0, length), cmap)
    if orientation == "horizontal":
        return np.ascontiguousarray(np.broadcast_to(strip, (thickness, length, 4)))
    if orientation == "vertical":
        return np.ascontiguousarray(np.broadcast_to(strip[::-1, None], (length, thickness, 4)))
    raise ValueError(f"orientation must be 'horizontal' or 'vertical', got {orientation!r}")


def _alpha(alpha: Any, hw: tuple[int, int]) -> np.ndarray:
    a = to_numpy(alpha).astype(np.float64)
    if a.ndim not in (0, 2):
        raise ValueError(f"alpha must be a number or an (H, W) array, got shape {a.shape}")
    if not (np.isfinite(a).all() and a.min() >= 0 and a.max() <= 1):
        raise ValueError("alpha must lie in [0, 1]")
    return upsample(a, hw) if a.ndim == 2 and a.shape != hw else a


def overlay(image: Any, heat_rgba: Any, alpha: float | Any = 0.5) -> np.ndarray:
    """Alpha-blend a coloured heatmap over an image; the result is opaque (H, W, 4) ``uint8``.

    ``out = (1 - a) * image + a * heat_rgb`` with per-pixel ``a = alpha * heat_A / 255``.
    ``image`` goes through :func:`image_to_uint8` and sets the output size; a heat of another
    size is resized with PIL bilinear (prefer :func:`render_heatmap`, which interpolates values
    before colouring). ``alpha`` is a number or an (H, W) array in [0, 1] (bilinearly resized
    if its shape differs), so low values can be made transparent.

    Example: ``overlay(img, colormap(normalize(cam)), alpha=0.5)``.
    """
    img = image_to_uint8(image)
    hw = (img.shape[0], img.shape[1])
    heat = as_array(heat_rgba)
    if heat.dtype != np.uint8 or heat.ndim != 3 or heat.shape[-1] not in (3, 4):
        raise ValueError(
            f"heat_rgba must be (H, W, 3|4) uint8 (see colormap), got {heat.dtype} {heat.shape}"
        )
    if heat.shape[-1] == 3:
        heat = np.concatenate([heat, np.full((*heat.shape[:2], 1), 255, np.uint8)], axis=-1)
    if heat.shape[:2] != hw:
        pil = Image.fromarray(np.ascontiguousarray(heat))
        heat = np.asarray(pil.resize(hw[::-1], Image.Resampling.BILINEAR))
    a = (_alpha(alpha, hw) * (heat[..., 3] / 255.0))[..., None]
    out = np.full((*hw, 4), 255, np.uint8)
    out[..., :3] = np.rint(img * (1.0 - a) + heat[..., :3] * a)
    return out


def render_heatmap(
    heat: Any,
    image: Any = None,
    *,
    mode: Mode = "abs",
    cmap: str | Colormap | None = None,
    alpha: float | Any = 0.5,
    clip: float | None = None,
    size: Sequence[int] | None = None,
) -> np.ndarray:
    """One map -> (H, W, 4) ``uint8``: normalize -> upsample -> colormap -> overlay.

    ``heat`` is (H, W) (leading singleton axes, e.g. (1, 1, H, W), are dropped). It is
    normalized at its own resolution (:func:`normalize` with ``mode``, ``clip``), bilinearly
    upsampled as values (so colours stay on the colormap), coloured with ``cmap`` (default
    :func:`default_cmap`) and blended over ``image`` with ``alpha`` (see :func:`overlay`).
    Output size: ``size`` if given (the image is resized to it, PIL bilinear), else the image's,
    else the map's. Without an image the coloured map itself is returned.

    Example: ``render_heatmap(attr[0], x[0], mode="signed", clip=99.5)``.
    """
    h = to_numpy(heat)
    shape = h.shape
    while h.ndim > 2 and h.shape[0] == 1:
        h = h[0]
    if h.ndim != 2:
        raise ValueError(f"render_heatmap draws one (H, W) map, got shape {shape}; pass heat[i]")
    values = normalize(h, mode, clip)
    img = None if image is None else image_to_uint8(image)
    if img is not None:
        if size is not None and img.shape[:2] != as_size(size):
            img = np.asarray(
                Image.fromarray(img).resize(as_size(size)[::-1], Image.Resampling.BILINEAR)
            )
        size = img.shape[:2]
    if size is not None:
        values = upsample(values, size)
    rgba = colormap(values, default_cmap(mode) if cmap is None else cmap)
    return rgba if img is None else overlay(img, rgba, alpha)
