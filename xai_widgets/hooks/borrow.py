"""Borrowing the user's model: eval mode, no parameter gradients, everything restored.

Example::

    with borrowed(model):
        logits = model(x)      # the model's flags, grads and hooks are back on exit
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from torch import nn

__all__ = ["borrowed", "model_lock"]

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
        # each module's own parameters (a shared one appears twice: restored twice, harmless)
        params = [p for m in modules for p in m._parameters.values() if p is not None]
        requires = [p.requires_grad for p in params]
        grads = [p.grad for p in params]
        hooks = []  # (dict, its items); most are empty, so that case is kept cheap
        for m in modules:
            own = m.__dict__
            for name in _HOOK_DICTS:
                d = own.get(name)
                if d is not None:
                    hooks.append((d, tuple(d.items()) if d else ()))
        try:
            if any(flags):  # train(False) runs only where needed: overrides of train() see it
                model.eval()
            for p, req in zip(params, requires, strict=True):
                if req:
                    p.requires_grad_(False)
            with torch.enable_grad():
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
