"""The result of :func:`~xai_widgets.evaluate.benchmark`: per-image values, summaries with
standard errors and paired differences to the ``random`` baseline, as HTML or plain rows.

For method m and metric q over the images i where both values are defined:
mean = (1/n) sum_i q_i(m), SE = sd / sqrt(n) (sd with n - 1); the paired difference
d_i = q_i(m) - q_i(random), its mean and SE likewise, and z = mean(d) / SE(d). The verdict
says "better" / "worse" than random when z (signed by the metric's direction) is beyond
+-3, "like random" otherwise.

Example::

    t = benchmark(model, x, ["saliency", "grad_cam"], masks=masks)
    t.rows[0]    # {'method': 'grad_cam', 'label': 'Grad-CAM', 'metric': 'morf', 'mean': ...}
    t.sorted("deletion")        # best deletion AUC first
    print(t.markdown())
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass, field, replace

import torch

from .metrics import METRICS

__all__ = ["VERDICT_Z", "Table", "summarize"]

VERDICT_Z = 3.0
BASELINE = "random"


def summarize(values: torch.Tensor) -> tuple[float, float, int]:
    """(mean, standard error, n) over the finite entries of ``values``."""
    v = values[torch.isfinite(values)].double()
    n = int(v.numel())
    if n == 0:
        return math.nan, math.nan, 0
    se = float(v.std(unbiased=True) / math.sqrt(n)) if n > 1 else math.nan
    return float(v.mean()), se, n


@dataclass(frozen=True)
class Table:
    """Benchmark results: ``values[method][metric]`` (N,) per image (NaN: undefined, e.g. an
    empty mask); ``labels`` the methods' display names; ``settings`` what the curves used;
    ``heatmaps`` each method's (N, H, W) maps on the CPU (to reuse with another fill)."""

    methods: list[str]
    metrics: list[str]
    values: dict[str, dict[str, torch.Tensor]]
    labels: dict[str, str] = field(default_factory=dict)
    settings: dict = field(default_factory=dict)
    heatmaps: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)

    def stat(self, method: str, metric: str) -> dict:
        """One cell: mean, se, n, and the paired difference to random (diff, diff_se, z)."""
        q = self.values[method][metric]
        mean, se, n = summarize(q)
        row = {
            "method": method,
            "label": self.labels.get(method, method),
            "metric": metric,
            "mean": mean,
            "se": se,
            "n": n,
            "diff": math.nan,
            "diff_se": math.nan,
            "z": math.nan,
            "verdict": "baseline" if method == BASELINE else "",
        }
        if method != BASELINE and BASELINE in self.values:
            diff, diff_se, _ = summarize(q - self.values[BASELINE][metric])
            if diff_se > 0:
                z = diff / diff_se
            else:  # every paired difference equal: a sure verdict unless it is zero
                sure = diff != 0 and not math.isnan(diff)
                z = math.copysign(math.inf, diff) if sure else math.nan
            sign = 1.0 if METRICS[metric].higher_is_better else -1.0
            verdict = "like random"
            if not math.isnan(z) and sign * z > VERDICT_Z:
                verdict = "better"
            elif not math.isnan(z) and sign * z < -VERDICT_Z:
                verdict = "worse"
            row.update(diff=diff, diff_se=diff_se, z=z, verdict=verdict)
        return row

    @property
    def rows(self) -> list[dict]:
        """Plain rows, one per (method, metric), in the table's order (for a paper/pandas)."""
        return [self.stat(m, q) for m in self.methods for q in self.metrics]

    def sorted(self, by: str | None = None) -> Table:
        """The methods ordered best first by metric ``by`` (default: the first metric)."""
        metric = by or self.metrics[0]
        if metric not in self.metrics:
            raise ValueError(f"sorted: unknown metric {metric!r}; accepted: {self.metrics}")
        sign = -1.0 if METRICS[metric].higher_is_better else 1.0

        def key(method: str) -> float:
            mean = self.stat(method, metric)["mean"]
            return sign * mean if math.isfinite(mean) else math.inf

        return replace(self, methods=sorted(self.methods, key=key))

    def _cell(self, method: str, metric: str) -> tuple[str, str]:
        s = self.stat(method, metric)
        value = f"{s['mean']:.3f} ± {s['se']:.3f}"
        if method == BASELINE:
            return value, "baseline"
        return value, f"{s['diff']:+.3f} ± {s['diff_se']:.3f} ({s['verdict']})"

    def markdown(self) -> str:
        """A Markdown table: mean ± SE and the paired difference to random per metric."""
        head = ["Method"] + [
            f"{METRICS[q].label} ({'↑' if METRICS[q].higher_is_better else '↓'})"
            for q in self.metrics
        ]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for m in self.methods:
            cells = [self.labels.get(m, m)]
            for q in self.metrics:
                value, diff = self._cell(m, q)
                cells.append(f"{value}<br>{diff}")
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        head = "".join(
            f"<th title='{html.escape(METRICS[q].help)}'>{html.escape(METRICS[q].label)} "
            f"{'↑' if METRICS[q].higher_is_better else '↓'}</th>"
            for q in self.metrics
        )
        body = []
        for m in self.methods:
            cells = []
            for q in self.metrics:
                value, diff = self._cell(m, q)
                cells.append(f"<td>{html.escape(value)}<br><small>{html.escape(diff)}</small></td>")
            body.append(f"<tr><th>{html.escape(self.labels.get(m, m))}</th>{''.join(cells)}</tr>")
        n = max((self.stat(m, q)["n"] for m in self.methods for q in self.metrics), default=0)
        caption = (
            f"{n} images; mean ± standard error; below: paired difference to the random "
            f"heatmap ± SE (verdict at {VERDICT_Z:g} SE). "
            + ", ".join(f"{k}={v}" for k, v in self.settings.items())
        )
        return (
            f"<table><caption>{html.escape(caption)}</caption>"
            f"<thead><tr><th>Method</th>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
        )

    def __repr__(self) -> str:
        return f"Table(methods={self.methods}, metrics={self.metrics})"
