"""Modified-ReLU backpropagation: guided backprop and deconvnet.

Both change only the backward rule of every ReLU the model applies, ``nn.ReLU`` modules and
functional ``F.relu`` calls (GoogLeNet, DenseNet's last ReLU) alike, through a context that
lives inside the call (:func:`xai_widgets.hooks.relu_rule`); the modules are never swapped.
Other activations (GELU, SiLU, ReLU6) keep their own gradient. The result's ``notes`` say which
rule reached how many ReLU calls and which activations kept the plain gradient; a model with no
ReLU at all is refused with a ValueError (the result would be the plain gradient).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from ..hooks import ReluReach, relu_rule
from ..notes import note
from ..targets import Target
from .forward import Forward
from .registry import Method, register

__all__ = ["Deconvnet", "GuidedBackprop", "modified_relu_gradient"]


def modified_relu_gradient(
    model: nn.Module, x: torch.Tensor, target: Target, rule: str, owner: str
) -> torch.Tensor:
    """dS/dx with every ReLU's backward replaced by ``rule``; notes what was reached and raises
    a ValueError (before the backward) when the forward applied no ReLU."""
    with relu_rule(model, rule) as reach:
        fwd = Forward.for_layers(model, x, (), None, input_grad=True)
        scores = target.score(fwd.output) if target.bound else target.bind(fwd.output)
    _report(reach, owner)
    return fwd.grad(scores.sum(), fwd.x)


def _report(reach: ReluReach, owner: str) -> None:
    note("relu_rule", reach.rule)
    note("relu_reached", reach.relu)
    note("plain_gradient_activations", dict(reach.other))
    note("summary", reach.summary())
    if reach.relu == 0:
        others = ", ".join(f"{n} x{c}" for n, c in sorted(reach.other.items()))
        uses = f" (its activations: {others})" if others else ""
        raise ValueError(
            f"{owner}: the model applies no ReLU in its forward pass, as a module or a "
            f"function{uses}, so the {reach.rule} rule has nothing to change and the result "
            "would be the plain gradient; use 'saliency' or 'input_x_gradient' for this model"
        )


@register(
    "guided_backprop",
    label="Guided Backprop",
    family="gradient",
    tip=(
        "A gradient that lets only positive signals back through each ReLU, "
        "giving sharp edges; it depends little on the class."
    ),
)
@dataclass(frozen=True)
class GuidedBackprop(Method):
    """Guided backpropagation (Springenberg et al. 2015): the gradient with every ReLU's
    backward replaced by R_in = [x > 0] * max(R_out, 0).

    Example: ``explain(model, x, "guided_backprop").attribution``.
    """

    rule = "guided"

    def __call__(self, model, x, target, progress=None, cache=None):
        return modified_relu_gradient(model, x, target, self.rule, self.name)


@register(
    "deconvnet",
    label="Deconvnet",
    family="gradient",
    tip=(
        "A reconstruction that passes signals back through ReLUs by their own "
        "sign, showing the patterns a layer reacts to."
    ),
)
@dataclass(frozen=True)
class Deconvnet(GuidedBackprop):
    """Deconvnet (Zeiler & Fergus 2014): the gradient with every ReLU's backward replaced by
    R_in = max(R_out, 0), ignoring the forward mask.

    Example: ``explain(model, x, "deconvnet").attribution``.
    """

    rule = "deconvnet"
