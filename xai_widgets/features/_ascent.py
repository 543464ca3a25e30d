"""The gradient-ascent loop of :func:`xai_widgets.features.optimize` and the two ways a
picture is stored while it is optimized (Fourier coefficients or model-space pixels).

:class:`Picture` gives the model-space image (with gradients to its parameters), a blur step
and its parameters; :func:`ascent` runs Adam on ``score(T(image))`` minus the priors, with
T a random shift / scale / rotation per step, and yields :class:`Step` states. The model is
borrowed only inside a block of steps, never across a yield.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, NamedTuple

import torch
from torch import nn

from ..data.preprocess import normalize
from ..hooks import borrowed, relu_rule
from .fourier import FourierImage, frequencies
from .priors import gaussian_blur, l2_penalty, random_affine, total_variation

__all__ = ["Picture", "Step", "ascent"]


class Step(NamedTuple):
    """One yielded state: ``image`` (1, C, H, W) after ``step`` updates, and its objective."""

    step: int
    image: torch.Tensor
    objective: float


@dataclass
class Picture:
    """A picture under optimization: ``fourier`` (a :class:`FourierImage` whose (0, 1) pixels
    are normalized with ``preprocess``) or ``pixels`` (the model-space tensor itself)."""

    fourier: FourierImage | None
    pixels: torch.Tensor | None
    preprocess: Any

    @classmethod
    def build(
        cls,
        kind: str,
        start: torch.Tensor,
        gen: torch.Generator,
        preprocess: Any,
        decorrelate: bool,
        has_init: bool,
        init_std: float,
    ) -> Picture:
        if preprocess is not None:
            normalize(start[:, :, :1, :1], preprocess)  # a bad card or pair fails here, early
        if kind == "fourier":
            image = FourierImage(
                tuple(start.shape),  # type: ignore[arg-type]
                generator=gen,
                decorrelate=decorrelate,
                device=start.device,
                dtype=start.dtype,
            )
            return cls(image, None, preprocess)
        noise = torch.randn(start.shape, generator=gen, device=start.device, dtype=start.dtype)
        pixels = start.detach().clone() if has_init else noise * init_std
        return cls(None, pixels.requires_grad_(True), preprocess)

    def image(self) -> torch.Tensor:
        """The model-space picture (1, C, H, W), differentiable w.r.t. :meth:`parameters`."""
        if self.fourier is None:
            return self.pixels  # type: ignore[return-value]
        rgb = self.fourier()
        return rgb if self.preprocess is None else normalize(rgb, self.preprocess)

    def parameters(self) -> list[torch.Tensor]:
        return self.fourier.parameters() if self.fourier is not None else [self.pixels]

    @torch.no_grad()
    def blur(self, sigma: float) -> None:
        """Gaussian blur of the pixels; for a Fourier picture, its spectrum times the blur's
        transfer function exp(-2 pi^2 sigma^2 |f|^2) (the same blur, before the sigmoid)."""
        if self.fourier is None:
            self.pixels.copy_(gaussian_blur(self.pixels, sigma))  # type: ignore[union-attr]
            return
        f = frequencies(*self.fourier.size).to(self.fourier.params)
        gain = torch.exp(-2 * torch.pi**2 * sigma**2 * f**2)
        self.fourier.params.mul_(gain[None, None, :, :, None])


def _fade(steps: int, settle: float) -> Callable[[int], float]:
    """The transformations' strength at step i: 1, then over the last ``settle`` share of the
    steps falling linearly towards 0 (the last step 1 / (that many steps))."""
    start = steps - round(settle * steps)

    def strength(i: int) -> float:
        return 1.0 if i < start else 1.0 - (i - start) / (steps - start)

    return strength


def ascent(
    model: nn.Module,
    score: Callable[[torch.Tensor], torch.Tensor],
    picture: Picture,
    gen: torch.Generator,
    settings: dict[str, Any],
    every: int,
    blur_sigma: float,
) -> Iterator[Step]:
    """Adam on score(T(x)) - tv TV(x) - l2 mean(x^2); yields at 0, every ``every``, the end.
    T's strength fades to none over the last ``settle`` share of the steps."""
    adam = torch.optim.Adam(picture.parameters(), lr=settings["lr"])
    steps, tv, l2 = settings["steps"], settings["tv"], settings["l2"]
    jitter, scale, rotate = settings["jitter"], settings["scale"], settings["rotate"]
    fade = _fade(steps, settings.get("settle", 0.0))
    blur_every = settings["blur_every"]

    def state(done: int) -> Step:
        with torch.no_grad():
            image = picture.image().detach().clone()
            return Step(done, image, float(score(image)))

    with borrowed(model):
        first = state(0)
    yield first
    done = 0
    while done < steps:
        with borrowed(model), relu_rule(model, "redirected"):
            for _ in range(min(every, steps - done)):
                image = picture.image()
                f = fade(done)
                moved = random_affine(image, gen, round(jitter * f), scale * f, rotate * f)
                gain = score(moved)
                if tv:
                    gain = gain - tv * total_variation(image)
                if l2:
                    gain = gain - l2 * l2_penalty(image)
                grads = torch.autograd.grad(-gain, picture.parameters())
                for p, g in zip(picture.parameters(), grads, strict=True):
                    p.grad = g
                adam.step()
                for p in picture.parameters():
                    p.grad = None
                done += 1
                if blur_every and done % blur_every == 0:
                    picture.blur(blur_sigma)
            current = state(done)
        yield current
