"""``explain``: one call from a model, an input and a method name to an :class:`Explanation`.

Example::

    import xai_widgets as xw
    e = xw.explain(model, x, "grad_cam", target=3, layer="features.6")
    e.heatmap.shape            # (N, H, W), raw values
    e.show()                   # overlay of the first sample
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import torch
from torch import nn

from .checks import check_input, check_model
from .explanation import Explanation
from .hooks import borrowed
from .layers import resolve_spatial_layer
from .methods.forward import Forward
from .methods.registry import Method, Progress, get_method, method_params
from .params import check_params
from .targets import Target, TargetSpec

__all__ = ["build_method", "explain", "explain_stream"]


def build_method(model: nn.Module, x: torch.Tensor, method: str, params: dict[str, Any]) -> Method:
    """Instantiate ``method`` with ``params`` checked against its declaration and the input;
    a ``layer`` parameter is resolved to a spatial layer's dotted name (``""``/None: the
    model's default layer, :func:`~xai_widgets.layers.default_layer`)."""
    cls = get_method(method)
    check_params(cls, params, method)
    instance = cls(**params)
    if any(spec.kind == "layer" for spec in method_params(cls)):
        name = resolve_spatial_layer(model, x, instance.layer, method)  # type: ignore[attr-defined]
        instance = dataclasses.replace(instance, layer=name)  # type: ignore[type-var]
    instance.check_input(x)
    return instance


def _prepared(
    model: nn.Module, x: torch.Tensor, method: str, target: TargetSpec, params: dict[str, Any]
) -> tuple[nn.Module, torch.Tensor, Target, Method]:
    """Every check before any work: the model, the input, the target and the parameters."""
    model = check_model(model)
    x = check_input(model, x)
    spec = Target.from_spec(target, x.shape[0])
    return model, x, spec, build_method(model, x, method, params)


def _explanation(
    instance: Method, x: torch.Tensor, spec: Target, attribution: torch.Tensor, fraction: float
) -> Explanation:
    """The raw attribution with its heatmap at input resolution, as an :class:`Explanation`."""
    attribution = attribution.detach()
    return Explanation(
        attribution=attribution,
        heatmap=instance.heatmap(attribution, (x.shape[2], x.shape[3])).detach(),
        method=instance.name,
        params=instance.params(),
        target=spec.spec(),
        scores=spec.clean_scores,
        inputs=x,
        signed=instance.signed,
        fraction=float(fraction),
    )


def explain_stream(
    model: nn.Module, x: torch.Tensor, method: str, **options: Any
) -> Iterator[Explanation]:
    """Like :func:`explain` (the same arguments: ``target``, ``progress``, ``cache`` and the
    method's parameters), but yields an :class:`Explanation` for every partial result of a
    streaming method (coarse first; ``Explanation.fraction`` < 1), the exact one last. Every
    check runs before the first result; the model is borrowed only while the method runs,
    never while the caller handles a result.

    Example::

        for e in xw.explain_stream(model, x, "occlusion", patch=8):
            print(f"{e.fraction:.0%}", e.heatmap.shape)
    """
    target = options.pop("target", None)
    run = {"progress": options.pop("progress", None), "cache": options.pop("cache", None)}
    model, x, spec, instance = _prepared(model, x, method, target, options)
    parts = instance.stream(model, x, spec, **run)
    try:
        while True:
            with borrowed(model):
                item = next(parts, None)
                if item is None:
                    return
                explanation = _explanation(instance, x, spec, *item)
            yield explanation
    finally:
        with borrowed(model):
            parts.close()  # a stream left early ends inside the borrow


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
    model, x, spec, instance = _prepared(model, x, method, target, params)
    with borrowed(model):
        attribution = instance(model, x, spec, progress=progress, cache=cache)
        return _explanation(instance, x, spec, attribution, 1.0)
