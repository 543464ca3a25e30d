"""Datasets cut from the photographs that ship inside scikit-image's wheel (no download).

- :func:`textures`: patches of the brick, grass and gravel photos (3-class texture
  classification; van der Walt et al. 2014, scikit-image, ``skimage.data``).
- :func:`faces`: ``skimage.data.lfw_subset`` (100 faces from Labeled Faces in the Wild,
  Huang et al. 2007, and 100 non-face patches), 25 x 25 grey.
- :func:`sample_images`: chelsea, coffee, astronaut, rocket, retina as RGB uint8, for
  ImageNet models.

Both datasets have a fixed held-out part (``split="test"``) that ``split="train"`` never
touches: the bottom quarter of each texture photo, and every fourth face / non-face image.

Example::

    >>> images, labels, masks = textures(6, size=64, seed=0)   # masks is None
    >>> images.shape, labels.tolist()
    (torch.Size([6, 1, 64, 64]), [0, 2, 2, 1, 0, 1])
    >>> sample_images()["chelsea"].shape
    (300, 451, 3)
"""

from __future__ import annotations

from functools import cache

import numpy as np
import skimage.data
import torch

__all__ = ["FACE_CLASSES", "SAMPLE_NAMES", "TEXTURE_CLASSES", "faces", "sample_images", "textures"]

TEXTURE_CLASSES = ("brick", "grass", "gravel")
FACE_CLASSES = ("non-face", "face")
SAMPLE_NAMES = ("chelsea", "coffee", "astronaut", "rocket", "retina")
SPLITS = ("all", "train", "test")
_TEST_ROWS = 128  # the bottom rows of each 512 x 512 texture photo are held out


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")


@cache
def _texture_photos() -> np.ndarray:
    """(3, 512, 512) float32 in [0, 1], in TEXTURE_CLASSES order."""
    photos = [getattr(skimage.data, name)() for name in TEXTURE_CLASSES]
    return np.stack(photos).astype(np.float32) / 255.0


def textures(n: int, size: int = 64, seed: int = 0, split: str = "all") -> tuple:
    """Random ``size`` x ``size`` patches of the brick, grass and gravel photos.

    Labels 0 = brick, 1 = grass, 2 = gravel (balanced). ``split="train"`` cuts patches from
    the top 384 rows of each photo, ``"test"`` from the bottom 128 rows (so ``size`` <= 128),
    ``"all"`` from anywhere. Returns images (n, 1, size, size) float in [0, 1], labels (n,)
    long and ``None`` (no masks: the texture fills the patch). Deterministic for a ``seed``.
    """
    _check_split(split)
    photos = _texture_photos()
    height = photos.shape[1]
    top, bottom = {"all": (0, height), "train": (0, height - _TEST_ROWS)}.get(
        split, (height - _TEST_ROWS, height)
    )
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a non-negative int, got {n!r}")
    if not isinstance(size, int) or not 8 <= size <= bottom - top:
        raise ValueError(
            f"size must be an int in 8..{bottom - top} for split={split!r}, got {size!r}"
        )
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(n) % len(TEXTURE_CLASSES))
    rows = rng.integers(top, bottom - size + 1, n)
    cols = rng.integers(0, photos.shape[2] - size + 1, n)
    offsets = np.arange(size)
    patches = photos[
        labels[:, None, None],
        rows[:, None, None] + offsets[None, :, None],
        cols[:, None, None] + offsets[None, None, :],
    ]
    images = torch.from_numpy(np.ascontiguousarray(patches)).unsqueeze(1)
    return images, torch.from_numpy(labels).long(), None


def faces(n: int | None = None, seed: int = 0, split: str = "all") -> tuple:
    """scikit-image's ``lfw_subset``: label 1 = face, 0 = non-face; 25 x 25 grey images.

    The bundled set has 200 images (100 of each). ``split="test"`` is every fourth image of
    each class (25 + 25), ``"train"`` the other 150, ``"all"`` all 200. ``n=None`` returns the
    whole split; otherwise ``n`` images drawn without replacement (at most the split's size).
    The order is shuffled by ``seed``. Returns images (n, 1, 25, 25) float in [0, 1], labels
    (n,) long and ``None`` (no masks).
    """
    _check_split(split)
    data = skimage.data.lfw_subset().astype(np.float32)  # faces first, then non-faces
    labels = (np.arange(len(data)) < len(data) // 2).astype(np.int64)
    index = np.arange(len(data))
    within = index % (len(data) // 2)
    if split == "test":
        index = index[within % 4 == 3]
    elif split == "train":
        index = index[within % 4 != 3]
    if n is None:
        n = len(index)
    if not isinstance(n, int) or not 0 <= n <= len(index):
        raise ValueError(
            f"n must be None or an int in 0..{len(index)} for split={split!r}, got {n!r}"
        )
    rng = np.random.default_rng(seed)
    chosen = rng.permutation(index)[:n]
    images = torch.from_numpy(np.ascontiguousarray(data[chosen])).unsqueeze(1)
    return images, torch.from_numpy(labels[chosen]), None


def sample_images() -> dict[str, np.ndarray]:
    """scikit-image's bundled photos as RGB uint8 (H, W, 3) arrays, keyed by name.

    chelsea (a cat), coffee (a cup), astronaut (Eileen Collins), rocket (a launch), retina
    (a fundus photograph); feed them to ImageNet models with ``prepare(image, card)``.
    """
    out = {}
    for name in SAMPLE_NAMES:
        image = np.asarray(getattr(skimage.data, name)())
        if image.ndim == 2:
            image = np.repeat(image[..., None], 3, axis=-1)
        out[name] = np.ascontiguousarray(image[..., :3], dtype=np.uint8)
    return out
