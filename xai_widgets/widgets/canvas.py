"""Canvas views whose state lives in Python, so any client can be drawn at any time.

ipycanvas draw commands are messages, not state: a client that connects later (a page reload,
a second view, Voila) starts blank. Two paths bring every canvas of every tab back, whatever
the order in which a new client creates its widgets:

1. **State.** After each change (debounced, off the hot path) a view stores what it shows as
   an encoded picture in the canvas's synced ``image_data`` trait; a client that creates the
   canvas model later draws it on creation, without any message. This closes the Voila race
   in which the gallery stayed blank while the main canvas was replayed: replayed draws are
   messages to the shared canvas *manager*, which a new client may not have registered yet
   when a canvas announces ``client_ready`` (our reading of ipycanvas's front end).
2. **Replay.** On ``client_ready`` a view redraws its layers from Python. ipycanvas 0.14's
   manager announces the target canvas only when it changes, so a new client would not know
   which canvas the replay draws on; :func:`announce` draws once on a hidden 1x1 canvas first,
   which makes the manager announce the target again (public API only).

All drawing goes through :func:`drawing`: one lock for the kernel's shared ipycanvas manager
(the worker threads draw too) and ``hold_canvas`` batching that is always released, also when a
draw raises (ipycanvas 0.14.3's bare ``hold_canvas`` has no ``finally``). The one private
ipycanvas call is in :func:`put_encoded`.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
from ipycanvas import Canvas, MultiCanvas, hold_canvas
from ipycanvas import canvas as _ipycanvas
from ipywidgets import Layout
from PIL import Image

from ..render import to_png

__all__ = [
    "DRAW_LOCK",
    "Encoded",
    "ReplayCanvas",
    "announce",
    "drawing",
    "encode",
    "fixed_layout",
    "put_encoded",
    "resize_array",
]

DRAW_LOCK = threading.RLock()
_SWITCH: Canvas | None = None
_PERSIST_DELAY = 0.4  # seconds of quiet before a view's state is stored for late clients
_REPLAY_DELAY = 0.05  # client_ready messages this close together share one replay
_REDRAW_DELAY = 0.5  # after a size change, the layers are drawn again this much later


@contextmanager
def drawing() -> Iterator[None]:
    """Hold the kernel's canvas manager (lock + ``hold_canvas`` batching) and always flush and
    release it, also when a draw raises."""
    with DRAW_LOCK:
        held = hold_canvas()
        held.__enter__()
        try:
            yield
        finally:
            held.__exit__(None, None, None)  # resumes hold_canvas: flush, restore caching


def announce() -> None:
    """Make the manager name its target canvas in the next batch (see the module doc)."""
    global _SWITCH
    with DRAW_LOCK:
        if _SWITCH is None:
            _SWITCH = Canvas(width=1, height=1)  # never displayed
        _SWITCH.clear()


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
    takes 15 ms and ~150 kB). An image with transparency is always PNG."""
    if lossless is None:
        lossless = rgb.shape[0] * rgb.shape[1] <= 128 * 128
    if lossless or (rgb.ndim == 3 and rgb.shape[2] == 4 and rgb[..., 3].min() < 255):
        return Encoded(to_png(rgb), rgb)
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(rgb)).convert("RGB").save(
        buf, "JPEG", quality=92, subsampling=0
    )
    return Encoded(buf.getvalue(), rgb)


def put_encoded(canvas: Canvas, encoded: Encoded, x: int = 0, y: int = 0) -> None:
    """``put_image_data`` with our own encoding (ipycanvas would PNG-compress at level 6 or
    JPEG at quality 75); the front end decodes any image format.

    The one private ipycanvas call of the package (``_canvas_manager.send_draw_command`` and
    ``COMMANDS``); tests/test_widgets_floor.py fails loudly if a new ipycanvas changes it."""
    canvas._canvas_manager.send_draw_command(
        canvas, _ipycanvas.COMMANDS["putImageData"], [x, y], [encoded.data]
    )


def fixed_layout(width: int, height: int) -> Layout:
    """A layout that keeps a canvas at exactly its pixel size: without it CSS stretches or a
    flex box squeezes the element while mouse events stay in canvas pixels."""
    w, h = f"{width}px", f"{height}px"
    return Layout(width=w, height=h, min_width=w, min_height=h, flex="0 0 auto")


class ReplayCanvas:
    """A canvas widget (``Canvas`` or ``MultiCanvas``) drawn from Python state: subclasses
    implement :meth:`draw_all` (every layer from the state) and :meth:`picture` (what is shown,
    as an RGB(A) array at canvas size, for late clients). Call :meth:`changed` after drawing."""

    def __init__(self, widget: Canvas | MultiCanvas, css_class: str, layers: int = 1) -> None:
        self.widget = widget
        widget.add_class(css_class)
        # every layer, not only the top one that MultiCanvas.on_client_ready listens to: a new
        # client may create the layers in any order, and replays are idempotent
        for layer in [widget[i] for i in range(layers)] if layers > 1 else [widget]:
            layer.on_client_ready(self.replay)
        self._timers: dict[str, threading.Timer] = {}
        self._timer_lock = threading.Lock()

    @property
    def base(self) -> Canvas:
        """The canvas whose ``image_data`` carries the state (the bottom layer)."""
        return self.widget[0] if isinstance(self.widget, MultiCanvas) else self.widget

    def draw_all(self) -> None:
        raise NotImplementedError

    def picture(self) -> np.ndarray | None:
        raise NotImplementedError

    def replay(self, *_args: object) -> None:
        """Redraw every layer from the Python state (a client connected), once for all the
        layers that announce themselves within ``_REPLAY_DELAY``: every replay clears a layer
        and redraws it after the browser decoded the picture, so fewer replays, fewer blank
        frames on reload."""
        self._later("replay", _REPLAY_DELAY, self.replay_now)

    def redraw_later(self) -> None:
        """Draw every layer again in a moment. A size change clears the browser's canvas, and
        on a page that is still creating its widgets it can land after the first draw."""
        self._later("redraw", _REDRAW_DELAY, self.replay_now)

    def replay_now(self) -> None:
        with DRAW_LOCK:
            announce()
            with drawing():
                self.draw_all()

    def changed(self) -> None:
        """Store the shown picture for late clients once the view has been quiet a moment."""
        self._later("persist", _PERSIST_DELAY, self.persist)

    def _later(self, key: str, delay: float, action: Callable[[], None]) -> None:
        """Run ``action`` once ``delay`` seconds have passed without another call for ``key``."""
        with self._timer_lock:
            timer = self._timers.get(key)
            if timer is not None:
                timer.cancel()
            timer = self._timers[key] = threading.Timer(delay, action)
            timer.daemon = True
            timer.start()

    def persist(self) -> None:
        """Store the shown picture in the base canvas's ``image_data`` now."""
        picture = self.picture()
        data = None if picture is None else encode(picture).data
        if self.base.image_data != data:
            self.base.set_trait("image_data", data)


def resize_array(array: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    """An image array resized (bilinear) to ``hw`` = (height, width); unchanged if it fits."""
    if array.shape[:2] == tuple(hw):
        return array
    image = Image.fromarray(np.ascontiguousarray(array))
    return np.asarray(image.resize((hw[1], hw[0]), Image.BILINEAR))
