"""The main canvas of the Explain tab: four layers drawn from Python state (see ``canvas.py``).

Layer 0 the picture, 1 the heatmap (drawn with an opacity), 2 the pointer (the outline under the
mouse and the occluded patch or region), 3 the region boundaries of the region methods (shown
on request). Mouse events arrive in canvas pixels.

Example::

    canvas = LayeredCanvas(320, 320, "xw-main-canvas")
    canvas.show(image=encode(rgb), heatmap=encode(rgba), alpha=0.5)
    canvas.show_pointer((10, 10, 40, 40), patch=((10, 10, 40, 40), "#808080"))
    canvas.show_regions(encode(boundaries_rgba))
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from ipycanvas import Canvas, MultiCanvas

from .canvas import Encoded, ReplayCanvas, drawing, fixed_layout, put_encoded, resize_array

__all__ = ["LayeredCanvas", "Patch", "hex_rgb"]

Patch = tuple[tuple[int, int, int, int], str] | Encoded
"""An occluded patch: ((x, y, w, h) in canvas pixels, css colour), or a picture of an occluded
region (RGBA at any size, drawn over the whole canvas)."""


class LayeredCanvas(ReplayCanvas):
    """The layered canvas of the module doc."""

    def __init__(self, width: int, height: int, css_class: str) -> None:
        self.width, self.height = width, height
        widget = MultiCanvas(4, width=width, height=height, layout=fixed_layout(width, height))
        super().__init__(widget, css_class, layers=4)
        self.image: Encoded | None = None
        self.heatmap: Encoded | None = None
        self.alpha = 0.5
        self.pointer: tuple[int, int, int, int] | None = None
        self.patch: Patch | None = None
        self.regions: Encoded | None = None

    def on_mouse(self, kind: str, callback: Callable[[float, float], None]) -> None:
        getattr(self.widget, f"on_mouse_{kind}")(callback)

    def show(
        self,
        image: Encoded | None = None,
        heatmap: Encoded | bool | None = False,
        alpha: float | None = None,
    ) -> None:
        """Update the given layers (``heatmap=None`` clears it; ``False`` keeps it)."""
        with drawing():
            if image is not None:
                self.image = image
                self._draw_image()
            if heatmap is not False or alpha is not None:
                if heatmap is not False:
                    self.heatmap = heatmap  # type: ignore[assignment]
                if alpha is not None:
                    self.alpha = alpha
                self._draw_heatmap()
        self.changed()

    def show_pointer(
        self,
        box: tuple[int, int, int, int] | None,
        patch: Patch | bool | None = False,
    ) -> None:
        """Outline ``box`` (x, y, w, h); ``patch`` fills an occluded patch or region
        (``None`` clears it; ``False`` keeps it)."""
        with drawing():
            self.pointer = box
            if patch is not False:
                self.patch = patch  # type: ignore[assignment]
            self._draw_pointer()
        if patch is not False:
            self.changed()

    def show_regions(self, boundaries: Encoded | None) -> None:
        """Draw the region boundaries (an RGBA picture, transparent between the lines), or
        clear them."""
        with drawing():
            self.regions = boundaries
            self._draw_regions()
        self.changed()

    def draw_all(self) -> None:
        self._draw_image()
        self._draw_heatmap()
        self._draw_pointer()
        self._draw_regions()

    def _put_scaled(self, layer: Canvas, encoded: Encoded) -> None:
        """Draw ``encoded`` over the whole layer; the browser scales it (bilinear), so only
        the image at its own resolution crosses the wire."""
        width, height = encoded.size
        if (width, height) == (self.width, self.height):
            put_encoded(layer, encoded)
            return
        layer.save()
        layer.scale(self.width / width, self.height / height)
        put_encoded(layer, encoded)
        layer.restore()

    def _draw_image(self) -> None:
        layer = self.widget[0]
        if self.image is None:
            layer.clear()
        else:  # an opaque picture over the whole layer: no clear, so no blank frame between
            self._put_scaled(layer, self.image)

    def _draw_heatmap(self) -> None:
        layer = self.widget[1]
        layer.clear()
        if self.heatmap is not None:
            layer.global_alpha = float(self.alpha)
            self._put_scaled(layer, self.heatmap)

    def _draw_pointer(self) -> None:
        layer = self.widget[2]
        layer.clear()
        if isinstance(self.patch, Encoded):
            self._put_scaled(layer, self.patch)
        elif self.patch is not None:
            (x, y, w, h), colour = self.patch
            layer.fill_style = colour
            layer.fill_rect(x, y, w, h)
        if self.pointer is not None:
            x, y, w, h = self.pointer
            layer.stroke_style = "#00e5ff"
            layer.line_width = 2
            layer.stroke_rect(x + 0.5, y + 0.5, w - 1, h - 1)

    def _draw_regions(self) -> None:
        layer = self.widget[3]
        layer.clear()
        if self.regions is not None:
            self._put_scaled(layer, self.regions)

    def _at_size(self, encoded: Encoded) -> np.ndarray:
        return resize_array(encoded.array, (self.height, self.width))

    def picture(self) -> np.ndarray | None:
        return None if self.image is None else self.composite()

    def composite(self) -> np.ndarray:
        """The view as one RGB uint8 array, as the browser composes it (for snapshots)."""
        out = np.zeros((self.height, self.width, 3), np.float32)
        if self.image is not None:
            out[:] = self._at_size(self.image)[..., :3]
        if self.heatmap is not None:
            out = self._over(out, self.heatmap, self.alpha)
        if isinstance(self.patch, Encoded):
            out = self._over(out, self.patch, 1.0)
        elif self.patch is not None:
            (x, y, w, h), colour = self.patch
            out[max(y, 0) : y + h, max(x, 0) : x + w] = hex_rgb(colour)
        if self.regions is not None:
            out = self._over(out, self.regions, 1.0)
        return np.clip(out + 0.5, 0, 255).astype(np.uint8)

    def _over(self, out: np.ndarray, encoded: Encoded, alpha: float) -> np.ndarray:
        """``encoded`` composed over ``out`` with a global ``alpha`` (and its own alpha)."""
        top = self._at_size(encoded)
        a = alpha * (top[..., 3:4] / 255.0 if top.shape[2] == 4 else 1.0)
        return out * (1 - a) + top[..., :3] * a


def hex_rgb(colour: str) -> tuple[int, int, int]:
    """'#rrggbb' as (r, g, b)."""
    value = colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)
