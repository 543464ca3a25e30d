"""The Activations view's grid controls and words: the pager (pages, ranking, one scale or
each tile its own, the colour bar), what the grid is ranked by, what the chosen channel's map
shows, what the grid's colours mean. Coordinates are given as (x, y) = (column, row).

Example::

    label, caption = describe(view.shown, acts, unit=None, note="after features.4 (ReLU)")
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w
import torch

from ..panels import ColourBar
from .surface import Surface

__all__ = ["ChannelPager", "describe", "scale_words"]


class ChannelPager:
    """The grid of channel tiles with its pager, ranking button, scale toggle and colour bar;
    the buttons set the view's traits (``page``, ``unit``, ``shared_scale``)."""

    def __init__(self, view: Any) -> None:
        self.grid = Surface("xw-act-grid")
        self.grid.on_click(view._grid_clicked)
        self.label = w.HTML()
        self.prev = w.Button(description="◀", layout=w.Layout(width="40px"))
        self.next = w.Button(description="▶", layout=w.Layout(width="40px"))
        self.prev.add_class("xw-act-prev")
        self.next.add_class("xw-act-next")
        self.prev.on_click(lambda _b: setattr(view, "page", max(0, view.page - 1)))
        self.next.on_click(lambda _b: setattr(view, "page", view.page + 1))
        by_mean = w.Button(description="Rank by mean", layout=w.Layout(width="120px"))
        by_mean.add_class("xw-act-by-mean")
        by_mean.on_click(lambda _b: setattr(view, "unit", None))
        self.shared = w.Checkbox(
            True, description="one scale for all tiles", indent=False,
            tooltip="Colour every tile on the same value range, so tiles can be compared; "
            "off: each tile on its own range, so a weak channel's pattern shows.",
        )  # fmt: skip
        self.shared.add_class("xw-act-shared")
        self.shared.observe(lambda c: setattr(view, "shared_scale", c["new"]), "value")
        self.bar = ColourBar("xw-act-colorbar", length=200)
        pager = w.HBox([self.prev, self.label, self.next, by_mean, self.shared])
        pager.layout.align_items = "center"
        hint = w.HTML("<i>Click a channel to see its map.</i>")
        self.widget = w.VBox(
            [pager, self.grid.widget, self.bar.widget, hint], layout=w.Layout(margin="0 0 0 16px")
        )


def scale_words(shared: bool) -> str:
    """What the grid's colour bar means."""
    if shared:
        return "brighter = stronger activation; one scale for all tiles, so they compare"
    return "each tile scaled to its own min … max (patterns show, strengths do not compare)"


def describe(
    shown: dict[str, Any], acts: torch.Tensor, unit: Any, note: str, page_size: int
) -> tuple[str, str]:
    """(the grid's label, the chosen channel's caption) for the view's ``shown`` state."""
    c, (i, j), order, page = shown["channel"], shown["unit"], shown["order"], shown["page"]
    n = len(order)
    by = "mean activation" if unit is None else f"activation at unit (x, y) = ({j}, {i})"
    label = (
        f"&nbsp;channels {page * page_size + 1}–{min(n, (page + 1) * page_size)} of {n}, "
        f"ranked by {by}&nbsp;"
    )
    top, left, bottom, right = shown["box"]
    where = "clicked unit" if unit is not None else "strongest unit"
    caption = (
        f"<b>channel {c}</b> of <code>{html.escape(shown['layer'])}</code> "
        f"({' × '.join(map(str, shown['shape']))}), rank {order.index(c) + 1}; maps "
        f"{html.escape(note)}<br>{where} (x, y) = ({j}, {i}): {float(acts[c, i, j]):.3g}; map "
        f"{float(acts[c].min()):.3g} … {float(acts[c].max()):.3g}<br>receptive field "
        f"{bottom - top} × {right - left} px ({shown['method']}), outlined"
    )
    return label, caption
