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
import torch.nn.functional as F

from ..render import image_to_uint8

__all__ = [
    "DISPLAY_MAX",
    "Picture",
    "Preprocess",
    "decode_upload",
    "fit",
    "picture",
    "pictures",
    "resize_rgb",
]

DISPLAY_MAX = 512  # px on the longer side of a photo shown beside a smaller model input


@dataclass(frozen=True)
class Picture:
    display: np.ndarray  # (h, w, 3) uint8, the same view as ``input`` (maybe more pixels)
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


@dataclass(frozen=True)
class Preprocess:
    """How pictures become model inputs and back, decoded once from what the user passed.

    ``Preprocess.of(spec)`` takes None (the pictures are model inputs already), a zoo card or a
    ``(mean, std)`` pair (normalization; a card also resizes to its input size), a
    :class:`Preprocess`, or a callable picture -> tensor (not invertible: pictures are shown
    as given, inputs min-max scaled).

    Example::

        pre = Preprocess.of(zoo.card("shapes"))
        pre.kind, pre.input(image).shape, pre.display(x).dtype     # 'normalize', (1, 64, 64), uint8
    """

    kind: str  # "none" | "normalize" | "callable"
    spec: Any = None
    size: tuple[int, int] | None = None  # the model's input size: resize + centre crop

    @classmethod
    def of(cls, spec: Any, size: int | tuple[int, int] | None = None) -> Preprocess:
        """Decode ``spec``; ``size`` (an int or (height, width)) resizes and centre-crops every
        picture for the model (a zoo card's own input size otherwise)."""
        fitted = _size(size)
        if isinstance(spec, Preprocess):
            return spec if fitted is None else cls(spec.kind, spec.spec, fitted)
        if spec is None:
            return cls("none", None, fitted)
        if callable(spec) and not hasattr(spec, "mean"):
            return cls("callable", spec, fitted)
        from ..data.preprocess import statistics

        stats = statistics(spec)  # a clear error now for what is not (mean, std) or a card
        return cls("normalize", spec, fitted or stats.size)

    def input(self, item: Any) -> torch.Tensor:
        """The (C, H, W) float model input (CPU) for one picture."""
        if self.kind == "none":
            x = _as_float_chw(item)
            return x if self.size is None else fit(x, self.size)
        if self.kind == "callable":
            x = self.spec(item)
            if not isinstance(x, torch.Tensor):
                raise TypeError(
                    f"preprocess must return a torch.Tensor, returned {type(x).__name__}"
                )
            x = x.detach().cpu().float()
            return x[0] if x.dim() == 4 and x.shape[0] == 1 else x
        from ..data import prepare

        return prepare(item, self.spec, size=self.size)[0]

    def display(self, x: torch.Tensor) -> np.ndarray:
        """A model input (C, H, W) or (1, C, H, W) as an (H, W, 3) uint8 picture: denormalized
        when the statistics are known, as is for plain inputs in [0, 1], else min-max scaled."""
        x = x.detach().float().cpu()
        if x.dim() == 4:
            x = x[0]
        if self.kind == "normalize":
            from ..data import denormalize

            try:
                return image_to_uint8(denormalize(x[None], self.spec)[0])
            except (TypeError, ValueError):
                pass  # statistics that do not fit this input: min-max below
        elif self.kind == "none":
            return image_to_uint8(x)
        lo, hi = float(x.min()), float(x.max())
        return image_to_uint8((x - lo) / (hi - lo) if hi > lo else torch.zeros_like(x))

    def colour(self, value: float) -> str:
        """The CSS colour of pixels set to ``value`` in model-input space (an occluding patch)."""
        rgb = [value]
        if self.kind == "normalize":
            from ..data.preprocess import statistics

            spec = statistics(self.spec)
            rgb = [value * s + m for m, s in zip(spec.mean, spec.std, strict=False)] or rgb
        rgb = (rgb * 3)[:3] if len(rgb) == 1 else rgb[:3]
        r, g, b = (int(np.clip(v * 255 + 0.5, 0, 255)) for v in rgb)
        return f"#{r:02x}{g:02x}{b:02x}"


def picture(item: Any, preprocess: Any = None, name: str = "") -> Picture:
    """One :class:`Picture` from one image (``preprocess``: see :class:`Preprocess`). The
    display is the picture the user knows: the photo itself (centre-cropped like the model's
    input, at up to 512 px) when it is larger than the input, else the input as a picture."""
    pre = Preprocess.of(preprocess)
    x = pre.input(item)
    size = (int(x.shape[1]), int(x.shape[2]))
    original = _as_float_chw(item)
    if (max(original.shape[1:]) > max(size) and pre.kind != "none") or pre.size is not None:
        return Picture(_display(original, size), x, name)
    if pre.kind == "normalize":
        return Picture(pre.display(x), x, name)
    display = image_to_uint8(original) if pre.kind == "callable" else image_to_uint8(x)
    if display.shape[:2] != size:
        display = resize_rgb(display, size)
    return Picture(display, x, name)


def fit(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """(C, H, W) resized (bilinear, antialiased) so it covers ``size``, then centre-cropped."""
    h, w = x.shape[-2:]
    if (h, w) == tuple(size):
        return x
    scale = max(size[0] / h, size[1] / w)
    inner = (max(size[0], round(h * scale)), max(size[1], round(w * scale)))
    x = F.interpolate(x[None], size=inner, mode="bilinear", align_corners=False, antialias=True)
    top, left = (inner[0] - size[0]) // 2, (inner[1] - size[1]) // 2
    return x[0, :, top : top + size[0], left : left + size[1]]


def _display(original: torch.Tensor, size: tuple[int, int]) -> np.ndarray:
    """The part of ``original`` the model sees (centre crop at ``size``'s aspect), at the
    photo's own resolution up to DISPLAY_MAX px on the longer side."""
    h, w = original.shape[1:]
    scale = max(size[0] / h, size[1] / w)
    crop = (size[0] / scale, size[1] / scale)
    k = min(1.0, DISPLAY_MAX / max(crop))
    shown = (max(size[0], round(crop[0] * k)), max(size[1], round(crop[1] * k)))
    return image_to_uint8(fit(original, shown).clamp(0.0, 1.0))


def _size(size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    if size is None:
        return None
    if isinstance(size, int) and not isinstance(size, bool) and size > 0:
        return (size, size)
    if (
        isinstance(size, (tuple, list))
        and len(size) == 2
        and all(isinstance(s, int) and s > 0 for s in size)
    ):
        return (int(size[0]), int(size[1]))
    raise ValueError(f"input_size must be a positive int or (height, width), got {size!r}")


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
