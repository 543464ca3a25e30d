"""A resizable canvas that shows one image and a few outlined boxes, replayable at any time.

Like :class:`~xai_widgets.widgets.canvas.LayeredCanvas` (whose module doc explains the replay
on ``client_ready`` and the hidden switch canvas), but the size follows the image (a grid of 8
or of 512 channels) and the top layer holds outlines (the selected tile). All drawing goes
through :data:`~xai_widgets.widgets.canvas.DRAW_LOCK`.

Example::

    surface = Surface("xw-filters-grid")
    surface.show(encode(rgba, lossless=True))
    surface.mark([(0, 0, 56, 70, "#00e5ff")])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ipycanvas import Canvas, MultiCanvas, hold_canvas
from ipywidgets import Layout

from ..canvas import DRAW_LOCK, Encoded, put_encoded

__all__ = ["Box", "Surface"]

Box = tuple[int, int, int, int, str]  # x, y, width, height, css colour


def _fixed(width: int, height: int) -> Layout:
    """Exactly the canvas's pixel size: CSS would stretch it (or a flex box squeeze it) while
    mouse events stay in canvas pixels."""
    w, h = f"{width}px", f"{height}px"
    return Layout(width=w, height=h, min_width=w, min_height=h, flex="0 0 auto")


class Surface:
    """Two layers (image, outlines) whose size follows the shown image; clicks arrive in
    canvas px through :meth:`on_click`."""

    def __init__(self, css_class: str, width: int = 1, height: int = 1) -> None:
        self.widget = MultiCanvas(2, width=width, height=height, layout=_fixed(width, height))
        self.widget.add_class(css_class)
        self._switch = Canvas(width=1, height=1)  # never displayed: see canvas.py
        self.image: Encoded | None = None
        self.boxes: list[Box] = []
        self.widget.on_client_ready(self.replay)

    @property
    def size(self) -> tuple[int, int]:
        return int(self.widget.width), int(self.widget.height)

    def on_click(self, callback: Callable[[float, float], None]) -> None:
        self.widget.on_mouse_down(callback)

    def _resize(self, width: int, height: int) -> None:
        if (width, height) != self.size:
            self.widget.width, self.widget.height = width, height
            layout = self.widget.layout
            layout.width = layout.min_width = f"{width}px"
            layout.height = layout.min_height = f"{height}px"

    def show(self, image: Encoded | None, boxes: Sequence[Box] | None = None) -> None:
        """Show ``image`` (None clears) at its own size, and ``boxes`` if given."""
        with DRAW_LOCK:
            self.image = image
            if boxes is not None:
                self.boxes = list(boxes)
            if image is not None:
                self._resize(*image.size)
            with hold_canvas():
                self._draw_image()
                self._draw_boxes()

    def mark(self, boxes: Sequence[Box]) -> None:
        """Outline ``boxes`` (replacing the previous ones)."""
        with DRAW_LOCK, hold_canvas():
            self.boxes = list(boxes)
            self._draw_boxes()

    def replay(self, *_args: object) -> None:
        """Redraw from the Python state (a client connected)."""
        with DRAW_LOCK:
            self._switch.clear()
            with hold_canvas():
                self._draw_image()
                self._draw_boxes()

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
