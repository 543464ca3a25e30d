"""Every method on every image, every metric, against a ``random`` heatmap baseline.

For each batch of images: each method's heatmap (through :func:`xai_widgets.explain`, the
predicted class unless ``target`` says otherwise), plus the ``random`` baseline's (i.i.d.
uniform maps from ``seed``, always included), then each metric per image. The curve metrics
share one ``fill`` (the choice that decides verdicts most), ``patch``, ``steps`` and ``rank``.
The result is a :class:`~xai_widgets.evaluate.table.Table`: means, standard errors and paired
differences to random.

Example::

    images, labels, masks = xw.data.dataset("triangles_squares", 100, seed=1)
    x = xw.data.normalize(images, xw.zoo.card("shapes"))
    table = benchmark(model, x, ["saliency", "grad_cam", ("occlusion", {"patch": 8,
                      "stride": 4})], masks=masks, fill="noise")
    table.sorted("morf")
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import torch
from torch import nn

from ..api import build_method, explain
from ..checks import check_input, check_model
from ..hooks import borrowed
from ..methods.registry import method_label
from ..params import check_params
from ..targets import Target, TargetSpec
from ._inputs import as_map, check_mask
from .curve import Progress
from .localization import pointing_game, relevance_mass, relevance_rank
from .metrics import DEFAULT_METRICS, MASK_METRICS, METRICS
from .perturbation import deletion, insertion, region_perturbation
from .settings import BenchmarkSettings
from .stream import count, is_stream, stream
from .table import BASELINE, Table

__all__ = ["benchmark"]

MethodsSpec = Sequence[str | tuple[str, Mapping[str, Any]]] | Mapping[str, Mapping[str, Any]]


def _methods(methods: MethodsSpec) -> list[tuple[str, str, dict]]:
    """(key, registered name, params) for each method; the key is what the table shows."""
    if isinstance(methods, str):
        methods = [methods]
    if isinstance(methods, Mapping):
        items = [(name, dict(p or {})) for name, p in methods.items()]
    elif isinstance(methods, Sequence):
        items = []
        for m in methods:
            if isinstance(m, str):
                items.append((m, {}))
            elif isinstance(m, tuple) and len(m) == 2 and isinstance(m[0], str):
                items.append((m[0], dict(m[1] or {})))
            else:
                raise TypeError(
                    "benchmark: parameter 'methods' must hold method names or (name, params) "
                    f"pairs, got {m!r}"
                )
    else:
        raise TypeError(
            "benchmark: parameter 'methods' must be a list of method names / (name, params) "
            f"pairs or a mapping name -> params, not {type(methods).__name__}"
        )
    out, seen = [], set()
    for name, params in items:
        key = name
        if params:
            key = name + "(" + ", ".join(f"{k}={v}" for k, v in sorted(params.items())) + ")"
        if key in seen or key == BASELINE:
            raise ValueError(f"benchmark: method {key!r} is given twice (random is built in)")
        seen.add(key)
        out.append((key, name, params))
    return out


def _metrics(metrics: Sequence[str] | None, has_masks: bool) -> list[str]:
    if metrics is None:
        return list(DEFAULT_METRICS) + (list(MASK_METRICS) if has_masks else [])
    if isinstance(metrics, str):
        metrics = [metrics]
    out = list(metrics)
    unknown = [m for m in out if m not in METRICS]
    if unknown or not out:
        raise ValueError(
            f"benchmark: parameter 'metrics' has unknown {unknown or out!r}; accepted: "
            f"{', '.join(METRICS)}"
        )
    needy = [m for m in out if METRICS[m].needs_mask]
    if needy and not has_masks:
        raise ValueError(f"benchmark: metrics {needy} need ground-truth masks; give masks=")
    return out


def _scorer(
    metric: str, settings: dict
) -> Callable[[nn.Module, torch.Tensor, torch.Tensor, Any, Any, Progress], torch.Tensor]:
    s = settings
    curve = dict(steps=s["steps"], fill=s["fill"], rank=s["rank"], seed=s["seed"])
    if metric in ("morf", "lerf"):
        return lambda m, x, h, t, mask, p: (
            region_perturbation(
                m, x, h, target=t, order=metric, patch=s["patch"], progress=p, **curve
            ).aopc
        )
    if metric == "deletion":
        return lambda m, x, h, t, mask, p: deletion(m, x, h, target=t, progress=p, **curve).auc
    if metric == "insertion":
        return lambda m, x, h, t, mask, p: insertion(m, x, h, target=t, progress=p, **curve).auc
    if metric == "pointing_game":
        return lambda m, x, h, t, mask, p: pointing_game(h, mask, s["tolerance"])
    if metric == "relevance_mass":
        return lambda m, x, h, t, mask, p: relevance_mass(h, mask)
    return lambda m, x, h, t, mask, p: relevance_rank(h, mask)


def _check_shape(
    chosen: list, wanted: list[str], model: nn.Module, x: torch.Tensor, patch: int, steps: int
) -> None:
    """Methods, patch and steps against the first images, before any work."""
    h, w = x.shape[2:]
    for _, name, params in chosen:
        build_method(model, x[:1], name, params)  # unknown names and bad params fail here
    if patch > min(h, w):
        raise ValueError(
            f"benchmark: parameter 'patch' is {patch}, larger than the image ({h}x{w})"
        )
    regions = -(-h // patch) * -(-w // patch)
    if any(q in ("morf", "lerf") for q in wanted) and steps > regions:
        raise ValueError(
            f"benchmark: parameter 'steps' is {steps} but the image has {regions} regions of "
            f"{patch}x{patch}; accepted: 1..{regions}"
        )


def _bound_target(model: nn.Module, xb: torch.Tensor, target: TargetSpec) -> Any:
    """A streamed batch's target: the callable, or one class index per image."""
    spec = Target.from_spec(target, xb.shape[0])
    if spec.fn is not None:
        return spec.fn
    if spec.indices is None:
        with borrowed(model), torch.no_grad():
            spec.bind(model(xb))
    return list(spec.indices)  # type: ignore[arg-type]


