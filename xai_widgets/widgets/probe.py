"""Click-to-occlude probes: grey out a patch where the user clicks and report how the explained
class's probability changes; the drops accumulate into a probe map of the picture.

The patch size and fill are the occlusion method's own parameters (``patch``, ``baseline``), so
the probe and the occlusion map always agree on what "occluded" means. Probes run on their own
lane: a click never cancels a long explanation.

Example::

    panel = ProbePanel(selection, canvas, scale=5.0, submit=tab.submit)
    panel.probe(40, 60)        # as a click at canvas pixel (40, 60)
"""

from __future__ import annotations

import html
from collections.abc import Callable

import ipywidgets as w
import numpy as np

from ..render import default_cmap, render_heatmap, value_range
from .canvas import encode
from .engine import Job
from .layered import LayeredCanvas, Patch, hex_rgb
from .panels import ColourBar
from .regions import RegionOverlay
from .selection import Selection
from .session import ImageSession, ProbeResult

__all__ = ["PROBE_HINT", "ProbePanel"]

PROBE_HINT = "Click the image to occlude a patch there (a region, while a region method is shown)."

Submit = Callable[[str, Callable[[Job], None], str], None]


class ProbePanel:
    """The probe label under the main canvas and the probe map panel (see the module doc)."""

    def __init__(
        self,
        selection: Selection,
        canvas: LayeredCanvas,
        scale: float,
        submit: Submit,
        regions: RegionOverlay | None = None,
    ) -> None:
        self.selection, self.canvas, self.scale, self.submit = selection, canvas, scale, submit
        self.regions = regions
        self.label = w.HTML(PROBE_HINT)
        self.label.add_class("xw-probe")
        self.canvas_map = LayeredCanvas(canvas.width // 2, canvas.height // 2, "xw-probe-canvas")
        clear = w.Button(description="Clear probes", icon="eraser", layout=w.Layout(width="130px"))
        clear.add_class("xw-probe-clear")
        clear.on_click(lambda _b: self.clear())
        self.colour_bar = ColourBar("xw-probe-colorbar", length=160)
        self.widget = w.VBox(
            [
                w.HTML("<b>Probe map</b>: how much the explained class's logit fell"),
                self.canvas_map.widget,
                self.colour_bar.widget,
                clear,
            ]
        )
        canvas.on_mouse("move", self._pointer_moved)
        canvas.on_mouse("out", lambda *_: canvas.show_pointer(None))
        canvas.on_mouse("down", self.probe)
        selection.observe(self._reset, "index")
        selection.observe(lambda _c: canvas.show_pointer(None, patch=None), "method")

    def _patch_box(self, x: float, y: float) -> tuple[int, int, int, int]:
        """(top, left, bottom, right) in model pixels of the patch centred at canvas (x, y)."""
        height, width = self.selection.picture.input.shape[1:]
        patch = int(self.selection.param_values("occlusion")["patch"])
        top = int(np.clip(round(y / self.scale - patch / 2), 0, max(0, height - patch)))
        left = int(np.clip(round(x / self.scale - patch / 2), 0, max(0, width - patch)))
        return top, left, top + patch, left + patch

    def display_box(self, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        """A model-pixel box (top, left, bottom, right) as canvas (x, y, w, h)."""
        top, left, bottom, right = box
        s = self.scale
        return round(left * s), round(top * s), round((right - left) * s), round((bottom - top) * s)

    def _pointer_moved(self, x: float, y: float) -> None:
        if self.by_region:  # the boundaries show what a click occludes, not a square
            if self.canvas.pointer is not None:
                self.canvas.show_pointer(None)
            return
        self.canvas.show_pointer(self.display_box(self._patch_box(x, y)))

    @property
    def by_region(self) -> bool:
        """Whether a click occludes the clicked region (a region method is shown)."""
        return self.regions is not None and self.regions.active

    def probe(self, x: float, y: float) -> None:
        """Occlude the patch centred at canvas pixel (x, y), as a click does; while a region
        method is shown, the region under (x, y) instead."""
        if self.by_region:
            self.submit("probe", lambda job: self._run(job, None, (x, y)), "probe")
        else:
            box = self._patch_box(x, y)
            self.submit("probe", lambda job: self._run(job, box), "probe")

    def _run(
        self,
        job: Job,
        box: tuple[int, int, int, int] | None,
        point: tuple[float, float] | None = None,
    ) -> None:
        sel = self.selection
        index = sel.index
        session = sel.session(index)
        job.check()
        if session.light:
            job.single_thread()
        if box is None:  # a region method: its parameters say what is occluded, and with what
            assert self.regions is not None and point is not None
            mask = self.regions.mask_at(*point)
            baseline = float(sel.param_values(sel.method)["baseline"])
        else:
            baseline = float(sel.param_values("occlusion")["baseline"])
        result = session.probe(box if box is not None else mask, baseline, sel.target)
        colour = sel.preprocess.colour(baseline)
        if box is None:
            patch: Patch = encode(_region_picture(mask.numpy(), colour))
        else:
            patch = (self.display_box(box), colour)

        def draw() -> None:
            self.canvas.show_pointer(self.canvas.pointer, patch=patch)
            self.label.value = describe(result, sel.class_name, session.predicted)
            self.draw_map(session, index)

        job.deliver(draw)

    def draw_map(self, session: ImageSession | None, index: int) -> None:
        """The probe panel: the picture with its accumulated probe map, at input resolution
        (the browser scales both)."""
        probe = None if session is None else session.probe_map()
        heat = None
        if probe is not None:
            values = probe.numpy()
            heat = encode(render_heatmap(values, None, mode="signed", alpha=1.0))
            vmin, vmax = value_range(values, mode="signed")
            self.colour_bar.show(
                vmin, vmax, default_cmap("signed"),
                "red: occluding there lowered the logit, blue: raised it",
            )  # fmt: skip
        self.canvas_map.show(image=encode(self.selection.pictures[index].display), heatmap=heat)

    def _reset(self, _change: object = None) -> None:
        self.label.value = PROBE_HINT
        self.canvas.show_pointer(None, patch=None)

    def clear(self) -> None:
        """Forget the accumulated probe map of the current picture."""
        session = self.selection.open_session()
        if session is not None:
            session.clear_probes()
        self.draw_map(session, self.selection.index)
        self.canvas.show_pointer(None, patch=None)
        self.label.value = "Probes cleared."


def describe(result: ProbeResult, class_name: Callable[[int], str], predicted: int) -> str:
    """The probe's report in words: where, and what the logit, probability and margin did."""
    top, left, bottom, right = result.box
    name = html.escape(class_name(result.target))
    where = f"Occluded {right - left}×{bottom - top} px at (x, y) = ({left}, {top})"
    if result.area is not None:
        where = f"Occluded a region of {result.area} px within (x, y) = ({left}, {top}) to " + (
            f"({right - 1}, {bottom - 1})"
        )
    if not result.measurable:
        return f"{where}: no measurable change for <i>{name}</i> (below float noise)."
    (l0, l1), (p0, p1), (m0, m1) = result.logit, result.prob, result.margin
    if result.dense:  # a per-pixel model: means over the explained region
        text = (
            f"{where}: mean P(<i>{name}</i>) over the explained region {p0:.3f} → "
            f"<b>{p1:.3f}</b> ({p1 - p0:+.3g})"
        )
        if m0 != float("inf"):
            text += f", margin to the runner-up {m0:.3g} → {m1:.3g}"
        return text + "."
    text = (
        f"{where}: <i>{name}</i> logit {l0:.3g} → <b>{l1:.3g}</b> ({l1 - l0:+.3g}), "
        f"probability {p0:.3f} → <b>{p1:.3f}</b> ({p1 - p0:+.3g}), "
        f"margin to the runner-up {m0:.3g} → {m1:.3g}"
    )
    if result.top_after != predicted:
        text += f"; top class now <b>{html.escape(class_name(result.top_after))}</b>"
    return text + "."


def _region_picture(mask: np.ndarray, colour: str) -> np.ndarray:
    """RGBA picture of an occluded region: ``colour`` on ``mask``, transparent elsewhere."""
    out = np.zeros((*mask.shape, 4), np.uint8)
    out[mask] = (*hex_rgb(colour), 255)
    return out
