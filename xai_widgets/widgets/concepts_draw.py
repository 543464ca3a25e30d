"""Pictures of the Concepts tab, pure numpy / PIL on uint8 RGB arrays (tested without widgets).

* :func:`mace` — MACE-style (Kim et al. 2020): the picture blacked out except one region;
* :func:`segments` — the picture with each concept's segment tinted in its colour;
* :func:`strip` — a row of labelled tiles (the concepts of one picture, or one concept's
  exemplars), a coloured bar above each, up to two caption lines below.

Example::

    tile = mace(rgb, region)                       # (H, W, 3), black outside ``region``
    seg = segments(rgb, labels, PALETTE)           # labels (H, W): concept or -1
    row = strip([tile, ...], ["concept 2", ...], ["+1.3 for", ...], ["#1f77b4", ...], 96)
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw

__all__ = ["GAP", "PALETTE", "TEXT", "mace", "segments", "strip", "tile_at"]

PALETTE = [
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
    "#e377c2", "#17becf", "#bcbd22", "#7f7f7f", "#393b79", "#e7ba52",
]  # fmt: skip
GAP, BAR, TEXT = 6, 6, 30  # px between tiles, colour bar height, caption height
FOR, AGAINST = "#b2182b", "#2166ac"  # the diverging palette's ends: red supports, blue opposes


def _rgb(colour: str) -> np.ndarray:
    return np.array([int(colour[i : i + 2], 16) for i in (1, 3, 5)], dtype=np.float32)


def _fit(array: np.ndarray, size: tuple[int, int], nearest: bool = False) -> np.ndarray:
    if array.shape[:2] == size:
        return array
    mode = Image.NEAREST if nearest else Image.BILINEAR
    return np.asarray(Image.fromarray(array).resize((size[1], size[0]), mode))


def mace(rgb: np.ndarray, region: np.ndarray) -> np.ndarray:
    """``rgb`` (H, W, 3) uint8 with every pixel outside ``region`` (any (h, w) bool, resized
    nearest to H x W) set to black."""
    keep = _fit(region.astype(np.uint8) * 255, rgb.shape[:2], nearest=True) > 127
    return np.where(keep[..., None], rgb, 0).astype(np.uint8)


def segments(rgb: np.ndarray, labels: np.ndarray, palette: Sequence[str], alpha=0.55):
    """``rgb`` tinted by ``labels`` ((h, w) ints resized nearest; -1 = no concept, dimmed)."""
    labels = _fit(labels.astype(np.int16) + 1, rgb.shape[:2], nearest=True).astype(int) - 1
    out = rgb.astype(np.float32) * 0.6
    for k in range(int(labels.max()) + 1):
        where = labels == k
        tint = (1 - alpha) * rgb[where].astype(np.float32) + alpha * _rgb(palette[k])
        out[where] = tint
    return out.clip(0, 255).astype(np.uint8)


def strip(
    tiles: Sequence[np.ndarray],
    titles: Sequence[str],
    notes: Sequence[str],
    colours: Sequence[str],
    size: int,
    note_colours: Sequence[str] | None = None,
) -> np.ndarray:
    """The tiles (each resized to ``size`` x ``size``) in a row on white, a ``colours`` bar
    above each, ``titles`` and ``notes`` (in ``note_colours``) below."""
    n = max(1, len(tiles))
    img = Image.new("RGB", (n * (size + GAP), BAR + size + TEXT), "white")
    draw = ImageDraw.Draw(img)
    for i, tile in enumerate(tiles):
        x = i * (size + GAP)
        draw.rectangle((x, 0, x + size - 1, BAR - 2), fill=colours[i])
        img.paste(Image.fromarray(_fit(np.ascontiguousarray(tile), (size, size))), (x, BAR))
        draw.text((x + 2, BAR + size + 2), titles[i], fill="black")
        colour = note_colours[i] if note_colours else "black"
        draw.text((x + 2, BAR + size + 15), notes[i], fill=colour)
    return np.asarray(img)


def tile_at(x: float, count: int, size: int) -> int | None:
    """Which tile of a :func:`strip` of ``count`` tiles canvas x falls on (None: a gap)."""
    i = int(x // (size + GAP))
    if 0 <= i < count and x - i * (size + GAP) < size:
        return i
    return None
