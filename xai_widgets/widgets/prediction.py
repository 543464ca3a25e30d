"""The prediction map of a per-pixel model, where the explained region is chosen.

Shown beside the picture when the model's output is a map (N, K, H, W): the explained class's
per-pixel probability (viridis, 0 to 1) with the region drawn in orange. A drag draws a new
region (a rectangle); a click takes the square of side ``H / 8`` around the pixel; "whole map"
takes every pixel (the default). The region is ``Selection.region`` (top, left, bottom,
right) in output pixels, so Python does exactly what the mouse does::

    ex.selection.region = (32, 32, 96, 96)       # rows 32..95, columns 32..95
    ex.explain_tab.prediction.drag((10, 20), (60, 90))   # canvas pixels, as the mouse
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w
import numpy as np
from ipycanvas import Canvas
from matplotlib import colormaps

from .canvas import ReplayCanvas, drawing, encode, fixed_layout, put_encoded
from .panels import SELECTED
from .selection import Selection
from .session import ImageSession

__all__ = ["PredictionPanel"]

SIDE = 160  # px: the longer side of the prediction map
CLICK_PX = 3  # a press and release closer than this is a click, not a drag


class PredictionPanel(ReplayCanvas):
    """See the module doc; hidden until a per-pixel model's picture is shown."""

    def __init__(self, selection: Selection) -> None:
        self.selection = selection
        height, width = selection.pictures[0].input.shape[1:]
        self.map_size = (int(height), int(width))
        self.scale = SIDE / max(height, width)
        size = (round(width * self.scale), round(height * self.scale))
        canvas = Canvas(width=size[0], height=size[1], layout=fixed_layout(*size))
        super().__init__(canvas, "xw-prediction-canvas")
        self._maps: np.ndarray | None = None
        self._cls = 0
        self._press: tuple[float, float] | None = None
        canvas.on_mouse_down(self._down)
        canvas.on_mouse_up(self._up)
        whole = w.Button(description="whole map", layout=w.Layout(width="110px"))
        whole.add_class("xw-region-whole")
        whole.on_click(lambda _b: setattr(selection, "region", None))
        self.caption = w.HTML()
        self.caption.add_class("xw-prediction-caption")
        self.panel = w.VBox([self.caption, canvas, whole], layout=w.Layout(display="none"))
        self.panel.add_class("xw-prediction")
        selection.observe(lambda _c: self.draw(), "region")

    # ---------------------------------------------------------------- state
    def show(self, session: ImageSession, cls: int) -> None:
        """Show ``session``'s per-pixel probabilities of class ``cls`` (hidden for a classifier)."""
        if session.maps is None:
            self.panel.layout.display = "none"
            self._maps = None
            return
        self._maps, self._cls = session.maps.numpy(), cls
        self.panel.layout.display = None
        self.draw()

    def _box(self) -> tuple[int, int, int, int]:
        height, width = self.map_size
        return self.selection.region or (0, 0, height, width)

    # ---------------------------------------------------------------- mouse
    def _to_map(self, x: float, y: float) -> tuple[int, int]:
        """Canvas pixels (x, y) -> output-map (row, column), clipped to the map."""
        height, width = self.map_size
        row = min(max(int(y / self.scale), 0), height - 1)
        col = min(max(int(x / self.scale), 0), width - 1)
        return row, col

    def _down(self, x: float, y: float) -> None:
        self._press = (x, y)

    def _up(self, x: float, y: float) -> None:
        if self._press is None:
            return
        start, self._press = self._press, None
        self.drag(start, (x, y))

    def drag(self, start: tuple[float, float], end: tuple[float, float]) -> None:
        """A press at ``start`` and a release at ``end`` (canvas pixels (x, y)): a rectangle,
        or a click's square when they are closer than ``CLICK_PX``."""
        if abs(start[0] - end[0]) < CLICK_PX and abs(start[1] - end[1]) < CLICK_PX:
            self.click(*end)
            return
        (r0, c0), (r1, c1) = self._to_map(*start), self._to_map(*end)
        self.selection.region = (min(r0, r1), min(c0, c1), max(r0, r1) + 1, max(c0, c1) + 1)

    def click(self, x: float, y: float) -> None:
        """Take the square of side H / 8 (at least 3 pixels) around the clicked pixel."""
        height, width = self.map_size
        row, col = self._to_map(x, y)
        half = max(1, max(height, width) // 16)
        top, left = max(row - half, 0), max(col - half, 0)
        self.selection.region = (top, left, min(row + half + 1, height), min(col + half + 1, width))

    # ---------------------------------------------------------------- drawing
    def describe(self) -> str:
        top, left, bottom, right = self._box()
        name = html.escape(self.selection.class_name(self._cls))
        where = (
            "the whole map"
            if self.selection.region is None
            else f"x {left}..{right - 1}, y {top}..{bottom - 1}"
        )
        mean = ""
        if self._maps is not None:
            mean = f" (mean {self._maps[self._cls, top:bottom, left:right].mean():.3f})"
        return (
            f"<b>P({name}) per pixel</b> (dark purple 0 → yellow 1) · explained: its mean over "
            f"{where}{mean}<br>"
            "<small>drag a rectangle or click a point to explain another region</small>"
        )

    def draw(self) -> None:
        if self._maps is None:
            return
        self.caption.value = self.describe()
        with drawing():
            self.draw_all()
        self.changed()

    def draw_all(self) -> None:
        picture = self.picture()
        if picture is not None:
            put_encoded(self.widget, encode(picture, lossless=True))

    def picture(self) -> np.ndarray | None:
        if self._maps is None:
            return None
        from PIL import Image, ImageDraw

        values = np.clip(self._maps[self._cls], 0.0, 1.0)
        rgb = (colormaps["viridis"](values)[..., :3] * 255).astype(np.uint8)
        size = (int(self.widget.width), int(self.widget.height))
        image = Image.fromarray(rgb).resize(size, Image.NEAREST)
        top, left, bottom, right = self._box()
        s = self.scale
        ImageDraw.Draw(image).rectangle(
            (left * s, top * s, right * s - 1, bottom * s - 1), outline=SELECTED, width=2
        )
        return np.asarray(image)

    def state(self) -> dict[str, Any]:
        """What the panel shows, for tests: the class and the region."""
        return {"cls": self._cls, "region": self._box(), "shown": self._maps is not None}
