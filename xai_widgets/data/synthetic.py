"""Generated datasets with ground-truth object masks: Triangles & Squares, and counting circles.

Both draw one flat object grey level on one flat background grey level (each varied per image,
with a minimum contrast), so the mask is exactly the set of pixels with the object's grey level
and a good heatmap can be judged against it (Rangelova et al. 2018, "Towards a methodology for
evaluating explanations"; the counting task is proposed there as well, so that the human
strategy, counting objects, and the network's can be compared).

Example::

    >>> images, labels, masks = triangles_squares(8, size=32, seed=0)
    >>> images.shape, labels.tolist()[:4], masks.shape
    (torch.Size([8, 1, 32, 32]), [0, 0, 1, 0], torch.Size([8, 32, 32]))
    >>> images, labels, masks = counting(4, seed=1)   # label k = number of circles
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = ["counting", "triangles_squares"]

Data = tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]

MIN_CONTRAST = 0.25  # |object grey - background grey| is at least this
_CHUNK = 1024  # images rasterized at once (bounds the (chunk, H, W) float temporaries)


def _check(n: int, size: int, min_size: int = 16) -> None:
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a non-negative int, got {n!r}")
    if not isinstance(size, int) or size < min_size:
        raise ValueError(f"size must be an int >= {min_size}, got {size!r}")


def _grey_levels(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Background and object grey levels in [0, 1] with |object - background| >= MIN_CONTRAST."""
    background = rng.uniform(0.0, 1.0, n)
    # Pick the object level uniformly among the values far enough from the background.
    below = np.clip(background - MIN_CONTRAST, 0.0, None)  # length of [0, bg - c]
    above = np.clip(1.0 - background - MIN_CONTRAST, 0.0, None)  # length of [bg + c, 1]
    u = rng.uniform(0.0, 1.0, n) * (below + above)
    obj = np.where(u < below, u, background + MIN_CONTRAST + (u - below))
    return background.astype(np.float32), obj.astype(np.float32)


def _balanced_labels(rng: np.random.Generator, n: int, classes: int) -> np.ndarray:
    return rng.permutation(np.arange(n) % classes)


def _convex_masks(vertices: np.ndarray, size: int) -> np.ndarray:
    """Rasterize convex polygons (N, V, 2) of (x, y) vertices, clockwise on screen (y down),
    at pixel centres."""
    centres = np.arange(size, dtype=np.float32) + 0.5
    xs, ys = centres[None, None, :], centres[None, :, None]
    masks = np.empty((len(vertices), size, size), dtype=bool)
    for start in range(0, len(vertices), _CHUNK):
        v = vertices[start : start + _CHUNK].astype(np.float32)
        inside = np.ones((len(v), size, size), dtype=bool)
        for i in range(v.shape[1]):
            x0, y0 = v[:, i, 0, None, None], v[:, i, 1, None, None]
            x1, y1 = v[:, (i + 1) % v.shape[1], 0, None, None], v[:, (i + 1) % v.shape[1], 1]
            y1 = y1[:, None, None]
            inside &= (x1 - x0) * (ys - y0) - (y1 - y0) * (xs - x0) >= 0
        masks[start : start + len(v)] = inside
    return masks


def _compose(masks: np.ndarray, background: np.ndarray, obj: np.ndarray) -> torch.Tensor:
    images = np.where(masks, obj[:, None, None], background[:, None, None])
    return torch.from_numpy(images.astype(np.float32)).unsqueeze(1)


