"""One forward pass that gradient methods share: the output and the captured layer activations,
with the autograd graph kept so that several backward passes (another class, another layer)
need no new forward.

This is the per-image cache of the interactive views: ``Forward.run(model, x, layers)`` once,
then ``explain(..., cache=fwd)`` for every class and CAM layer. Used inside ``borrowed(model)``.

Example::

    with borrowed(model):
        fwd = Forward.run(model, x, ["layer3", "layer4"], input_grad=True)
        g_x = fwd.grad(fwd.output[:, 3].sum(), fwd.x)
        g_4 = fwd.grad(fwd.output[:, 3].sum(), fwd.acts["layer4"])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..hooks import capture
from ..layers import is_spatial, nchw_perms, not_spatial_error, spatial_layers, token_grids

__all__ = ["Forward", "spatial_check"]


def spatial_check(model: nn.Module, x: torch.Tensor, method: str):
    """A capture check that rejects a layer whose output is not (N, C, h, w) spatial."""

    def check(name: str, output: torch.Tensor) -> None:
        if not is_spatial(tuple(output.shape)):
            raise not_spatial_error(method, name, tuple(output.shape))

    return check


@dataclass
class Forward:
    """The result of one recorded forward pass.

    ``x`` is the input as fed (a leaf requiring grad when ``input_grad``), ``output`` what the
    model returned (a tensor, or a tuple/dict/object: :func:`~xai_widgets.outputs.select_logits`
    or a ``Target`` picks the logits), ``acts`` the captured activations (differentiable,
    (N, C, h, w) also for channels-last layers), ``param_versions`` a
    fingerprint of the weights so a cache can tell when the model was trained in between.
    """

    model: nn.Module
    x: torch.Tensor
    output: Any
    acts: dict[str, torch.Tensor] = field(default_factory=dict)
    input_grad: bool = False
    shared: bool = False
    param_versions: tuple[int, ...] = ()

    @staticmethod
    def fingerprint(model: nn.Module) -> tuple[int, ...]:
        return tuple(p._version for p in model.parameters())

    @classmethod
    def run(
        cls,
        model: nn.Module,
        x: torch.Tensor,
        layers: Sequence[str] = (),
        *,
        input_grad: bool = False,
        shared: bool = True,
        method: str = "forward",
    ) -> Forward:
        """Forward ``x`` recording the graph from the input (``input_grad``) or from the first
        captured layer on. ``shared=True`` keeps the graph for repeated :meth:`grad` calls."""
        xin = x.detach().requires_grad_(True) if input_grad else x.detach()
        perms = nchw_perms(model, x, layers) if layers else {}
        grids = token_grids(model, x, layers) if layers else {}
        check = spatial_check(model, x, method)
        with capture(model, layers, gradable=True, check=check, permute=perms, grids=grids) as cap:
            output = model(xin)
        missing = [name for name in layers if name not in cap.outputs]
        if missing:
            raise ValueError(f"{method}: layer {missing[0]!r} did not run in the forward pass")
        return cls(
            model,
            xin,
            output,
            dict(cap.outputs),
            input_grad,
            shared,
            cls.fingerprint(model),
        )

    @classmethod
    def for_layers(
        cls,
        model: nn.Module,
        x: torch.Tensor,
        layers: Sequence[str],
        cache: Forward | None,
        *,
        input_grad: bool = False,
        method: str = "forward",
    ) -> Forward:
        """``cache`` when it was run on this very input and covers what is needed, else a new
        (unshared) forward."""
        if cache is not None and cache.covers(model, x, layers, input_grad):
            return cache
        return cls.run(model, x, layers, input_grad=input_grad, shared=False, method=method)

    def covers(
        self, model: nn.Module, x: torch.Tensor, layers: Sequence[str], input_grad: bool
    ) -> bool:
        return (
            self.model is model
            and (self.x is x or (self.x.shape == x.shape and torch.equal(self.x.detach(), x)))
            and all(name in self.acts for name in layers)
            and (self.input_grad or not input_grad)
            and self.param_versions == self.fingerprint(model)
        )

    def grad(self, score: torch.Tensor, wrt: torch.Tensor) -> torch.Tensor:
        """d score / d wrt, keeping the graph when this forward is shared."""
        if not score.requires_grad:
            raise ValueError(
                "the explained score does not depend on the input or layer (it has no "
                "gradient); the model's output or output= must give logits computed from x"
            )
        (g,) = torch.autograd.grad(score, wrt, retain_graph=self.shared)
        return g

    @classmethod
    def spatial(cls, model: nn.Module, x: torch.Tensor, *, input_grad: bool = True) -> Forward:
        """A shared forward capturing every spatial layer: the interactive views' cache."""
        names = [name for name, _ in spatial_layers(model, x)]
        return cls.run(model, x, names, input_grad=input_grad, shared=True)
