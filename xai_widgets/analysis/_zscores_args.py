"""Checking and normalizing the arguments of :func:`xai_widgets.zscores`: the mixing layer,
the groups (a dict name -> indices, or (name, size) pairs in concatenation order) and the
coarse sources (a module, its dotted name or a callable of the model's inputs).

Example::

    _groups([("a", 2), ("b", 3)], 5)     # {"a": (0, 1), "b": (2, 3, 4)}
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import torch
from torch import nn

from ..layers import layer_name

__all__ = ["OWNER", "check_coarse", "check_groups", "is_mixing", "mixing_error"]

OWNER = "zscores"


def is_mixing(module: nn.Module) -> bool:
    if isinstance(module, nn.Linear):
        return True
    return (
        isinstance(module, nn.Conv2d)
        and tuple(module.kernel_size) == (1, 1)
        and module.groups == 1
        and tuple(module.stride) == (1, 1)
    )


def mixing_error(name: str, module: nn.Module) -> ValueError:
    return ValueError(
        f"{OWNER}: parameter 'layer': {name!r} is a {module!r}; the mixing layer must be an "
        "nn.Linear or a 1x1 nn.Conv2d (stride 1, groups 1)"
    )


def check_groups(groups: object, inputs: int) -> dict[str, tuple[int, ...]]:
    """Canonical groups: name -> input indices, covering 0..inputs-1 exactly once."""
    where = f"{OWNER}: parameter 'groups'"
    if groups is None:
        return {"all": tuple(range(inputs))}
    out: dict[str, tuple[int, ...]] = {}
    if isinstance(groups, Mapping):
        for name, idx in groups.items():
            if isinstance(idx, slice):
                idx = range(inputs)[idx]
            if isinstance(idx, torch.Tensor):
                idx = idx.flatten().tolist()
            try:
                values = tuple(int(i) for i in idx)
            except (TypeError, ValueError):
                raise TypeError(
                    f"{where}: group {name!r} must list input indices (a list, range, slice or "
                    f"tensor of ints), not {idx!r}"
                ) from None
            out[str(name)] = values
    elif isinstance(groups, Sequence) and not isinstance(groups, str):
        start = 0
        for item in groups:
            if (
                not isinstance(item, Sequence)
                or isinstance(item, str)
                or len(item) != 2
                or isinstance(item[1], bool)
                or not isinstance(item[1], int)
                or item[1] < 1
            ):
                raise TypeError(
                    f"{where}: a list of groups holds (name, size) pairs with size >= 1 in "
                    f"concatenation order; got {item!r}"
                )
            out[str(item[0])] = tuple(range(start, start + item[1]))
            start += item[1]
    else:
        raise TypeError(
            f"{where} must be a dict name -> indices or a list of (name, size), not "
            f"{type(groups).__name__}"
        )
    if len(out) != (len(groups) if isinstance(groups, Mapping) else len(list(groups))):
        raise ValueError(f"{where}: group names must be unique")
    seen: dict[int, str] = {}
    for name, idx in out.items():
        if not idx:
            raise ValueError(f"{where}: group {name!r} is empty")
        for i in idx:
            if not 0 <= i < inputs:
                raise ValueError(
                    f"{where}: group {name!r} has index {i}, outside the layer's {inputs} inputs"
                )
            if i in seen:
                raise ValueError(
                    f"{where}: groups {seen[i]!r} and {name!r} overlap (both hold input {i})"
                )
            seen[i] = name
    if len(seen) != inputs:
        missing = [i for i in range(inputs) if i not in seen]
        shown = ", ".join(map(str, missing[:10])) + (", ..." if len(missing) > 10 else "")
        raise ValueError(
            f"{where}: the groups cover {len(seen)} of the layer's {inputs} inputs; not covered: "
            f"{shown}"
        )
    return out


def check_coarse(
    model: nn.Module, coarse: object, groups: dict[str, tuple[int, ...]]
) -> dict[str, str | Callable]:
    """Canonical coarse sources: group name -> dotted module name or a callable of the input."""
    where = f"{OWNER}: parameter 'coarse'"
    if coarse is None:
        return {}
    if not isinstance(coarse, Mapping):
        raise TypeError(f"{where} must be a dict group name -> module or callable")
    out: dict[str, str | Callable] = {}
    for group, source in coarse.items():
        if group not in groups:
            raise ValueError(
                f"{where}: unknown group {group!r}; groups: {', '.join(map(repr, groups))}"
            )
        if isinstance(source, (str, nn.Module)):
            try:
                out[group] = layer_name(model, source) or ""
            except ValueError as err:
                raise ValueError(f"{where}: group {group!r}: {err}") from None
            if not out[group]:
                raise ValueError(f"{where}: group {group!r} names no module")
        elif callable(source):
            out[group] = source
        else:
            raise TypeError(
                f"{where}: group {group!r} must map to a module, its dotted name or a callable "
                f"of the model's inputs, not {type(source).__name__}"
            )
    return out
