"""Datasets generated or bundled offline, sample photos, and preprocessing.

Every dataset returns ``(images, labels, masks)``: images float (N, C, H, W) in [0, 1], labels
long (N,), masks bool (N, H, W) marking the object's pixels, or ``None`` where no ground truth
exists. All take ``n`` and ``seed`` and are deterministic for a seed.

Example::

    >>> from xai_widgets import data
    >>> images, labels, masks = data.dataset("triangles_squares", 16, seed=0, size=32)
    >>> data.class_names("triangles_squares")
    ('triangle', 'square')
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .photos import FACE_CLASSES, SAMPLE_NAMES, TEXTURE_CLASSES, faces, sample_images, textures
from .preprocess import denormalize, normalize, prepare
from .sea_ice import sea_ice
from .synthetic import counting, triangles_squares

__all__ = [
    "SAMPLE_NAMES",
    "class_names",
    "counting",
    "dataset",
    "dataset_names",
    "denormalize",
    "faces",
    "normalize",
    "prepare",
    "sample_images",
    "sea_ice",
    "textures",
    "triangles_squares",
]

_DATASETS: dict[str, Callable[..., tuple]] = {
    "triangles_squares": triangles_squares,
    "counting": counting,
    "textures": textures,
    "faces": faces,
    "sea_ice": sea_ice,  # returns (sar, mwr, labels): two sensors, per-pixel labels
}


def dataset_names() -> list[str]:
    """The names :func:`dataset` accepts."""
    return list(_DATASETS)


def _lookup(name: str) -> Callable[..., tuple]:
    if name not in _DATASETS:
        raise ValueError(f"unknown dataset {name!r}; available: {', '.join(_DATASETS)}")
    return _DATASETS[name]


def dataset(name: str, n: int | None = None, seed: int = 0, **kwargs: Any) -> tuple:
    """``(images, labels, masks)`` of the dataset ``name`` (see :func:`dataset_names`);
    ``kwargs`` go to its generator (``size``, ``max_count``, ``split``). ``n=None`` is the
    whole set for ``faces`` and 256 images for the generated ones."""
    generate = _lookup(name)
    if n is None and name != "faces":
        n = 256
    return generate(n, seed=seed, **kwargs)


def class_names(name: str, **kwargs: Any) -> tuple[str, ...]:
    """Class names of dataset ``name`` in label order (``max_count`` for ``counting``)."""
    _lookup(name)
    if name == "triangles_squares":
        return ("triangle", "square")
    if name == "sea_ice":
        return ("water", "ice")
    if name == "counting":
        return tuple(str(k) for k in range(int(kwargs.get("max_count", 5)) + 1))
    return TEXTURE_CLASSES if name == "textures" else FACE_CLASSES
