"""Compare: the chosen methods side by side for the current picture and class, each tile filled
in as its method streams (coarse first for the slow ones). A method that does not apply to this
model says why in its tile, and the others go on.

Example::

    panel = ComparePanel(selection, submit=tab.submit)
    panel.compare(["grad_cam", "saliency", "occlusion"])
"""

from __future__ import annotations

import html
import time
from collections.abc import Callable, Sequence

import ipywidgets as w
import numpy as np

from ..methods.registry import get_method, list_methods
from ..render import render_heatmap, to_png
from .engine import Job
from .images import resize_rgb
from .selection import Selection

__all__ = ["ComparePanel"]

TILE = 192
Submit = Callable[[str, Callable[[Job], None], str], None]


class ComparePanel:
    """A method chooser, a Compare button and the grid of tiles (see the module doc)."""

    def __init__(self, selection: Selection, submit: Submit) -> None:
        self.selection, self.submit = selection, submit
        methods = list_methods()
        self.choose = w.SelectMultiple(
            options=[(get_method(m).label, m) for m in methods],
            value=methods,
            rows=6,
            description="methods",
        )
        self.button = w.Button(description="Compare", icon="th", button_style="primary")
        self.button.add_class("xw-compare")
        self.button.on_click(lambda _b: self.compare(list(self.choose.value)))
        self.unavailable: dict[str, str] = {}  # method -> why it cannot run here
        self.grid = w.GridBox(
            layout=w.Layout(grid_template_columns=f"repeat(4, {TILE + 4}px)", grid_gap="6px")
        )
        self.grid.add_class("xw-compare-grid")
        self.widget = w.VBox([w.HBox([self.choose, self.button]), self.grid])
        self.tiles: dict[str, tuple[w.Image, w.HTML]] = {}

    def compare(self, methods: Sequence[str] | None = None) -> None:
        """Show ``methods`` (default: all) side by side."""
        chosen = list(methods or list_methods())
        self._start(chosen)
        self.submit("compare", lambda job: self._run(job, chosen), "compare")

    def _start(self, methods: Sequence[str]) -> None:
        tiles = []
        self.tiles = {}
        for name in methods:
            image = w.Image(format="png", layout=w.Layout(width=f"{TILE}px", height=f"{TILE}px"))
            label = w.HTML(f"<b>{html.escape(get_method(name).label)}</b> …")
            self.tiles[name] = (image, label)
            tiles.append(w.VBox([image, label]))
        self.grid.children = tiles

    def _run(self, job: Job, methods: list[str]) -> None:
        sel = self.selection
        session = sel.session()
        picture = resize_rgb(sel.picture.display, (TILE, TILE))
        for i, method in enumerate(methods):
            job.progress(i / len(methods))
            if self.unavailable.get(method):
                job.deliver(lambda m=method: self.skip(m, self.unavailable[m]))
                continue
            started, last = time.perf_counter(), 0.0
            try:
                for e in session.stream(method, sel.param_values(method), sel.target):
                    now = time.perf_counter()
                    if e.fraction < 1 and now - last < 0.3:
                        continue
                    last = now
                    rgba = render_heatmap(
                        e.heatmap[0].float().cpu().numpy(),
                        picture,
                        mode="signed" if e.signed else "positive",
                        alpha=0.55,
                    )
                    ms = (now - started) * 1000
                    caption = f"{ms:.0f} ms" if e.fraction >= 1 else f"refining {e.fraction:.0%}"
                    job.deliver(lambda m=method, r=rgba, c=caption: self.fill(m, r, c))
            except (ValueError, TypeError) as exc:  # does not apply here: say why, go on
                job.deliver(lambda m=method, x=exc: self.skip(m, str(x)))
        job.progress(1.0)

    def fill(self, name: str, rgba: np.ndarray, caption: str) -> None:
        image, label = self.tiles[name]
        image.value = to_png(rgba)
        label.value = f"<b>{html.escape(get_method(name).label)}</b> {html.escape(caption)}"

    def skip(self, name: str, reason: str) -> None:
        _image, label = self.tiles[name]
        label.value = (
            f"<b>{html.escape(get_method(name).label)}</b> "
            f"<span style='color:#8a4b00'>skipped: {html.escape(reason)}</span>"
        )
