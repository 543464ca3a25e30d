"""The Explorer's actions beside explaining: click-to-occlude probes, compare, upload."""

from __future__ import annotations

import html
from typing import Any

import numpy as np

from ..methods.registry import list_methods
from ..render import render_heatmap
from .canvas import encode
from .engine import Job
from .images import decode_upload, picture, resize_rgb
from .session import ImageSession

__all__ = ["ActionsMixin"]


class ActionsMixin:
    """Probing, comparing and adding images (part of :class:`Explorer`)."""

    def _patch_box(self, x: float, y: float) -> tuple[int, int, int, int]:
        """(top, left, bottom, right) in model pixels of the patch centred at canvas (x, y)."""
        height, width = self.pictures[self.index].input.shape[1:]
        patch = int(self.params["occlusion"]["patch"])
        top = int(np.clip(round(y / self.scale - patch / 2), 0, max(0, height - patch)))
        left = int(np.clip(round(x / self.scale - patch / 2), 0, max(0, width - patch)))
        return top, left, top + patch, left + patch

    def _display_box(self, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        top, left, bottom, right = box
        s = self.scale
        return round(left * s), round(top * s), round((right - left) * s), round((bottom - top) * s)

    def _pointer_moved(self, x: float, y: float) -> None:
        self.canvas.show_pointer(self._display_box(self._patch_box(x, y)))

    def _clicked(self, x: float, y: float) -> None:
        box = self._patch_box(x, y)
        self.engine.submit("probe", lambda job: self._probe(job, box), label="probe")

    def probe(self, x: float, y: float) -> None:
        """Occlude the patch centred at canvas pixel (x, y), as a click does."""
        self._clicked(x, y)

    def _probe(self, job: Job, box: tuple[int, int, int, int]) -> None:
        session = self._session(job)
        baseline = float(self.params["occlusion"]["baseline"])
        result = session.probe(box, baseline, self.target)
        colour = self._baseline_colour(baseline)

        def draw() -> None:
            self.canvas.show_pointer(self.canvas.pointer, patch=(self._display_box(box), colour))
            name = html.escape(self.class_name(result.target))
            text = (
                f"Occluded {box[2] - box[0]}×{box[3] - box[1]} px at ({box[0]}, {box[1]}): "
                f"p(<i>{name}</i>) {result.before:.3f} → <b>{result.after:.3f}</b> "
                f"({result.after - result.before:+.3f})"
            )
            if result.top_after != session.predicted:
                new = html.escape(self.class_name(result.top_after))
                text += f"; top class now <b>{new}</b>"
            self.probe_label.value = text
            self._draw_probes(session)

        job.deliver(draw)

    def _baseline_colour(self, baseline: float) -> str:
        mean = getattr(self.preprocess, "mean", None)
        std = getattr(self.preprocess, "std", None)
        if mean is None and isinstance(self.preprocess, tuple) and len(self.preprocess) == 2:
            mean, std = self.preprocess
        if mean is not None and std is not None:
            rgb = [(baseline * s + m) for m, s in zip(mean, std, strict=False)]
        else:
            rgb = [baseline]
        rgb = (rgb * 3)[:3] if len(rgb) == 1 else rgb[:3]
        r, g, b = (int(np.clip(v * 255 + 0.5, 0, 255)) for v in rgb)
        return f"#{r:02x}{g:02x}{b:02x}"

    def _draw_probes(self, session: ImageSession) -> None:
        """The probe panel: the picture with the accumulated probe map, at input resolution
        (the browser scales both)."""
        pic = self.pictures[self.index]
        probe = session.probe_map()
        heat = None
        if probe is not None:
            heat = encode(render_heatmap(probe.numpy(), None, mode="signed", alpha=1.0))
        self.probe_canvas.show(image=encode(pic.display), heatmap=heat, alpha=0.6)

    def clear_probes(self) -> None:
        """Forget the accumulated probe map of the current image."""
        session = self.sessions.get(self.index)
        if session is not None:
            session.clear_probes()
            self._draw_probes(session)
        self.canvas.show_pointer(None, patch=None)
        self.probe_label.value = "Probes cleared."

    # ---------------------------------------------------------------------- compare
    def compare(self, methods: list[str] | None = None) -> None:
        """Show the chosen methods side by side for the current image and class."""
        chosen = list(methods or list_methods())
        self.compare_panel.start(chosen)
        self.engine.submit("compare", lambda job: self._run_compare(job, chosen), label="compare")

    def _run_compare(self, job: Job, methods: list[str]) -> None:
        session = self._session(job)
        pic = self.pictures[self.index]
        for i, method in enumerate(methods):
            job.progress(i / len(methods))
            e = session.explain(method, self._current_params(method), self.target)
            rgba = render_heatmap(
                e.heatmap[0].float().cpu().numpy(),
                resize_rgb(pic.display, (192, 192)),
                mode="signed" if e.signed else "positive",
                alpha=0.55,
            )
            caption = f"{job.elapsed_ms:.0f} ms"
            job.deliver(lambda m=method, r=rgba, c=caption: self.compare_panel.fill(m, r, c))
        job.progress(1.0)

    # ---------------------------------------------------------------------- upload
    def _uploaded(self, change: dict) -> None:
        files = change["new"]
        if not files:
            return
        try:
            for item in files:
                array = decode_upload(item["content"])
                self.add_image(array, name=item.get("name", "upload"))
        except (ValueError, TypeError) as exc:
            self._on_error("upload", exc, "")
        finally:
            self.upload.value = ()  # the same file can be chosen again

    def add_image(self, image: Any, name: str = "") -> int:
        """Add an image (tensor, numpy array, PIL) to the gallery and select it."""
        pic = picture(image, self.preprocess, name or f"#{len(self.pictures)}")
        expected = tuple(self.pictures[0].input.shape)
        if tuple(pic.input.shape) != expected:
            raise ValueError(
                f"the image became {tuple(pic.input.shape)} after preprocessing; "
                f"this Explorer shows {expected} inputs: pass a preprocess that "
                "resizes (a zoo card or a callable)"
            )
        self.pictures.append(pic)
        self.gallery.set_pictures(self.pictures)
        self.index = len(self.pictures) - 1
        return self.index
