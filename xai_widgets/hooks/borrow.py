"""Borrowing the user's model: eval mode, no parameter gradients, everything restored.

Example::

    with borrowed(model):
        logits = model(x)      # the model's flags, grads and hooks are back on exit
"""

from __future__ import annotations

import operator
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

import torch
from torch import nn

__all__ = ["borrowed", "model_lock", "one_walk", "submodules"]

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

_HOOK_GETTER = operator.itemgetter(*_HOOK_DICTS)


def _hook_dicts(modules: list[nn.Module]) -> list[dict]:
    """Every hook dictionary of ``modules`` (read in C; a module whose ``__init__`` did not
    create one of them, or an older torch, takes the slower per-name path)."""
    try:
        return [d for m in modules for d in _HOOK_GETTER(m.__dict__)]
    except KeyError:
        return [
            d for m in modules for name in _HOOK_DICTS if (d := m.__dict__.get(name)) is not None
        ]


_LOCKS: weakref.WeakKeyDictionary[nn.Module, threading.RLock] = weakref.WeakKeyDictionary()
_LOCKS_GUARD = threading.Lock()


_WALKS: ContextVar[dict[int, tuple[nn.Module, list[nn.Module]]] | None] = ContextVar(
    "xai_widgets_walks", default=None
)


def submodules(model: nn.Module) -> list[nn.Module]:
    """``model`` and every module under it (a module held twice appears twice), in a fixed
    order. Several times faster than ``list(model.modules())`` (no generator per level),
    which every explanation's borrow and memo lookups pay; inside :func:`one_walk` each
    model is walked once. The list is shared: read it, never change it."""
    walks = _WALKS.get()
    if walks is not None:
        hit = walks.get(id(model))
        if hit is not None and hit[0] is model:
            return hit[1]
    found, stack = [], [model]
    while stack:
        module = stack.pop()
        if module is not None:  # register_module(name, None) leaves a None child
            found.append(module)
            stack.extend(module._modules.values())
    if walks is not None:
        walks[id(model)] = (model, found)
    return found


@contextmanager
def one_walk() -> Iterator[None]:
    """Within the block, :func:`submodules` walks each model once and reuses the list: for
    one ``explain`` call, whose borrow and memo lookups would walk the model 5-8 times.
    Only for code that does not add, remove or replace submodules inside the block."""
    token = _WALKS.set({})
    try:
        yield
    finally:
        _WALKS.reset(token)


def model_lock(model: nn.Module) -> threading.RLock:
    """The per-model re-entrant lock that keeps two views from hooking one model at once."""
    with _LOCKS_GUARD:
        lock = _LOCKS.get(model)
        if lock is None:
            lock = threading.RLock()
            _LOCKS[model] = lock
        return lock


@contextmanager
def borrowed(model: nn.Module, gradients: bool = True) -> Iterator[nn.Module]:
    """Borrow ``model`` for an explanation and give it back bit-identical.

    Inside: eval mode, parameters with ``requires_grad=False``, grad mode enabled, and the
    per-model lock held. On exit (also on error) every module's flag, each parameter's
    ``requires_grad`` and ``.grad`` (the same tensor object), and all hook dictionaries are
    restored. Nesting is safe: an inner block restores the state the outer one set.
    ``gradients=False`` (for work that never differentiates): grad mode disabled instead and
    ``requires_grad`` left untouched (nothing can record a gradient for the parameters).
    """
    lock = model_lock(model)
    with lock:
        modules = submodules(model)
        flags = [m.training for m in modules]
        # each module's own parameters (a shared one appears twice: restored twice, harmless)
        params = [p for m in modules for p in m._parameters.values() if p is not None]
        requires = [p.requires_grad for p in params]
        grads = [p.grad for p in params]
        # (dict, its items) of every hook dictionary; most are empty, so that case is cheap
        hooks = [(d, tuple(d.items()) if d else ()) for d in _hook_dicts(modules)]
        try:
            if any(flags):  # train(False) runs only where needed: overrides of train() see it
                model.eval()
            if gradients:
                for p, req in zip(params, requires, strict=True):
                    if req:
                        p.requires_grad_(False)
            with torch.set_grad_enabled(gradients):
                yield model
        finally:
            for m, flag in zip(modules, flags, strict=True):
                if m.training != flag:
                    m.__dict__["training"] = flag  # a plain attribute; no train() side effects
            for p, req, g in zip(params, requires, grads, strict=True):
                if p.requires_grad != req:
                    p.requires_grad_(req)
                if p.grad is not g:
                    p.grad = g
            for current, content in hooks:
                if len(current) != len(content) or (content and tuple(current.items()) != content):
                    current.clear()
                    current.update(content)
