"""The Z-scores tab: which inputs of the last mixing layer matter (Malmgren-Hansen, Nielsen and
Pedersen): Z_i = c_i / sigma_i, the layer's coefficient over the input's standard deviation over
the data. Sorted bars coloured by group, the grouped sums, a class picker, dead (zero-variance)
inputs marked; a click on a bar opens that channel in the Activations tab.

The Z-scores are computed once over the data (the Explorer's ``dataset``, else the gallery);
a class switch only redraws (bars are drawn with PIL, not matplotlib, to follow the hand).

Example::

    ex = xw.Explorer.from_zoo("shapes")
    tab = ex.show_tab(ZScoresTab); ex.wait()
    tab.result.top(5, output=0)
"""

from __future__ import annotations

import html
import warnings
from typing import Any

import ipywidgets as w
import numpy as np
from PIL import Image, ImageDraw

from ..analysis import zscores
from ..layers import default_layer, spatial_layers
from .canvas import encode
from .engine import Job
from .view import View
from .views.surface import Surface

__all__ = ["ZScoresTab"]

PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 640, 240, 48, 30, 16


class ZScoresTab(View):
    """Sorted Z-score bars, grouped sums, class picker (see the module doc)."""

    title = "Z-scores"
    follows = ()
    scenes = True  # a multi-input model's Z-scores run over its scenes' columns

    def _build(self) -> list[w.Widget]:
        self.result: Any = None
        self.bars: list[tuple[int, str, float]] = []
        self.output = w.Dropdown(description="class", options=[("…", 0)], value=0)
        self.output.add_class("xw-z-class")
        self.output.observe(lambda _c: self.draw(), "value")
        self.k = w.IntSlider(30, min=5, max=200, description="bars")
        self.k.observe(lambda _c: self.draw(), "value")
        self.chart = Surface("xw-z-bars", WIDTH, HEIGHT)
        self.chart.on_click(self._clicked)
        self.groups = w.HTML()
        self.groups.add_class("xw-z-groups")
        self.caption = w.HTML()
        self.caption.add_class("xw-z-caption")
        return [
            w.HBox([self.output, self.k, self.status, self.progress]),
            self.chart.widget,
            self.caption,
            self.groups,
            self.error,
        ]

    def _refresh(self) -> None:
        if self.result is None:
            self.submit("zscores", self._compute, "Z-scores")

    def _compute(self, job: Job) -> None:
        sel = self.selection
        with warnings.catch_warnings():  # dead inputs are shown in the tab, not warned about
            warnings.simplefilter("ignore", RuntimeWarning)
            result = zscores(sel.model, sel.data(), progress=self.reporter(job))
        outputs = list(result.outputs) or [str(i) for i in range(result.z.shape[0])]
        names = [
            sel.class_name(i) if sel.classes or name.isdigit() else name
            for i, name in enumerate(outputs)
        ]

        def draw() -> None:
            self.result = result
            self.output.options = [(n, i) for i, n in enumerate(names)]
            self.k.max = max(5, result.z.shape[1])
            self.k.value = min(self.k.value, self.k.max)
            self.draw()
            self.show_progress(None)

        job.deliver(draw)

    def draw(self) -> None:
        """Redraw the bars and the grouped sums for the chosen class (no recomputation)."""
        result = self.result
        if result is None:
            return
        output = int(self.output.value or 0)
        ranked = result.top(int(self.k.value), output)
        colours = {g: PALETTE[i % len(PALETTE)] for i, g in enumerate(result.groups)}
        self.bars = [(r.index, r.group, r.z) for r in ranked]
        self.chart.show(encode(_bar_chart(self.bars, colours), lossless=True))
        dead = (
            f"; <b>{len(result.dead)} dead input(s)</b> (zero variance over the data, e.g. after "
            f"a ReLU) left out: {', '.join(map(str, result.dead[:12]))}"
            if result.dead
            else ""
        )
        self.caption.value = (
            f"Z = c / σ of the {result.z.shape[1]} inputs of <code>{html.escape(result.layer)}"
            f"</code> over {result.samples} samples, for <b>{html.escape(self.output.label)}"
            f"</b>; sorted by |Z|, coloured by group{dead}. Click a bar to see that channel."
        )
        rows = "".join(
            f"<tr><td style='color:{colours[g]}'>■ {html.escape(g)}</td><td>{s.size}</td>"
            f"<td>{s.abs_sum:.3g}</td><td>{s.signed_sum:+.3g}</td><td>{s.mean_abs:.3g}</td></tr>"
            for g, s in result.grouped(output).items()
        )
        self.groups.value = (
            "<table><tr><th>group</th><th>inputs</th><th>Σ|Z|</th><th>ΣZ</th>"
            f"<th>|Z| per live input</th></tr>{rows}</table>"
        )

    def _clicked(self, x: float, y: float) -> None:
        if not self.bars:
            return
        step = (WIDTH - LEFT - 8) / len(self.bars)
        i = int((x - LEFT) // step)
        if 0 <= i < len(self.bars):
            self.open_channel(self.bars[i][0])

    def open_channel(self, channel: int) -> None:
        """Show input ``channel`` of the mixing layer in the Activations tab, when the layer's
        inputs are the channels of the model's default spatial layer (a GAP + linear head)."""
        sel = self.selection
        if sel.scenes is not None:
            self.status.value = (
                f"input {channel}: the Activations tab needs a one-input model; this model "
                "takes several inputs"
            )
            return
        x = sel.picture.input[None].to(sel.device)
        layer = default_layer(sel.model, x)
        channels = dict(spatial_layers(sel.model, x))[layer][1]
        if self.result is None or channels != self.result.z.shape[1]:
            self.status.value = (
                f"input {channel}: the mixing layer's inputs are not the channels of a spatial "
                "layer, so there is no activation map to show"
            )
            return
        sel.show_in("Activations", layer=layer, channel=channel)


def _bar_chart(bars: list[tuple[int, str, float]], colours: dict[str, str]) -> np.ndarray:
    """Signed Z bars on a zero line, in the given order, labelled with the input index."""
    img = Image.new("RGB", (WIDTH, HEIGHT), "white")
    draw = ImageDraw.Draw(img)
    zmax = max((abs(z) for _, _, z in bars if np.isfinite(z)), default=1.0) or 1.0
    zero = TOP + (HEIGHT - TOP - BOTTOM) / 2
    half = (HEIGHT - TOP - BOTTOM) / 2
    draw.line((LEFT, zero, WIDTH - 4, zero), fill="black")
    draw.text((2, TOP - 6), f"{zmax:.3g}", fill="black")
    draw.text((2, HEIGHT - BOTTOM - 6), f"{-zmax:.3g}", fill="black")
    step = (WIDTH - LEFT - 8) / max(1, len(bars))
    for i, (index, group, z) in enumerate(bars):
        x0 = LEFT + i * step + 1
        h = half * z / zmax
        draw.rectangle((x0, min(zero, zero - h), x0 + step - 2, max(zero, zero - h)),
                       fill=colours[group])  # fmt: skip
        if step >= 14:
            draw.text((x0, HEIGHT - BOTTOM + 4), str(index), fill="black")
    return np.asarray(img)
