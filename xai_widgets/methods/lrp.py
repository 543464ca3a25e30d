"""Layer-wise relevance propagation through Zennit: LRP and SG-LRP.

LRP (Bach et al. 2015, "On pixel-wise explanations for non-linear classifier decisions by
layer-wise relevance propagation") redistributes an output relevance layer by layer with
rules such as epsilon, R_i = sum_j a_i w_ij / (z_j + eps sign(z_j)) R_j, so that relevance is
(approximately) conserved. The rules are Zennit's composites (not re-implemented here):

* ``epsilon_plus_flat``: flat rule for the first layer, z+ for convolutions, epsilon for
  linear layers (Zennit's recommendation for CNNs);
* ``epsilon_gamma_box``: z^B (box bounds: the batch's min and max input value) for the first
  convolution, gamma (0.25) for the others, epsilon for linear layers;
* ``epsilon_alpha2_beta1`` / ``epsilon_alpha2_beta1_flat``: alpha2-beta1 for convolutions
  (flat first layer for the latter), epsilon for linear layers;
* ``epsilon_plus``: z+ for convolutions, epsilon for linear layers.

Canonizers are chosen from the model (:mod:`.canonize`); everything they change is put back
bit-identically, also when something raises. The relevance starts at the output: for
``lrp`` R^(L) = z ⊙ dS/dz, i.e. the target logit z_t at class t for a class target (so the
input relevance sums to about z_t); for ``sg_lrp`` (Iwana, Kuroki & Uchida 2019, "Explaining
convolutional neural networks using softmax gradient layer-wise relevance propagation") the
gradient of the target's softmax probability, R_i^(L) = p_t (delta_ti - p_i), which subtracts
the evidence for the other classes.

Example::

    e = explain(model, x, "lrp", composite="epsilon_plus_flat", target=3)
    e = explain(model, x, "sg_lrp")          # more class-discriminative
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..targets import Target
from .canonize import canonizers_for, check_supported, restored
from .registry import Method, Progress, param, register

__all__ = ["COMPOSITES", "Lrp", "SgLrp", "lrp_relevance", "make_composite"]

COMPOSITES = (
    "epsilon_plus_flat",
    "epsilon_gamma_box",
    "epsilon_alpha2_beta1",
    "epsilon_alpha2_beta1_flat",
    "epsilon_plus",
)


def make_composite(name: str, epsilon: float, canonizers: list, x: torch.Tensor):
    """The Zennit composite ``name`` with ``epsilon`` for the epsilon rule; ``x`` gives the
    box bounds of ``epsilon_gamma_box`` (its min and max value)."""
    from zennit import composites as zc

    if name == "epsilon_gamma_box":
        low, high = x.detach().amin(), x.detach().amax()
        return zc.EpsilonGammaBox(low=low, high=high, epsilon=epsilon, canonizers=canonizers)
    classes = {
        "epsilon_plus_flat": zc.EpsilonPlusFlat,
        "epsilon_alpha2_beta1": zc.EpsilonAlpha2Beta1,
        "epsilon_alpha2_beta1_flat": zc.EpsilonAlpha2Beta1Flat,
        "epsilon_plus": zc.EpsilonPlus,
    }
    return classes[name](epsilon=epsilon, canonizers=canonizers)


def output_relevance(out: torch.Tensor, target: Target, start: str) -> torch.Tensor:
    """R^(L) (N, K): ``"logit"``: z ⊙ dS/dz (z_t e_t for class t); ``"softmax"``: for a
    class t, d p_t / dz = p_t (e_t - p); for a callable target, dS/dz."""
    z = out.detach().requires_grad_(True)
    with torch.enable_grad():
        if start == "softmax" and target.fn is None:
            score = target.score_logits(z.softmax(1))
        else:
            score = target.score_logits(z)
        (grad,) = torch.autograd.grad(score.sum(), z)
    return grad * z.detach() if start == "logit" else grad


def lrp_relevance(
    model: nn.Module, x: torch.Tensor, target: Target, composite: str, epsilon: float, start: str
) -> torch.Tensor:
    """Input relevance (N, C, H, W) of ``model`` with the Zennit ``composite``; binds the
    target on this (canonized) forward when unbound."""
    check_supported(model, "lrp" if start == "logit" else "sg_lrp")
    rules = make_composite(composite, epsilon, canonizers_for(model), x)
    with restored(model):
        try:
            rules.register(model)
            xin = x.detach().requires_grad_(True)
            returned = model(xin)
            out = target.logits(returned)  # the logits, whatever the model returns
            if not target.bound:
                target.bind(returned)
            start_relevance = output_relevance(out, target, start)
            (relevance,) = torch.autograd.grad(out, xin, grad_outputs=start_relevance)
        finally:
            rules.remove()
    return relevance


@dataclass(frozen=True)
class _LrpBase(Method):
    composite: str = param(
        "epsilon_plus_flat",
        choices=COMPOSITES,
        help="Zennit rule composite: which LRP rule each layer type uses.",
    )
    epsilon: float = param(
        1e-6, min=0.0, max=10.0, step=1e-3, help="Stabilizer of the epsilon rule (linear layers)."
    )

    start = "logit"

    def unavailable(self, model, x, cache) -> str:
        """Views disable LRP on a model with a module Zennit has no rule for (a ViT's
        LayerNorm and attention), with the refusal ``explain`` would raise."""
        try:
            check_supported(model, self.name)
        except ValueError as error:
            return str(error)
        return ""

    def __call__(self, model, x, target, progress: Progress | None = None, cache=None):
        return lrp_relevance(model, x, target, self.composite, self.epsilon, self.start)


@register(
    "lrp",
    label="LRP",
    family="relevance",
    tip=(
        "Relevance passed back layer by layer from the class score, "
        "conserved at each step: red for evidence, blue against."
    ),
)
@dataclass(frozen=True)
class Lrp(_LrpBase):
    """LRP (Bach et al. 2015) with Zennit's rules; relevance starts at the target logit
    (R^(L) = z_t e_t) and sums to about z_t. Signed: red supports the class, blue speaks
    against it.

    Example: ``explain(model, x, "lrp", composite="epsilon_gamma_box")``.
    """


@register(
    "sg_lrp",
    label="SG-LRP",
    family="relevance",
    tip=(
        "LRP started from the class's share of the softmax, so "
        "evidence that other classes share is taken out."
    ),
)
@dataclass(frozen=True)
class SgLrp(_LrpBase):
    """SG-LRP (Iwana et al. 2019): LRP started from the gradient of the target's softmax
    probability p_t with respect to the logits, R_i^(L) = p_t (delta_ti - p_i), which takes
    the evidence for the other classes out (more class-discriminative than LRP).

    Example: ``explain(model, x, "sg_lrp", target=3)``.
    """

    start = "softmax"