def benchmark(
    model: nn.Module,
    images: torch.Tensor | Iterable[Any],
    methods: MethodsSpec,
    *,
    metrics: Sequence[str] | None = None,
    masks: torch.Tensor | None = None,
    target: TargetSpec = None,
    fill: str = "noise",
    patch: int = 8,
    steps: int = 50,
    rank: str = "signed",
    tolerance: float = 0.0,
    seed: int = 0,
    batch: int = 50,
    heatmaps: Mapping[str, torch.Tensor] | None = None,
    progress: Progress | None = None,
) -> Table:
    """Evaluate ``methods`` (names, (name, params) pairs, or a mapping name -> params) on
    ``images`` with ``metrics`` (default: morf, deletion, insertion, plus pointing_game,
    relevance_mass, relevance_rank when masks are given). ``images`` is the model's input
    (N, C, H, W) with ``masks`` (N, H, W) bool, or a DataLoader / iterable of batches
    ``images`` or ``(images, labels[, masks])`` (see :mod:`.stream`; labels unused), streamed
    with bounded memory: one loader batch (a tensor: ``batch`` images) is explained at once,
    the table keeps only the per-image values (no heatmaps for a stream). A streamed
    ``target`` is None, an int or a callable. ``heatmaps`` (method key -> (N, H, W), e.g.
    a previous ``Table.heatmaps``; tensor input only) reuses maps; ``progress`` gets the
    fraction done (for a stream without ``len``: of the current batch) and may raise to cancel.
    A loader that raises mid-way gives :class:`.stream.DataError` naming the batch; the model is
    untouched. Everything is checked before any work (a stream: on its first batch). The
    same images give the same table from a tensor cut in ``batch`` and from a loader whose
    batches are that size."""
    settings = dict(fill=fill, patch=patch, steps=steps, rank=rank, tolerance=tolerance, seed=seed)
    check_params(BenchmarkSettings, settings, "benchmark")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"benchmark: parameter 'batch' must be an int >= 1, got {batch!r}")
    model = check_model(model)
    chosen = _methods(methods)
    keys = [BASELINE] + [key for key, _, _ in chosen]
    streamed = is_stream(images)
    if streamed:
        if masks is not None or heatmaps:
            raise TypeError(
                "benchmark: parameters 'masks' and 'heatmaps' go with a tensor of images; a "
                "data loader brings its masks as the third item of each batch"
            )
        if not (target is None or callable(target) or isinstance(target, int)):
            raise TypeError(
                "benchmark: parameter 'target' for a data loader must be None, an int or a "
                f"callable, not {type(target).__name__}"
            )
        batches = stream(images, None)
        first = next(batches, None)
        if first is None:
            raise ValueError("benchmark: parameter 'images': the data loader yielded no batch")
        batches = itertools.chain([first], batches)
        x0 = check_input(model, first[1])
        wanted = _metrics(metrics, first[2] is not None)
        spec = None
        given: dict[str, torch.Tensor] = {}
    elif isinstance(images, torch.Tensor):
        x0 = check_input(model, images)
        n, _, h, w = x0.shape
        wanted = _metrics(metrics, masks is not None)
        mask = None
        if masks is not None:
            mask = check_mask(
                as_map(masks, "masks", "benchmark"), torch.empty(n, h, w), "benchmark"
            )
            mask = mask.to(x0.device)
        given = dict(heatmaps or {})
        for key, value in given.items():
            if value.shape != (n, h, w):
                raise ValueError(
                    f"benchmark: parameter 'heatmaps' has shape {tuple(value.shape)} for "
                    f"{key!r}; expected ({n}, {h}, {w})"
                )
        spec = Target.from_spec(target, n)  # form checked before any work
        batches = stream(x0, mask, batch)
    else:
        raise TypeError(
            "benchmark: parameter 'images' must be a tensor (N, C, H, W) or a DataLoader / "
            f"iterable of batches, not {type(images).__name__}"
        )
    _check_shape(chosen, wanted, model, x0, patch, steps)
    if spec is not None and spec.fn is None and spec.indices is None:
        with borrowed(model), torch.no_grad():
            spec.bind(torch.cat([model(x0[i : i + batch]) for i in range(0, len(x0), batch)]))
    gen = torch.Generator().manual_seed(seed)  # the random baseline, drawn batch by batch
    kept: dict[str, list[torch.Tensor]] = {key: [] for key, _, _ in chosen}
    values: dict[str, dict[str, list[torch.Tensor]]] = {k: {q: [] for q in wanted} for k in keys}
    scorers = {q: _scorer(q, settings) for q in wanted}
    per_batch = len(keys) * (len(wanted) + 1)
    total = count(images) if streamed else len(range(0, len(x0), batch))
    done, offset = 0, 0

    def step(fraction: float) -> None:
        if progress is not None:
            units = per_batch * (total or 1)
            progress(min(1.0, ((done if total else done % per_batch) + fraction) / units))

    for index, xb, mb in batches:
        if streamed:
            xb = check_input(model, xb)
            if (mb is None) != (first[2] is None):
                raise ValueError(f"benchmark: parameter 'images': batch {index} differs in masks")
            if mb is not None:
                mb = check_mask(as_map(mb, "masks", "benchmark"), xb[:, 0], "benchmark")
                mb = mb.to(xb.device)
            tb = _bound_target(model, xb, target)
        else:
            tb = spec.fn if spec.fn is not None else list(spec.indices[offset : offset + len(xb)])
        nb, _, h, w = xb.shape
        baseline = torch.rand((nb, h, w), generator=gen).to(xb.device, xb.dtype)
        for key, name, params in [(BASELINE, "", {}), *chosen]:
            if key == BASELINE:
                heat = baseline
            elif key in given:
                heat = given[key][offset : offset + nb].to(xb.device, xb.dtype)
            else:
                heat = explain(model, xb, name, target=tb, progress=step, **params).heatmap
            if key != BASELINE and not streamed:
                kept[key].append(heat.detach().cpu())
            done += 1
            step(0.0)
            for q in wanted:
                values[key][q].append(scorers[q](model, xb, heat, tb, mb, step).double().cpu())
                done += 1
                step(0.0)
        offset += nb
    table_values = {k: {q: torch.cat(v) for q, v in d.items()} for k, d in values.items()}
    labels = {BASELINE: "Random"}
    for key, name, _params in chosen:
        extra = key[len(name) :]
        labels[key] = method_label(name) + (f" {extra}" if extra else "")
    maps = {key: torch.cat(v) for key, v in kept.items() if v}
    return Table(keys, wanted, table_values, labels, settings, maps)
