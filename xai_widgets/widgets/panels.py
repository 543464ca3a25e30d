"""The Explorer's smaller views: the gallery, the top classes, the overlay settings with their
colour bar. Each is a thin view over state the :class:`~.selection.Selection` owns.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import ipywidgets as w
import numpy as np
from ipycanvas import Canvas

from ..render import colorbar, default_cmap, to_png
from .canvas import Encoded, ReplayCanvas, drawing, encode, fixed_layout, put_encoded
from .images import Picture

__all__ = ["CMAPS", "ColourBar", "Gallery", "OverlayPanel", "TopClasses"]

SELECTED = "#ff9800"

CMAPS = ["auto", "inferno", "viridis", "jet", "magma", "RdBu_r", "coolwarm", "seismic", "gray"]
NORMS = ["auto", "positive", "abs", "signed", "minmax"]


class Gallery(ReplayCanvas):
    """Thumbnails on one canvas; a click selects (``on_select(index)``)."""

    def __init__(
        self,
        pictures: Sequence[Picture],
        on_select: Callable[[int], None],
        thumb: int = 56,
        per_row: int = 10,
    ) -> None:
        self.thumb, self.gap, self.per_row = thumb, 4, per_row
        # created at its final size: a size change clears the browser's canvas, and on a new
        # page it can land after the first draw (then the gallery stays blank)
        width, height = self._size(len(pictures))
        super().__init__(Canvas(width=width, height=height), "xw-gallery")
        self.canvas = self.widget
        self.pictures = list(pictures)
        self.selected = 0
        self.on_select = on_select
        self.canvas.on_mouse_down(self._clicked)
        self._thumbs: list[Encoded] = []
        self.set_pictures(self.pictures)

    def set_pictures(self, pictures: Sequence[Picture]) -> None:
        from PIL import Image

        self.pictures = list(pictures)
        self._thumbs = []
        for pic in self.pictures:
            img = Image.fromarray(pic.display)
            img.thumbnail((self.thumb, self.thumb), Image.BILINEAR)
            self._thumbs.append(encode(np.asarray(img.convert("RGB")), lossless=True))
        width, height = self._size(len(self.pictures))
        resized = (width, height) != (self.canvas.width, self.canvas.height)
        if resized:
            self.canvas.width, self.canvas.height = width, height
        self.canvas.layout = fixed_layout(width, height)
        self.draw()
        if resized:
            self.redraw_later()

    def _size(self, n: int) -> tuple[int, int]:
        cols = min(self.per_row, max(1, n))
        rows = math.ceil(max(1, n) / cols)
        cell = self.thumb + self.gap
        return cols * cell + self.gap, rows * cell + self.gap

    def _origin(self, i: int) -> tuple[int, int]:
        cell = self.thumb + self.gap
        return self.gap + (i % self.per_row) * cell, self.gap + (i // self.per_row) * cell

    def index_at(self, x: float, y: float) -> int | None:
        cell = self.thumb + self.gap
        col, row = int((x - self.gap / 2) // cell), int((y - self.gap / 2) // cell)
        if 0 <= col < self.per_row:
            i = row * self.per_row + col
            if 0 <= i < len(self.pictures):
                return i
        return None

    def _clicked(self, x: float, y: float) -> None:
        i = self.index_at(x, y)
        if i is not None and i != self.selected:
            self.on_select(i)

    def select(self, index: int) -> None:
        if index != self.selected:
            self.selected = index
            self.draw()

    def draw(self) -> None:
        with drawing():
            self.draw_all()
        self.changed()

    def draw_all(self) -> None:
        """The whole gallery as one opaque picture: no clear, so a redraw (a new client's
        replay, a selection) never shows a blank frame while the browser decodes it."""
        put_encoded(self.canvas, encode(self.picture(), lossless=True))

    def picture(self) -> np.ndarray | None:
        from PIL import Image, ImageDraw

        out = Image.new("RGB", (int(self.canvas.width), int(self.canvas.height)), "white")
        for i, thumb in enumerate(self._thumbs):
            out.paste(Image.fromarray(thumb.array[..., :3]), self._origin(i))
        if self._thumbs:
            x, y = self._origin(self.selected)
            box = (x - 3, y - 3, x + self.thumb + 2, y + self.thumb + 2)
            ImageDraw.Draw(out).rectangle(box, outline=SELECTED, width=3)
        return np.asarray(out)


class TopClasses:
    """The model's top classes as buttons (``xw-class-<rank>``); a click explains that class."""

    def __init__(self, k: int, on_pick: Callable[[int], None]) -> None:
        self.on_pick = on_pick
        self.classes: list[int] = []
        self.buttons = []
        for rank in range(k):
            b = w.Button(layout=w.Layout(width="260px", display="none"))
            b.add_class(f"xw-class-{rank}")
            b.on_click(self._clicked(rank))
            self.buttons.append(b)
        self.widget = w.VBox([w.HTML("<b>Top classes</b> (click to explain)"), *self.buttons])

    def _clicked(self, rank: int) -> Callable:
        return lambda _b: rank < len(self.classes) and self.on_pick(self.classes[rank])

    def show(
        self, top: Sequence[tuple[int, float]], names: Callable[[int], str], selected: int
    ) -> None:
        self.classes = [c for c, _ in top]
        for rank, b in enumerate(self.buttons):
            if rank < len(top):
                cls, p = top[rank]
                b.description = f"{names(cls)}  {p:.1%}"
                b.tooltip = f"class {cls}: probability {p:.4f}"
                b.button_style = "info" if cls == selected else ""
                b.layout.display = None
            else:
                b.layout.display = "none"


