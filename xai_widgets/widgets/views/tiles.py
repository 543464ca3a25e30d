"""Pure tile grids for the feature views: channel maps, filters, exemplar crops.

Each function returns an RGBA ``uint8`` montage and the :class:`TileLayout` that maps a click
back to a tile. Built on :mod:`xai_widgets.render` (``normalize``, ``upsample``, ``colormap``,
``grid``); labels are drawn under the tiles with PIL's default font.

Channel tile k shows channel ``order[k]``: its map min-max normalized on its own (so a weak
channel's pattern is visible; its value is in the label), bilinearly upsampled to the tile,
coloured. A constant (dead) channel is black.

Example::

    rgba, layout = channel_grid(acts[0], order=[5, 2, 7], values=[1.2, 0.8, 0.1])
    layout.index_at(70, 10)   # -> 1 (the second tile, channel 2)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from ... import render
from ...features import Exemplars, Filters
from ..images import Picture

__all__ = [
    "TileLayout",
    "channel_grid",
    "exemplar_grid",
    "filter_grid",
    "fit_tile",
    "labelled_grid",
    "resize",
]

LABEL_H = 14
_BG = 255
_TEXT = (40, 40, 40)


@dataclass(frozen=True)
class TileLayout:
    """``n`` tiles of ``tile_w`` x ``tile_h`` px (label strip included), ``ncols`` a row,
    ``pad`` px apart, no outer border (as :func:`xai_widgets.render.grid`)."""

    n: int
    ncols: int
    tile_w: int
    tile_h: int
    pad: int

    @property
    def nrows(self) -> int:
        return math.ceil(self.n / self.ncols) if self.n else 0

    @property
    def size(self) -> tuple[int, int]:
        """(width, height) of the montage in px."""
        cols = min(self.ncols, max(self.n, 1))
        rows = max(self.nrows, 1)
        return (
            cols * self.tile_w + (cols - 1) * self.pad,
            rows * self.tile_h + (rows - 1) * self.pad,
        )

    def origin(self, k: int) -> tuple[int, int]:
        """Top-left (x, y) of tile ``k``."""
        row, col = divmod(k, self.ncols)
        return col * (self.tile_w + self.pad), row * (self.tile_h + self.pad)

    def index_at(self, x: float, y: float) -> int | None:
        """The tile under (x, y) (a click in the gap goes to the nearer tile), or None."""
        if x < 0 or y < 0:
            return None
        col = int((x + self.pad / 2) // (self.tile_w + self.pad))
        row = int((y + self.pad / 2) // (self.tile_h + self.pad))
        k = row * self.ncols + col
        return k if col < self.ncols and 0 <= k < self.n else None


@lru_cache(maxsize=4)
def _font(size: int = 11) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1: the bitmap font only
        return ImageFont.load_default()


def _fit_text(draw: ImageDraw.ImageDraw, text: str, width: int) -> str:
    font = _font()
    while text and draw.textlength(text, font=font) > width:
        text = text[:-2] + "…" if len(text) > 2 else ""
    return text


def _rgba(tile: np.ndarray) -> np.ndarray:
    if tile.shape[2] == 4:
        return tile
    return np.concatenate([tile, np.full((*tile.shape[:2], 1), 255, np.uint8)], axis=2)


def labelled_grid(
    tiles: Sequence[np.ndarray], labels: Sequence[str] | None, ncols: int, pad: int = 4
) -> tuple[np.ndarray, TileLayout]:
    """Tiles (all h x w RGB or RGBA uint8) in a montage, each with its label underneath."""
    if not tiles:
        raise ValueError("labelled_grid needs at least one tile")
    h, w = tiles[0].shape[:2]
    strip = LABEL_H if labels is not None else 0
    if strip:
        blank = np.full((strip, w, 4), _BG, np.uint8)
        tiles = [np.concatenate([_rgba(t), blank]) for t in tiles]
    ncols = max(1, min(ncols, len(tiles)))
    rgba = render.grid(list(tiles), ncols=ncols, pad=pad, background=_BG)
    layout = TileLayout(len(tiles), ncols, w, h + strip, pad)
    if labels is not None:
        image = Image.fromarray(rgba)
        draw = ImageDraw.Draw(image)
        for k, text in enumerate(labels):
            x, y = layout.origin(k)
            draw.text((x + 1, y + h + 1), _fit_text(draw, text, w - 2), fill=_TEXT, font=_font())
        rgba = np.asarray(image)
    return rgba, layout


def channel_grid(
    acts: torch.Tensor | np.ndarray,
    order: Sequence[int],
    values: Sequence[float] | None = None,
    *,
    tile: int = 56,
    ncols: int = 8,
    cmap: str = "inferno",
    pad: int = 4,
    scale: tuple[float, float] | None = None,
    what: str = "mean",
) -> tuple[np.ndarray, TileLayout]:
    """The maps ``acts[order]`` of one image's layer output (C, h, w) as labelled tiles:
    normalized -> upsampled to ``tile`` px -> ``cmap``; label "#channel, <what> value".

    ``scale`` = (lo, hi): one value range for every tile (so tiles compare: a weak channel
    looks weak); None: each tile min-max on its own (a weak channel's pattern shows)."""
    maps = render.to_numpy(acts)[list(order)]
    if scale is None:
        normed = np.stack([render.normalize(m, "minmax") for m in maps])
    else:
        lo, hi = scale
        normed = np.clip((maps - lo) / (hi - lo if hi > lo else 1.0), 0.0, 1.0)
    coloured = render.colormap(render.upsample(normed, (tile, tile)), cmap)
    if values is None:
        labels = [f"#{c}" for c in order]
    else:
        labels = [f"#{c}, {what} {v:.2g}" for c, v in zip(order, values, strict=True)]
    return labelled_grid(list(coloured), labels, ncols, pad)


def fit_tile(rgb: np.ndarray, tile: int) -> np.ndarray:
    """Scale an image so its longer side is ``tile`` px (nearest-neighbour up by an integer
    factor, so pixels stay sharp; bilinear down) and centre it on a white ``tile`` square."""
    h, w = rgb.shape[:2]
    factor = tile // max(h, w)
    if factor >= 1:
        big = np.repeat(np.repeat(rgb, factor, 0), factor, 1)
    else:
        s = tile / max(h, w)
        size = (max(1, round(w * s)), max(1, round(h * s)))
        big = np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BILINEAR))
    out = np.full((tile, tile, 3), _BG, np.uint8)
    y, x = (tile - big.shape[0]) // 2, (tile - big.shape[1]) // 2
    out[y : y + big.shape[0], x : x + big.shape[1]] = big[..., :3]
    return out


