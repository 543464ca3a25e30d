"""Array conversion, resampling, montage and PNG helpers behind :mod:`xai_widgets.render`.

Pure functions: tensors, arrays and PIL images in, NumPy ``uint8``/float arrays or bytes out.
Import them from ``xai_widgets.render``, which re-exports the public ones.

Example::

    png = to_png(grid([image_to_uint8(x[i]) for i in range(4)], ncols=2))
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

__all__ = [
    "as_array",
    "as_size",
    "from_png",
    "grid",
    "image_to_uint8",
    "to_numpy",
    "to_png",
    "upsample",
]

_IMAGE_TOL = 0.01  # float images within [-tol, 1 + tol] count as [0, 1] and are clipped
_PIL_DIRECT = ("1", "L", "RGB", "RGBA", "F", "I", "I;16")
_ACCEPTED = "(H, W), (H, W, 1|3|4) or (1|3, H, W)"


def _is_tensor(a: Any) -> bool:
    return hasattr(a, "detach") and hasattr(a, "numpy")  # torch.Tensor without importing torch


def as_array(a: Any) -> np.ndarray:
    """NumPy view of a tensor (detached, on CPU), a PIL image or an array-like; dtype kept."""
    if isinstance(a, np.ndarray):
        return a
    if isinstance(a, Image.Image):
        if a.mode not in _PIL_DIRECT:
            a = a.convert("RGBA" if "A" in a.mode or "transparency" in a.info else "RGB")
        return np.asarray(a)
    if _is_tensor(a):
        if str(a.dtype) == "torch.bfloat16":  # NumPy has no bfloat16
            a = a.float()
        return a.numpy(force=True)
    return np.asarray(a)


def to_numpy(a: Any) -> np.ndarray:
    """Tensor, array or PIL image -> ``uint8``, float32 or float64 NumPy array.

    Those three dtypes pass through without a copy (a CPU tensor shares memory); other
    numeric dtypes (bool, ints, float16, bfloat16) become float32. Anything else: TypeError.

    Example: ``to_numpy(torch.ones(2, 2, requires_grad=True)).dtype == np.float32``.
    """
    arr = as_array(a)
    if arr.dtype in (np.uint8, np.float32, np.float64):
        return arr
    if arr.dtype.kind in "biuf":
        return arr.astype(np.float32)
    raise TypeError(
        f"expected a numeric tensor, array or PIL image, got {type(a).__name__} "
        f"with dtype {arr.dtype}"
    )


def image_to_uint8(image: Any) -> np.ndarray:
    """Any displayable image -> (H, W, 3) ``uint8`` RGB.

    Shapes: (H, W), (H, W, 1|3|4) or (1|3, H, W); tensors with 1 or 3 leading channels are read
    as (C, H, W), arrays only when the last axis cannot be channels. Grey becomes RGB, alpha is
    dropped. Values: ``uint8`` (or ints in 0..255) as they are; floats within [0, 1] (1% slack,
    clipped) as ``rint(255 x)``; any other float image (e.g. a normalized tensor) is min-max
    scaled over the whole image, ``x' = (x - min) / (max - min)`` (a constant one becomes
    black). PIL images are converted to L/RGB/RGBA first. NaN/inf -> ValueError.

    Example: ``image_to_uint8(torch.rand(3, 32, 32)).shape == (32, 32, 3)``.
    """
    arr = as_array(image)
    if arr.dtype.kind not in "biuf":
        raise TypeError(
            f"image must be numeric (uint8 or float), got {type(image).__name__} "
            f"with dtype {arr.dtype}"
        )
    shape = arr.shape
    if arr.ndim == 3 and shape[0] in (1, 3) and (_is_tensor(image) or shape[-1] not in (1, 3, 4)):
        arr = np.moveaxis(arr, 0, -1)
    if arr.ndim == 3 and arr.shape[-1] in (1, 4):
        arr = arr[..., 0] if arr.shape[-1] == 1 else arr[..., :3]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[-1] == 3)) or arr.size == 0:
        raise ValueError(
            f"image of shape {shape} is not supported; expected {_ACCEPTED}"
            " (index a batch first, e.g. x[0])"
        )
    if arr.dtype.kind in "iu" and arr.min() >= 0 and arr.max() <= 255:
        arr = arr.astype(np.uint8, copy=False)
    if arr.dtype != np.uint8:
        x = arr.astype(np.float64)
        if not np.isfinite(x).all():
            raise ValueError("image has NaN or inf values")
        lo, hi = float(x.min()), float(x.max())
        if lo < -_IMAGE_TOL or hi > 1 + _IMAGE_TOL:
            x = (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)
        arr = np.rint(np.clip(x, 0.0, 1.0) * 255).astype(np.uint8)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=-1)
    return np.ascontiguousarray(arr)


def as_size(size: Sequence[int]) -> tuple[int, int]:
    try:
        h, w = (int(s) for s in size)
    except (TypeError, ValueError):
        raise ValueError(f"size must be (height, width), got {size!r}") from None
    if h < 1 or w < 1:
        raise ValueError(f"size must be positive, got {size!r}")
    return h, w


def _taps(n_in: int, n_out: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    src = np.maximum((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0.0)
    i0 = np.floor(src).astype(np.intp)
    return i0, np.minimum(i0 + 1, n_in - 1), src - i0


def upsample(heat: Any, size: Sequence[int]) -> np.ndarray:
    """Bilinear resize of an (H, W) or (N, H, W) map to ``size = (H2, W2)``, in NumPy.

    Half-pixel centres, as ``F.interpolate(mode="bilinear", align_corners=False)``: output pixel
    i samples ``s = max((i + 0.5) * H / H2 - 0.5, 0)`` as ``(1 - t) h[floor s] + t h[floor s + 1]``
    with t = s - floor s (edge index clamped), rows then columns. Float dtype is kept (float32
    for other input); no antialiasing when shrinking, like torch.

    Example: ``upsample(np.array([[0.0, 1.0]]), (1, 4)) -> [[0, 0.25, 0.75, 1]]``.
    """
    h = to_numpy(heat)
    if h.ndim not in (2, 3):
        raise ValueError(f"upsample takes an (H, W) or (N, H, W) map, got shape {h.shape}")
    out_hw = as_size(size)
    dtype = h.dtype if h.dtype.kind == "f" else np.dtype(np.float32)
    if h.shape[-2:] == out_hw:
        return h.astype(dtype, copy=False)
    i0, i1, t = _taps(h.shape[-2], out_hw[0])
    h = h[..., i0, :] * (1 - t[:, None]) + h[..., i1, :] * t[:, None]
    j0, j1, u = _taps(h.shape[-1], out_hw[1])
    return (h[..., j0] * (1 - u) + h[..., j1] * u).astype(dtype, copy=False)


def _rgba(image: Any) -> np.ndarray:
    arr = as_array(image)
    if arr.dtype == np.uint8 and arr.ndim == 3 and arr.shape[-1] == 4:
        return arr
    rgb = image_to_uint8(image)
    return np.concatenate([rgb, np.full((*rgb.shape[:2], 1), 255, np.uint8)], axis=-1)


def _background(background: int | Sequence[int]) -> np.ndarray:
    bg = np.atleast_1d(np.asarray(background, dtype=np.int64))
    if bg.ndim != 1 or bg.size not in (1, 3, 4) or bg.min() < 0 or bg.max() > 255:
        raise ValueError(
            f"background must be 0..255 as a grey level, RGB or RGBA; got {background!r}"
        )
    if bg.size == 1:
        bg = np.repeat(bg, 3)
    return np.append(bg, 255)[:4].astype(np.uint8)


def grid(
    images: Sequence[Any],
    ncols: int | None = None,
    pad: int = 2,
    background: int | Sequence[int] = 255,
) -> np.ndarray:
    """Montage of images as one (H, W, 4) ``uint8`` array, row-major.

    Every cell is ``max h`` x ``max w`` of the inputs; each image sits at its cell's top-left.
    ``H = rows * max_h + (rows - 1) * pad`` (likewise W), no outer border; ``ncols`` defaults to
    ``ceil(sqrt(n))`` and is kept as given even when larger than n (stable layouts);
    ``rows = ceil(n / ncols)``. Inputs: RGBA ``uint8`` as is, anything else through
    :func:`image_to_uint8` (opaque). ``background``: grey level, RGB or RGBA.

    Example: ``grid([a, b, c]).shape == (2 * h + 2, 2 * w + 2, 4)`` for three (h, w) images.
    """
    tiles = [_rgba(im) for im in images]
    if not tiles:
        raise ValueError("grid needs at least one image")
    n = len(tiles)
    ncols = math.ceil(math.sqrt(n)) if ncols is None else int(ncols)
    if ncols < 1 or pad < 0:
        raise ValueError(f"need ncols >= 1 and pad >= 0, got ncols={ncols}, pad={pad}")
    nrows = math.ceil(n / ncols)
    ch = max(t.shape[0] for t in tiles)
    cw = max(t.shape[1] for t in tiles)
    out = np.empty((nrows * ch + (nrows - 1) * pad, ncols * cw + (ncols - 1) * pad, 4), np.uint8)
    out[:] = _background(background)
    for k, tile in enumerate(tiles):
        y, x = (i * (c + pad) for i, c in zip(divmod(k, ncols), (ch, cw), strict=True))
        out[y : y + tile.shape[0], x : x + tile.shape[1]] = tile
    return out


def to_png(rgba: Any) -> bytes:
    """Encode an (H, W), (H, W, 3) or (H, W, 4) ``uint8`` array as PNG bytes, at zlib level 1:
    about 2x faster than PIL's default level 6 for maps, files a little larger.

    Example: ``to_png(render_heatmap(cam))[:4] == b"\\x89PNG"``.
    """
    arr = as_array(rgba)
    if arr.dtype != np.uint8 or not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[-1] in (3, 4))):
        raise ValueError(f"to_png needs (H, W[, 3|4]) uint8, got {arr.dtype} {arr.shape}")
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(arr)).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def from_png(data: bytes) -> np.ndarray:
    """Decode PNG bytes to a ``uint8`` array as stored (RGBA -> (H, W, 4); palettes expanded).

    Example: ``(from_png(to_png(rgba)) == rgba).all()``.
    """
    with Image.open(io.BytesIO(data)) as im:
        return np.array(as_array(im))
