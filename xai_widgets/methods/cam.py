"""Class activation maps: CAM, Grad-CAM, Grad-CAM++, Score-CAM (guided Grad-CAM and the layer's
own sum are in ``cam_guided.py``).

All produce (N, h, w) maps at the resolution of ``layer`` (a dotted name or submodule; "" means
the last layer with a spatial output). They differ only in the channel weights w_k of
map = sum_k w_k A_k (then ReLU for the Grad-CAM family): each variant overrides
:meth:`ChannelCAM.channel_weights`. The activation A is the layer's output as the next module
receives it (captured before any in-place op downstream), and gradients stop at the layer: the
backward never enters the layers before it nor any parameter.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..hooks import replace_output
from ..layers import default_layer
from ..targets import Target
from .batching import chunks, forward_batch
from .forward import Forward
from .registry import Method, Progress, param, register

__all__ = [
    "CAM",
    "ChannelCAM",
    "GradCAM",
    "GradCAMPlusPlus",
    "ScoreCAM",
]

LAYER_HELP = "layer whose activations are weighted ('' = last spatial layer)"


@dataclass
class LayerRun:
    """The pieces a channel-weighting rule may use: model, input, target, layer name, the
    activation A (N, K, h, w), the clean scores and, on first use, the gradient dS/dA."""

    model: nn.Module
    x: torch.Tensor
    target: Target
    layer: str
    fwd: Forward
    acts: torch.Tensor
    scores: torch.Tensor
    progress: Progress | None
    _grad: torch.Tensor | None = None

    @property
    def grad(self) -> torch.Tensor:
        if self._grad is None:
            self._grad = self.fwd.grad(self.scores.sum(), self.acts)
        return self._grad


@dataclass(frozen=True)
class ChannelCAM(Method):
    """map = ReLU(sum_k w_k A_k); subclasses define w (N, K) in :meth:`channel_weights`."""

    layer: str | nn.Module = param("", kind="layer", help=LAYER_HELP)

    space = "layer"
    relu: ClassVar[bool] = True
    signed = False

    def channel_weights(self, run: LayerRun) -> torch.Tensor:
        raise NotImplementedError

    def run(self, model, x, target, progress=None, cache=None) -> LayerRun:
        fwd = Forward.for_layers(model, x, [self.layer], cache, method=self.name)
        acts = fwd.acts[self.layer]
        scores = target.score(fwd.output) if target.bound else target.bind(fwd.output)
        return LayerRun(model, x, target, self.layer, fwd, acts, scores, progress)

    def __call__(self, model, x, target, progress=None, cache=None):
        run = self.run(model, x, target, progress, cache)
        weights = self.channel_weights(run).to(run.acts.dtype)
        cam = torch.einsum("nk,nkhw->nhw", weights, run.acts.detach())
        return cam.clamp(min=0) if self.relu else cam


@register(
    "grad_cam",
    label="Grad-CAM",
    family="cam",
    tip=(
        "The feature maps of a layer weighted by how much the class score "
        "gains from each: where the class's evidence lies."
    ),
)
@dataclass(frozen=True)
class GradCAM(ChannelCAM):
    """Grad-CAM (Selvaraju et al. 2017): ReLU(sum_k w_k A_k), w_k = mean_ij dS/dA_kij.

    Example: ``explain(model, x, "grad_cam", layer="layer4").heatmap``.
    """

    def channel_weights(self, run: LayerRun) -> torch.Tensor:
        return run.grad.mean((2, 3))


@register(
    "grad_cam_pp",
    label="Grad-CAM++",
    family="cam",
    tip=(
        "A Grad-CAM variant that weights each position's positive gradients, "
        "often better for several objects of a class."
    ),
)
@dataclass(frozen=True)
class GradCAMPlusPlus(ChannelCAM):
    """Grad-CAM++ (Chattopadhyay et al. 2018, eq. 19 with the exponential-score closed form):
    w_k = sum_ij a_kij ReLU(g_kij), a_kij = g^2 / (2 g^2 + sum_ab A_kab g^3), g = dS/dA,
    a = 0 where g = 0.

    Example: ``explain(model, x, "grad_cam_pp", layer="features.7")``.
    """

    def channel_weights(self, run: LayerRun) -> torch.Tensor:
        g = run.grad
        g2 = g * g
        denom = 2 * g2 + run.acts.detach().sum((2, 3), keepdim=True) * g2 * g
        alpha = torch.where(g != 0, g2 / (denom + 1e-6), torch.zeros_like(g))
        return (alpha * g.clamp(min=0)).sum((2, 3))


@register(
    "cam",
    label="CAM",
    family="cam",
    tip=(
        "The classifier's weights applied to the last feature maps; it only "
        "exists for a global-average-pool + linear head."
    ),
)
@dataclass(frozen=True)
class CAM(ChannelCAM):
    """CAM (Zhou et al. 2016) for networks whose head is global average pooling + linear:
    M_c = sum_k w^c_k A_k with w^c the classifier's weights (signed, no ReLU).

    The weights are read from the gradient, dS_c/dA_kij = w^c_k / (h w), after checking the
    head really is GAP + linear from this layer: the gradient is the same at every position
    and S(A) - S(0) = sum(dS/dA * A). Otherwise a ValueError suggests Grad-CAM.
    Example: ``explain(model, x, "cam", layer="features")``.
    """

    relu = False
    signed = True

    def unavailable(self, model, x, cache) -> str:
        """Views disable CAM where its requirement fails at the chosen layer (checked)."""
        run = self.run(model, x, Target.from_spec(None, x.shape[0]), None, cache)
        if _is_gap_linear(run):
            return ""
        return (
            f"CAM needs a global-average-pool + linear head after layer {self.layer!r}, and "
            "this model has something else there; Grad-CAM works for any head"
        )

    def channel_weights(self, run: LayerRun) -> torch.Tensor:
        if not _is_gap_linear(run):
            raise ValueError(_cam_refusal(run))
        g = run.grad
        h, w = g.shape[2:]
        return g[:, :, 0, 0] * (h * w)


def _is_gap_linear(run: LayerRun) -> bool:
    """CAM's requirement, checked on this input: dS/dA is the same at every position and
    S(A) - S(0) = sum(dS/dA * A) (within float tolerance)."""
    g = run.grad
    spread = (g.amax((2, 3)) - g.amin((2, 3))).abs().amax()
    scale = g.abs().amax().clamp(min=1e-12)
    with torch.no_grad(), replace_output(run.model, run.layer, torch.zeros_like):
        zero_scores = run.target.score(run.model(run.x))
    linear = (g * run.acts.detach()).sum((1, 2, 3))
    gap = (run.scores.detach() - zero_scores - linear).abs()
    tol = 1e-3 * (run.scores.detach().abs() + linear.abs() + 1e-6)
    return not (spread > 1e-4 * scale or bool((gap > tol).any()))


def _cam_refusal(run: LayerRun) -> str:
    """The refusal, true for the model at hand: the default layer is suggested only when CAM's
    requirement holds there (checked), and never when it is the layer that failed."""
    head = (
        f"cam: the network after layer {run.layer!r} is not global-average-pool + linear "
        "(CAM's requirement: the class score is a linear function of the layer's spatial "
        "mean), so CAM is undefined there"
    )
    default = default_layer(run.model, run.x)
    if default != run.layer:
        other = CAM(layer=default).run(run.model, run.x, run.target, None, None)
        if _is_gap_linear(other):
            return f"{head}; choose layer {default!r}, where it holds, or use 'grad_cam'"
        return (
            f"{head}, nor after {default!r}, this model's last spatial layer; use 'grad_cam', "
            "which works for any head"
        )
    return (
        f"{head}. {default!r} is already this model's last spatial layer, so no later layer "
        "can be chosen: the model does something nonlinear between it and its classifier "
        "(e.g. a functional ReLU before the pooling, or a head of several layers); use "
        "'grad_cam', which works for any head"
    )


@register(
    "score_cam",
    label="Score-CAM",
    family="cam",
    tip=(
        "The feature maps weighted by how much each one alone, used as a mask, "
        "raises the class score; needs no gradients."
    ),
)
@dataclass(frozen=True)
class ScoreCAM(ChannelCAM):
    """Score-CAM (Wang et al. 2020, Algorithm 1): each channel, upsampled and scaled to
    [0, 1], masks the input; the masked inputs' scores, softmaxed over the channels, weight
    the map: w = softmax_k S(x * norm(up(A_k))). Gradient-free; ``batch_size`` masked inputs
    per forward.

    Example: ``explain(model, x, "score_cam", layer="layer4", batch_size=64)``.
    """

    batch_size: int = param(32, min=1, max=1024, step=1, help="masked inputs per forward")

    def channel_weights(self, run: LayerRun) -> torch.Tensor:
        *_, (weights, _fraction) = self.partial_weights(run)
        return weights

    def partial_weights(self, run: LayerRun) -> Iterator[tuple[torch.Tensor, float]]:
        """Yield (w (N, K), fraction) after each batch of masked inputs: the softmax over the
        channels scored so far (0 for the others); the last is the exact w over all K.

        The (sample, channel) jobs run channel-major, so all samples refine together."""
        acts = run.acts.detach()
        n, k = acts.shape[:2]
        scores = torch.full((k, n), float("-inf"), device=acts.device, dtype=acts.dtype)
        channels = torch.arange(k, device=acts.device).repeat_interleave(n)
        samples = torch.arange(n, device=acts.device).repeat(k)
        with torch.no_grad():
            for part in chunks(n * k, self.batch_size):
                sample, channel = samples[part], channels[part]
                maps = acts[sample, channel][:, None]
                masks = F.interpolate(
                    maps, size=run.x.shape[2:], mode="bilinear", align_corners=False
                )
                lo = masks.amin((2, 3), keepdim=True)
                hi = masks.amax((2, 3), keepdim=True)
                masks = (masks - lo) / (hi - lo + 1e-8)
                out = forward_batch(run.model, run.x[sample] * masks)
                scores[channel, sample] = run.target.score(out, sample).to(scores.dtype)
                fraction = part.stop / (n * k)
                if run.progress is not None:
                    run.progress(fraction)
                # rows with no channel scored yet (more samples than a batch) weigh nothing
                yield torch.softmax(scores.t(), dim=1).nan_to_num(0.0), fraction

    def stream(self, model, x, target, progress=None, cache=None):
        """The map from the channels scored so far, ReLU(sum_{k done} softmax_done(S)_k A_k),
        about every 1/16 of the work; the last is the exact Score-CAM map (``__call__``'s)."""
        run = self.run(model, x, target, progress, cache)
        acts = run.acts.detach()
        shown = 0.0
        for weights, fraction in self.partial_weights(run):
            if fraction < 1.0 and fraction - shown < 1 / 16:
                continue
            shown = fraction
            yield torch.einsum("nk,nkhw->nhw", weights, acts).clamp(min=0), fraction
