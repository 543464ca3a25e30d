"""Modified ReLU backward rules (guided backprop, deconvnet) through hooks, never by swapping
modules.

Example::

    with borrowed(model), relu_rule(model, "guided"):
        grad = torch.autograd.grad(model(x)[:, c].sum(), x)[0]
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

from .capture import rewrite_outputs

__all__ = ["RULES", "relu_rule"]

RULES = ("guided", "deconvnet", "redirected")


class _ModifiedReLU(torch.autograd.Function):
    """ReLU forward with a replaced backward rule.

    ``guided``: dR/dx = [x > 0] * max(g, 0)       (Springenberg et al. 2015, guided backprop)
    ``deconvnet``: dR/dx = max(g, 0)               (Zeiler & Fergus 2014, deconvnet)
    ``redirected``: the plain [x > 0] * g, unless that is zero for the whole sample; then g,
    except where x < 0 and g > 0 (Lucid's ``redirected_relu_grad``, for feature
    visualization: a unit that a flat start leaves dead still gets a gradient that raises it;
    g is the gradient of a loss to minimize, minus the objective)
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, rule: str) -> torch.Tensor:  # type: ignore[override]
        ctx.rule = rule
        if rule in ("guided", "redirected"):
            ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
        if ctx.rule == "redirected":
            (x,) = ctx.saved_tensors
            plain = grad * (x > 0).to(grad.dtype)
            redirected = torch.where((x < 0) & (grad > 0), torch.zeros_like(grad), grad)
            per_sample = plain.reshape(plain.shape[0], -1) if plain.dim() > 1 else plain[None]
            alive = (per_sample.abs().amax(1) > 0).view(-1, *[1] * (plain.dim() - 1))
            return torch.where(alive, plain, redirected), None
        positive = grad.clamp(min=0)
        if ctx.rule == "guided":
            (x,) = ctx.saved_tensors
            positive = positive * (x > 0).to(positive.dtype)
        return positive, None


@contextmanager
def relu_rule(model: nn.Module, rule: str) -> Iterator[int]:
    """Replace the backward rule of every ``nn.ReLU`` module in the block (yields their count).

    Implemented with a forward pre-hook, which keeps the ReLU's input (a clone is handed to the
    module, so an in-place ReLU cannot destroy it), and a forward hook, which returns
    ``_ModifiedReLU(input)`` in place of the module's output. The modules themselves, including
    their ``inplace`` flag, are never touched. Functional ``F.relu`` calls are not modules and
    keep the plain gradient, as in Captum.
    """
    if rule not in RULES:
        raise ValueError(
            f"unknown ReLU rule {rule!r}; accepted: {', '.join(repr(r) for r in RULES)}"
        )
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    with rewrite_outputs(relus, lambda _m, x, _out: _ModifiedReLU.apply(x, rule)) as count:
        yield count