def triangles_squares(n: int, size: int = 64, seed: int = 0) -> Data:
    """The 2-class Triangles & Squares task (Rangelova et al. 2018): label 0 = triangle,
    1 = square; equilateral triangles and squares at random rotation, position and scale.

    Both shapes draw their area from the same range (4% to 20% of the image), so size is no
    cue: only the shape is. Object and background are flat grey levels varied per image.
    Returns images (n, 1, size, size) float in [0, 1], labels (n,) long, masks (n, size, size)
    bool (the object's pixels). ``size`` 32 and 64 are the paper's variants; any size >= 16
    works. Classes are balanced; deterministic for a ``seed``.
    """
    _check(n, size)
    rng = np.random.default_rng(seed)
    labels = _balanced_labels(rng, n, 2)
    area = rng.uniform(0.04, 0.20, n) * size * size
    # Circumradius from area: equilateral triangle (3 sqrt(3) / 4) r^2, square 2 r^2.
    radius = np.where(labels == 0, np.sqrt(area / (3 * math.sqrt(3) / 4)), np.sqrt(area / 2))
    margin = radius + 1.0  # the circumcircle (any rotation) stays inside the image
    cx = margin + rng.uniform(0.0, 1.0, n) * (size - 2 * margin)
    cy = margin + rng.uniform(0.0, 1.0, n) * (size - 2 * margin)
    theta = rng.uniform(0.0, 2 * math.pi, n)
    # Vertices in order of increasing angle (clockwise on screen, y down). Triangles
    # repeat their first vertex so both shapes have 4 vertices (a zero-length edge is harmless).
    k = np.arange(4)
    steps = np.where(labels[:, None] == 0, np.minimum(k, 2) * (2 * math.pi / 3), k * math.pi / 2)
    steps = np.where((labels[:, None] == 0) & (k == 3), 0.0, steps)
    angles = theta[:, None] + steps
    vertices = np.stack(
        [
            cx[:, None] + radius[:, None] * np.cos(angles),
            cy[:, None] + radius[:, None] * np.sin(angles),
        ],
        axis=-1,
    )
    masks = _convex_masks(vertices, size)
    background, obj = _grey_levels(rng, n)
    images = _compose(masks, background, obj)
    return images, torch.from_numpy(labels).long(), torch.from_numpy(masks)


def _place_circles(
    rng: np.random.Generator, count: int, size: int, base: float, gap: float = 2.0
) -> np.ndarray:
    """(count, 3) rows (cx, cy, r) of non-overlapping circles inside the image (rejection)."""
    while True:  # restart in the (rare) case a layout gets stuck
        circles: list[tuple[float, float, float]] = []
        for _ in range(200):
            if len(circles) == count:
                return np.array(circles, dtype=np.float64).reshape(count, 3)
            r = base * rng.uniform(0.9, 1.1)
            cx, cy = rng.uniform(r + 1, size - 1 - r, 2)
            if all((cx - x) ** 2 + (cy - y) ** 2 >= (r + q + gap) ** 2 for x, y, q in circles):
                circles.append((cx, cy, r))
        if len(circles) == count:
            return np.array(circles, dtype=np.float64).reshape(count, 3)


def counting(n: int, size: int = 64, max_count: int = 5, seed: int = 0) -> Data:
    """Images holding k similar, non-overlapping circles; the label is k in 0..max_count.

    The counting task of Rangelova et al. (2018): one object grey level per image, radii within
    +-10% of a per-image base radius (5% to 8% of the image side), so counting, not area, is
    the reliable strategy. Returns images (n, 1, size, size) float in [0, 1], labels (n,) long,
    masks (n, size, size) bool (the union of the circles). Counts are balanced; deterministic
    for a ``seed``. Classes are the counts: ``label == number of circles``.
    """
    _check(n, size)
    if not isinstance(max_count, int) or not 1 <= max_count <= 12:
        raise ValueError(f"max_count must be an int in 1..12, got {max_count!r}")
    rng = np.random.default_rng(seed)
    labels = _balanced_labels(rng, n, max_count + 1)
    base = rng.uniform(0.05, 0.08, n) * size
    circles = np.zeros((n, max_count, 3))  # radius -1 = no circle (draws nothing)
    circles[..., 2] = -1.0
    for i in range(n):
        circles[i, : labels[i]] = _place_circles(rng, int(labels[i]), size, base[i])
    centres = np.arange(size, dtype=np.float32) + 0.5
    masks = np.zeros((n, size, size), dtype=bool)
    for start in range(0, n, _CHUNK):
        c = circles[start : start + _CHUNK, :, :, None, None].astype(np.float32)
        d2 = (centres[None, None, None, :] - c[:, :, 0]) ** 2 + (
            centres[None, None, :, None] - c[:, :, 1]
        ) ** 2
        masks[start : start + len(c)] = (d2 <= c[:, :, 2] * np.abs(c[:, :, 2])).any(axis=1)
    background, obj = _grey_levels(rng, n)
    images = _compose(masks, background, obj)
    return images, torch.from_numpy(labels).long(), torch.from_numpy(masks)