class ColourBar:
    """A colour bar with its end values and, beside it, what the colours mean."""

    def __init__(self, css_class: str = "xw-colorbar", length: int = 256) -> None:
        self.length = length
        self.bar = w.Image(format="png", layout=w.Layout(width=f"{length}px", height="12px"))
        self.bar.add_class(css_class)
        self.lo, self.hi = w.HTML(), w.HTML()
        self.meaning = w.HTML()
        self.meaning.add_class(f"{css_class}-meaning")
        row = w.HBox([self.lo, self.bar, self.hi], layout=w.Layout(align_items="center"))
        self.widget = w.VBox([row, self.meaning])
        self._bars: dict[str, bytes] = {}
        self._cmap: str | None = None

    def show(self, vmin: float, vmax: float, cmap: str, meaning: str = "") -> None:
        """Label the bar's ends; redraw the bar only when the colour map changes."""
        if self._cmap != cmap:
            if cmap not in self._bars:
                self._bars[cmap] = to_png(
                    colorbar(0.0, 1.0, cmap, length=self.length, thickness=12)
                )
            self.bar.value = self._bars[cmap]
            self._cmap = cmap
        self.lo.value = f"<code>{vmin:.3g}</code>"
        self.hi.value = f"<code>{vmax:.3g}</code>"
        if self.meaning.value != meaning:
            self.meaning.value = meaning


class OverlayPanel:
    """Opacity, colour map, value scale and percentile clip, with a colour bar, its value range
    and what the colours mean. ``on_change(name)`` is called with the setting that changed."""

    def __init__(self, on_change: Callable[[str], None]) -> None:
        style = {"description_width": "92px"}
        self.alpha = w.FloatSlider(
            0.55, min=0, max=1, step=0.05, description="opacity", style=style,
            tooltip="How strongly the map covers the picture.",
        )  # fmt: skip
        self.cmap = w.Dropdown(
            options=CMAPS, value="auto", description="colours", style=style,
            tooltip="The colour map; auto picks a diverging one for signed maps.",
        )  # fmt: skip
        self.norm = w.Dropdown(
            options=NORMS, value="auto", description="value scale", style=style,
            tooltip="How values become colours: auto shows signed maps around zero and "
            "non-negative maps from zero up.",
        )  # fmt: skip
        self.clip = w.FloatSlider(
            99.5, min=90, max=100, step=0.1, description="ignore top %", style=style,
            tooltip="The brightest colour is this percentile of the values, so a few extreme "
            "pixels do not darken the rest; 100 uses the maximum.",
        )  # fmt: skip
        for name in ("alpha", "cmap", "norm", "clip"):
            control = getattr(self, name)
            control.add_class(f"xw-{name}")
            control.layout = w.Layout(width="300px")
            control.observe(lambda _c, n=name: on_change(n), "value")
        self.colour_bar = ColourBar()
        self.bar, self.lo, self.hi = self.colour_bar.bar, self.colour_bar.lo, self.colour_bar.hi
        self.widget = w.VBox([self.alpha, self.cmap, self.norm, self.clip, self.colour_bar.widget])

    def settings(self, signed: bool) -> tuple[str, str, float | None]:
        """(mode, colour map, percentile clip) for a map: "auto" picks the signed mode and a
        diverging map for signed heatmaps; a 100 % clip means none."""
        mode = self.norm.value if self.norm.value != "auto" else "signed" if signed else "positive"
        cmap = default_cmap(mode) if self.cmap.value == "auto" else self.cmap.value
        clip = self.clip.value if self.clip.value < 100 else None
        return mode, cmap, clip

    def show_range(self, vmin: float, vmax: float, cmap: str, meaning: str = "") -> None:
        self.colour_bar.show(vmin, vmax, cmap, meaning)
