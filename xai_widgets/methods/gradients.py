"""Input-gradient methods: saliency, input x gradient, SmoothGrad, integrated gradients.

All differentiate the explained score S (a logit by default) with respect to the input only:
parameters never require grad inside ``borrowed``, so no weight gradient is ever computed.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..targets import Target
from .batching import chunk_size, chunks
from .forward import Forward
from .registry import Method, param, register

__all__ = ["InputXGradient", "IntegratedGradients", "Saliency", "SmoothGrad", "input_gradient"]


def input_gradient(
    model: nn.Module,
    x: torch.Tensor,
    target: Target,
    rows: torch.Tensor | None = None,
    cache: Forward | None = None,
) -> torch.Tensor:
    """dS/dx for each row of ``x``; ``rows[i]`` names the sample row i is a copy of.

    Binds the target on this forward when it is not bound yet (then ``x`` must be the clean
    input).
    """
    fwd = Forward.for_layers(model, x, (), cache, input_grad=True)
    scores = target.score(fwd.output, rows) if target.bound else target.bind(fwd.output)
    return fwd.grad(scores.sum(), fwd.x)


def bind_clean(model: nn.Module, x: torch.Tensor, target: Target) -> None:
    """Bind the target on a no-grad forward of the clean input (for path/noise methods)."""
    if not target.bound:
        with torch.no_grad():
            target.bind(model(x))


@register(
    "saliency",
    label="Saliency",
    family="gradient",
    tip="How much each pixel's change would change the class score: the size of the gradient.",
)
@dataclass(frozen=True)
class Saliency(Method):
    """Saliency (Simonyan, Vedaldi & Zisserman 2014): the gradient dS_c/dx.

    Attribution: the raw gradient (N, C, H, W). Heatmap: M_ij = max_c |dS/dx_cij|.
    Example: ``explain(model, x, "saliency").heatmap``.
    """

    reduce = "max_abs"
    signed = False

    def __call__(self, model, x, target, progress=None, cache=None):
        return input_gradient(model, x, target, cache=cache)


@register(
    "input_x_gradient",
    label="Gradient × Input",
    family="gradient",
    tip=(
        "Each pixel's value times its gradient: a first-order estimate of its "
        "contribution to the score."
    ),
)
@dataclass(frozen=True)
class InputXGradient(Method):
    """Input x gradient (Shrikumar et al. 2016): x * dS_c/dx, summed over channels for the map.

    Example: ``explain(model, x, "input_x_gradient", target=3)``.
    """

    def __call__(self, model, x, target, progress=None, cache=None):
        return x * input_gradient(model, x, target, cache=cache)


@register(
    "smoothgrad",
    label="SmoothGrad",
    family="gradient",
    tip=(
        "The gradient averaged over noisy copies of the picture, which removes much of its speckle."
    ),
)
@dataclass(frozen=True)
class SmoothGrad(Method):
    """SmoothGrad (Smilkov et al. 2017): the mean gradient over noisy copies,
    (1/n) sum_i dS_c/dx (x + e_i), e_i ~ N(0, sigma^2), sigma = noise * (max(x) - min(x)) per
    sample. Noise comes from a ``torch.Generator`` seeded with ``seed`` on the model's device.

    Heatmap as for saliency: max over channels of the magnitude.
    Example: ``explain(model, x, "smoothgrad", samples=50, noise=0.1)``.
    """

    samples: int = param(25, min=1, max=1000, step=1, help="noisy copies averaged")
    noise: float = param(
        0.15, min=0.0, max=1.0, step=0.01, help="noise std as a fraction of the input range"
    )
    seed: int = param(0, min=0, max=2**31 - 1, step=1, help="seed of the noise generator")

    reduce = "max_abs"
    signed = False

    def __call__(self, model, x, target, progress=None, cache=None):
        bind_clean(model, x, target)
        n = x.shape[0]
        flat = x.reshape(n, -1)
        sigma = (self.noise * (flat.amax(1) - flat.amin(1))).view(n, 1, 1, 1)
        gen = torch.Generator(device=x.device).manual_seed(self.seed)
        total = torch.zeros_like(x)
        per = max(1, chunk_size(x[0], grad=True) // n)
        done = 0
        for part in chunks(self.samples, per):
            k = part.stop - part.start
            eps = torch.randn((k, *x.shape), generator=gen, device=x.device, dtype=x.dtype)
            noisy = (x.unsqueeze(0) + eps * sigma.unsqueeze(0)).reshape(k * n, *x.shape[1:])
            rows = torch.arange(n, device=x.device).repeat(k)
            grads = input_gradient(model, noisy, target, rows)
            total += grads.view(k, *x.shape).sum(0)
            done += k
            if progress is not None:
                progress(done / self.samples)
        return total / self.samples


def gauss_legendre(steps: int, device: torch.device, dtype: torch.dtype):
    """Gauss-Legendre nodes and weights on [0, 1] (Golub-Welsch: eigen-decomposition of the
    Jacobi matrix with off-diagonal k / sqrt(4k^2 - 1)); exact for polynomials of degree
    2 * steps - 1. The rule Captum uses by default."""
    k = torch.arange(1, steps, dtype=torch.float64)
    off = k / torch.sqrt(4 * k * k - 1)
    jacobi = torch.diag(off, 1) + torch.diag(off, -1)
    nodes, vectors = torch.linalg.eigh(jacobi)
    weights = 2 * vectors[0] ** 2
    return ((nodes + 1) / 2).to(device, dtype), (weights / 2).to(device, dtype)


@register(
    "integrated_gradients",
    label="Integrated Gradients",
    family="gradient",
    tip=(
        "The gradient summed along a path from a baseline picture to this one; "
        "the map adds up to the score's change."
    ),
)
@dataclass(frozen=True)
class IntegratedGradients(Method):
    """Integrated gradients (Sundararajan, Taly & Yan 2017):
    (x - x') * integral_0^1 dS_c/dx (x' + a (x - x')) da, with the constant baseline x' and the
    integral by ``steps``-point Gauss-Legendre quadrature, all steps batched in memory-sized
    chunks. Completeness: the attributions sum to S(x) - S(x').

    Example: ``explain(model, x, "integrated_gradients", steps=64, baseline=0.0)``.
    """

    steps: int = param(50, min=1, max=1024, step=1, help="points of the path integral")
    baseline: float = param(
        0.0, min=-1e6, max=1e6, step=0.1, help="constant baseline value (model input space)"
    )

    def __call__(self, model, x, target, progress=None, cache=None):
        bind_clean(model, x, target)
        n = x.shape[0]
        base = torch.full_like(x, self.baseline)
        alphas, weights = gauss_legendre(self.steps, x.device, x.dtype)
        total = torch.zeros_like(x)
        per = max(1, chunk_size(x[0], grad=True) // n)
        for part in chunks(self.steps, per):
            a = alphas[part].view(-1, 1, 1, 1, 1)
            k = a.shape[0]
            path = (base + a * (x - base)).reshape(k * n, *x.shape[1:])
            rows = torch.arange(n, device=x.device).repeat(k)
            grads = input_gradient(model, path, target, rows).view(k, *x.shape)
            total += (grads * weights[part].view(-1, 1, 1, 1, 1)).sum(0)
            if progress is not None:
                progress(part.stop / self.steps)
        return (x - base) * total
