"""Modified-ReLU backpropagation: guided backprop and deconvnet.

Both change only the backward rule of the model's ``nn.ReLU`` modules, through hooks that live
inside the call (:func:`xai_widgets.hooks.relu_rule`); the modules are never swapped. Functional
``F.relu`` calls are not modules and keep the plain gradient (as in Captum).
"""

from __future__ import annotations

from dataclasses import dataclass

from ..hooks import relu_rule
from .gradients import input_gradient
from .registry import Method, register

__all__ = ["Deconvnet", "GuidedBackprop"]


@register("guided_backprop", label="Guided Backprop", family="gradient")
@dataclass(frozen=True)
class GuidedBackprop(Method):
    """Guided backpropagation (Springenberg et al. 2015): the gradient with every ReLU's
    backward replaced by R_in = [x > 0] * max(R_out, 0).

    Example: ``explain(model, x, "guided_backprop").attribution``.
    """

    rule = "guided"

    def __call__(self, model, x, target, progress=None, cache=None):
        with relu_rule(model, self.rule):
            return input_gradient(model, x, target)


@register("deconvnet", label="Deconvnet", family="gradient")
@dataclass(frozen=True)
class Deconvnet(GuidedBackprop):
    """Deconvnet (Zeiler & Fergus 2014): the gradient with every ReLU's backward replaced by
    R_in = max(R_out, 0), ignoring the forward mask.

    Example: ``explain(model, x, "deconvnet").attribution``.
    """

    rule = "deconvnet"
