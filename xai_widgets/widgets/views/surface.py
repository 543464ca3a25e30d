"""A resizable canvas that shows one image and a few outlined boxes, replayable at any time.

A :class:`~xai_widgets.widgets.canvas.ReplayCanvas` (whose module doc explains how late clients
are drawn) like the Explain tab's canvas, but the size follows the image (a grid of 8 or of 512
channels) and the top layer holds outlines (the selected tile).

Example::

    surface = Surface("xw-filters-grid")
    surface.show(encode(rgba, lossless=True))
    surface.mark([(0, 0, 56, 70, "#00e5ff")])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
from ipycanvas import MultiCanvas
from PIL import Image, ImageDraw

from ..canvas import Encoded, ReplayCanvas, drawing, fixed_layout, put_encoded

__all__ = ["Box", "Surface"]

Box = tuple[int, int, int, int, str]  # x, y, width, height, css colour


class Surface(ReplayCanvas):
    """Two layers (image, outlines) whose size follows the shown image; clicks arrive in
    canvas px through :meth:`on_click`."""

    def __init__(self, css_class: str, width: int = 1, height: int = 1) -> None:
        super().__init__(
            MultiCanvas(2, width=width, height=height, layout=fixed_layout(width, height)),
            css_class,
            layers=2,
        )
        self.image: Encoded | None = None
        self.boxes: list[Box] = []

    @property
    def size(self) -> tuple[int, int]:
        return int(self.widget.width), int(self.widget.height)

    def on_click(self, callback: Callable[[float, float], None]) -> None:
        self.widget.on_mouse_down(callback)

    def _resize(self, width: int, height: int) -> bool:
        if (width, height) == self.size:
            return False
        self.widget.width, self.widget.height = width, height
        layout = self.widget.layout
        layout.width = layout.min_width = f"{width}px"
        layout.height = layout.min_height = f"{height}px"
        return True

    def show(self, image: Encoded | None, boxes: Sequence[Box] | None = None) -> None:
        """Show ``image`` (None clears) at its own size, and ``boxes`` if given."""
        resized = False
        with drawing():
            self.image = image
            if boxes is not None:
                self.boxes = list(boxes)
            if image is not None:
                resized = self._resize(*image.size)
            self.draw_all()
        if resized:
            self.redraw_later()
        self.changed()

    def mark(self, boxes: Sequence[Box]) -> None:
        """Outline ``boxes`` (replacing the previous ones)."""
        with drawing():
            self.boxes = list(boxes)
            self._draw_boxes()
        self.changed()

    def draw_all(self) -> None:
        self._draw_image()
        self._draw_boxes()

    def picture(self) -> np.ndarray | None:
        if self.image is None:
            return None
        image = Image.fromarray(np.ascontiguousarray(self.image.array)).convert("RGB")
        draw = ImageDraw.Draw(image)
        for x, y, w, h, colour in self.boxes:
            draw.rectangle((x, y, x + w - 1, y + h - 1), outline=colour, width=3)
        return np.asarray(image)

    def _draw_image(self) -> None:
        layer = self.widget[0]
        layer.clear()
        if self.image is not None:
            put_encoded(layer, self.image)

    def _draw_boxes(self) -> None:
        layer = self.widget[1]
        layer.clear()
        layer.line_width = 3
        for x, y, w, h, colour in self.boxes:
            layer.stroke_style = colour
            layer.stroke_rect(x + 1.5, y + 1.5, w - 3, h - 3)
