"""Z-scores of the inputs of a model's last (mixing) layer: Malmgren-Hansen, Nielsen &
Pedersen, "Explainability in CNN models by means of Z-scores" (2021).

The last layer of a classifier is a logistic regression on its inputs, so each input ``i`` of
the mixing layer (an ``nn.Linear`` or a 1x1 ``nn.Conv2d``) gets, per output ``o``::

    Z[o, i] = c[o, i] / sigma[i]

with ``c`` the layer's weight and ``sigma[i]`` the standard deviation of input ``i`` over all
samples and pixels of the data (population std: pixels are not independent samples, so no
degrees-of-freedom correction). Sorted |Z| ranks the inputs; summed within a group (a sensor, a
feature scale) it ranks groups. Two cautions of the paper are built in: a group that enters the
layer upsampled has its sigma taken before upsampling (``coarse``), since interpolation lowers
it and inflates Z; and an input with zero variance (a dead ReLU) is reported in ``.dead`` and
left out of rankings and sums, not turned into an infinity.

Example::

    >>> import xai_widgets as xw
    >>> from xai_widgets import data, zoo
    >>> zs = xw.zscores(zoo.load("fusion_small"), data.dataset("sea_ice", 64))
    >>> zs.top(3)              # [Ranked(index=..., group='MWR', z=...), ...]
    >>> zs.grouped()["MWR"].abs_sum
    >>> zs.plot()              # sorted Z-scores coloured by group, and the grouped sums
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from itertools import chain
from typing import Any

import torch
from torch import nn

from ..hooks import borrowed, observe, record_shapes
from ..layers import layer_name, model_device
from ._batches import input_count, iter_batches
from ._moments import Moments
from .zscores_result import ZScores

__all__ = ["zscores"]

Progress = Callable[[float], None]
OWNER = "zscores"


def _is_mixing(module: nn.Module) -> bool:
    if isinstance(module, nn.Linear):
        return True
    return (
        isinstance(module, nn.Conv2d)
        and tuple(module.kernel_size) == (1, 1)
        and module.groups == 1
        and tuple(module.stride) == (1, 1)
    )


def _mixing_error(name: str, module: nn.Module) -> ValueError:
    return ValueError(
        f"{OWNER}: parameter 'layer': {name!r} is a {module!r}; the mixing layer must be an "
        "nn.Linear or a 1x1 nn.Conv2d (stride 1, groups 1)"
    )


def _default_layer(model: nn.Module, inputs: tuple[torch.Tensor, ...]) -> str:
    """The last nn.Linear or 1x1 nn.Conv2d to complete in a forward pass of one sample."""
    with borrowed(model), record_shapes(model) as shapes, torch.no_grad():
        model(*(t[:1] for t in inputs))
    names = [n for n in shapes if _is_mixing(model.get_submodule(n))]
    if not names:
        raise ValueError(
            f"{OWNER}: the model has no nn.Linear or 1x1 nn.Conv2d layer that runs in its forward "
            "pass; Z-scores need a linear mixing layer (pass layer=...)"
        )
    return names[-1]


def _groups(groups: object, inputs: int) -> dict[str, tuple[int, ...]]:
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


def _coarse(
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


def _coefficients(module: nn.Module) -> tuple[torch.Tensor, torch.Tensor | None]:
    weight = module.weight.detach()
    coef = weight.reshape(weight.shape[0], -1).double().cpu()
    bias = None if module.bias is None else module.bias.detach().double().cpu()
    return coef, bias


def _card_defaults(model: nn.Module) -> dict[str, Any]:
    card = getattr(model, "zoo_card", None)
    zs = getattr(card, "zscores", None)
    return dict(zs) if isinstance(zs, Mapping) else {}


def zscores(
    model: nn.Module,
    data: object,
    *,
    layer: str | nn.Module | None = None,
    groups: Mapping[str, Any] | Sequence[tuple[str, int]] | None = None,
    coarse: Mapping[str, str | nn.Module | Callable] | None = None,
    batch_size: int = 64,
    progress: Progress | None = None,
) -> ZScores:
    """Z-scores ``c / sigma`` of the inputs of ``model``'s mixing layer over ``data``.

    ``data``: a tensor (N, ...), a tuple of dataset columns (the model's inputs first, e.g.
    ``(sar, mwr, labels)``), a list of batches or a DataLoader (see ``_batches``). ``layer``:
    an ``nn.Linear`` or 1x1 ``nn.Conv2d`` (name or module; default the last one to run, or the
    one a zoo card names). ``groups``: ``{name: indices}`` or ``[(name, size), ...]`` in
    concatenation order, covering every input once (default: one group, or the card's).
    ``coarse``: ``{group: module | dotted name | callable(*inputs)}`` whose output (N, C, ...)
    is that group before upsampling; its sigma replaces the one measured at the layer (both are
    kept). ``progress(fraction)`` is called after each batch and may raise to cancel. One
    streaming pass on the model's device; memory does not grow with the data.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"{OWNER}: model must be a torch.nn.Module, not {type(model).__name__}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"{OWNER}: parameter 'batch_size' must be an int >= 1, got {batch_size!r}")
    if progress is not None and not callable(progress):
        raise TypeError(f"{OWNER}: parameter 'progress' must be callable or None")
    card = _card_defaults(model)
    own_layer = layer is None or layer == card.get("layer")
    from_card = groups is None and coarse is None and "groups" in card and own_layer
    if layer is None:
        layer = card.get("layer")
    if from_card:
        groups, coarse = card.get("groups"), card.get("coarse")
    k = input_count(model)
    batches = iter_batches(data, k, batch_size, model_device(model))
    first = next(batches)  # ValueError for empty data, TypeError for a bad source
    if layer is None:
        name = _default_layer(model, first[0])
    else:
        try:
            name = layer_name(model, layer)
        except ValueError as err:
            raise ValueError(f"{OWNER}: parameter 'layer': {err}") from None
        if name is None:
            raise ValueError(f"{OWNER}: parameter 'layer' names no module")
    module = model.get_submodule(name)
    if not _is_mixing(module):
        raise _mixing_error(name, module)
    coef, bias = _coefficients(module)
    n_in = coef.shape[1]
    group_map = _groups(groups, n_in)
    sources = _coarse(model, coarse, group_map)
    at_layer = Moments(n_in, -1 if isinstance(module, nn.Linear) else 1, f"layer {name!r}")
    before = {
        g: Moments(len(group_map[g]), 1, f"{OWNER}: parameter 'coarse': group {g!r} ({src!r})")
        for g, src in sources.items()
    }
    taps = [(name, "input", at_layer.add)]
    taps += [(src, "output", before[g].add) for g, src in sources.items() if isinstance(src, str)]
    calls = [(before[g], fn) for g, fn in sources.items() if not isinstance(fn, str)]
    samples = 0
    with borrowed(model), torch.no_grad(), observe(model, taps):
        for inputs, fraction in chain([first], batches):
            model(*inputs)
            for moments, fn in calls:
                moments.add(fn(*inputs))
            samples += inputs[0].shape[0]
            if progress is not None and fraction is not None:
                progress(min(fraction, 1.0))
    if at_layer.count == 0:
        raise ValueError(f"{OWNER}: layer {name!r} did not run in the forward pass")
    sigma_layer, mean = at_layer.std, at_layer.mean
    sigma = sigma_layer.clone()
    for g, moments in before.items():
        sigma[list(group_map[g])] = moments.std
        mean[list(group_map[g])] = moments.mean
    dead = tuple(int(i) for i in torch.nonzero(sigma <= 1e-6 * mean.abs()).flatten())
    z = coef / sigma
    z[:, list(dead)] = float("nan")
    if dead:
        warnings.warn(
            f"{OWNER}: {len(dead)} input(s) of {name!r} have zero variance over the data (dead, "
            f"e.g. a ReLU that never fires): {list(dead)[:12]}; their Z-scores are undefined and "
            "left out of rankings and sums (see .dead)",
            RuntimeWarning,
            stacklevel=2,
        )
    card_obj = getattr(model, "zoo_card", None)
    outputs = tuple(getattr(card_obj, "classes", ()) or ())
    if len(outputs) != coef.shape[0]:
        outputs = tuple(str(o) for o in range(coef.shape[0]))
    return ZScores(
        z=z,
        sigma=sigma,
        coef=coef,
        groups=group_map,
        dead=dead,
        sigma_layer=sigma_layer,
        mean=mean,
        bias=bias,
        layer=name,
        outputs=outputs,
        samples=samples,
        coarse=tuple(sources),
        model=getattr(card_obj, "name", "") or type(model).__name__,
    )
