"""Modified ReLU backward rules (guided backprop, deconvnet) for every ReLU the model applies,
``nn.ReLU`` modules and functional ``F.relu`` / ``torch.relu`` / ``Tensor.relu`` calls alike,
never by swapping modules.

A :class:`torch.overrides.TorchFunctionMode` is active while the model's forward runs inside
the block (pushed by a forward pre-hook on the model, popped by its forward hook, and in any
case on leaving the block); it is thread-local and leaves the model's modules untouched. Every
ReLU call returns the same values with the replaced backward; other activations (GELU, SiLU,
ReLU6, sigmoid gates...) keep their own gradient and are counted, so a caller can say what was
done.

Example::

    with borrowed(model), relu_rule(model, "guided") as reached:
        score = model(x)[:, c].sum()
    reached.relu          # ReLU calls given the guided rule
    reached.other         # {"gelu": 12}: activations that kept their plain gradient
    grad = torch.autograd.grad(score, x)[0]
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn
from torch.overrides import TorchFunctionMode

__all__ = ["RULES", "ReluReach", "relu_rule"]

RULES = ("guided", "deconvnet", "redirected")

_RELU = {F.relu, torch.relu, torch.Tensor.relu}
_RELU_INPLACE = {F.relu_, torch.relu_, torch.Tensor.relu_}
_OTHER = {
    F.gelu: "GELU",
    F.silu: "SiLU",
    F.hardswish: "Hardswish",
    F.hardsigmoid: "Hardsigmoid",
    F.mish: "Mish",
    F.elu: "ELU",
    F.selu: "SELU",
    F.celu: "CELU",
    F.leaky_relu: "LeakyReLU",
    F.prelu: "PReLU",
    F.relu6: "ReLU6",
    F.hardtanh: "Hardtanh/ReLU6",
    F.softplus: "Softplus",
    torch.sigmoid: "sigmoid",
    torch.Tensor.sigmoid: "sigmoid",
    torch.tanh: "tanh",
    torch.Tensor.tanh: "tanh",
}


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


@dataclass
class ReluReach:
    """What a :func:`relu_rule` block reached: ``relu`` ReLU calls given the rule, ``other``
    activation calls by kind that kept their own gradient."""

    rule: str
    relu: int = 0
    other: Counter = field(default_factory=Counter)

    def summary(self) -> str:
        """One sentence for a person: which rule reached how many activations."""
        text = f"{self.rule} rule applied at {self.relu} ReLU call{'s' * (self.relu != 1)}"
        if self.other:
            kept = ", ".join(f"{n} x{c}" for n, c in sorted(self.other.items()))
            text += f"; plain gradient kept through {kept}"
        return text


class _ReluMode(TorchFunctionMode):
    def __init__(self, reach: ReluReach) -> None:
        super().__init__()
        self.reach = reach

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        inplace = func in _RELU_INPLACE or (func in _RELU and bool(kwargs.get("inplace")))
        if (func in _RELU or inplace) and isinstance(args[0], torch.Tensor):
            self.reach.relu += 1
            x = args[0]
            if not inplace:
                return _ModifiedReLU.apply(x, self.reach.rule)
            # same in-place effect: the rule applied to a copy, written back into x
            return x.copy_(_ModifiedReLU.apply(x.clone(), self.reach.rule))
        kind = _OTHER.get(func)
        if kind is not None:
            self.reach.other[kind] += 1
        return func(*args, **kwargs)


@contextmanager
def relu_rule(model: nn.Module, rule: str) -> Iterator[ReluReach]:
    """Within the block, every ReLU that ``model``'s forward applies (module or functional)
    has the ``rule`` backward ("guided", "deconvnet" or "redirected"); yields a
    :class:`ReluReach` counting what the forwards in the block reached."""
    if rule not in RULES:
        raise ValueError(
            f"unknown ReLU rule {rule!r}; accepted: {', '.join(repr(r) for r in RULES)}"
        )
    reach = ReluReach(rule)
    mode = _ReluMode(reach)
    depth = [0]

    def enter(_module: nn.Module, _args: tuple) -> None:
        depth[0] += 1
        if depth[0] == 1:
            mode.__enter__()

    def leave(_module: nn.Module, _args: tuple, _output: object) -> None:
        depth[0] -= 1
        if depth[0] == 0:
            mode.__exit__(None, None, None)

    handles = [model.register_forward_pre_hook(enter), model.register_forward_hook(leave)]
    try:
        yield reach
    finally:
        for handle in handles:
            handle.remove()
        if depth[0] > 0:  # a forward that raised (or was stopped) left the mode on
            mode.__exit__(None, None, None)
