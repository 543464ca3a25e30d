"""The images a view shows: the picture the user knows beside the tensor the model sees.

``pictures(images, preprocess)`` accepts a batch tensor, a list of tensors / numpy arrays / PIL
images, or a dataset name of :mod:`xai_widgets.data`; ``preprocess`` is None (the images are
the model's input already), a zoo card or a ``(mean, std)`` pair (normalization, resizing to
the card's size; the display is the denormalized input, so it lines up with every map), or a
callable picture -> tensor.

Example::

    pics = pictures("shapes", zoo.card("shapes"))
    pics[0].display.shape, pics[0].input.shape     # (64, 64, 3) uint8, (1, 64, 64)
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..render import image_to_uint8

__all__ = ["Picture", "decode_upload", "picture", "pictures", "resize_rgb"]


@dataclass(frozen=True)
class Picture:
    display: np.ndarray  # (H, W, 3) uint8, the same geometry as ``input``
    input: torch.Tensor  # (C, H, W) float, the model's input (CPU)
    name: str = ""


def _as_float_chw(item: Any) -> torch.Tensor:
    """A picture without preprocessing as a (C, H, W) float tensor (uint8 scaled to [0, 1])."""
    if isinstance(item, torch.Tensor):
        t = item.detach().cpu()
        if t.dim() == 4 and t.shape[0] == 1:
            t = t[0]
        if t.dim() == 2:
            t = t[None]
        if t.dim() != 3:
            raise ValueError(f"an image tensor must be (C, H, W), got shape {tuple(item.shape)}")
        return t.float() / 255.0 if t.dtype == torch.uint8 else t.float()
    array = np.asarray(image_to_uint8(item)) if not isinstance(item, np.ndarray) else item
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3:
        raise ValueError(f"an image array must be (H, W) or (H, W, C), got {array.shape}")
    t = torch.from_numpy(np.array(array, copy=True)).permute(2, 0, 1)
    return t.float() / 255.0 if array.dtype == np.uint8 else t.float()


def picture(item: Any, preprocess: Any = None, name: str = "") -> Picture:
    """One :class:`Picture` from one image (see the module doc for ``preprocess``)."""
    if preprocess is None:
        x = _as_float_chw(item)
        return Picture(image_to_uint8(x), x, name)
    if callable(preprocess) and not hasattr(preprocess, "mean"):
        x = preprocess(item)
        if not isinstance(x, torch.Tensor):
            raise TypeError(f"preprocess must return a torch.Tensor, returned {type(x).__name__}")
        x = x.detach().cpu().float()
        x = x[0] if x.dim() == 4 and x.shape[0] == 1 else x
        display = image_to_uint8(_as_float_chw(item))
        if display.shape[:2] != tuple(x.shape[1:]):
            from PIL import Image

            size = (int(x.shape[2]), int(x.shape[1]))
            display = np.asarray(Image.fromarray(display).resize(size, Image.BILINEAR))
        return Picture(display, x, name)
    from ..data import denormalize, prepare

    x = prepare(item, preprocess)[0]
    return Picture(image_to_uint8(denormalize(x[None], preprocess)[0]), x, name)


def pictures(
    images: Any, preprocess: Any = None, names: Sequence[str] | None = None, n: int = 12
) -> list[Picture]:
    """The gallery: see the module doc. A dataset name loads ``n`` images of it."""
    if isinstance(images, str):
        from ..data import dataset

        batch, labels, _masks = dataset(images, n=n, seed=0)
        images = list(batch)
        if names is None:
            names = [f"#{i} (label {int(label)})" for i, label in enumerate(labels)]
    elif isinstance(images, torch.Tensor) and images.dim() == 4:
        images = list(images)
    elif isinstance(images, (torch.Tensor, np.ndarray)) or hasattr(images, "getpixel"):
        images = [images]
    if not isinstance(images, Sequence) or len(images) == 0:
        raise ValueError(
            "images must be a non-empty batch tensor (N, C, H, W), a list of images (tensors, "
            "numpy arrays, PIL images) or a dataset name of xai_widgets.data"
        )
    names = list(names) if names is not None else [f"#{i}" for i in range(len(images))]
    return [picture(item, preprocess, names[i]) for i, item in enumerate(images)]


def decode_upload(content: bytes | memoryview) -> np.ndarray:
    """An uploaded file (PNG, JPEG, ...) as an RGB uint8 array; ValueError if it is no image."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(bytes(content))) as img:
            return np.asarray(img.convert("RGB"))
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"the uploaded file is not an image PIL can read ({exc})") from exc


def resize_rgb(rgb: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """An RGB uint8 picture resized (bilinear) to ``hw`` = (height, width) for display."""
    from PIL import Image

    if rgb.shape[:2] == tuple(hw):
        return rgb
    image = Image.fromarray(image_to_uint8(rgb)).resize((hw[1], hw[0]), Image.BILINEAR)
    return np.asarray(image.convert("RGB"))
