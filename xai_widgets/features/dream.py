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

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_input, check_model
from ..hooks import borrowed
from ..methods.registry import Progress
from ..params import check_params, param
from ._common import LayerInfo, check_int, probe, run_to
from .priors import random_shift

__all__ = ["DreamSettings", "dream"]


@dataclass(frozen=True)
class DreamSettings:
    """The declared parameters of :func:`dream`; the widget's controls come from these."""

    octaves: int = param(4, min=1, max=8, help="Number of scales the picture is dreamed at.")
    octave_scale: float = param(
        1.4, min=1.01, max=3.0, step=0.01, label="octave scale",
        help="How much larger each octave is than the one before.",
    )  # fmt: skip
    steps: int = param(
        20, min=1, max=200, label="steps per octave", help="Ascent steps at each scale."
    )
    lr: float = param(
        0.01, min=1e-4, max=1.0, step=0.001, label="learning rate",
        help="Step size of the ascent (relative to the gradient's mean size).",
    )  # fmt: skip
    seed: int = param(0, min=0, max=2**31 - 1, help="Seed of the random shifts.")


_D = DreamSettings


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
    octaves: int = _D.octaves,
    octave_scale: float = _D.octave_scale,
    steps: int = _D.steps,
    lr: float = _D.lr,
    seed: int = _D.seed,
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
    settings = dict(octaves=octaves, octave_scale=octave_scale, steps=steps, lr=lr, seed=seed)
    check_params(DreamSettings, settings, "dream")
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
