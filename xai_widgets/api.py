"""``explain``: one call from a model, an input and a method name to an :class:`Explanation`.

Example::

    import xai_widgets as xw
    e = xw.explain(model, x, "grad_cam", target=3, layer="features.6")
    e.heatmap.shape            # (N, H, W), raw values
    e.show()                   # overlay of the first sample
"""

from __future__ import annotations

import dataclasses
from typing import Any

import torch
from torch import nn

from .checks import check_input, check_model
from .explanation import Explanation
from .hooks import borrowed
from .layers import last_spatial_layer, layer_name, spatial_layers
from .methods.forward import Forward
from .methods.registry import Method, Progress, get_method, method_params
from .targets import Target, TargetSpec

__all__ = ["build_method", "explain"]


def build_method(model: nn.Module, x: torch.Tensor, method: str, params: dict[str, Any]) -> Method:
    """Instantiate ``method`` with ``params`` checked against its declaration and the input;
    a ``layer`` parameter is resolved to a spatial layer's dotted name."""
    cls = get_method(method)
    specs = {spec.name: spec for spec in method_params(cls)}
    unknown = sorted(set(params) - set(specs))
    if unknown:
        accepted = ", ".join(specs) or "none"
        raise TypeError(
            f"{method}() got unknown parameter(s) {', '.join(unknown)}; accepted: {accepted}"
        )
    instance = cls(**params)
    if "layer" in specs:
        name = layer_name(model, instance.layer)  # type: ignore[attr-defined]
        if name is None:
            name = last_spatial_layer(model, x)
        else:
            spatial = dict(spatial_layers(model, x))
            if name not in spatial:
                raise ValueError(
                    f"{method}: layer {name!r} has no spatial (N, C, h, w) output for this "
                    f"input; spatial layers: {', '.join(spatial) or 'none'}"
                )
        instance = dataclasses.replace(instance, layer=name)  # type: ignore[type-var]
    instance.check_input(x)
    return instance


def explain(
    model: nn.Module,
    x: torch.Tensor,
    method: str,
    *,
    target: TargetSpec = None,
    progress: Progress | None = None,
    cache: Forward | None = None,
    **params: Any,
) -> Explanation:
    """Explain ``model``'s output for ``x`` with a registered method.

    Args:
        model: a ``torch.nn.Module`` classifier returning (N, classes) scores. It is left
            exactly as it was (weights, buffers, training flags, requires_grad, .grad, hooks),
            also when something raises.
        x: float tensor (N, C, H, W) or (C, H, W), any device (moved to the model's).
        method: a name from :func:`list_methods`.
        target: None (each sample's predicted class), an int, one int per sample, or a
            callable mapping the output (N, K) to (N,) scores; scores are logits unless the
            callable says otherwise.
        progress: called with the fraction done between batches; may raise to cancel.
        cache: a shared :class:`~xai_widgets.methods.Forward` of this same input to reuse.
        **params: the method's parameters (see :func:`method_params`).
    """
    model = check_model(model)
    x = check_input(model, x)
    spec = Target.from_spec(target, x.shape[0])
    instance = build_method(model, x, method, params)
    with borrowed(model):
        attribution = instance(model, x, spec, progress=progress, cache=cache).detach()
        heatmap = instance.heatmap(attribution, (x.shape[2], x.shape[3])).detach()
    return Explanation(
        attribution=attribution,
        heatmap=heatmap,
        method=method,
        params=instance.params(),
        target=spec.spec(),
        scores=spec.clean_scores,
        inputs=x,
        signed=instance.signed,
    )
