"""The only place that registers hooks on a user's model, always inside a ``with`` block.

Two guarantees hold for everything in this module:

* ``borrowed(model)`` restores the model exactly: each module's ``training`` flag, every
  parameter's ``requires_grad`` and ``.grad`` object, and every hook dictionary. It holds even
  when the model or the caller raises (the original exception propagates). Inside the block the
  model is in eval mode and its parameters do not require grad, so autograd never records or
  computes anything for them: we only ever differentiate with respect to inputs and activations.
* ``capture`` and ``relu_rule`` remove every hook they register in ``finally``.

Only forward hooks, forward pre-hooks and tensor-level autograd are used; full module backward
hooks break on in-place ReLU (torchvision ResNet/VGG), see captum #914 and pytorch-grad-cam #147.

Example::

    with borrowed(model), capture(model, ["layer4"], gradable=True) as acts:
        logits = model(x)
    layer4_output = acts["layer4"]
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch
from torch import nn

__all__ = [
    "Captured",
    "borrowed",
    "capture",
    "model_lock",
    "record_shapes",
    "relu_rule",
    "replace_output",
]

# Module attributes that hold hooks; restored by identity of their contents.
_HOOK_DICTS = (
    "_forward_hooks",
    "_forward_hooks_with_kwargs",
    "_forward_hooks_always_called",
    "_forward_pre_hooks",
    "_forward_pre_hooks_with_kwargs",
    "_backward_hooks",
    "_backward_pre_hooks",
    "_state_dict_hooks",
    "_state_dict_pre_hooks",
    "_load_state_dict_pre_hooks",
    "_load_state_dict_post_hooks",
)

_LOCKS: weakref.WeakKeyDictionary[nn.Module, threading.RLock] = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


def model_lock(model: nn.Module) -> threading.RLock:
    """The per-model re-entrant lock that keeps two views from hooking one model at once."""
    with _LOCKS_GUARD:
        lock = _LOCKS.get(model)
        if lock is None:
            lock = threading.RLock()
            _LOCKS[model] = lock
        return lock


@contextmanager
def borrowed(model: nn.Module) -> Iterator[nn.Module]:
    """Borrow ``model`` for an explanation and give it back bit-identical.

    Inside: eval mode, parameters with ``requires_grad=False``, grad mode enabled, and the
    per-model lock held. On exit (also on error) every module's flag, each parameter's
    ``requires_grad`` and ``.grad`` (the same tensor object), and all hook dictionaries are
    restored. Nesting is safe: an inner block restores the state the outer one set.
    """
    lock = model_lock(model)
    with lock:
        modules = list(model.modules())
        flags = [m.training for m in modules]
        params = list(model.parameters())
        requires = [p.requires_grad for p in params]
        grads = [p.grad for p in params]
        hooks = [
            {name: OrderedDict(getattr(m, name)) for name in _HOOK_DICTS if hasattr(m, name)}
            for m in modules
        ]
        try:
            model.eval()
            for p in params:
                p.requires_grad_(False)
            with torch.enable_grad():
                yield model
        finally:
            for m, flag in zip(modules, flags, strict=False):
                m.training = flag
            for p, req, g in zip(params, requires, grads, strict=False):
                p.requires_grad_(req)
                if p.grad is not g:
                    p.grad = g
            for m, saved in zip(modules, hooks, strict=False):
                for name, content in saved.items():
                    current = getattr(m, name)
                    if list(current.items()) != list(content.items()):
                        current.clear()
                        current.update(content)


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
) -> Iterator[Captured]:
    """Record the outputs of the named submodules during forward passes in the block.

    Each output is kept as the next module receives it, and a clone is passed on, so an
    in-place op downstream (``nn.ReLU(inplace=True)`` after a conv) cannot alter it.
    ``gradable=True`` makes every captured tensor differentiable: an output that is not yet
    part of an autograd graph (nothing upstream requires grad) becomes a leaf that requires grad,
    one that is stays in its graph. So with a plain input the graph starts at the first captured
    layer and ``torch.autograd.grad(score, captured[name])`` works for each captured layer.
    ``check(name, output)`` runs on each capture and may raise.
    """
    modules = dict(model.named_modules())
    captured = Captured()
    handles = []

    def make_hook(name: str) -> Callable:
        def hook(_module: nn.Module, _args: tuple, output: object) -> object:
            if not isinstance(output, torch.Tensor):
                raise TypeError(
                    f"layer {name!r} returns {type(output).__name__}, not a tensor; "
                    "choose a layer whose output is a tensor"
                )
            if check is not None:
                check(name, output)
            kept = output
            if gradable and not output.requires_grad:
                kept = output.detach().requires_grad_(True)
            captured.outputs[name] = kept
            captured.calls[name] = captured.calls.get(name, 0) + 1
            return kept.clone()

        return hook

    try:
        for name in layers:
            handles.append(modules[name].register_forward_hook(make_hook(name)))
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
    module = dict(model.named_modules())[layer]
    handle = module.register_forward_hook(lambda _m, _a, out: fn(out))
    try:
        yield
    finally:
        handle.remove()


class _ModifiedReLU(torch.autograd.Function):
    """ReLU forward with a replaced backward rule.

    ``guided``: dR/dx = [x > 0] * max(g, 0)       (Springenberg et al. 2015, guided backprop)
    ``deconvnet``: dR/dx = max(g, 0)               (Zeiler & Fergus 2014, deconvnet)
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, rule: str) -> torch.Tensor:  # type: ignore[override]
        ctx.rule = rule
        if rule == "guided":
            ctx.save_for_backward(x)
        return x.clamp(min=0)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):  # type: ignore[override]
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
    if rule not in ("guided", "deconvnet"):
        raise ValueError(f"unknown ReLU rule {rule!r}; accepted: 'guided', 'deconvnet'")
    relus = [m for m in model.modules() if isinstance(m, nn.ReLU)]
    pending: dict[int, list[torch.Tensor]] = {}
    handles = []

    def pre_hook(module: nn.Module, args: tuple) -> tuple:
        x = args[0]
        pending.setdefault(id(module), []).append(x)
        return (x.clone(), *args[1:])

    def post_hook(module: nn.Module, _args: tuple, _output: torch.Tensor) -> torch.Tensor:
        x = pending[id(module)].pop()
        return _ModifiedReLU.apply(x, rule)

    try:
        for m in relus:
            handles.append(m.register_forward_pre_hook(pre_hook))
            handles.append(m.register_forward_hook(post_hook))
        yield len(relus)
    finally:
        for handle in handles:
            handle.remove()
        pending.clear()
