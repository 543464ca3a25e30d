"""The method registry and the streaming protocol.

A method is a frozen dataclass whose fields are its parameters, each declared with
:func:`~xai_widgets.params.param` (the one parameter system). It registers itself with
:func:`register`, which also records its label ("Grad-CAM++") and family; widgets derive their
controls from :func:`method_params`.

A method computes its attribution in :meth:`Method.stream`, which yields
``(attribution, fraction done)``: a slow method yields coarse results first and refines them
(occlusion, region and sampling methods); the default calls :meth:`Method.__call__` and yields
once. Views show whatever streams without knowing which method it is.

Example::

    @register("saliency", label="Saliency", family="gradient", label="Saliency")
    @dataclass(frozen=True)
    class Saliency(Method):
        '''Simonyan et al. 2014: dS_c/dx.'''
        def __call__(self, model, x, target, progress=None, cache=None): ...

    method_params("occlusion")  # [ParamSpec(name='patch', kind='number', default=16, ...), ...]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from ..params import ParamSpec, check_value, declared, param
from ..targets import Target
from .forward import Forward

__all__ = [
    "Method",
    "ParamSpec",
    "Progress",
    "get_method",
    "list_methods",
    "method_label",
    "method_params",
    "param",
    "register",
]

Progress = Callable[[float], None]
"""Called with the fraction done between batches; it may raise to cancel the computation."""

_REGISTRY: dict[str, type[Method]] = {}

FAMILIES = {
    "gradient": "Gradients",
    "cam": "CAM",
    "relevance": "Relevance",
    "perturbation": "Perturbation",
    "attention": "Attention",
}
"""Method families in the order the widgets list them, with their labels."""


class Method:
    """Base of every registered method (subclasses are frozen dataclasses).

    Class attributes: ``name`` and ``family`` (set by :func:`register`), ``space`` ("input":
    attribution (N, C, H, W); "layer": (N, h, w) at layer resolution) and ``reduce``, how an
    input-space attribution becomes a heatmap: "sum" over channels (sign kept), "max_abs"
    (max over channels of the magnitude) or "mean". ``signed`` says whether the heatmap's sign
    carries meaning (a diverging colour map then suits it) or it is non-negative.
    ``gradients``: False for a method that never differentiates (it then runs with autograd
    off and the borrow leaves the parameters' ``requires_grad`` as they are, which saves about
    0.3 ms a call on a small ViT).
    """

    name: ClassVar[str] = ""
    label: ClassVar[str] = ""
    tip: ClassVar[str] = ""
    family: ClassVar[str] = ""
    space: ClassVar[str] = "input"
    reduce: ClassVar[str] = "sum"
    signed: ClassVar[bool] = True
    gradients: ClassVar[bool] = True

    @classmethod
    def accepts_value(cls, name: str, value: object, owner: str) -> bool:
        """Whether the method itself accepts ``value`` for parameter ``name`` beyond its
        declaration (a label-map tensor for ``segments``, an int block index for ``layer``);
        it may raise a clear error for a value of that kind that is wrong."""
        return False

    def __post_init__(self) -> None:
        owner = self.name or type(self).__name__
        for spec in method_params(type(self)):
            value = getattr(self, spec.name)
            if not self.accepts_value(spec.name, value, owner):
                check_value(spec, value, owner)

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

    def unavailable(self, model: nn.Module, x: torch.Tensor, cache: Forward | None) -> str:
        """Why this method cannot explain ``model`` on ``x`` with these settings, in words a
        person can act on ("CAM needs a global-average-pool + linear head"); "" when it can.
        Views disable the method with this reason instead of showing an error. Runs inside
        ``borrowed(model)``; ``cache`` is the view's recorded forward of ``x``."""
        return ""

    def cost(self, x: torch.Tensor) -> int | None:
        """How many forward passes of one sample the method runs on ``x`` when that is many
        (views show the count and an estimated time first); None for about one pass."""
        return None

    def stream(
        self, model: nn.Module, x: torch.Tensor, target: Target, **options: Any
    ) -> Iterator[tuple[torch.Tensor, float]]:
        """Yield ``(attribution, fraction done)``, coarse first; the last has fraction 1 and is
        the method's exact result. ``options`` are :meth:`__call__`'s (``progress``, ``cache``);
        the default computes once with it.

        The model is borrowed only while the generator runs, not while the caller handles a
        result: a stream must not keep hooks registered across a ``yield``."""
        yield self(model, x, target, **options), 1.0

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


def register(
    name: str, *, family: str, label: str = "", tip: str = ""
) -> Callable[[type[Method]], type[Method]]:
    """Class decorator: add a method to the registry under ``name``, shown as ``label``
    (the name a textbook uses; default: ``name``) with ``tip``, one plain sentence without
    notation saying what it shows (the widgets' tooltip)."""
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r}; accepted: {', '.join(FAMILIES)}")

    def decorate(cls: type[Method]) -> type[Method]:
        if name in _REGISTRY:
            raise ValueError(f"method {name!r} is registered twice")
        if not dataclasses.is_dataclass(cls):
            raise TypeError(f"method {name!r} must be a dataclass")
        cls.name = name
        cls.label = label or name
        cls.tip = tip
        cls.family = family
        _REGISTRY[name] = cls
        return cls

    return decorate


def method_label(name: str) -> str:
    """The name a person reads for a registered method ("Grad-CAM++" for ``grad_cam_pp``)."""
    return get_method(name).label


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
    """The declared parameters of a method: name, kind, type, default, bounds, help."""
    cls = get_method(method) if isinstance(method, str) else method
    return list(declared(cls))
