"""Figures and HTML for Z-scores (matplotlib imported on first use).

``plot_zscores`` draws the paper's two figures side by side: the first k Z-scores sorted by
descending |Z| (bars signed, coloured by group) and the sums of |Z| per group (signed sums as
black ticks). ``plot_comparison`` puts two models' group sums next to each other.

Example::

    fig = plot_zscores(zs, k=30, output=0)
    fig.savefig("zscores.png")
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .zscores_result import Comparison, ZScores

__all__ = ["group_colors", "plot_comparison", "plot_zscores", "zscores_html"]


def group_colors(names: list[str]) -> dict[str, Any]:
    """One qualitative colour per group name (tab10, then tab20)."""
    from matplotlib import colormaps

    cmap = colormaps["tab10" if len(names) <= 10 else "tab20"]
    return {name: cmap(i % cmap.N) for i, name in enumerate(names)}


def _axes(ax: Any, count: int, width: float) -> tuple[Any, list[Any]]:
    import matplotlib.pyplot as plt

    if ax is not None:
        axes = list(ax) if isinstance(ax, (list, tuple)) else [ax]
        return axes[0].figure, axes
    fig, axes = plt.subplots(1, count, figsize=(width, 3.6), constrained_layout=True)
    plt.close(fig)  # shown by the notebook's display of the returned figure, not twice
    return fig, list(axes) if count > 1 else [axes]


def plot_zscores(zs: ZScores, k: int, output: int, ax: Any = None) -> Any:
    """The two figures of Malmgren-Hansen et al. for one output; ``ax`` may be two axes."""
    from matplotlib.patches import Patch

    fig, axes = _axes(ax, 2, 11.0)
    colors = group_colors(list(zs.groups))
    ranked = zs.top(k, output)
    name = zs.outputs[output] if zs.outputs else str(output)
    left = axes[0]
    left.bar(
        range(len(ranked)), [r.z for r in ranked], color=[colors[r.group] for r in ranked],
        width=0.8,
    )  # fmt: skip
    left.set_xticks(range(len(ranked)), [str(r.index) for r in ranked], rotation=90, fontsize=7)
    left.axhline(0, color="black", linewidth=0.6)
    left.set_xlabel("input of the mixing layer (descending |Z|)")
    left.set_ylabel(f"Z-score for {name!r}")
    dead = f"; {len(zs.dead)} dead input(s) left out" if zs.dead else ""
    left.set_title(f"{zs.model}: top {len(ranked)} of {zs.sigma.numel()} inputs{dead}")
    left.legend(
        handles=[Patch(color=c, label=g) for g, c in colors.items()], fontsize=7, frameon=False
    )
    if len(axes) > 1:
        sums = zs.grouped(output)
        names = list(sums)
        right = axes[1]
        right.bar(names, [s.abs_sum for s in sums.values()], color=[colors[n] for n in names])
        right.scatter(
            names, [s.signed_sum for s in sums.values()], color="black", marker="_", s=200,
            zorder=3, label="sum of signed Z",
        )  # fmt: skip
        right.axhline(0, color="black", linewidth=0.6)
        right.set_ylabel("sum of |Z| over the group")
        right.set_title(f"grouped Z-scores ({zs.layer!r}, {zs.samples} samples)")
        right.tick_params(axis="x", rotation=30)
        right.legend(fontsize=7, frameon=False)
    return fig


def plot_comparison(cmp: Comparison, ax: Any = None) -> Any:
    """Grouped sums of |Z| of two models side by side, groups matched by name."""
    import numpy as np

    fig, axes = _axes(ax, 1, 7.0)
    rows = cmp.rows()
    x = np.arange(len(rows))
    axis = axes[0]
    for shift, (zs, pick) in zip(
        (-0.2, 0.2), ((cmp.a, lambda r: r[1]), (cmp.b, lambda r: r[2])), strict=True
    ):
        values = [pick(r).abs_sum if pick(r) is not None else 0.0 for r in rows]
        sizes = [pick(r).size if pick(r) is not None else 0 for r in rows]
        bars = axis.bar(x + shift, values, width=0.4, label=zs.model)
        for bar, size in zip(bars, sizes, strict=True):
            axis.annotate(
                str(size), (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center", va="bottom", fontsize=7,
            )  # fmt: skip
    axis.set_xticks(x, [r[0] for r in rows], rotation=30)
    axis.set_ylabel("sum of |Z| over the group (inputs above the bar)")
    axis.set_title("grouped Z-scores, two models")
    axis.legend(frameon=False)
    return fig


def zscores_html(zs: ZScores, k: int = 10) -> str:
    """A summary table: the layer and data, grouped sums and the top ``k`` of output 0 (or
    of each output when there are at most 3)."""
    esc = html.escape
    outputs = range(min(len(zs.z), 3))
    lines = [
        f"<b>Z-scores</b> of {esc(zs.model)} at {esc(zs.layer)!s}: {zs.sigma.numel()} inputs, "
        f"{len(zs.z)} output(s), {zs.samples} samples"
    ]
    if zs.coarse:
        lines.append(f"sigma taken before upsampling for: {esc(', '.join(zs.coarse))}")
    if zs.dead:
        lines.append(f"<b>{len(zs.dead)} dead input(s)</b> (zero variance): {list(zs.dead)[:20]}")
    for o in outputs:
        name = esc(zs.outputs[o]) if zs.outputs else str(o)
        sums = zs.grouped(o)
        rows = "".join(
            f"<tr><td>{esc(g)}</td><td>{s.size}</td><td>{s.abs_sum:.3g}</td>"
            f"<td>{s.signed_sum:.3g}</td></tr>"
            for g, s in sums.items()
        )
        top = ", ".join(f"#{r.index} ({esc(r.group)}) {r.z:+.3g}" for r in zs.top(k, o))
        lines.append(
            f"<table><tr><th>group ({name})</th><th>inputs</th><th>sum |Z|</th>"
            f"<th>sum Z</th></tr>{rows}</table>top {k}: {top}"
        )
    return "<div>" + "<br>".join(lines) + "</div>"
