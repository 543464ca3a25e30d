"""Activation maximization: the input that a channel, a layer or a class responds to most.

Erhan et al. 2009 ("Visualizing higher-layer features of a deep network") find
x* = argmax_x A(x) by gradient ascent; Olah et al. 2017 ("Feature Visualization", Distill)
make the result readable with three ingredients, all on by default here:

- a decorrelated Fourier parametrisation of the picture (:mod:`.fourier`): Adam steps on
  1/f-scaled Fourier coefficients, pixels = sigmoid(irfft2(...)) in (0, 1), then the model's
  normalization (``preprocess``: a zoo card or a (mean, std) pair; none: the model reads
  [0, 1] pictures as they are);
- transformation robustness: every step sees the picture randomly shifted by up to
  ``jitter`` px, enlarged by up to 1 + ``scale`` and rotated by +- ``rotate`` degrees
  (:func:`.priors.random_affine`), so patterns that only work at one exact position, or only
  at the border, do not pay; over the last ``settle`` share of the steps the moves fade
  linearly to none, so the picture that formed is then fitted to the channel where it
  stands (without it, brightness and edge detectors of the zoo stayed below their best data
  images: the moves cost them 5-35% of their activation); while it ascends, a ReLU whose
  plain gradient is zero for the whole picture passes Lucid's "redirected" gradient
  (``hooks.relu_rule``), so a channel that the flat grey start leaves dead still wakes up;
- objectives (``objective``): the mean activation of ``channel`` of ``layer`` ("channel"),
  of the whole layer ("layer"), or the logit of class ``target`` ("class": what the network
  thinks a triangle looks like, the score before the softmax)::

    maximize  J(x) = A(T(x)) - tv * TV(x) - l2 * mean(x^2),   T random per step

``parametrization="pixel"`` ascends on the model-space pixels from ``init_std`` * N(0, 1)
(Yosinski et al. 2015's priors: ``tv``, ``l2``, a Gaussian blur every ``blur_every`` steps;
for the Fourier picture the blur multiplies the spectrum by the Gaussian's transfer
function). The forward stops after the layer, so any ``size`` works for channel and layer
objectives. The yielded ``objective`` is A(x) of the yielded picture (no transformation, no
prior), so runs with different settings compare; the yielded ``image`` is in the model's
input space. The model is borrowed only while steps run: between yields it is the user's,
unlocked and unchanged. Randomness comes from one seeded ``torch.Generator``.

The parameters are declared once, in :class:`FeatVisSettings` (a widget derives its
controls from ``params.declared(FeatVisSettings)``); ``optimize``'s defaults are its.

Example::

    >>> for step, image, objective in optimize(model, "features.6", channel=5,
    ...                                        preprocess=zoo.card("shapes")):
    ...     show(image)       # every 16 steps and at the end
    >>> last = list(optimize(model, None, objective="class", target=0, preprocess=card))[-1]
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..checks import check_input, check_model
from ..hooks import borrowed
from ..layers import input_channels, model_device
from ..params import check_params, param
from ._ascent import Picture, Step, ascent
from ._common import check_channel, check_float, check_int, model_dtype, probe, run_to

__all__ = ["OBJECTIVES", "PARAMETRIZATIONS", "FeatVisSettings", "Step", "optimize"]

OBJECTIVES = ("channel", "layer", "class")
PARAMETRIZATIONS = ("fourier", "pixel")


@dataclass(frozen=True)
class FeatVisSettings:
    """The declared parameters of :func:`optimize`; the widget's controls come from these."""

    objective: str = param(
        "channel",
        choices=OBJECTIVES,
        help="What the picture should excite: one channel of the layer, the whole layer, or "
        "the score of one class before the softmax.",
    )
    steps: int = param(512, min=1, max=4096, help="Number of gradient ascent steps.")
    lr: float = param(
        0.05, min=1e-4, max=1.0, step=0.001, label="learning rate",
        help="Step size of the Adam optimizer.",
    )  # fmt: skip
    parametrization: str = param(
        "fourier",
        choices=PARAMETRIZATIONS,
        help="How the picture is stored while it is optimized: as decorrelated Fourier "
        "coefficients, which favour smooth natural-looking pictures, or as raw pixels.",
    )
    decorrelate: bool = param(
        True,
        help="Mix the colour channels with the colour correlation of natural photos (only "
        "for a Fourier picture with three colour channels).",
    )
    jitter: int = param(
        4, min=0, max=32, label="jitter (px)",
        help="Each step shows the model the picture shifted by up to this many pixels.",
    )  # fmt: skip
    scale: float = param(
        0.3, min=0.0, max=1.0, step=0.01, label="random zoom",
        help="Each step shows the picture enlarged by up to this fraction about its centre.",
    )  # fmt: skip
    rotate: float = param(
        20.0, min=0.0, max=90.0, step=1.0, label="rotation (degrees)",
        help="Each step shows the picture turned by up to this many degrees.",
    )  # fmt: skip
    settle: float = param(
        0.25, min=0.0, max=1.0, step=0.05, label="settle (share of steps)",
        help="Over this last share of the steps the random moves fade to none, so the "
        "picture is fitted to the channel where it stands.",
    )  # fmt: skip
    tv: float = param(
        0.0, min=0.0, max=10.0, step=0.005, label="smoothness (total variation)",
        help="Penalty on differences between neighbouring pixels; larger means smoother.",
    )  # fmt: skip
    l2: float = param(
        0.0, min=0.0, max=10.0, step=0.005, label="darkness (L2)",
        help="Penalty on the picture's squared values; larger means closer to the mean grey.",
    )  # fmt: skip
    blur_every: int = param(
        0, min=0, max=64, label="blur every",
        help="Blur the picture slightly after this many steps (0 never blurs).",
    )  # fmt: skip
    seed: int = param(0, min=0, max=2**31 - 1, help="Seed of the random start and moves.")


