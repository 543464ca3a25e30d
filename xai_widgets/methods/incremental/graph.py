"""Which layers of a model the incremental engine can follow: trace with ``torch.fx`` and
give every node a rule, or say in words why not (the caller then runs full forwards).

Rules (what the node's output is for a batch of occluded copies):

* ``window``: a Conv2d (zero padding, any stride, dilation and groups), MaxPool2d or AvgPool2d
  on a changed rectangle gives a changed rectangle (:func:`.region.project`);
* ``point``: BatchNorm in eval, ReLU and the other pointwise activations, dropout in eval and
  arithmetic with a constant act on the rectangle's values alone;
* ``pair``: a residual add (or product) of two rectangles covers their union;
* ``dense``: the global pool, flatten and linear head (and any listed op after the rectangles
  end) run on whole per-copy tensors; ``size``: shapes and the integers taken from them.

Anything else (a layer it does not know, a data-dependent branch that tracing rejects, an
in-place op on a tensor used twice, forward hooks) is a reason to fall back, never a guess.

Example::

    plan = Plan.trace(model)        # raises Untraceable("layer 'attn' (MultiheadAttention) ...")
    plan.rule[node]                 # "window", "point", "pair", "dense", "size", "const", ...
"""

from __future__ import annotations

import copy
import operator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import fx, nn

__all__ = ["Plan", "Untraceable"]

POINT_MODULES = (
    nn.BatchNorm2d, nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.SELU, nn.CELU, nn.GELU,
    nn.SiLU, nn.Mish, nn.Sigmoid, nn.Tanh, nn.Hardtanh, nn.Hardswish, nn.Hardsigmoid,
    nn.Softplus, nn.Identity, nn.Dropout, nn.Dropout2d,
)  # fmt: skip
DENSE_MODULES = (nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.Flatten, nn.Linear)
POINT_FUNCTIONS = {
    F.relu, torch.relu, F.relu6, F.leaky_relu, F.elu, F.gelu, F.silu, F.mish, F.hardswish,
    F.hardsigmoid, F.hardtanh, torch.sigmoid, torch.tanh, F.sigmoid, F.tanh, operator.neg,
}  # fmt: skip
PAIR_FUNCTIONS = {operator.add, operator.sub, operator.mul, torch.add, torch.sub, torch.mul}
ARITH_FUNCTIONS = PAIR_FUNCTIONS | {operator.truediv, torch.div}
POOL_FUNCTIONS = {
    F.max_pool2d: ("kernel_size", "stride", "padding", "dilation", "ceil_mode"),
    F.avg_pool2d: ("kernel_size", "stride", "padding", "ceil_mode", "count_include_pad"),
}
DENSE_FUNCTIONS = {torch.flatten, F.adaptive_avg_pool2d, F.adaptive_max_pool2d, F.linear}
POINT_METHODS = {"relu", "relu_", "sigmoid", "tanh", "contiguous", "float", "clone"}
DENSE_METHODS = {"flatten", "view", "reshape", "mean", "amax", "sum", "squeeze"}
SIZE_METHODS = {"size", "dim"}


class Untraceable(Exception):
    """Why the incremental engine cannot follow this model (one sentence)."""


