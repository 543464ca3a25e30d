"""The one parameter system: methods, feature functions and widgets all declare and read
parameters here.

A parameter is a dataclass field declared with :func:`param`: its type comes from the
annotation, its kind from the declaration (``number``: int or float with inclusive bounds;
``bool``; ``choice``: one of a fixed list of strings; ``layer``: a dotted layer name or a
submodule), its help text is a complete sentence shown as a tooltip. Widgets derive their
controls from :func:`declared`; :func:`check_params` rejects unknown names and bad values
before any work, naming the parameter and what is accepted.

Example::

    @dataclass(frozen=True)
    class Settings:
        steps: int = param(32, min=1, max=512, help="Number of interpolation steps.")
        fill: str = param("noise", choices=("noise", "mean", "zero"), help="How pixels go.")

    declared(Settings)          # (ParamSpec(name='steps', kind='number', ...), ...)
    check_params(Settings, {"fill": "nope"}, "evaluate")
    # ValueError: evaluate: parameter 'fill' must be one of 'noise', 'mean', 'zero'; got 'nope'
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, get_type_hints

from torch import nn

__all__ = [
    "KINDS",
    "ParamSpec",
    "check_params",
    "check_value",
    "clamp_related",
    "declared",
    "param",
]

KINDS = ("number", "bool", "choice", "layer")


@dataclass(frozen=True)
class ParamSpec:
    """One declared parameter: what a check and a widget control need to know about it."""

    name: str
    type: type
    default: Any
    help: str
    min: float | None = None
    max: float | None = None
    step: float | None = None
    kind: str = "number"
    choices: tuple[str, ...] = ()
    image_bound: bool = False  # at most the image's shorter side (a patch, a stride)
    label: str = ""  # the control's label; the name when empty
    at_most: str = ""  # the name of another parameter this one may not exceed

    @property
    def title(self) -> str:
        return self.label or self.name.replace("_", " ")


def param(
    default: Any,
    *,
    help: str,
    min: float | None = None,
    max: float | None = None,
    step: float | None = None,
    kind: str | None = None,
    choices: Sequence[str] | None = None,
    image_bound: bool = False,
    label: str = "",
    at_most: str = "",
) -> Any:
    """Declare a parameter as a dataclass field with its kind, bounds and help text.

    The kind is inferred when not given: ``choice`` when ``choices`` are listed, ``bool`` for
    a bool default, else ``number``. ``min``/``max`` are inclusive hard bounds; a slider uses
    them as its range, capped at the image's shorter side when ``image_bound`` and at another
    parameter's value when ``at_most`` names it (a stride never larger than its patch).
    """
    if kind is None:
        kind = "choice" if choices else "bool" if isinstance(default, bool) else "number"
    if kind not in KINDS:
        raise ValueError(f"unknown parameter kind {kind!r}; accepted: {', '.join(KINDS)}")
    if kind == "choice" and (not choices or default not in choices):
        raise ValueError(f"a choice parameter needs choices that include its default {default!r}")
    meta = {
        "help": help,
        "min": min,
        "max": max,
        "step": step,
        "kind": kind,
        "choices": tuple(choices or ()),
        "image_bound": image_bound,
        "label": label,
        "at_most": at_most,
    }
    return dataclasses.field(default=default, metadata=meta)


@functools.cache
def declared(cls: type) -> tuple[ParamSpec, ...]:
    """The parameters declared on a dataclass (fields made with :func:`param`)."""
    hints = get_type_hints(cls)
    specs = []
    for f in dataclasses.fields(cls):
        meta = f.metadata
        kind = meta.get("kind", "number")
        specs.append(
            ParamSpec(
                name=f.name,
                type=str if kind in ("layer", "choice") else hints[f.name],
                default=f.default,
                help=meta.get("help", ""),
                min=meta.get("min"),
                max=meta.get("max"),
                step=meta.get("step"),
                kind=kind,
                choices=meta.get("choices", ()),
                image_bound=meta.get("image_bound", False),
                label=meta.get("label", ""),
                at_most=meta.get("at_most", ""),
            )
        )
    return tuple(specs)


def check_value(spec: ParamSpec, value: Any, owner: str) -> None:
    """Raise a TypeError/ValueError naming ``owner``'s parameter and what it accepts."""
    where = f"{owner}: parameter {spec.name!r}"
    if spec.kind == "layer":
        if value is not None and not isinstance(value, (str, nn.Module)):
            raise TypeError(
                f"{where} must be a dotted layer name or a submodule, not {type(value).__name__}"
            )
        return
    if spec.kind == "choice":
        if value not in spec.choices:
            accepted = ", ".join(map(repr, spec.choices))
            raise ValueError(f"{where} must be one of {accepted}; got {value!r}")
        return
    if spec.kind == "bool":
        if not isinstance(value, bool):
            raise TypeError(f"{where} must be True or False, not {value!r}")
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{where} must be a {spec.type.__name__}, not {type(value).__name__}")
    if spec.type is int and not isinstance(value, int):
        raise TypeError(f"{where} must be an int, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{where} must be finite, got {value!r}")
    if spec.min is not None and value < spec.min:
        raise ValueError(f"{where} must be >= {spec.min:g}, got {value!r}")
    if spec.max is not None and value > spec.max:
        raise ValueError(f"{where} must be <= {spec.max:g}, got {value!r}")


def check_params(cls: type, values: Mapping[str, Any], owner: str) -> dict[str, Any]:
    """``values`` checked against ``cls``'s declaration: unknown names are a TypeError listing
    the accepted ones, each value is checked by :func:`check_value`, unless ``cls`` has a
    ``accepts_value(name, value, owner) -> bool`` that accepts (or rejects, raising) a value
    beyond the declaration (a region method's integer label map). Returns a new dict."""
    specs = {spec.name: spec for spec in declared(cls)}
    unknown = sorted(set(values) - set(specs))
    if unknown:
        accepted = ", ".join(specs) or "none"
        raise TypeError(
            f"{owner}() got unknown parameter(s) {', '.join(unknown)}; accepted: {accepted}"
        )
    extra = getattr(cls, "accepts_value", None)
    for name, value in values.items():
        if extra is None or not extra(name, value, owner):
            check_value(specs[name], value, owner)
    for name, value in values.items():
        bound = specs[name].at_most
        if bound and bound in values and value > values[bound]:
            raise ValueError(
                f"{owner}: parameter {name!r} must be <= {bound} ({values[bound]!r}), got {value!r}"
            )
    return dict(values)


def clamp_related(cls: type, values: Mapping[str, Any]) -> dict[str, Any]:
    """``values`` with every ``at_most`` parameter lowered to its bound, as a slider whose
    maximum follows another slider does (a stride follows a smaller patch)."""
    out = dict(values)
    for spec in declared(cls):
        if spec.at_most and spec.name in out and spec.at_most in out:
            out[spec.name] = min(out[spec.name], out[spec.at_most])
    return out