_D = FeatVisSettings


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


def _class_objective(
    model: nn.Module, start: torch.Tensor, target: object
) -> Callable[[torch.Tensor], torch.Tensor]:
    if isinstance(target, bool) or not isinstance(target, int):
        raise TypeError(
            "optimize: objective='class' needs target, the class index (an int), "
            f"not {type(target).__name__}"
        )
    with torch.no_grad(), borrowed(model):
        try:
            out = model(start)
        except Exception as error:
            error.add_note(
                f"(optimize: objective='class' runs the whole model on a picture of shape "
                f"{tuple(start.shape)}; give the size the model takes with size=(H, W))"
            )
            raise
    if out.dim() != 2:
        raise ValueError(
            f"optimize: objective='class' needs a model that returns (N, classes) logits; "
            f"it returned shape {tuple(out.shape)} for a picture of shape {tuple(start.shape)}"
        )
    if not 0 <= target < out.shape[1]:
        raise ValueError(
            f"optimize: target {target} is out of range; the model has {out.shape[1]} classes "
            f"(0..{out.shape[1] - 1})"
        )
    return lambda x: model(x)[:, target].mean()


def optimize(
    model: nn.Module,
    layer: str | nn.Module | None,
    channel: int | None = None,
    steps: int = _D.steps,
    lr: float = _D.lr,
    tv: float = _D.tv,
    l2: float = _D.l2,
    blur_every: int = _D.blur_every,
    jitter: int = _D.jitter,
    size: int | tuple[int, int] | None = None,
    seed: int = _D.seed,
    *,
    objective: str = _D.objective,
    target: int | None = None,
    parametrization: str = _D.parametrization,
    decorrelate: bool = _D.decorrelate,
    scale: float = _D.scale,
    rotate: float = _D.rotate,
    settle: float = _D.settle,
    preprocess: Any = None,
    every: int = 16,
    blur_sigma: float = 0.5,
    init: torch.Tensor | None = None,
    init_std: float = 0.1,
) -> Iterator[Step]:
    """Gradient ascent on ``objective``; a generator of :class:`Step` ``(step, image,
    objective)`` at step 0, every ``every`` steps and at the end (see the module doc).

    ``layer``: dotted name or submodule (None: the default layer; ignored for "class");
    ``channel``: the channel for "channel" (None there means the whole layer); ``target``:
    the class for "class". ``size``: int or (H, W) of the picture (default 64; ``init``'s size
    when given); ``init``: a (1, C, H, W) start in the model's input space (pixel
    parametrization only). Stop early by leaving the loop. Arguments are checked when called,
    before the first ``next``.
    """
    check_model(model)
    what = "optimize"
    settings = dict(
        objective=objective, steps=steps, lr=lr, parametrization=parametrization,
        decorrelate=decorrelate, jitter=jitter, scale=scale, rotate=rotate, settle=settle,
        tv=tv, l2=l2,
        blur_every=blur_every, seed=seed,
    )  # fmt: skip
    check_params(FeatVisSettings, settings, what)
    check_int(every, "every", what)
    check_float(blur_sigma, "blur_sigma", what, strict=True)
    check_float(init_std, "init_std", what)
    device, dtype = model_device(model), model_dtype(model)
    if init is not None:
        if parametrization != "pixel":
            raise ValueError(
                "optimize: init (a start picture) needs parametrization='pixel'; the Fourier "
                "parametrization starts from its own near-grey picture"
            )
        start = check_input(model, init)
        if start.shape[0] != 1:
            raise ValueError(f"optimize: init must be one image (1, C, H, W), got {start.shape}")
        start = start.to(dtype)
    else:
        height, width = _size(size)
        shape = (1, input_channels(model) or 3, height, width)
        start = torch.zeros(shape, device=device, dtype=dtype)
    gen = torch.Generator(device=device).manual_seed(seed)
    picture = Picture.build(
        parametrization, start, gen, preprocess, decorrelate, init is not None, init_std
    )
    if objective == "class":
        score = _class_objective(model, picture.image().detach(), target)
    else:
        info = probe(model, start, layer, what)
        unit = None if objective == "layer" else channel
        if unit is not None:
            check_channel(info, unit, what)

        def score(x: torch.Tensor) -> torch.Tensor:
            acts = run_to(model, x, info)
            return acts.mean() if unit is None else acts[:, unit].mean()

    return ascent(model, score, picture, gen, settings, every, blur_sigma)
