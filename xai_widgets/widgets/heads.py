"""The heads of one attention block as a row of small clickable maps (Explain tab, shown for
the ``attention`` method): every head's class-token attention at the chosen block, each tile a
button that picks that head; "mean" / "max" / "min" are the head control's other choices.

Example::

    grid = HeadGrid(selection, tab.submit)
    grid.update(session)            # computes on the "heads" lane, draws when done
    grid.buttons[2].click()         # selection.params["head"] == "2"
"""

from __future__ import annotations

from collections.abc import Callable

import ipywidgets as w
import numpy as np

from ..methods.attention import attention_heads
from ..render import render_heatmap
from .canvas import encode
from .engine import Job
from .selection import Selection
from .session import ImageSession

__all__ = ["HeadGrid"]

TILE = 64  # px


class HeadGrid:
    """Tiles of every head of the selected block; hidden unless the method is ``attention``."""

    def __init__(self, selection: Selection, submit: Callable[[str, Callable, str], None]):
        self.selection = selection
        self._submit = submit
        self.images: list[w.Image] = []
        self.buttons: list[w.Button] = []
        self.maps: np.ndarray | None = None
        self.widget = w.VBox(layout=w.Layout(display="none"))
        self.widget.add_class("xw-heads")

    def update(self, session: ImageSession) -> None:
        """Show the tiles for the current selection (compute on the ``heads`` lane), or hide
        them when the method is not ``attention``."""
        sel = self.selection
        if sel.method != "attention":
            self.widget.layout.display = "none"
            return
        layer = sel.layer or -1
        self._submit("heads", lambda job: self._compute(job, session, layer), "heads")

    def _compute(self, job: Job, session: ImageSession, layer: str | int) -> None:
        maps = attention_heads(self.selection.model, session.x, layer)[0].float().cpu().numpy()
        job.check()
        job.deliver(lambda: self._show(maps))

    def _show(self, maps: np.ndarray) -> None:
        self.maps = maps
        while len(self.images) < len(maps):
            i = len(self.images)
            image = w.Image(format="png", layout=w.Layout(width=f"{TILE}px", height=f"{TILE}px"))
            button = w.Button(description=f"head {i}", layout=w.Layout(width=f"{TILE + 8}px"))
            button.add_class(f"xw-head-{i}")
            button.on_click(lambda _b, i=i: self.selection.set_param("head", str(i)))
            self.images.append(image)
            self.buttons.append(button)
        for image, heat in zip(self.images, maps, strict=False):
            rgba = render_heatmap(heat, None, mode="positive", alpha=1.0, size=(TILE, TILE))
            image.value = encode(rgba, lossless=True).data
        tiles = [w.VBox([i, b]) for i, b in zip(self.images, self.buttons, strict=False)]
        self.widget.children = [
            w.HTML("<b>All heads of this block</b> (click one to show it)"),
            w.HBox(tiles[: len(maps)], layout=w.Layout(flex_flow="row wrap")),
        ]
        self.widget.layout.display = None
