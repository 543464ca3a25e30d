"""KernelSHAP on image regions (Lundberg & Lee 2017, "A unified approach to interpreting model
predictions"), batched.

A coalition z in {0, 1}^M keeps the regions with z_j = 1 (the others take ``baseline``);
v(z) is the explained score of that copy. KernelSHAP solves the weighted least squares

    min_phi sum_z pi(z) (v(z) - v(0) - phi^T z)^2,
    pi(z) = (M - 1) / (C(M, |z|) |z| (M - |z|)),    0 < |z| < M,

under the efficiency constraint sum_j phi_j = v(1) - v(0) = f(x) - f(all regions off), held
exactly by eliminating phi_M (as the ``shap`` package does). The coalitions follow shap's
KernelExplainer design: whole coalition sizes are enumerated (smallest and largest first, each
with its complement) while the sample budget allows, the rest are drawn from the kernel with
their complements (paired sampling). With 2^M - 2 <= ``samples`` every coalition is enumerated
and phi are the exact Shapley values of the target score.

Streaming: the fit is redone after every chunk of forwards (coalitions in a seeded random
order); the last map uses all of them.

Example::

    e = explain(model, x, "kernel_shap", segments="grid", n_segments=16, samples=2000)
    e.attribution  # each pixel shows its region's Shapley value
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import torch

from .regions import (
    RegionMethod,
    baseline_param,
    n_segments_param,
    region_scores,
    segments_param,
)
from .registry import Progress, param, register

__all__ = ["KernelShap", "shap_coalitions", "shap_solve"]


def shap_coalitions(
    m: int, samples: int, gen: torch.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """KernelExplainer's design: (K, M) bool coalitions and their (K,) float64 weights."""
    budget = samples if m > 30 else min(samples, 2**m - 2)
    n_sizes = math.ceil((m - 1) / 2)
    n_paired = (m - 1) // 2
    kernel = torch.tensor(
        [(m - 1) / (s * (m - s)) for s in range(1, n_sizes + 1)], dtype=torch.float64
    )
    kernel[:n_paired] *= 2
    kernel /= kernel.sum()
    rows: list[torch.Tensor] = []
    weights: list[float] = []
    left = kernel.clone()
    remaining, full = budget, 0
    for i, size in enumerate(range(1, n_sizes + 1)):
        paired = i < n_paired
        count = math.comb(m, size) * (2 if paired else 1)
        if left.sum() <= 0 or remaining * left[i] / left.sum() < count - 1e-8:
            break
        full += 1
        remaining -= count
        w = float(kernel[i]) / math.comb(m, size) / (2 if paired else 1)
        for combo in itertools.combinations(range(m), size):
            z = torch.zeros(m, dtype=torch.bool)
            z[list(combo)] = True
            rows.append(z)
            weights.append(w)
            if paired:
                rows.append(~z)
                weights.append(w)
        left[i] = 0
    if full < n_sizes and remaining > 0:
        rest = kernel.clone()
        rest[:n_paired] /= 2
        rest = rest[full:] / rest[full:].sum()
        weight_left = float(kernel[full:].sum())
        sampled: list[torch.Tensor] = []
        while len(sampled) < remaining:
            size = full + 1 + int(torch.multinomial(rest, 1, generator=gen))
            z = torch.zeros(m, dtype=torch.bool)
            z[torch.randperm(m, generator=gen)[:size]] = True
            sampled.append(z)
            if size <= n_paired and len(sampled) < remaining:
                sampled.append(~z)
        rows += sampled
        weights += [weight_left / len(sampled)] * len(sampled)
    return torch.stack(rows), torch.tensor(weights, dtype=torch.float64)


def shap_solve(
    on: torch.Tensor, values: torch.Tensor, weights: torch.Tensor, full: float, empty: float
) -> torch.Tensor:
    """(M,) phi of the constrained weighted least squares (sum phi = full - empty)."""
    z = on.to(torch.float64)
    m = z.shape[1]
    gap = full - empty
    if m == 1:
        return torch.tensor([gap], dtype=torch.float64, device=z.device)
    y = values.to(torch.float64) - empty - z[:, -1] * gap
    a = z[:, :-1] - z[:, -1:]
    gram = a.T @ (weights[:, None] * a)
    beta = torch.linalg.pinv(gram) @ (a.T @ (weights * y))
    return torch.cat([beta, (gap - beta.sum())[None]])


@register(
    "kernel_shap",
    label="KernelSHAP",
    family="perturbation",
    tip=(
        "Each region's fair share of the class score over all ways "
        "of greying out the other regions."
    ),
)
@dataclass(frozen=True)
class KernelShap(RegionMethod):
    """KernelSHAP (Lundberg & Lee 2017) on image regions: Shapley kernel weights, efficiency
    (region values sum to f(x) - f(all regions off)) held exactly; exact Shapley values of the
    target score when 2^M - 2 <= ``samples``. Each pixel shows its region's value.

    Example: ``explain(model, x, "kernel_shap", segments="grid", n_segments=8)``.
    """

    segments: str = segments_param()
    n_segments: int = n_segments_param()
    samples: int = param(500, min=2, max=100000, step=1, help="Coalitions evaluated (at most).")
    baseline: float = baseline_param()
    seed: int = param(0, min=0, max=2**31 - 1, step=1, help="Seed of the sampled coalitions.")

    def stream(self, model, x, target, progress: Progress | None = None, cache=None):
        labels, counts, values = self.start(model, x, target)
        designs = []
        for m in counts:
            gen = torch.Generator().manual_seed(self.seed)
            on, w = shap_coalitions(m, self.samples, gen) if m > 1 else (None, None)
            order = torch.randperm(on.shape[0], generator=gen) if on is not None else None
            designs.append((on, w, order))
        total = sum(1 + (0 if d[0] is None else d[0].shape[0]) for d in designs)
        done = 0
        for i, (lab, m) in enumerate(zip(labels, counts, strict=True)):
            on, w, order = designs[i]
            full = float(target.clean_scores[i])
            nothing = torch.zeros(1, m, dtype=torch.bool, device=x.device)
            empty = float(next(region_scores(model, x, i, lab, nothing, self.baseline, target))[1])
            done += 1
            if on is None:
                values[i, :m] = full - empty
                continue
            on, w = on[order].to(x.device), w[order].to(x.device)
            scores = torch.zeros(on.shape[0], device=x.device, dtype=torch.float64)
            for part, s in region_scores(model, x, i, lab, on, self.baseline, target):
                scores[part] = s.to(torch.float64)
                n = part.stop
                values[i, :m] = shap_solve(on[:n], scores[:n], w[:n], full, empty).to(x.dtype)
                done += part.stop - part.start
                yield from self.partial(values, labels, x, done, total, progress)
        yield self.expand(values, labels, x), 1.0