@dataclass
class Plan:
    """The traced graph and the rule of each node."""

    graph: fx.Graph
    modules: dict[str, nn.Module]
    rule: dict[fx.Node, str] = field(default_factory=dict)
    inplace: set[str] = field(default_factory=set)
    windows: dict[fx.Node, nn.Module] = field(default_factory=dict)

    def window(self, node: fx.Node) -> nn.Module:
        """The Conv2d/pool module of a ``window`` node (a functional pool as a module)."""
        return self.windows.get(node) or self.modules[str(node.target)]

    @classmethod
    def trace(cls, model: nn.Module) -> Plan:
        hooked = _hooked(model)
        if hooked:
            raise Untraceable(
                f"the model has forward hooks ({hooked}); they run only in full forwards"
            )
        try:
            graph = fx.Tracer().trace(model)
        except Exception as error:  # any tracing failure means: full forwards
            first = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise Untraceable(
                f"torch.fx cannot trace the model ({type(error).__name__}: {first[:120]})"
            ) from None
        plan = cls(graph, {name: _out_of_place(m) for name, m in model.named_modules()})
        plan.inplace = {n for n, m in model.named_modules() if getattr(m, "inplace", 0) is True}
        for node in graph.nodes:
            plan.rule[node] = plan._classify(node)
        return plan

    def _kinds(self, node: fx.Node) -> list[str]:
        return [self.rule[a] for a in node.all_input_nodes]

    def _classify(self, node: fx.Node) -> str:
        if node.op == "placeholder":
            if any(self.rule.get(n) == "patch" for n in self.rule):
                raise Untraceable("the model takes more than one input")
            return "patch"
        if node.op == "get_attr":
            return "const"
        kinds = self._kinds(node)
        if node.op == "output":
            return "output"
        if all(k == "const" for k in kinds):
            return "const"
        self._check_inplace(node)
        spatial = any(k in ("patch", "window", "point", "pair") for k in kinds)
        if node.op == "call_module":
            return self._module_rule(node, spatial)
        if node.op == "call_function":
            return self._function_rule(node, spatial, kinds)
        if node.op == "call_method":
            return self._method_rule(node, spatial)
        raise Untraceable(f"node {node.name} ({node.op}) is not supported")

    def _module_rule(self, node: fx.Node, spatial: bool) -> str:
        module = self.modules[str(node.target)]
        label = f"layer {node.target!r} ({type(module).__name__})"
        if isinstance(module, (nn.BatchNorm2d, nn.Dropout, nn.Dropout2d)) and module.training:
            raise Untraceable(f"{label} is in training mode")
        if isinstance(module, (nn.Conv2d, nn.MaxPool2d, nn.AvgPool2d)):
            _check_window(module, label)
            return "window" if spatial else "dense"
        if isinstance(module, POINT_MODULES):
            return "point" if spatial else "dense"
        if isinstance(module, DENSE_MODULES):
            return "dense"
        raise Untraceable(f"{label} is not a layer the incremental engine knows")

    def _function_rule(self, node: fx.Node, spatial: bool, kinds: list[str]) -> str:
        fn = node.target
        if fn is getattr and node.args[1] in ("shape", "ndim"):
            return "size"
        if fn is operator.getitem and self.rule[node.args[0]] == "size":  # type: ignore[index]
            return "size"
        if all(k in ("size", "const") for k in kinds) and fn in ARITH_FUNCTIONS | {
            operator.floordiv
        }:
            return "size"
        if fn in POOL_FUNCTIONS and self.rule[node.args[0]] != "size":  # type: ignore[index]
            names = POOL_FUNCTIONS[fn]
            values = [_arg(node, i + 1, name, None) for i, name in enumerate(names)]
            if any(isinstance(v, fx.Node) for v in values):
                raise Untraceable(f"{node.name}: pooling with computed arguments")
            kind = nn.MaxPool2d if fn is F.max_pool2d else nn.AvgPool2d
            given = {k: v for k, v in zip(names, values, strict=True) if v is not None}
            pool = kind(**given)
            _check_window(pool, f"function {node.name}")
            self.windows[node] = pool
            return "window" if spatial else "dense"
        if fn in POINT_FUNCTIONS:
            return "point" if spatial else "dense"
        if fn in ARITH_FUNCTIONS:
            live = [a for a in node.args if isinstance(a, fx.Node) and self.rule[a] != "const"]
            if len(live) == 2 and fn in PAIR_FUNCTIONS:
                both = all(self.rule[a] in ("patch", "window", "point", "pair") for a in live)
                return "pair" if both else "dense"
            if len(live) == 1:
                consts = [a for a in node.args if a is not live[0]]
                ok = all(not isinstance(a, fx.Node) for a in consts)
                return "point" if spatial and ok and node.args[0] is live[0] else "dense"
        if fn in DENSE_FUNCTIONS:
            if fn is torch.flatten and _arg(node, 1, "start_dim", 0) == 0:
                raise Untraceable("torch.flatten over the batch dimension")
            return "dense"
        raise Untraceable(f"function {getattr(fn, '__name__', fn)} is not supported")

    def _method_rule(self, node: fx.Node, spatial: bool) -> str:
        name = str(node.target)
        if name in SIZE_METHODS:
            return "size"
        if name in POINT_METHODS:
            return "point" if spatial else "dense"
        if name in DENSE_METHODS:
            if name in ("view", "reshape"):
                first = node.args[1] if len(node.args) > 1 else None
                if not (isinstance(first, fx.Node) and self.rule[first] == "size"):
                    raise Untraceable(f".{name}() with a fixed batch size")
            elif name != "flatten" and _over_batch(_arg(node, 1, "dim", None)):
                raise Untraceable(f".{name}() over the batch dimension")
            elif name == "flatten" and _arg(node, 1, "start_dim", 0) == 0:
                raise Untraceable(".flatten() over the batch dimension")
            return "dense"
        raise Untraceable(f"method .{name}() is not supported")

    def _check_inplace(self, node: fx.Node) -> None:
        inplace = bool(node.kwargs.get("inplace", False)) or (
            node.op == "call_method" and str(node.target).endswith("_")
        )
        if node.op == "call_module":
            inplace = str(node.target) in self.inplace
        if inplace and node.args and isinstance(node.args[0], fx.Node):
            if len(node.args[0].users) > 1:
                raise Untraceable(f"in-place {node.name} changes a tensor that is used twice")


def _arg(node: fx.Node, index: int, name: str, default: object) -> object:
    if len(node.args) > index:
        return node.args[index]
    return node.kwargs.get(name, default)


def _over_batch(dim: object) -> bool:
    """Whether a reduction's ``dim`` (None, an int or a tuple) includes the batch axis."""
    dims = dim if isinstance(dim, (tuple, list)) else (dim,)
    return any(d is None or d == 0 or isinstance(d, fx.Node) for d in dims)


def _check_window(module: nn.Module, label: str) -> None:
    if isinstance(module, nn.Conv2d):
        if module.padding_mode != "zeros":
            raise Untraceable(f"{label} pads with {module.padding_mode!r}")
        if isinstance(module.padding, str) and module.padding != "valid":
            raise Untraceable(f"{label} uses padding={module.padding!r}")
    elif isinstance(module, nn.AvgPool2d):
        if module.divisor_override or module.ceil_mode:
            raise Untraceable(f"{label} uses divisor_override or ceil_mode")
        if not module.count_include_pad and module.padding not in (0, (0, 0)):
            raise Untraceable(f"{label} excludes padding from its count")


def _out_of_place(module: nn.Module) -> nn.Module:
    """``module`` itself, or for an in-place activation a shallow copy that is not in-place
    (the plan keeps every clean activation, so nothing may write into one)."""
    if getattr(module, "inplace", False) is True:
        module = copy.copy(module)
        module.inplace = False  # type: ignore[attr-defined]
    return module


def _hooked(model: nn.Module) -> str:
    from torch.nn.modules import module as torch_module

    if torch_module._global_forward_hooks or torch_module._global_forward_pre_hooks:
        return "global hooks"
    for name, m in model.named_modules():
        if m._forward_hooks or m._forward_pre_hooks:
            return repr(name or type(m).__name__)
    return ""
