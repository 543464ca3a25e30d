"""DeepDream (Mordvintsev, Olah & Tyka 2015, "Inceptionism: going deeper into neural
networks"; the reference ``deepdream.ipynb``): amplify whatever a layer sees in an image.

Gradient ascent on the layer's energy E(x) = ||A_l(x)||^2 / 2 (so dE/dA = A), with steps
normalized by the mean gradient magnitude and a random jitter (roll) per step::

    g = dE/dx (at roll(x, d)),    x <- x + lr * roll(g, -d) / mean|g|

over an octave pyramid: the image is shrunk ``octaves - 1`` times by ``octave_scale``; dreaming
starts at the smallest octave, and at each larger one the *detail* added so far (dreamed -
base at the previous octave) is upscaled and re-injected into that octave's base image, so the
high frequencies lost in the shrunken base are kept and the patterns grow at several scales.

Example::

    >>> out = dream(model, x[0], "features.3", octaves=3)   # (1, C, H, W)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_input, check_model
from ..hooks import borrowed
from ..methods.registry import Progress
from ._common import LayerInfo, check_float, check_int, probe, run_to
from .priors import random_shift

__all__ = ["dream"]


def _pyramid(base: torch.Tensor, octaves: int, scale: float) -> list[torch.Tensor]:
    images = [base]
    for _ in range(octaves - 1):
        h, w = (max(1, round(s / scale)) for s in images[-1].shape[-2:])
        images.append(F.interpolate(images[-1], size=(h, w), mode="bilinear", align_corners=False))
    return images


def _check_sizes(model: nn.Module, pyramid: list[torch.Tensor], layer: object) -> None:
    smallest = pyramid[-1]
    try:
        probe(model, smallest[:1], layer, "dream")
    except (RuntimeError, ValueError) as error:
        if type(error) not in (RuntimeError, ValueError):  # the model's own error: as it is
            raise
        h, w = smallest.shape[-2:]
        raise ValueError(
            f"dream: the smallest octave ({len(pyramid)} octaves) is {h} x {w} px, too small "
            f"for layer {layer!r} ({error}); use fewer octaves or a smaller octave_scale"
        ) from error


def dream(
    model: nn.Module,
    image: torch.Tensor,
    layer: str | nn.Module | None,
    octaves: int = 4,
    octave_scale: float = 1.4,
    steps: int = 20,
    lr: float = 0.01,
    seed: int = 0,
    *,
    jitter: int | None = None,
    progress: Progress | None = None,
) -> torch.Tensor:
    """The dreamed image(s) (N, C, H, W) for ``image`` (N, C, H, W) or (C, H, W), in the
    model's input space.

    ``steps`` per octave; ``jitter``: the largest roll in pixels (default min(H, W) // 8, as
    32 px at 224 px in the reference notebook); ``progress(fraction)`` runs after every step and
    may raise to cancel. Deterministic for a seed on CPU.
    """
    check_model(model)
    x = check_input(model, image)
    check_int(octaves, "octaves", "dream")
    check_int(steps, "steps", "dream")
    check_int(seed, "seed", "dream", 0)
    check_float(octave_scale, "octave_scale", "dream", 1.0, strict=True)
    check_float(lr, "lr", "dream", strict=True)
    if jitter is None:
        jitter = max(1, min(x.shape[-2:]) // 8)
    check_int(jitter, "jitter", "dream", 0)
    info = probe(model, x, layer, "dream")
    pyramid = _pyramid(x.detach(), octaves, octave_scale)
    if octaves > 1:
        _check_sizes(model, pyramid, info.name)
    gen = torch.Generator(device=x.device).manual_seed(seed)
    total = octaves * steps
    with borrowed(model):
        return _dream(model, info, pyramid, steps, lr, jitter, gen, progress, total)


def _dream(
    model: nn.Module,
    info: LayerInfo,
    pyramid: list[torch.Tensor],
    steps: int,
    lr: float,
    jitter: int,
    gen: torch.Generator,
    progress: Progress | None,
    total: int,
) -> torch.Tensor:
    detail = torch.zeros_like(pyramid[-1])
    done = 0
    src = pyramid[-1]
    for base in reversed(pyramid):
        if detail.shape != base.shape:
            detail = F.interpolate(
                detail, size=base.shape[-2:], mode="bilinear", align_corners=False
            )
        src = base + detail
        for _ in range(steps):
            dy, dx = random_shift(gen, jitter)
            shifted = torch.roll(src, (dy, dx), (2, 3)).requires_grad_(True)
            acts = run_to(model, shifted, info)
            (grad,) = torch.autograd.grad(0.5 * acts.pow(2).sum(), shifted)
            scale = grad.abs().mean((1, 2, 3), keepdim=True).clamp_min(1e-12)
            src = src + lr * torch.roll(grad / scale, (-dy, -dx), (2, 3))
            done += 1
            if progress is not None:
                progress(done / total)
        detail = src - base
    return src.detach()
