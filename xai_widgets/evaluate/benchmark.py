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

from collections.abc import Callable, Mapping, Sequence
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
from .fill import random_heatmap
from .localization import pointing_game, relevance_mass, relevance_rank
from .metrics import DEFAULT_METRICS, MASK_METRICS, METRICS
from .perturbation import deletion, insertion, region_perturbation
from .settings import BenchmarkSettings
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


def benchmark(
    model: nn.Module,
    images: torch.Tensor,
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
    ``images`` (the model's input, (N, C, H, W)) with ``metrics`` (default: morf, deletion,
    insertion, plus pointing_game, relevance_mass, relevance_rank when ``masks`` (N, H, W)
    bool are given). ``batch`` images are explained at once; ``heatmaps`` (method key ->
    (N, H, W), e.g. a previous table's ``Table.heatmaps``) reuses maps instead of explaining
    again; ``progress`` gets the fraction done and may raise to cancel. Everything is checked
    before any work."""
    settings = dict(fill=fill, patch=patch, steps=steps, rank=rank, tolerance=tolerance, seed=seed)
    check_params(BenchmarkSettings, settings, "benchmark")
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"benchmark: parameter 'batch' must be an int >= 1, got {batch!r}")
    model = check_model(model)
    x = check_input(model, images)
    n, _, h, w = x.shape
    wanted = _metrics(metrics, masks is not None)
    mask = None
    if masks is not None:
        mask = check_mask(as_map(masks, "masks", "benchmark"), torch.empty(n, h, w), "benchmark")
        mask = mask.to(x.device)
    chosen = _methods(methods)
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
    spec = Target.from_spec(target, n)  # form checked before any work
    if spec.fn is None and spec.indices is None:
        with borrowed(model), torch.no_grad():
            spec.bind(torch.cat([model(x[i : i + batch]) for i in range(0, n, batch)]))
    baseline = random_heatmap(x, seed)
    given = dict(heatmaps or {})
    for key, value in given.items():
        if value.shape != (n, h, w):
            raise ValueError(
                f"benchmark: parameter 'heatmaps' has shape {tuple(value.shape)} for {key!r}; "
                f"expected ({n}, {h}, {w})"
            )
    kept: dict[str, list[torch.Tensor]] = {key: [] for key, _, _ in chosen}
    keys = [BASELINE] + [key for key, _, _ in chosen]
    values: dict[str, dict[str, list[torch.Tensor]]] = {k: {q: [] for q in wanted} for k in keys}
    scorers = {q: _scorer(q, settings) for q in wanted}
    units = len(range(0, n, batch)) * len(keys) * (len(wanted) + 1)
    done = 0

    def step(fraction: float) -> None:
        if progress is not None:
            progress(min(1.0, (done + fraction) / units))

    for start in range(0, n, batch):
        part = slice(start, min(n, start + batch))
        xb = x[part]
        tb = spec.fn if spec.fn is not None else list(spec.indices[part])  # type: ignore[index]
        mb = mask[part] if mask is not None else None
        for key, name, params in [(BASELINE, "", {}), *chosen]:
            if key == BASELINE:
                heat = baseline[part]
            elif key in given:
                heat = given[key][part].to(x.device, x.dtype)
            else:
                heat = explain(model, xb, name, target=tb, progress=step, **params).heatmap
            if key != BASELINE:
                kept[key].append(heat.detach().cpu())
            done += 1
            step(0.0)
            for q in wanted:
                values[key][q].append(scorers[q](model, xb, heat, tb, mb, step).double().cpu())
                done += 1
                step(0.0)
    table_values = {k: {q: torch.cat(v) for q, v in d.items()} for k, d in values.items()}
    labels = {BASELINE: "Random"}
    for key, name, _params in chosen:
        extra = key[len(name) :]
        labels[key] = method_label(name) + (f" {extra}" if extra else "")
    maps = {key: torch.cat(v) for key, v in kept.items()}
    return Table(keys, wanted, table_values, labels, settings, maps)
