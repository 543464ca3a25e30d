"""Incremental occlusion (Krypton, Nakandala et al. SIGMOD 2019): forward a batch of occluded
copies by recomputing, at every layer, only the rectangle where each copy differs from the
clean input, reading the clean forward's activations everywhere else.

For a copy whose window covers rows [a, a + p) of the input, a Conv2d/pool layer changes only
the output rows that see them (:func:`.region.project`), pointwise layers change nothing new,
a residual add changes the union of its operands' rectangles; the head (global pool, flatten,
linear) runs on each copy's whole (small) last map. The result equals a full forward of each
occluded copy up to floating-point summation order. With ``tau`` (Krypton's projective-field
threshold) a window layer's rectangle is cut to ``ceil(tau * size)`` rows and columns around
its centre: faster, approximate.

Example::

    run = Incremental.start(model, x)                  # Untraceable: use full forwards
    out = run.forward(rows, cols, samples, patch=(16, 16), baseline=0.0)   # logits (K, classes)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.nn.modules.utils import _pair
from torch.utils._pytree import tree_flatten

from .graph import Plan, Untraceable
from .region import Patch, Span, gather, project, union

__all__ = ["Incremental", "Untraceable"]

PATCHED = ("patch", "window", "point", "pair")


@dataclass
class Incremental:
    """The traced plan and every node's clean value for one input ``x`` (N, C, H, W)."""

    plan: Plan
    model: nn.Module
    clean: dict[fx.Node, Any]
    tau: float | None = None
    macs: int = 0
    """Convolution multiply-adds computed so far (the benchmark's count of our work)."""
    _padded: dict[tuple, torch.Tensor] = field(default_factory=dict)

    @classmethod
    def start(
        cls, model: nn.Module, x: torch.Tensor, output: Any, tau: float | None = None
    ) -> Incremental:
        """Trace ``model`` and run the clean forward through the plan; Untraceable when a node
        has no rule or the plan does not reproduce ``output`` (the model's own forward)."""
        plan = Plan.trace(model)
        clean: dict[fx.Node, Any] = {}
        try:
            for node in plan.graph.nodes:
                if node.op == "placeholder":
                    clean[node] = x
                elif node.op == "output":
                    clean[node] = fx.node.map_arg(node.args[0], lambda n: clean[n])
                else:
                    clean[node] = _call(plan, model, node, clean)
                value = clean[node]
                if plan.rule[node] in PATCHED and getattr(value, "ndim", 0) != 4:
                    raise Untraceable(f"node {node.name} is not a (N, C, H, W) map")
                if plan.rule[node] == "pair":
                    shapes = {clean[a].shape for a in node.all_input_nodes}
                    if len(shapes) != 1:
                        raise Untraceable(f"{node.name} combines maps of different shapes")
        except Untraceable:
            raise
        except Exception as error:  # the plan's own run failed: full forwards
            raise Untraceable(f"the traced graph failed ({type(error).__name__})") from None
        mine, _ = tree_flatten(clean[_output(plan)])
        theirs, _ = tree_flatten(output)
        if len(mine) != len(theirs) or not all(map(_same, mine, theirs)):
            raise Untraceable("the traced graph does not reproduce the model's output")
        return cls(plan, model, clean, tau)

    def forward(
        self,
        rows: torch.Tensor,
        cols: torch.Tensor,
        samples: torch.Tensor,
        patch: tuple[int, int],
        baseline: float,
        cut: fx.Node | None = None,
        stop: bool = False,
    ) -> Any:
        """The model's output for K copies: sample ``samples[k]`` with the ``patch`` window at
        (``rows[k]``, ``cols[k]``) set to ``baseline``. With ``cut`` (a node): (output, the
        copies' :class:`Patch` at ``cut``), or with ``stop`` that Patch alone, the layers
        after ``cut`` not run (the drill-down's linear guide, :mod:`.linear`)."""
        x = self.clean[next(iter(self.plan.graph.nodes))]
        env: dict[fx.Node, Any] = {}
        for node in self.plan.graph.nodes:
            if stop and cut in env:
                return env[cut]
            rule = self.plan.rule[node]
            if rule == "patch":
                shape = (rows.shape[0], x.shape[1], *patch)
                fill = torch.full(shape, baseline, dtype=x.dtype, device=x.device)
                env[node] = Patch(fill, rows, cols, x.shape[1:])
            elif rule == "const":
                env[node] = self.clean[node]
            elif rule == "window":
                env[node] = self._window(node, env[node.args[0]], samples)
            elif rule == "point":
                p = env[node.args[0]]
                values = _call(self.plan, self.model, node, env, first=p.values)
                env[node] = Patch(values, p.y0, p.x0, p.shape)
            elif rule == "pair":
                env[node] = self._pair(node, env, samples)
            elif rule == "output":
                out = fx.node.map_arg(node.args[0], lambda n: self._dense(n, env, samples))
                return out if cut is None else (out, env[cut])
            else:  # dense, size
                view = self._dense if rule == "dense" else self._stand_in
                env[node] = _call(self.plan, self.model, node, env, view=(view, env, samples))
        raise Untraceable("the graph has no output")

    def _padded_clean(self, node: fx.Node, pads: tuple[int, int, int, int], fill: float):
        """The clean map of ``node`` padded (left, right, top, bottom), channels-last."""
        key = (node, pads, fill)
        if key not in self._padded:
            value = F.pad(self.clean[node], pads, value=fill) if any(pads) else self.clean[node]
            self._padded[key] = value.permute(0, 2, 3, 1).contiguous()
        return self._padded[key]

    def _window(self, node: fx.Node, p: Patch, samples: torch.Tensor) -> Patch:
        module = self.plan.window(node)
        k, s, d, pad = _geometry(module)
        n_in, m_out = self.clean[node.args[0]].shape[2:], self.clean[node].shape[2:]
        spans, lo_hi = [], []
        for axis in (0, 1):
            start = (p.y0, p.x0)[axis]
            cap = None if self.tau is None else max(1, math.ceil(self.tau * m_out[axis]))
            span = project(
                start, p.size[axis], m=m_out[axis], k=k[axis], s=s[axis], d=d[axis],
                p=pad[axis], cap=cap,
            )  # fmt: skip
            reach = (span.length - 1) * s[axis] + d[axis] * (k[axis] - 1) + 1
            spans.append(span)
            read = Span(span.start * s[axis], reach)
            extra = max(0, (m_out[axis] - 1) * s[axis] + d[axis] * (k[axis] - 1) + 1)
            lo_hi.append((read, pad[axis], max(0, extra - n_in[axis] - pad[axis])))
        fill = float("-inf") if isinstance(module, nn.MaxPool2d) else 0.0
        (rows, top, bottom), (cols, left, right) = lo_hi
        clean = self._padded_clean(node.args[0], (left, right, top, bottom), fill)
        region = gather(p, clean, samples, rows, cols, (top, left))
        out = _apply_window(module, region, k, s, d)
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            self.macs += out.numel() * module.in_channels // module.groups * kh * kw
        return Patch(out, spans[0].start, spans[1].start, tuple(self.clean[node].shape[1:]))

    def _pair(self, node: fx.Node, env: dict, samples: torch.Tensor) -> Patch:
        a_node, b_node = (x for x in node.args if isinstance(x, fx.Node))
        a, b = env[a_node], env[b_node]
        size = a.shape[1:]
        rows = union(a.y0, a.size[0], b.y0, b.size[0], size[0])
        cols = union(a.x0, a.size[1], b.x0, b.size[1], size[1])
        ga = gather(a, self._padded_clean(a_node, (0, 0, 0, 0), 0.0), samples, rows, cols)
        gb = gather(b, self._padded_clean(b_node, (0, 0, 0, 0), 0.0), samples, rows, cols)
        swap = {a_node: ga, b_node: gb}
        values = _call(self.plan, self.model, node, env, swap=swap)
        return Patch(values, rows.start, cols.start, a.shape)

    def _dense(self, node: fx.Node, env: dict, samples: torch.Tensor) -> Any:
        """A node's value for the K copies as a whole tensor (a patch pasted on its clean map)."""
        value = env[node]
        if not isinstance(value, Patch):
            return value
        k = samples.shape[0]
        zeros = torch.zeros(k, dtype=torch.long, device=samples.device)
        rows, cols = Span(zeros, value.shape[1]), Span(zeros, value.shape[2])
        return gather(value, self._padded_clean(node, (0, 0, 0, 0), 0.0), samples, rows, cols)

    @staticmethod
    def _stand_in(node: fx.Node, env: dict, samples: torch.Tensor) -> Any:
        """For ``size``/``shape``: a zero-stride tensor of the node's (K, C, H, W) shape."""
        value = env[node]
        if not isinstance(value, Patch):
            return value
        one = value.values.new_zeros(())
        return one.expand(samples.shape[0], *value.shape)


