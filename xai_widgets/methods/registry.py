"""The method registry and the one place parameters are declared.

A method is a frozen dataclass whose fields are its parameters, each declared with
:func:`param` (type from the annotation, default, bounds and help in the metadata). It registers
itself with :func:`register`; widgets derive their controls from :func:`method_params`.

Example::

    @register("saliency", family="gradient")
    @dataclass(frozen=True)
    class Saliency(Method):
        '''Simonyan et al. 2014: dS_c/dx.'''
        def __call__(self, model, x, target, progress=None): ...

    method_params("occlusion")  # [ParamSpec(name='patch', type=int, default=16, ...), ...]
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, get_type_hints

import torch
import torch.nn.functional as F
from torch import nn

from ..targets import Target
from .forward import Forward

__all__ = [
    "Method",
    "ParamSpec",
    "Progress",
    "get_method",
    "list_methods",
    "method_params",
    "param",
    "register",
]

Progress = Callable[[float], None]
"""Called with the fraction done between batches; it may raise to cancel the computation."""

_REGISTRY: dict[str, type[Method]] = {}

FAMILIES = ("gradient", "cam", "perturbation")


@dataclass(frozen=True)
class ParamSpec:
    """One declared parameter: what a widget needs to build a control for it."""

    name: str
    type: type
    default: Any
    help: str
    min: float | None = None
    max: float | None = None
    step: float | None = None
    kind: str = "number"  # "number" | "layer"
    image_bound: bool = False  # at most the image's shorter side (a patch, a stride)


def param(
    default: Any,
    *,
    help: str,
    min: float | None = None,
    max: float | None = None,
    step: float | None = None,
    kind: str = "number",
    image_bound: bool = False,
) -> Any:
    """Declare a method parameter as a dataclass field with its bounds and help text.

    ``min``/``max`` are inclusive hard bounds (checked); a slider uses them as its range, capped
    at the image's shorter side when ``image_bound``.
    """
    meta = {"help": help, "min": min, "max": max, "step": step, "kind": kind}
    return dataclasses.field(default=default, metadata={**meta, "image_bound": image_bound})


def _check_value(spec: ParamSpec, value: Any, method: str) -> None:
    where = f"{method}: parameter {spec.name!r}"
    if spec.kind == "layer":
        if value is not None and not isinstance(value, (str, nn.Module)):
            raise TypeError(
                f"{where} must be a dotted layer name or a submodule, not {type(value).__name__}"
            )
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{where} must be a {spec.type.__name__}, not {type(value).__name__}")
    if spec.type is int and not isinstance(value, int):
        raise TypeError(f"{where} must be an int, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{where} must be finite, got {value!r}")
    if spec.min is not None and value < spec.min:
        raise ValueError(f"{where} must be >= {spec.min}, got {value!r}")
    if spec.max is not None and value > spec.max:
        raise ValueError(f"{where} must be <= {spec.max}, got {value!r}")


class Method:
    """Base of every registered method (subclasses are frozen dataclasses).

    Class attributes: ``name`` and ``family`` (set by :func:`register`), ``space`` ("input":
    attribution (N, C, H, W); "layer": (N, h, w) at layer resolution) and ``reduce``, how an
    input-space attribution becomes a heatmap: "sum" over channels (sign kept), "max_abs"
    (max over channels of the magnitude) or "mean". ``signed`` says whether the heatmap's sign
    carries meaning (a diverging colour map then suits it) or it is non-negative.
    """

    name: ClassVar[str] = ""
    family: ClassVar[str] = ""
    space: ClassVar[str] = "input"
    reduce: ClassVar[str] = "sum"
    signed: ClassVar[bool] = True

    def __post_init__(self) -> None:
        for spec in method_params(type(self)):
            _check_value(spec, getattr(self, spec.name), self.name or type(self).__name__)

    def check_input(self, x: torch.Tensor) -> None:
        """Checks of the parameters against the input (before any work); override as needed."""

    def __call__(
        self,
        model: nn.Module,
        x: torch.Tensor,
        target: Target,
        progress: Progress | None = None,
        cache: Forward | None = None,
    ) -> torch.Tensor:
        """The raw attribution. ``x`` is on the model's device, the model borrowed (eval, no
        parameter grads); ``target`` binds on the first clean forward; ``progress`` is called
        between batches; ``cache`` is a shared :class:`Forward` of this very input to reuse."""
        raise NotImplementedError

    def heatmap(self, attribution: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
        """(N, H, W) raw heatmap at input resolution ``size`` (sign kept, not normalized)."""
        if self.space == "layer":
            return F.interpolate(
                attribution[:, None], size=size, mode="bilinear", align_corners=False
            )[:, 0]
        if self.reduce == "max_abs":
            return attribution.abs().amax(1)
        if self.reduce == "mean":
            return attribution.mean(1)
        return attribution.sum(1)

    def params(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}  # type: ignore[arg-type]


def register(name: str, *, family: str) -> Callable[[type[Method]], type[Method]]:
    """Class decorator: add a method to the registry under ``name``."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; accepted: {FAMILIES}")

    def decorate(cls: type[Method]) -> type[Method]:
        if name in _REGISTRY:
            raise ValueError(f"method {name!r} is registered twice")
        if not dataclasses.is_dataclass(cls):
            raise TypeError(f"method {name!r} must be a dataclass")
        cls.name = name
        cls.family = family
        _REGISTRY[name] = cls
        return cls

    return decorate


def list_methods(family: str | None = None) -> list[str]:
    """Registered method names (optionally of one family), in registration order."""
    return [n for n, c in _REGISTRY.items() if family is None or c.family == family]


def get_method(name: str) -> type[Method]:
    """The registered class for ``name``; ValueError naming the registered methods otherwise."""
    if not isinstance(name, str):
        raise TypeError(f"method must be a name (str), not {type(name).__name__}")
    if name not in _REGISTRY:
        raise ValueError(f"unknown method {name!r}; registered methods: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def method_params(method: str | type[Method]) -> list[ParamSpec]:
    """The declared parameters of a method: name, type, default, bounds, help."""
    cls = get_method(method) if isinstance(method, str) else method
    return list(_declared(cls))


@functools.cache
def _declared(cls: type[Method]) -> tuple[ParamSpec, ...]:
    hints = get_type_hints(cls)
    specs = []
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        meta = f.metadata
        kind = meta.get("kind", "number")
        typ = str if kind == "layer" else hints[f.name]
        specs.append(
            ParamSpec(
                name=f.name,
                type=typ,
                default=f.default,
                help=meta.get("help", ""),
                min=meta.get("min"),
                max=meta.get("max"),
                step=meta.get("step"),
                kind=kind,
                image_bound=meta.get("image_bound", False),
            )
        )
    return tuple(specs)
