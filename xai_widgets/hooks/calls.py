"""Recording and stopping forward passes: the execution record of module calls (which module
ran on which tensors, with their in-place version counters) and an early stop right after a
layer, so features of a layer never run the rest of the model.

Example::

    with borrowed(model), stop_after(model, "features.3") as stop:
        try:
            model(x)
        except StopForward:
            pass
    a = stop.output
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

__all__ = ["Call", "Stop", "StopForward", "record_calls", "stop_after", "watch_calls"]


@dataclass
class Call:
    """One completed module call: its tensor inputs with their ``_version`` at call time, and
    its output with its ``_version`` when the call returned."""

    name: str
    module: nn.Module
    leaf: bool
    inputs: tuple[torch.Tensor, ...]
    in_versions: tuple[int, ...]
    output: object = None
    out_version: int = -1


@contextmanager
def record_calls(model: nn.Module) -> Iterator[list[Call]]:
    """Record every named submodule call of the forward passes in the block, in the order the
    calls complete. References to the tensors are kept (identity is what matters), not copies:
    record one small forward only."""
    calls: list[Call] = []
    open_calls: dict[int, list[Call]] = {}
    handles = []

    def make_pre(name: str, leaf: bool) -> Callable:
        def pre(module: nn.Module, args: tuple) -> None:
            tensors = tuple(a for a in args if isinstance(a, torch.Tensor))
            call = Call(name, module, leaf, tensors, tuple(t._version for t in tensors))
            open_calls.setdefault(id(module), []).append(call)

        return pre

    def post(module: nn.Module, _args: tuple, output: object) -> None:
        call = open_calls[id(module)].pop()
        call.output = output
        if isinstance(output, torch.Tensor):
            call.out_version = output._version
        calls.append(call)

    try:
        for name, module in model.named_modules():
            if name:
                leaf = next(module.children(), None) is None
                handles.append(module.register_forward_pre_hook(make_pre(name, leaf)))
                handles.append(module.register_forward_hook(post))
        yield calls
    finally:
        for handle in handles:
            handle.remove()
        open_calls.clear()


@contextmanager
def watch_calls(
    model: nn.Module,
    callback: Callable[[str, nn.Module, tuple[torch.Tensor, ...], tuple[int, ...], object], None],
) -> Iterator[None]:
    """Call ``callback(name, module, tensor inputs, their _version at call time, output)`` as
    each module call completes (the root too, named ""), inside the forward pass, so the
    callback sees the tensors before any later in-place op changes them. Nothing is kept after
    the call."""
    open_calls: dict[int, list[tuple[tuple[torch.Tensor, ...], tuple[int, ...]]]] = {}
    handles = []

    def pre(module: nn.Module, args: tuple) -> None:
        tensors = tuple(a for a in args if isinstance(a, torch.Tensor))
        versions = tuple(t._version for t in tensors)
        open_calls.setdefault(id(module), []).append((tensors, versions))

    def make_post(name: str) -> Callable:
        def post(module: nn.Module, _args: tuple, output: object) -> None:
            tensors, versions = open_calls[id(module)].pop()
            callback(name, module, tensors, versions, output)

        return post

    try:
        for name, module in model.named_modules():
            handles.append(module.register_forward_pre_hook(pre))
            handles.append(module.register_forward_hook(make_post(name)))
        yield
    finally:
        for handle in handles:
            handle.remove()
        open_calls.clear()


class StopForward(Exception):
    """Raised by :func:`stop_after`'s hook to end a forward pass early (caught by the caller)."""


@dataclass
class Stop:
    """What :func:`stop_after` saw: the output at the stopping call and the number of calls."""

    output: torch.Tensor | None = None
    calls: int = 0


@contextmanager
def stop_after(model: nn.Module, layer: str, call: int = 1) -> Iterator[Stop]:
    """Raise :class:`StopForward` right after the ``call``-th call of ``layer`` (1-based) in
    the block's forward passes, keeping that call's output (not a copy: nothing downstream ran,
    so no in-place op altered it). Register it after hooks that replace the layer's output
    (e.g. ``relu_rule``) to see their result."""
    module = dict(model.named_modules())[layer]
    seen = Stop()

    def hook(_module: nn.Module, _args: tuple, output: object) -> None:
        seen.calls += 1
        if seen.calls == call:
            if not isinstance(output, torch.Tensor):
                raise TypeError(
                    f"layer {layer!r} returns {type(output).__name__}, not a tensor; "
                    "choose a layer whose output is a tensor"
                )
            seen.output = output
            raise StopForward(layer)

    handle = module.register_forward_hook(hook)
    try:
        yield seen
    finally:
        handle.remove()


# Elementwise activations: their surrogate gradient is the identity.
