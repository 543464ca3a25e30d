"""Two maps built on a layer's activations: the layer's own sum (no class) and guided Grad-CAM
(Grad-CAM's coarse map times guided backprop's fine one).

Example::

    explain(model, x, "layer_visualization", layer="features.3")
    explain(model, x, "guided_grad_cam", layer="layer4")
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from .cam import LAYER_HELP, GradCAM
from .forward import Forward
from .guided import modified_relu_gradient
from .registry import Method, param, register

__all__ = ["GuidedGradCAM", "LayerVisualization"]


@register(
    "layer_visualization",
    label="Layer visualization",
    family="cam",
    tip=(
        "The activations of the chosen layer summed over its channels: what "
        "the layer responds to, for no class in particular."
    ),
)
@dataclass(frozen=True)
class LayerVisualization(Method):
    """The layer's activation summed over its channels, sum_k A_k (N, h, w): where the layer
    responds at all, independent of the class.

    Example: ``explain(model, x, "layer_visualization", layer="features.3")``.
    """

    layer: str | nn.Module = param("", kind="layer", help=LAYER_HELP)

    space = "layer"

    def __call__(self, model, x, target, progress=None, cache=None):
        fwd = Forward.for_layers(model, x, [self.layer], cache, method=self.name)
        if not target.bound:
            target.bind(fwd.output)
        return fwd.acts[self.layer].detach().sum(1)


@register(
    "guided_grad_cam",
    label="Guided Grad-CAM",
    family="cam",
    tip="Grad-CAM's coarse map multiplied by guided backprop's fine one: where, and which edges.",
)
@dataclass(frozen=True)
class GuidedGradCAM(Method):
    """Guided Grad-CAM (Selvaraju et al. 2017): guided backprop times the Grad-CAM map
    upsampled bilinearly to the input, (N, C, H, W); summed over channels for the heatmap.

    Example: ``explain(model, x, "guided_grad_cam", layer="layer4")``.
    """

    layer: str | nn.Module = param("", kind="layer", help=LAYER_HELP)

    def __call__(self, model, x, target, progress=None, cache=None):
        cam_method = GradCAM(layer=self.layer)
        cam = cam_method(model, x, target, cache=cache)
        up = cam_method.heatmap(cam, tuple(x.shape[2:]))
        return modified_relu_gradient(model, x, target, "guided", self.name) * up[:, None]
