"""Canvas views whose state lives in Python, so any client can be redrawn at any time.

ipycanvas draw commands are messages, not state: a client that connects later (a page reload,
a second view, Voila) starts blank. Each view here keeps what it shows (encoded images, the
pointer box) and replays it on ``on_client_ready``. ipycanvas 0.14's manager announces the
target canvas only when it changes, so a new client would not know which canvas the replay
draws on (``Cannot read properties of undefined (reading 'putImageData')``): before a replay
we draw once on a hidden 1x1 canvas, which makes the manager announce the target again (public
API only; seen working in JupyterLab reloads and Voila, see tests/browser/harness.py).

All drawing goes through :data:`DRAW_LOCK`: the ipycanvas manager is shared by every canvas of
the kernel, and the worker threads draw too.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from ipycanvas import Canvas, MultiCanvas, hold_canvas
from ipycanvas import canvas as _ipycanvas
from ipywidgets import Layout
from PIL import Image

from ..render import to_png

__all__ = ["DRAW_LOCK", "Encoded", "LayeredCanvas", "encode", "fixed_layout", "put_encoded"]

DRAW_LOCK = threading.RLock()


@dataclass(frozen=True)
class Encoded:
    """An image ready for the browser: the bytes and the array they encode."""

    data: bytes
    array: np.ndarray

    @property
    def size(self) -> tuple[int, int]:
        return self.array.shape[1], self.array.shape[0]


def encode(rgb: np.ndarray, *, lossless: bool | None = None) -> Encoded:
    """PNG (fastest zlib level) or JPEG quality 92 without chroma subsampling; by default PNG
    for small images (up to 128 x 128: under a millisecond, and the browser scales them up, so
    JPEG artefacts would show) and JPEG for larger ones (2 ms and ~40 kB at 320 x 320, where PNG
    takes 15 ms and ~150 kB)."""
    if lossless is None:
        lossless = rgb.shape[0] * rgb.shape[1] <= 128 * 128
    if lossless:
        return Encoded(to_png(rgb), rgb)
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).convert("RGB").save(
        buf, "JPEG", quality=92, subsampling=0
    )
    return Encoded(buf.getvalue(), rgb)


def put_encoded(canvas, encoded: Encoded, x: int = 0, y: int = 0) -> None:
    """``put_image_data`` with our own encoding (ipycanvas would PNG-compress at level 6 or
    JPEG at quality 75); the front end decodes any image format."""
    canvas._canvas_manager.send_draw_command(
        canvas, _ipycanvas.COMMANDS["putImageData"], [x, y], [encoded.data]
    )


def fixed_layout(width: int, height: int) -> Layout:
    """A layout that keeps a canvas at exactly its pixel size: without it CSS stretches or a
    flex box squeezes the element while mouse events stay in canvas pixels."""
    w, h = f"{width}px", f"{height}px"
    return Layout(width=w, height=h, min_width=w, min_height=h, flex="0 0 auto")


class LayeredCanvas:
    """A MultiCanvas of three layers: the image, the heatmap (drawn with an opacity), and a
    pointer layer (outline and occluded patch); mouse events arrive in canvas pixels."""

    def __init__(self, width: int, height: int, css_class: str) -> None:
        self.width, self.height = width, height
        self.widget = MultiCanvas(3, width=width, height=height, layout=fixed_layout(width, height))
        self.widget.add_class(css_class)
        self._switch = Canvas(width=1, height=1)  # never displayed, see module doc
        self.image: Encoded | None = None
        self.heatmap: Encoded | None = None
        self.alpha = 0.5
        self.pointer: tuple[int, int, int, int] | None = None
        self.patch: tuple[tuple[int, int, int, int], str] | None = None
        self.widget.on_client_ready(self.replay)

    def on_mouse(self, kind: str, callback: Callable[[float, float], None]) -> None:
        getattr(self.widget, f"on_mouse_{kind}")(callback)

    def show(
        self,
        image: Encoded | None = None,
        heatmap: Encoded | bool | None = False,
        alpha: float | None = None,
    ) -> None:
        """Update the given layers (``heatmap=None`` clears it; ``False`` keeps it)."""
        with DRAW_LOCK, hold_canvas():
            if image is not None:
                self.image = image
                self._draw_image()
            if heatmap is not False or alpha is not None:
                if heatmap is not False:
                    self.heatmap = heatmap  # type: ignore[assignment]
                if alpha is not None:
                    self.alpha = alpha
                self._draw_heatmap()

    def show_pointer(
        self,
        box: tuple[int, int, int, int] | None,
        patch: tuple[tuple[int, int, int, int], str] | bool | None = False,
    ) -> None:
        """Outline ``box`` (x, y, w, h); ``patch`` = (box, css colour) fills an occluded patch."""
        with DRAW_LOCK, hold_canvas():
            self.pointer = box
            if patch is not False:
                self.patch = patch  # type: ignore[assignment]
            self._draw_pointer()

    def replay(self, *_args) -> None:
        """Redraw every layer from the Python state (a client connected)."""
        with DRAW_LOCK:
            self._switch.clear()
            with hold_canvas():
                self._draw_image()
                self._draw_heatmap()
                self._draw_pointer()

    def _put_scaled(self, layer, encoded: Encoded) -> None:
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
        layer.clear()
        if self.image is not None:
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
        if self.patch is not None:
            (x, y, w, h), colour = self.patch
            layer.fill_style = colour
            layer.fill_rect(x, y, w, h)
        if self.pointer is not None:
            x, y, w, h = self.pointer
            layer.stroke_style = "#00e5ff"
            layer.line_width = 2
            layer.stroke_rect(x + 0.5, y + 0.5, w - 1, h - 1)

    def _at_size(self, encoded: Encoded) -> np.ndarray:
        array = encoded.array
        if array.shape[:2] == (self.height, self.width):
            return array
        image = Image.fromarray(np.ascontiguousarray(array))
        return np.asarray(image.resize((self.width, self.height), Image.BILINEAR))

    def composite(self) -> np.ndarray:
        """The view as one RGB uint8 array, as the browser composes it (for snapshots)."""
        out = np.zeros((self.height, self.width, 3), np.float32)
        if self.image is not None:
            out[:] = self._at_size(self.image)[..., :3]
        if self.heatmap is not None:
            heat = self._at_size(self.heatmap)
            a = self.alpha * (heat[..., 3:4] / 255.0 if heat.shape[2] == 4 else 1.0)
            out = out * (1 - a) + heat[..., :3] * a
        if self.patch is not None:
            (x, y, w, h), colour = self.patch
            out[max(y, 0) : y + h, max(x, 0) : x + w] = _hex_rgb(colour)
        return np.clip(out + 0.5, 0, 255).astype(np.uint8)


def _hex_rgb(colour: str) -> tuple[int, int, int]:
    value = colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)
