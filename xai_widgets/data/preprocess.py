"""From the picture a user has to the tensor a model expects, and back for display.

``prepare`` accepts a PIL image, a numpy array (H, W), (H, W, C) or a batch (N, H, W, C), or a
tensor (H, W), (C, H, W) or a batch (N, C, H, W); uint8 is read as 0..255 (uint16 as
0..65535), floats as 0..1. It converts grey <-> RGB to the channels the model needs (RGB ->
grey with ITU-R BT.601 luma, as PIL's ``convert("L")``), drops an alpha channel, resizes
(bilinear with antialiasing; by default the shorter side is fitted and the centre cropped, as
torchvision's ImageNet eval transform does, so nothing is squashed) and normalizes:
(x - mean) / std per channel.

``card_or_mean_std`` is a zoo card (anything with ``mean``, ``std`` and optionally
``channels`` and ``input_size`` attributes), a mapping with those keys, or a ``(mean, std)``
pair: per-channel sequences fix the channel count (``((0.5,), (0.25,))`` means grey), bare
floats apply to whatever channels the image has.

Example::

    >>> x = prepare(sample_images()["chelsea"], ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)), 224)
    >>> x.shape
    torch.Size([1, 3, 224, 224])
    >>> picture = denormalize(x, ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)))  # in [0, 1]
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

__all__ = ["denormalize", "normalize", "prepare", "statistics"]

ACCEPTED = (
    "a PIL image, a numpy array (H, W) / (H, W, C) / (N, H, W, C), or a torch tensor "
    "(H, W) / (C, H, W) / (N, C, H, W), with C = 1 (grey), 3 (RGB) or 4 (RGBA)"
)
_LUMA = (0.299, 0.587, 0.114)  # ITU-R BT.601, as PIL's convert("L")
_RANGE_TOL = 1e-3


@dataclass(frozen=True)
class _Spec:
    mean: tuple[float, ...]
    std: tuple[float, ...]
    channels: int | None
    size: tuple[int, int] | None


def _floats(value: Any, what: str) -> tuple[float, ...]:
    if isinstance(value, int | float):
        return (float(value),)
    try:
        out = tuple(float(v) for v in value)
    except TypeError:
        raise TypeError(f"{what} must be a float or a sequence of floats, got {value!r}") from None
    if not out:
        raise ValueError(f"{what} is empty")
    return out


def _spec(card_or_mean_std: Any) -> _Spec:
    if isinstance(card_or_mean_std, Mapping):
        get = card_or_mean_std.get
    elif hasattr(card_or_mean_std, "mean") and hasattr(card_or_mean_std, "std"):

        def get(key: str, default: Any = None) -> Any:
            return getattr(card_or_mean_std, key, default)

    elif isinstance(card_or_mean_std, Sequence) and len(card_or_mean_std) == 2:
        pair = dict(zip(("mean", "std"), card_or_mean_std, strict=True))
        get = pair.get
    else:
        raise TypeError(
            "card_or_mean_std must be a zoo card, a mapping with 'mean' and 'std', or a "
            f"(mean, std) pair; got {type(card_or_mean_std).__name__}"
        )
    raw_mean = get("mean")
    mean, std = _floats(raw_mean, "mean"), _floats(get("std"), "std")
    if len(std) == 1 and len(mean) > 1:
        std = std * len(mean)
    if len(mean) != len(std):
        raise ValueError(f"mean {mean} and std {std} have different lengths")
    if any(not np.isfinite(s) or s <= 0 for s in std) or not all(np.isfinite(mean)):
        raise ValueError(f"std must be finite and > 0 and mean finite, got mean={mean}, std={std}")
    channels = get("channels", None)
    if channels is None and not isinstance(raw_mean, int | float):
        channels = len(mean)  # per-channel statistics say how many channels the model takes
    size = get("input_size", None)
    return _Spec(mean, std, None if channels is None else int(channels), _size(size))


def statistics(card_or_mean_std: Any) -> _Spec:
    """The checked preprocessing (``mean``, ``std``, ``channels``, ``size``) of a zoo card, a
    mapping or a ``(mean, std)`` pair; TypeError/ValueError naming what is wrong."""
    return _spec(card_or_mean_std)


def _size(size: Any) -> tuple[int, int] | None:
    if size is None:
        return None
    if isinstance(size, int):
        size = (size, size)
    if not (
        isinstance(size, Sequence)
        and len(size) == 2
        and all(isinstance(s, int) and s > 0 for s in size)
    ):
        raise ValueError(f"size must be a positive int or an (H, W) pair of ints, got {size!r}")
    return int(size[0]), int(size[1])


def _pil_to_numpy(image: Any) -> np.ndarray:
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L"):
        return np.asarray(image, dtype=np.uint16)
    if mode in ("I", "F"):
        return np.asarray(image, dtype=np.float32)
    if mode in ("1", "L", "LA"):
        return np.asarray(image.convert("L"))
    if mode != "RGB":
        image = image.convert("RGBA" if "A" in mode or "transparency" in image.info else "RGB")
    return np.asarray(image)


def _channels_first(shape: Sequence[int]) -> bool:
    """True for a 3-d shape that can only be (C, H, W): C in 1/3/4 and smaller than H and W."""
    return (
        len(shape) == 3
        and shape[0] in (1, 3, 4)
        and shape[-1] not in (1, 3, 4)
        and shape[0] < min(shape[1], shape[2])
    )


def _to_tensor(image: Any) -> torch.Tensor:
    """(N, C, H, W) float in [0, 1], checked, on the input's device."""
    given = type(image).__name__
    if type(image).__module__.startswith("PIL."):
        image = _pil_to_numpy(image)
    dtype = getattr(image, "dtype", None)
    if isinstance(image, np.ndarray):
        array = image
        if _channels_first(array.shape):
            array = np.moveaxis(array, 0, -1)  # an unambiguous (C, H, W) array
        if array.ndim == 2:
            array = array[None, :, :, None]
        elif array.ndim == 3:
            array = array[None]
        if array.ndim != 4:
            raise ValueError(f"expected {ACCEPTED}; got a numpy array of shape {image.shape}")
        if array.dtype == np.uint16:
            array = array.astype(np.float32) / 65535.0
        try:
            tensor = torch.from_numpy(np.require(array, requirements=["C", "W"])).permute(
                0, 3, 1, 2
            )
        except TypeError:
            raise TypeError(
                f"unsupported image dtype {image.dtype}; use uint8, bool or float"
            ) from None
        shape = image.shape
    elif isinstance(image, torch.Tensor):
        tensor = image.detach()
        if _channels_first(tensor.shape[::-1]):
            tensor = tensor.permute(2, 0, 1)  # an unambiguous (H, W, C) tensor
        if tensor.ndim == 2:
            tensor = tensor[None, None]
        elif tensor.ndim == 3:
            tensor = tensor[None]
        if tensor.ndim != 4:
            raise ValueError(f"expected {ACCEPTED}; got a tensor of shape {tuple(image.shape)}")
        shape = tuple(image.shape)
    else:
        raise TypeError(f"expected {ACCEPTED}; got {given}")
    if tensor.numel() == 0:
        raise ValueError(f"the image is empty (shape {shape}); expected {ACCEPTED}")
    channels = tensor.shape[1]
    if channels not in (1, 3, 4):
        raise ValueError(
            f"the image has {channels} channels (shape {shape}); accepted are 1 (grey), 3 (RGB) "
            "and 4 (RGBA, alpha dropped)"
        )
    if tensor.dtype == torch.uint8:
        tensor = tensor.float() / 255.0
    elif tensor.dtype == torch.bool:
        tensor = tensor.float()
    elif tensor.is_floating_point():
        tensor = tensor.float()
        if not bool(torch.isfinite(tensor).all()):
            raise ValueError(f"the image holds NaN or infinite values (shape {shape})")
        lo, hi = float(tensor.min()), float(tensor.max())
        if lo < -_RANGE_TOL or hi > 1 + _RANGE_TOL:
            raise ValueError(
                f"a float image must lie in [0, 1], this one spans [{lo:.4g}, {hi:.4g}]; pass "
                "uint8 for 0..255 values, or an image that is not normalized yet"
            )
    else:
        raise TypeError(
            f"unsupported image dtype {dtype} ({given}); use uint8 (0..255), uint16 "
            "(0..65535), bool or float (0..1)"
        )
    return tensor.clamp(0.0, 1.0)


