"""Forward hooks that read or replace layer outputs: capture, record_shapes, replace_output.

Example::

    with borrowed(model), capture(model, ["layer4"], gradable=True) as acts:
        score = model(x)[:, 3].sum()
    grad = torch.autograd.grad(score, acts["layer4"])[0]
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn

from ..tokens import TokenGrid, from_grid, to_grid

__all__ = ["Captured", "capture", "record_shapes", "replace_output", "rewrite_outputs"]


@dataclass
class Captured:
    """Activations captured by :func:`capture`, keyed by the names given to it.

    ``outputs[name]`` is the layer's output as the next module receives it (before any in-place
    op downstream, since a clone is passed on). ``calls[name]`` counts how often the module
    ran (a reused ReLU runs several times; the last call is kept).
    """

    outputs: dict[str, torch.Tensor] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)

    def __getitem__(self, name: str) -> torch.Tensor:
        if name not in self.outputs:
            raise KeyError(f"layer {name!r} did not run in the forward pass")
        return self.outputs[name]


@contextmanager
def capture(
    model: nn.Module,
    layers: Sequence[str],
    *,
    gradable: bool = False,
    check: Callable[[str, torch.Tensor], None] | None = None,
    permute: Mapping[str, Sequence[int]] | None = None,
    grids: Mapping[str, TokenGrid] | None = None,
) -> Iterator[Captured]:
    """Record the outputs of the named submodules during forward passes in the block.

    Each output is kept as the next module receives it, and a clone is passed on, so an
    in-place op downstream (``nn.ReLU(inplace=True)`` after a conv) cannot alter it.
    ``gradable=True`` makes every captured tensor differentiable: an output that is not yet
    part of an autograd graph (nothing upstream requires grad) becomes a leaf that requires grad,
    one that is stays in its graph. So with a plain input the graph starts at the first captured
    layer and ``torch.autograd.grad(score, captured[name])`` works for each captured layer.
    ``check(name, output)`` runs on each capture and may raise. ``permute[name]`` (for a
    channels-last layer: ``(0, 3, 1, 2)``) keeps that layer's output permuted to (N, C, h, w);
    the module still passes on its own layout, derived from the kept tensor, so gradients
    with respect to the kept tensor work. ``grids[name]`` keeps a vision transformer's token
    output (N, p + h*w, D) as its patch grid (N, D, h, w) (:mod:`xai_widgets.tokens`); the module
    passes on the tokens rebuilt from the kept grid, so gradients reach it the same way.
    """
    permute = permute or {}
    grids = grids or {}
    captured = Captured()
    handles = []

    def make_hook(name: str) -> Callable:
        def hook(_module: nn.Module, _args: tuple, output: object) -> object:
            if not isinstance(output, torch.Tensor):
                raise TypeError(
                    f"layer {name!r} returns {type(output).__name__}, not a tensor; "
                    "choose a layer whose output is a tensor"
                )
            grid = grids.get(name)
            if grid is not None and output.dim() == 3:
                return _keep_grid(name, output, grid)
            perm = permute.get(name)
            if perm is not None and output.dim() == len(perm):
                output = output.permute(*perm)
            if check is not None:
                check(name, output)
            kept = output
            if gradable and not output.requires_grad:
                kept = output.detach().requires_grad_(True)
            captured.outputs[name] = kept
            captured.calls[name] = captured.calls.get(name, 0) + 1
            if perm is not None and kept.dim() == len(perm):
                inverse = [0] * len(perm)
                for i, p in enumerate(perm):
                    inverse[p] = i
                return kept.permute(*inverse).clone()
            return kept.clone()

        return hook

    def _keep_grid(name: str, output: torch.Tensor, grid: TokenGrid) -> torch.Tensor:
        kept = to_grid(output, grid)
        if check is not None:
            check(name, kept)
        if gradable and not kept.requires_grad:
            kept = kept.detach().requires_grad_(True)
        captured.outputs[name] = kept
        captured.calls[name] = captured.calls.get(name, 0) + 1
        return from_grid(output[:, : grid.prefix], kept, grid)

    try:
        for name in layers:
            handles.append(model.get_submodule(name).register_forward_hook(make_hook(name)))
        yield captured
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def record_shapes(model: nn.Module) -> Iterator[dict[str, tuple[int, ...]]]:
    """Record the output shape of every named submodule (tensor outputs only), in the order
    their forward calls complete; a module that runs twice keeps its last shape and position."""
    shapes: dict[str, tuple[int, ...]] = {}
    handles = []

    def make_hook(name: str) -> Callable:
        def hook(_module: nn.Module, _args: tuple, output: object) -> None:
            if isinstance(output, torch.Tensor):
                shapes.pop(name, None)
                shapes[name] = tuple(output.shape)

        return hook

    try:
        for name, module in model.named_modules():
            if name:
                handles.append(module.register_forward_hook(make_hook(name)))
        yield shapes
    finally:
        for handle in handles:
            handle.remove()


@contextmanager
def replace_output(
    model: nn.Module, layer: str, fn: Callable[[torch.Tensor], torch.Tensor]
) -> Iterator[None]:
    """Within the block, the output of ``layer`` is replaced by ``fn(output)`` in every forward."""
    handle = model.get_submodule(layer).register_forward_hook(lambda _m, _a, out: fn(out))
    try:
        yield
    finally:
        handle.remove()


@contextmanager
def rewrite_outputs(
    modules: Sequence[nn.Module], fn: Callable[[nn.Module, torch.Tensor, object], object]
) -> Iterator[int]:
    """Within the block, each of ``modules`` returns ``fn(module, input, output)`` (None keeps
    the output). A pre-hook keeps the module's first input and hands the module a clone, so an
    in-place module (``nn.ReLU(inplace=True)``) cannot destroy what ``fn`` receives. Yields the
    number of modules rewritten; modules run several times (a reused ReLU) are handled."""
    pending: dict[int, list[torch.Tensor]] = {}
    handles = []

    def pre_hook(module: nn.Module, args: tuple) -> tuple:
        x = args[0]
        pending.setdefault(id(module), []).append(x)
        return (x.clone(), *args[1:])

    def post_hook(module: nn.Module, _args: tuple, output: object) -> object:
        return fn(module, pending[id(module)].pop(), output)

    try:
        for m in modules:
            handles.append(m.register_forward_pre_hook(pre_hook))
            handles.append(m.register_forward_hook(post_hook))
        yield len(modules)
    finally:
        for handle in handles:
            handle.remove()
        pending.clear()
