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
from .hooks import borrowed, one_walk
from .layers import resolve_spatial_layer
from .methods.forward import Forward
from .methods.registry import Method, Progress, get_method, method_params
from .notes import collecting
from .outputs import OutputSpec
from .params import check_params
from .targets import Target, TargetSpec

__all__ = ["build_method", "explain", "explain_stream"]


def build_method(model: nn.Module, x: torch.Tensor, method: str, params: dict[str, Any]) -> Method:
    """Instantiate ``method`` with ``params`` checked against its declaration and the input;
    a ``layer`` parameter is resolved to a spatial layer's dotted name (``""``/None: the
    model's default layer, :func:`~xai_widgets.layers.default_layer`), or by the method's own
    ``resolve_layer(model, x)`` when it has one (attention: an encoder block, by index or
    name; it returns the resolved name, or None to keep the parameters as given)."""
    cls = get_method(method)
    check_params(cls, params, method)
    instance = cls(**params)
    resolve = getattr(instance, "resolve_layer", None)
    if resolve is not None:
        name = resolve(model, x)
        if name is not None:
            instance = dataclasses.replace(instance, layer=name)  # type: ignore[type-var]
    elif any(spec.kind == "layer" for spec in method_params(cls)):
        name = resolve_spatial_layer(model, x, instance.layer, method)  # type: ignore[attr-defined]
        instance = dataclasses.replace(instance, layer=name)  # type: ignore[type-var]
    instance.check_input(x)
    return instance


def explain_stream(
    model: nn.Module, x: torch.Tensor, method: str, **options: Any
) -> Iterator[Explanation]:
    """Like :func:`explain`, with the same arguments (``target``, ``output``, ``progress``,
    ``cache`` and the method's parameters), but yields an :class:`Explanation` for every
    partial result of a streaming method (coarse first; ``Explanation.fraction`` < 1), the
    exact one last. Every check runs before the first result; the model is borrowed only while
    the method runs, never while the caller handles a result.

    Example::

        for e in xw.explain_stream(model, x, "occlusion", patch=8):
            print(f"{e.fraction:.0%}", e.heatmap.shape)
    """
    target, output = options.pop("target", None), options.pop("output", None)
    run = {"progress": options.pop("progress", None), "cache": options.pop("cache", None)}
    model = check_model(model)
    given = x
    x = check_input(model, x)
    spec = Target.from_spec(target, x.shape[0], output)
    instance = build_method(model, x, method, options)
    size = (x.shape[2], x.shape[3])
    parts = instance.stream(model, x, spec, **run)
    notes: dict[str, Any] = {}
    try:
        while True:
            with borrowed(model, instance.gradients), collecting(notes):
                item = next(parts, None)
                if item is None:
                    return
                attribution = item[0].detach()
                heatmap = instance.heatmap(attribution, size).detach()
            yield _result(instance, spec, given, x, attribution, heatmap, notes, item[1])
    finally:
        with borrowed(model, instance.gradients), collecting(notes):
            parts.close()  # a stream left early ends inside the borrow


def explain(
    model: nn.Module,
    x: torch.Tensor,
    method: str,
    *,
    target: TargetSpec = None,
    output: OutputSpec = None,
    progress: Progress | None = None,
    cache: Forward | None = None,
    **params: Any,
) -> Explanation:
    """Explain ``model``'s output for ``x`` with a registered method.

    Args:
        model: a ``torch.nn.Module`` classifier returning (N, classes) scores (or a tuple,
            dict or object holding them, see ``output``). It is left exactly as it was
            (weights, buffers, training flags, requires_grad, .grad, hooks), also when
            something raises.
        x: float tensor (N, C, H, W) or (C, H, W), any device and floating dtype (moved to the
            model's device and cast to its dtype; the results come back in ``x``'s dtype).
        method: a name from :func:`list_methods`.
        target: None (each sample's predicted class), an integer (int, numpy or 0-d tensor),
            one per sample (a list, 1-D array or tensor), or a callable mapping the logits
            (N, K) to (N,) scores; scores are logits unless the callable says otherwise.
        output: where the logits are in what the model returns: None (a tensor; the first
            item of a tuple/list; ``"logits"`` of a dict; ``.logits`` of an object), an index,
            a key/attribute name or a callable (:func:`~xai_widgets.outputs.select_logits`).
        progress: called with the fraction done between batches; may raise to cancel.
        cache: a shared :class:`~xai_widgets.methods.Forward` of this same input to reuse.
        **params: the method's parameters (see :func:`method_params`).
    """
    model = check_model(model)
    given = x
    with one_walk():  # checks, memo lookups and the borrow share one walk of the modules
        x = check_input(model, x)
        spec = Target.from_spec(target, x.shape[0], output)
        instance = build_method(model, x, method, params)
        with borrowed(model, instance.gradients), collecting() as notes:
            attribution = instance(model, x, spec, progress=progress, cache=cache).detach()
            heatmap = instance.heatmap(attribution, (x.shape[2], x.shape[3])).detach()
    return _result(instance, spec, given, x, attribution, heatmap, notes, 1.0)


def _result(
    instance: Method,
    spec: Target,
    given: torch.Tensor,
    x: torch.Tensor,
    attribution: torch.Tensor,
    heatmap: torch.Tensor,
    notes: dict[str, Any],
    fraction: float,
) -> Explanation:
    """The Explanation, its tensors in the dtype of the input the caller gave (a float64 or
    bfloat16 model computes in its own dtype; the caller gets what it passed in)."""
    dtype = given.dtype if isinstance(given, torch.Tensor) else x.dtype
    scores = spec.clean_scores
    used = notes.get("params", {})
    return Explanation(
        attribution=attribution.to(dtype),
        heatmap=heatmap.to(dtype),
        method=instance.name,
        params={**instance.params(), **used},
        target=spec.spec(),
        scores=None if scores is None else scores.to(dtype),
        inputs=x.to(dtype),
        signed=instance.signed,
        fraction=float(fraction),
        notes={k: v for k, v in notes.items() if k != "params"},
    )