def _convert_channels(x: torch.Tensor, channels: int | None) -> torch.Tensor:
    if x.shape[1] == 4:
        x = x[:, :3]
    if channels is None or x.shape[1] == channels:
        return x
    if channels == 3:
        return x.expand(-1, 3, -1, -1).contiguous()
    if channels == 1:
        luma = torch.tensor(_LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
        return (x * luma).sum(1, keepdim=True)
    raise ValueError(f"cannot convert a {x.shape[1]}-channel image to {channels} channels")


def _resize(x: torch.Tensor, size: tuple[int, int], fit: str) -> torch.Tensor:
    h, w = x.shape[-2:]
    if (h, w) == size:
        return x
    if fit == "crop":
        scale = max(size[0] / h, size[1] / w)
        inner = (max(size[0], round(h * scale)), max(size[1], round(w * scale)))
    elif fit == "stretch":
        inner = size
    else:
        raise ValueError(f"fit must be 'crop' or 'stretch', got {fit!r}")
    x = F.interpolate(x, size=inner, mode="bilinear", align_corners=False, antialias=True)
    top, left = (inner[0] - size[0]) // 2, (inner[1] - size[1]) // 2
    return x[..., top : top + size[0], left : left + size[1]].clamp(0.0, 1.0)


def _stats(spec: _Spec, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    channels = x.shape[-3]
    if len(spec.mean) not in (1, channels):
        raise ValueError(
            f"mean/std have {len(spec.mean)} values but the image has {channels} channels"
        )
    shape = (-1, 1, 1)
    mean = torch.tensor(spec.mean, dtype=x.dtype, device=x.device).view(shape)
    std = torch.tensor(spec.std, dtype=x.dtype, device=x.device).view(shape)
    return mean, std


def prepare(
    image: Any,
    card_or_mean_std: Any,
    size: int | tuple[int, int] | None = None,
    fit: str = "crop",
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """A normalized float32 (1, C, H, W) tensor (or (N, C, H, W) for a batch) from ``image``.

    ``size`` defaults to the card's ``input_size`` (no resize for a bare (mean, std) pair);
    ``fit="crop"`` keeps the aspect ratio and crops the centre, ``"stretch"`` resizes to
    ``size`` exactly. Channels follow the card's ``channels`` (else the length of a
    per-channel ``mean``; bare float statistics keep the image's channels). Raises TypeError for an
    unsupported type or dtype and ValueError for a wrong shape or channel count, an empty
    image, NaN/inf, or float values outside [0, 1].
    """
    spec = _spec(card_or_mean_std)
    target = _size(size) if size is not None else spec.size
    x = _to_tensor(image)
    if device is not None:
        x = x.to(device)
    x = _convert_channels(x, spec.channels)
    if target is not None:
        x = _resize(x, target, fit)
    return normalize(x, spec).contiguous()


def normalize(x: torch.Tensor, card_or_mean_std: Any) -> torch.Tensor:
    """(x - mean) / std per channel for images in [0, 1] already shaped (..., C, H, W)."""
    spec = card_or_mean_std if isinstance(card_or_mean_std, _Spec) else _spec(card_or_mean_std)
    x = x.float()
    mean, std = _stats(spec, x)
    return (x - mean) / std


def denormalize(x: torch.Tensor, card_or_mean_std: Any) -> torch.Tensor:
    """The displayable picture: x * std + mean per channel, clamped to [0, 1], same shape
    (..., C, H, W). Inverse of :func:`prepare`'s normalization."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"denormalize expects a tensor (..., C, H, W), got {type(x).__name__}")
    if x.ndim < 3:
        raise ValueError(f"denormalize expects (..., C, H, W), got shape {tuple(x.shape)}")
    spec = _spec(card_or_mean_std)
    x = x.detach().float()
    mean, std = _stats(spec, x)
    return (x * std + mean).clamp(0.0, 1.0)
