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
from ._zscores_args import OWNER, check_coarse, check_groups, is_mixing, mixing_error
from .zscores_result import ZScores

__all__ = ["zscores"]

Progress = Callable[[float], None]


def _default_layer(model: nn.Module, inputs: tuple[torch.Tensor, ...]) -> str:
    """The last nn.Linear or 1x1 nn.Conv2d to complete in a forward pass of one sample."""
    with borrowed(model), record_shapes(model) as shapes, torch.no_grad():
        model(*(t[:1] for t in inputs))
    names = [n for n in shapes if is_mixing(model.get_submodule(n))]
    if not names:
        raise ValueError(
            f"{OWNER}: the model has no nn.Linear or 1x1 nn.Conv2d layer that runs in its forward "
            "pass; Z-scores need a linear mixing layer (pass layer=...)"
        )
    return names[-1]


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
    if not is_mixing(module):
        raise mixing_error(name, module)
    coef, bias = _coefficients(module)
    n_in = coef.shape[1]
    group_map = check_groups(groups, n_in)
    sources = check_coarse(model, coarse, group_map)
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
