"""Streaming taps: hand a module's input or output to a function on every call, keep nothing.

For statistics over a whole dataset (Z-scores, running moments) where capturing would keep a
tensor per batch. The function runs inside the hook, before any later module (an in-place ReLU
downstream) can change the tensor, and must not modify it.

Example::

    with borrowed(model), observe(model, [("fc", "input", stats.add)]), torch.no_grad():
        for x in batches:
            model(x)
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

__all__ = ["observe"]

Tap = tuple[str, str, Callable[[torch.Tensor], None]]


@contextmanager
def observe(model: nn.Module, taps: Sequence[Tap]) -> Iterator[None]:
    """Within the block, ``fn(tensor)`` runs on every call of each tapped module: ``(name,
    "input", fn)`` sees the first positional input (a forward pre-hook), ``(name, "output",
    fn)`` the output. A non-tensor input or output is a TypeError naming the module."""
    handles = []

    def tensor_of(name: str, where: str, value: object) -> torch.Tensor:
        if not isinstance(value, torch.Tensor):
            raise TypeError(f"layer {name!r}: its {where} is {type(value).__name__}, not a tensor")
        return value

    def make_pre(name: str, fn: Callable) -> Callable:
        def pre(_module: nn.Module, args: tuple) -> None:
            fn(tensor_of(name, "input", args[0] if args else None))

        return pre

    def make_post(name: str, fn: Callable) -> Callable:
        def post(_module: nn.Module, _args: tuple, output: object) -> None:
            fn(tensor_of(name, "output", output))

        return post

    try:
        for name, where, fn in taps:
            if where not in ("input", "output"):
                raise ValueError(f"observe: where must be 'input' or 'output', got {where!r}")
            module = model.get_submodule(name)
            if where == "input":
                handles.append(module.register_forward_pre_hook(make_pre(name, fn)))
            else:
                handles.append(module.register_forward_hook(make_post(name, fn)))
        yield
    finally:
        for handle in handles:
            handle.remove()
