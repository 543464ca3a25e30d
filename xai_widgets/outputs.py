"""Which part of a model's output holds the class scores (the ``output=`` argument).

Models return more than a tensor: aux logits in a tuple (GoogLeNet and Inception in training),
a dict or an object with ``.logits`` (research and Hugging Face style models). Every method
reaches the class scores through :func:`select_logits`, called once per forward by
:class:`~xai_widgets.targets.Target`; the widgets call it for the predictions.

``spec`` (what ``explain(..., output=...)`` and ``Explorer(..., output=...)`` take):

* None: a tensor is the logits; a tuple/list whose first element is a tensor -> that element;
  a mapping with a ``"logits"`` key -> that value, else with an ``"out"`` key (torchvision's
  segmentation models: ``{"out": (N, K, H, W), "aux": ...}``); an object with a tensor ``.logits``
  attribute -> that attribute. Anything else is a ValueError that names ``output=``.
* an int: ``output[spec]`` of a tuple/list (or a mapping with that key);
* a str: ``output[spec]`` of a mapping, else the attribute ``output.spec``;
* a callable: ``spec(output)``.

Example::

    logits = select_logits(model(x))                      # tensor, (logits, aux), {"logits": ..}
    logits = select_logits(model(x), "scores")            # {"scores": ..., "features": ...}
    logits = select_logits(model(x), lambda out: out[1])  # anything else
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch

__all__ = ["OutputSpec", "check_output_spec", "describe_output", "select_logits"]

OutputSpec = int | str | Callable[[Any], torch.Tensor] | None


def check_output_spec(spec: object) -> OutputSpec:
    """``spec`` itself when it is None, an int, a str or a callable; TypeError otherwise."""
    if spec is None or isinstance(spec, str) or callable(spec):
        return spec  # type: ignore[return-value]
    if isinstance(spec, int) and not isinstance(spec, bool):
        return spec
    raise TypeError(
        "output= must be None (logits found automatically), an int (index into a tuple/list "
        "output), a str (a key or attribute of the output) or a callable output -> logits, "
        f"not {type(spec).__name__}"
    )


def describe_output(output: object) -> str:
    """A short description of what a model returned, for error messages."""
    if isinstance(output, torch.Tensor):
        return f"a tensor of shape {tuple(output.shape)}"
    if isinstance(output, Mapping):
        keys = ", ".join(repr(k) for k in list(output.keys())[:8])
        return f"a {type(output).__name__} with keys {keys}"
    if isinstance(output, (tuple, list)):
        parts = ", ".join(_short(item) for item in output[:6])
        return f"a {type(output).__name__} of {len(output)} items ({parts})"
    fields = (
        [k for k in vars(output) if not k.startswith("_")] if hasattr(output, "__dict__") else []
    )
    shown = f" with attributes {', '.join(fields[:8])}" if fields else ""
    return f"a {type(output).__name__}{shown}"


def _short(item: object) -> str:
    if isinstance(item, torch.Tensor):
        return f"tensor {tuple(item.shape)}"
    return type(item).__name__


def _auto(output: object) -> torch.Tensor | None:
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, Mapping):
        found = output.get("logits", output.get("out"))
        return found if isinstance(found, torch.Tensor) else None
    if isinstance(output, (tuple, list)):
        return output[0] if output and isinstance(output[0], torch.Tensor) else None
    found = getattr(output, "logits", None)
    return found if isinstance(found, torch.Tensor) else None


def select_logits(output: object, spec: OutputSpec = None) -> torch.Tensor:
    """The class-score tensor in ``output`` (what the model returned), picked by ``spec``
    (see the module docstring). ValueError naming ``output=`` when nothing fits."""
    if spec is None:
        found = _auto(output)
        if found is None:
            raise ValueError(
                f"the model returned {describe_output(output)}; no logits found (a tensor, "
                "a tuple/list whose first item is a tensor, a dict with 'logits' or 'out', or "
                "an object with .logits). Say where the class scores are with output=: an "
                "index, a key or a callable, e.g. output=lambda out: out['scores']"
            )
        return found
    if isinstance(output, torch.Tensor) and not callable(spec):
        raise ValueError(
            f"output={spec!r} selects from a tuple, dict or object, but the model returned "
            f"{describe_output(output)}; leave output= out for a model returning its logits"
        )
    try:
        if callable(spec):
            found = spec(output)
        elif isinstance(spec, str) and not isinstance(output, Mapping):
            found = getattr(output, spec)
        else:
            found = output[spec]  # type: ignore[index]
    except (KeyError, IndexError, AttributeError, TypeError) as error:
        if callable(spec):
            raise
        raise ValueError(
            f"output={spec!r} does not select anything from what the model returned "
            f"({describe_output(output)}): {type(error).__name__}: {error}"
        ) from error
    if not isinstance(found, torch.Tensor):
        raise ValueError(
            f"output={spec!r} picked a {type(found).__name__} from what the model returned "
            f"({describe_output(output)}); it must pick the (N, classes) logits tensor"
        )
    return found