def _symmetric(w: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """0.5 + w / (2 max|w|) per filter (max over ``axes``): zero is mid-grey / white."""
    top = np.abs(w).max(axis=axes, keepdims=True)
    return 0.5 + w / (2 * np.where(top > 0, top, 1.0))


def _zoom(patch: np.ndarray, zoom: int) -> np.ndarray:
    return np.repeat(np.repeat(patch, zoom, 0), zoom, 1)


def filter_grid(f: Filters, zoom: int = 8) -> tuple[np.ndarray, TileLayout]:
    """The kernels of :func:`xai_widgets.features.filters` as a montage, each weight a
    ``zoom`` x ``zoom`` block (nearest neighbour).

    "rgb": one colour patch per filter (grey for one input channel), scaled per filter so
    that 0 is mid-grey; "channels": one patch per filter (row) and input channel (column) in
    blue < 0 < red, scaled per filter; "norms": the (out, in) matrix of kernel norms.
    """
    w = f.weights.detach().float().cpu().numpy()
    pad = filter_pad(zoom)
    if f.mode == "norms":
        values = render.normalize(w, "minmax")
        rgba = _zoom(render.colormap(values, "inferno"), zoom)
        return rgba, TileLayout(1, 1, rgba.shape[1], rgba.shape[0], 0)
    scaled = _symmetric(w, (1, 2, 3))
    if f.mode == "rgb":
        if w.shape[1] == 3:
            patches = [(np.clip(p.transpose(1, 2, 0), 0, 1) * 255).round() for p in scaled]
            patches = [p.astype(np.uint8) for p in patches]
        else:
            patches = [render.colormap(p[0], "RdBu_r") for p in scaled]
    else:
        patches = [render.colormap(p, "RdBu_r") for filt in scaled for p in filt]
    tiles = [_zoom(p, zoom) for p in patches]
    h, wd = tiles[0].shape[:2]
    if f.mode == "rgb" and wd >= 16:  # few filters, big enough to number
        return labelled_grid(tiles, [str(i) for i in range(len(tiles))], f.ncols, pad)
    rgba = render.grid(tiles, ncols=f.ncols, pad=pad, background=_BG)
    return rgba, TileLayout(len(tiles), f.ncols, wd, h, pad)


def filter_pad(zoom: int) -> int:
    """Gap between filter patches: wider as they grow, so neighbours stay apart."""
    return 1 if zoom < 4 else (2 if zoom < 12 else 4)


def resize(rgb: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """An (H, W, 3) uint8 picture resized (PIL bilinear) to ``hw`` = (height, width)."""
    if rgb.shape[:2] == tuple(hw):
        return rgb
    image = Image.fromarray(render.image_to_uint8(rgb)).resize((hw[1], hw[0]), Image.BILINEAR)
    return np.asarray(image.convert("RGB"))


def exemplar_grid(ex: Exemplars, pictures: Sequence[Picture], tile: int = 96) -> np.ndarray:
    """The exemplars' receptive-field crops, cut from the pictures as the user sees them
    (``Picture.display``, the input's view at maybe more pixels; ``pictures[k]`` is the k-th
    exemplar's), labelled "score  name"."""
    tiles, labels = [], []
    for k, (idx, score, box) in enumerate(
        zip(ex.indices.tolist(), ex.scores.tolist(), ex.boxes, strict=True)
    ):
        pic = pictures[k]
        height, width = pic.display.shape[:2]
        sy, sx = height / pic.input.shape[1], width / pic.input.shape[2]
        top, left = round(box[0] * sy), round(box[1] * sx)
        bottom, right = round(box[2] * sy), round(box[3] * sx)
        crop = pic.display[max(top, 0) : min(bottom, height), max(left, 0) : min(right, width)]
        tiles.append(fit_tile(crop, tile))
        labels.append(f"{score:.3g}  {pic.name or f'#{idx}'}")
    return labelled_grid(tiles, labels, ncols=len(tiles))[0]
