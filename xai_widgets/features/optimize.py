"""Activation maximization: the input that a channel (or a whole layer) responds to most.

Erhan et al. 2009 ("Visualizing higher-layer features of a deep network") find
x* = argmax_x A(x) by gradient ascent from noise; Yosinski et al. 2015 add image priors (L2
decay, blurring), Olah et al. 2017 ("Feature Visualization", Distill) total variation and
jitter. Here, with A the mean activation of ``channel`` of ``layer`` (or of the whole layer
when ``channel`` is None) and x in the model's input space (a (1, C, H, W) tensor)::

    maximize  J(x) = mean_ij A_c(jitter(x)) - tv * TV(x) - l2 * mean(x^2)

with Adam (lr ``lr``) from x_0 = ``init_std`` * N(0, 1) (a seeded ``torch.Generator`` on the
model's device; 0.1 wakes ReLUs that a flat image leaves dead, with zero gradient), blurring x
with a small Gaussian every ``blur_every`` steps. The forward stops after the layer, so any
image ``size`` works even when the classifier head only takes one size. The yielded
``objective`` is the activation term mean_ij A_c(x) of the yielded image (no jitter, no
priors), so runs with different priors compare. The model is borrowed only while steps run:
between yields it is the user's, unlocked and unchanged. Deterministic for a seed on CPU
(CUDA convolutions may differ in the last bits unless cuDNN is set deterministic).

Example::

    >>> for step, image, objective in optimize(model, "features.3", channel=5, tv=0.05):
    ...     show(image)       # every 16 steps and at the end
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

import torch
from torch import nn

from ..checks import check_input, check_model
from ..hooks import borrowed
from ..layers import input_channels, model_device
from ._common import (
    LayerInfo,
    check_channel,
    check_float,
    check_int,
    model_dtype,
    probe,
    run_to,
)
from .priors import gaussian_blur, l2_penalty, random_shift, total_variation

__all__ = ["Step", "optimize"]


class Step(NamedTuple):
    """One yielded state: ``image`` (1, C, H, W) after ``step`` updates, and its objective."""

    step: int
    image: torch.Tensor
    objective: float


def _size(size: object) -> tuple[int, int]:
    if size is None:
        return 64, 64
    if isinstance(size, int) and not isinstance(size, bool):
        size = (size, size)
    if (
        not isinstance(size, (tuple, list))
        or len(size) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in size)
    ):
        raise TypeError(f"optimize: size must be an int or (height, width), got {size!r}")
    if min(size) < 1:
        raise ValueError(f"optimize: size must be positive, got {tuple(size)}")
    return int(size[0]), int(size[1])


def _objective(acts: torch.Tensor, channel: int | None) -> torch.Tensor:
    return acts.mean() if channel is None else acts[:, channel].mean()


def optimize(
    model: nn.Module,
    layer: str | nn.Module | None,
    channel: int | None = None,
    steps: int = 256,
    lr: float = 0.05,
    tv: float = 0.0,
    l2: float = 0.0,
    blur_every: int = 0,
    jitter: int = 0,
    size: int | tuple[int, int] | None = None,
    seed: int = 0,
    *,
    every: int = 16,
    blur_sigma: float = 0.5,
    init: torch.Tensor | None = None,
    init_std: float = 0.1,
) -> Iterator[Step]:
    """Gradient ascent on ``channel`` of ``layer`` (the whole layer if None); a generator of
    :class:`Step` ``(step, image, objective)`` at step 0, every ``every`` steps and at the end.

    ``size``: int or (H, W) of the image (default 64; ``init``'s size when given); ``init``:
    a (1, C, H, W) start image instead of noise. Stop early by leaving the loop. Arguments are
    checked when called, before the first ``next``.
    """
    check_model(model)
    what = "optimize"
    check_int(steps, "steps", what)
    check_int(every, "every", what)
    check_int(blur_every, "blur_every", what, 0)
    check_int(jitter, "jitter", what, 0)
    check_int(seed, "seed", what, 0)
    check_float(lr, "lr", what, strict=True)
    check_float(tv, "tv", what)
    check_float(l2, "l2", what)
    check_float(blur_sigma, "blur_sigma", what, strict=True)
    check_float(init_std, "init_std", what)
    device, dtype = model_device(model), model_dtype(model)
    if init is not None:
        start = check_input(model, init)
        if start.shape[0] != 1:
            raise ValueError(f"optimize: init must be one image (1, C, H, W), got {start.shape}")
        start = start.to(dtype)
    else:
        height, width = _size(size)
        shape = (1, input_channels(model) or 3, height, width)
        start = torch.zeros(shape, device=device, dtype=dtype)
    info = probe(model, start, layer, what)
    if channel is not None:
        check_channel(info, channel, what)
    gen = torch.Generator(device=device).manual_seed(seed)
    noise = torch.randn(start.shape, generator=gen, device=device, dtype=dtype)
    if init is None:
        start = noise * init_std
    prior = _Prior(tv, l2, blur_every, blur_sigma, jitter)
    return _ascent(model, info, channel, start, gen, prior, steps, lr, every)


@dataclass(frozen=True)
class _Prior:
    tv: float
    l2: float
    blur_every: int
    blur_sigma: float
    jitter: int


def _ascent(
    model: nn.Module,
    info: LayerInfo,
    channel: int | None,
    start: torch.Tensor,
    gen: torch.Generator,
    prior: _Prior,
    steps: int,
    lr: float,
    every: int,
) -> Iterator[Step]:
    image = start.detach().clone().requires_grad_(True)
    adam = torch.optim.Adam([image], lr=lr)

    def value() -> float:
        with torch.no_grad():
            return float(_objective(run_to(model, image.detach(), info), channel))

    with borrowed(model):
        first = value()
    yield Step(0, image.detach().clone(), first)
    done = 0
    while done < steps:
        with borrowed(model):
            for _ in range(min(every, steps - done)):
                dy, dx = random_shift(gen, prior.jitter)
                seen = torch.roll(image, (dy, dx), (2, 3)) if prior.jitter else image
                gain = _objective(run_to(model, seen, info), channel)
                if prior.tv:
                    gain = gain - prior.tv * total_variation(image)
                if prior.l2:
                    gain = gain - prior.l2 * l2_penalty(image)
                (grad,) = torch.autograd.grad(-gain, image)
                image.grad = grad
                adam.step()
                image.grad = None
                done += 1
                if prior.blur_every and done % prior.blur_every == 0:
                    with torch.no_grad():
                        image.copy_(gaussian_blur(image, prior.blur_sigma))
            current = value()
        yield Step(done, image.detach().clone(), current)
