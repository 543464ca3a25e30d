"""Any Captum attribution class as a registered method (Captum stays an optional extra).

``from_captum(name, captum_class, family=..., **captum_kwargs)`` registers a method ``name``
that builds ``captum_class(forward)`` on each call and returns
``.attribute(x, target=classes, **captum_kwargs)``: the Explorer toggles it, ``explain`` and
the model contract cover it like any other method. ``captum_class`` is a class from
``captum.attr`` (or its name, "DeepLift"), or a callable ``forward -> attribution object`` for
wrappers such as ``NoiseTunnel``. Class targets are bound on a clean forward first (the
predicted class for ``target=None``); a callable target becomes part of the forward function.

Example::

    from captum.attr import DeepLift, NoiseTunnel, Saliency
    from_captum("deeplift", DeepLift, family="gradient", label="DeepLIFT")
    from_captum("smooth_saliency", lambda f: NoiseTunnel(Saliency(f)), nt_type="smoothgrad",
                nt_samples=8, label="NoiseTunnel(Saliency)")
    explain(model, x, "deeplift", target=3)
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import make_dataclass
from typing import Any

import torch

from .gradients import bind_clean
from .registry import Method, Progress, register

__all__ = ["from_captum"]

_INSTALL = "pip install xai_widgets[captum]"


def _captum_class(spec: str | type | Callable[..., Any]) -> Callable[..., Any]:
    if not isinstance(spec, str):
        if not callable(spec):
            raise TypeError(
                "from_captum: captum_class must be a Captum attribution class, its name, or a "
                f"callable forward -> attribution object, not {type(spec).__name__}"
            )
        return spec
    try:
        import captum.attr as attr
    except ImportError as err:
        raise ImportError(f"from_captum needs Captum, an optional extra: {_INSTALL}") from err
    if not hasattr(attr, spec):
        raise ValueError(f"from_captum: captum.attr has no attribution class {spec!r}")
    return getattr(attr, spec)


def from_captum(
    name: str,
    captum_class: str | type | Callable[..., Any],
    *,
    family: str = "gradient",
    label: str = "",
    **captum_kwargs: Any,
) -> type[Method]:
    """Register ``captum_class`` as method ``name`` in ``family`` (shown as ``label``, default
    the class name); ``captum_kwargs`` go to ``.attribute()``. Returns the method class."""
    try:
        import captum  # noqa: F401
    except ImportError as err:
        raise ImportError(f"from_captum needs Captum, an optional extra: {_INSTALL}") from err
    factory = _captum_class(captum_class)
    kwargs = dict(captum_kwargs)
    shown = label or getattr(factory, "__name__", name)

    def __call__(self, model, x, target, progress: Progress | None = None, cache=None):
        bind_clean(model, x, target)
        if target.fn is not None:
            fn = target.fn

            def forward(inp: torch.Tensor) -> torch.Tensor:
                return fn(model(inp))

            classes = None
        else:
            forward, classes = model, list(target.indices or [])
        with warnings.catch_warnings():  # x is ours: Captum setting requires_grad is expected
            warnings.filterwarnings("ignore", message="Input Tensor .* did not already require")
            result = factory(forward).attribute(x, target=classes, **kwargs)
        if progress is not None:
            progress(1.0)
        return result.detach()

    doc = (
        f"Captum's {shown} (``{getattr(factory, '__name__', factory)!s}``) with attribute() "
        f"arguments {kwargs!r}, registered by from_captum."
    )
    cls = make_dataclass(
        f"Captum_{name}",
        [],
        bases=(Method,),
        frozen=True,
        namespace={"__call__": __call__, "__doc__": doc},
    )
    return register(name, family=family, label=shown)(cls)