def _same(a: Any, b: Any) -> bool:
    """Whether the plan's output leaf ``a`` matches the model's ``b`` (floats up to 1e-4)."""
    if not isinstance(a, torch.Tensor) or not isinstance(b, torch.Tensor):
        return a is b or a == b
    if a.shape != b.shape or a.dtype != b.dtype:
        return False
    if not b.is_floating_point():
        return torch.equal(a, b)
    scale = float(b.detach().abs().max().clamp(min=1)) if b.numel() else 1.0
    return torch.allclose(a, b, rtol=1e-4, atol=1e-5 * scale)


def _output(plan: Plan) -> fx.Node:
    return next(n for n in plan.graph.nodes if n.op == "output")


def _geometry(module: nn.Module):
    if isinstance(module, nn.Conv2d):
        pad = (0, 0) if module.padding == "valid" else _pair(module.padding)
        return _pair(module.kernel_size), _pair(module.stride), _pair(module.dilation), pad
    k = _pair(module.kernel_size)
    stride = _pair(module.stride if module.stride is not None else module.kernel_size)
    dilation = _pair(getattr(module, "dilation", 1))
    return k, stride, dilation, _pair(module.padding)


def _apply_window(module: nn.Module, region: torch.Tensor, k, s, d) -> torch.Tensor:
    if isinstance(module, nn.Conv2d):
        return F.conv2d(region, module.weight, module.bias, s, 0, d, module.groups)
    if isinstance(module, nn.MaxPool2d):
        return F.max_pool2d(region, k, s, 0, d)
    return F.avg_pool2d(region, k, s, 0)


def _call(
    plan: Plan,
    model: nn.Module,
    node: fx.Node,
    env: dict,
    *,
    first: Any = None,
    swap: dict | None = None,
    view: tuple | None = None,
) -> Any:
    """Run one node on values from ``env``: ``first`` replaces its first argument, ``swap``
    replaces the listed nodes' values, ``view`` (fn, env, samples) turns each argument."""

    def value(n: fx.Node) -> Any:
        if swap is not None and n in swap:
            return swap[n]
        if view is not None:
            return view[0](n, view[1], view[2])
        return env[n]

    args = fx.node.map_arg(node.args, value)
    kwargs = dict(fx.node.map_arg(node.kwargs, value))
    if first is not None:
        args = (first, *args[1:])
    kwargs.pop("inplace", None) if node.op == "call_function" else None
    if node.op == "get_attr":
        target: Any = model
        for part in str(node.target).split("."):
            target = getattr(target, part)
        return target
    if node.op == "call_module":
        return plan.modules[str(node.target)](*args, **kwargs)
    if node.op == "call_function":
        return node.target(*args, **kwargs)  # type: ignore[operator]
    name = str(node.target).rstrip("_")
    return getattr(args[0], name)(*args[1:], **kwargs)
