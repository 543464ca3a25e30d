"""The Explorer: click, slide, toggle, and watch the explanation follow the hand.

Example::

    import xai_widgets as xw
    xw.Explorer.from_zoo("shapes")                       # a shipped model and its data
    xw.Explorer(model, images, classes=names, preprocess=(mean, std))

State lives in traits (``index``, ``method``, ``target``, ``layer``) and in the per-method
parameter values; every change submits one idempotent job to the engine's compute lane ("bring
the view to the current state"), so the newest request always wins and nothing is lost when a
request supersedes another. Overlay settings redraw from the last map without recomputing;
click-to-occlude probes run on their own lane; compare runs on a third.
"""

from __future__ import annotations

import base64
import html
import io
from collections import OrderedDict
from pathlib import Path
from typing import Any

import ipywidgets as w
import numpy as np
from traitlets import Int, TraitError, Unicode, observe, validate

from ..checks import check_model
from ..layers import model_device
from ..methods.registry import list_methods, method_params
from ..render import colorbar, image_to_uint8, render_heatmap, value_range
from .canvas import Encoded, LayeredCanvas, encode
from .controls import MethodToggles, layer_options, method_controls
from .engine import Engine, Job
from .images import Picture, decode_upload, picture, pictures
from .panels import ComparePanel, Gallery, OverlayPanel, TopClasses
from .session import ImageSession
from .views import add_feature_tabs

__all__ = ["Explorer"]


class Explorer(w.VBox):
    """A live explanation surface for a PyTorch image classifier (see the module doc).

    Args:
        model: any ``torch.nn.Module`` classifier; never modified.
        images: a batch tensor, a list of tensors / numpy arrays / PIL images, or a dataset
            name of :mod:`xai_widgets.data`.
        classes: class names (index -> name), optional.
        preprocess: None (images are model inputs), a zoo card or ``(mean, std)``, or a
            callable picture -> tensor; the canvas always shows the picture, not the tensor.
        method: the method shown first; size: the main canvas's longer side in px.
    """

    index = Int(0, help="the selected image of the gallery")
    method = Unicode("grad_cam", help="the attribution method shown (see list_methods())")
    target = Int(None, allow_none=True, help="the explained class; None = the predicted one")
    layer = Unicode("", help="the CAM layer (dotted name); '' = the last spatial layer")

    def __init__(
        self,
        model: Any,
        images: Any,
        *,
        classes: Any = None,
        preprocess: Any = None,
        names: Any = None,
        method: str = "grad_cam",
        size: int = 320,
    ) -> None:
        self.model = check_model(model)
        self.pictures: list[Picture] = pictures(images, preprocess, names)
        self.preprocess = preprocess
        self.class_names = list(classes) if classes is not None else None
        self.device = model_device(model)
        self.engine = Engine(self._on_error, self._on_progress, self._on_idle)
        self.sessions: OrderedDict[int, ImageSession] = OrderedDict()
        self.explanation = None
        self._heat: np.ndarray | None = None
        self._signed = True
        self._caption = ""
        self._updating = False
        side = min(self.pictures[0].input.shape[1:])
        self.params = {m: {s.name: s.default for s in method_params(m)} for m in list_methods()}
        self.controls = {m: method_controls(m, side) for m in list_methods()}
        for m, controls in self.controls.items():
            for name, control in controls.items():
                control.observe(self._param_changed(m, name), "value")
        self._build(size)
        super().__init__(children=[self._layout])
        self.add_class("xw-explorer")
        self.feature_views = add_feature_tabs(self)
        self.set_trait("method", method)
        self._show_controls()
        self._request()
        self.engine.wait(120)

    # ----------------------------------------------------------------------- construction
    @classmethod
    def from_zoo(cls, name: str, n: int = 12, seed: int | None = None, **kwargs: Any) -> Explorer:
        """An Explorer on a shipped zoo model with held-out images of its own dataset (the
        card's test seed unless ``seed`` is given), its class names and preprocessing."""
        from .. import data, zoo

        card = zoo.card(name)
        seed = card.test_seed if seed is None and card.test_seed is not None else (seed or 0)
        images, labels, _ = data.dataset(card.dataset, n, seed=seed, **card.dataset_kwargs)
        names = [f"#{i} {card.classes[int(y)]}" for i, y in enumerate(labels)]
        return cls(
            zoo.load(name),
            list(images),
            classes=card.classes,
            preprocess=card,
            names=names,
            **kwargs,
        )

    def _build(self, size: int) -> None:
        height, width = self.pictures[0].input.shape[1:]
        self.scale = size / max(height, width)
        self.canvas = LayeredCanvas(
            round(width * self.scale), round(height * self.scale), "xw-main-canvas"
        )
        self.canvas.on_mouse("move", self._pointer_moved)
        self.canvas.on_mouse("out", lambda *_: self.canvas.show_pointer(None))
        self.canvas.on_mouse("down", self._clicked)
        self.gallery = Gallery(self.pictures, lambda i: setattr(self, "index", i))
        self.upload = w.FileUpload(accept="image/*", multiple=False, description="Add image")
        self.upload.add_class("xw-upload")
        self.upload.observe(self._uploaded, "value")
        self.top = TopClasses(5, lambda c: setattr(self, "target", c))
        self.toggles = MethodToggles(self.method, lambda m: setattr(self, "method", m))
        self.layer_picker = w.Dropdown(
            options=layer_options([]),
            value="",
            description="layer",
            style={"description_width": "72px"},
            layout=w.Layout(width="300px"),
        )
        self.layer_picker.add_class("xw-param-layer")
        self.layer_picker.observe(self._layer_picked, "value")
        self.params_box = w.VBox()
        self.overlay = OverlayPanel(self._overlay_changed)
        self.status = w.HTML("starting…")
        self.status.add_class("xw-status")
        self.progress = w.FloatProgress(
            0, min=0, max=1, layout=w.Layout(width="160px", visibility="hidden")
        )
        self.progress.add_class("xw-progress")
        cancel = w.Button(description="Cancel", icon="stop", layout=w.Layout(width="90px"))
        cancel.add_class("xw-cancel")
        cancel.on_click(lambda _b: self.cancel())
        save = w.Button(description="Save PNG", icon="download", layout=w.Layout(width="110px"))
        save.add_class("xw-save")
        save.on_click(lambda _b: self.save())
        self.error = w.HTML()
        self.error.add_class("xw-error")
        self.probe_label = w.HTML("Click the image to occlude a patch there.")
        self.probe_label.add_class("xw-probe")
        self.probe_canvas = LayeredCanvas(
            self.canvas.width // 2, self.canvas.height // 2, "xw-probe-canvas"
        )
        clear = w.Button(description="Clear probes", icon="eraser", layout=w.Layout(width="130px"))
        clear.add_class("xw-probe-clear")
        clear.on_click(lambda _b: self.clear_probes())
        self.compare_panel = ComparePanel(list_methods(), self.compare)
        side = w.VBox(
            [
                self.top.widget,
                w.HTML("<b>Method</b>"),
                self.toggles.widget,
                self.params_box,
                w.HTML("<b>Overlay</b>"),
                self.overlay.widget,
            ],
            layout=w.Layout(margin="0 0 0 16px"),
        )
        left = w.VBox(
            [self.canvas.widget, self.probe_label],
            layout=w.Layout(width=f"{self.canvas.width}px", flex="0 0 auto"),
        )
        probe = w.VBox(
            [
                w.HTML("<b>Probe map</b> (drop of the class probability)"),
                self.probe_canvas.widget,
                clear,
            ]
        )
        explain_view = w.VBox(
            [
                w.HBox([self.gallery.canvas, self.upload], layout=w.Layout(align_items="center")),
                w.HBox([left, side]),
                w.HBox(
                    [self.status, self.progress, cancel, save],
                    layout=w.Layout(align_items="center"),
                ),
                self.error,
                w.Accordion(
                    [w.HBox([probe]), self.compare_panel.widget],
                    titles=("Probe", "Compare methods"),
                ),
            ]
        )
        self.tabs = w.Tab([explain_view], titles=("Explain",))
        self._layout = self.tabs

    # ---------------------------------------------------------------------- traits
    @validate("index")
    def _valid_index(self, proposal: dict) -> int:
        if not 0 <= proposal["value"] < len(self.pictures):
            raise TraitError(f"index must be in 0..{len(self.pictures) - 1}")
        return proposal["value"]

    @validate("method")
    def _valid_method(self, proposal: dict) -> str:
        if proposal["value"] not in list_methods():
            raise TraitError(f"unknown method {proposal['value']!r}; one of {list_methods()}")
        return proposal["value"]

    @observe("index")
    def _index_changed(self, _change: dict) -> None:
        self.gallery.select(self.index)
        self.set_trait("target", None)
        self.canvas.show_pointer(None, patch=None)
        self._request()

    @observe("method")
    def _method_changed(self, _change: dict) -> None:
        self.toggles.select(self.method)
        self._show_controls()
        self._request()

    @observe("target", "layer")
    def _target_changed(self, _change: dict) -> None:
        self._request()

    def _param_changed(self, method: str, name: str):
        def handler(change: dict) -> None:
            self.params[method][name] = change["new"]
            if method == self.method and not self._updating:
                self._request()

        return handler

    def _layer_picked(self, change: dict) -> None:
        if not self._updating:
            self.layer = change["new"] or ""

    def set_param(self, name: str, value: Any, method: str | None = None) -> None:
        """Set a parameter of ``method`` (default: the current one) as its control would."""
        control = self.controls[method or self.method][name]
        control.value = value

    def _show_controls(self) -> None:
        specs = method_params(self.method)
        controls = [c for n, c in self.controls[self.method].items() if n != "layer"]
        if any(s.kind == "layer" for s in specs):
            controls.insert(0, self.layer_picker)
        self.params_box.children = controls

    # ---------------------------------------------------------------------- computing
    def _request(self) -> None:
        self.engine.submit("compute", self._compute, label="explain")

    def _current_params(self, method: str) -> dict[str, Any]:
        params = dict(self.params[method])
        if "layer" in params:
            params["layer"] = self.layer
        return params

    def _session(self, job: Job) -> ImageSession:
        index = self.index
        if index in self.sessions:
            self.sessions.move_to_end(index)
            session = self.sessions[index]
        else:
            pic = self.pictures[index]
            session = ImageSession.open(self.model, pic.input[None].to(self.device))
            self.sessions[index] = session
            while len(self.sessions) > 3:
                self.sessions.popitem(last=False)
        job.check()
        job.deliver(lambda: self._show_image(index, session))
        return session

    def _compute(self, job: Job) -> None:
        session = self._session(job)
        method, target = self.method, self.target
        params = self._current_params(method)
        if method == "occlusion":
            check = job.progress
            for heat, fraction in session.occlusion_progressive(params, target, check):
                shown = session.display_map(heat, self._display_hw)
                caption = self._describe(method, params, target, session, job, fraction)
                job.deliver(lambda s=shown, c=caption: self._show_map(s, True, c))
            self.explanation = None
            return
        explanation = session.explain(method, params, target, progress=job.progress)
        shown = session.display_map(explanation.heatmap[0], self._display_hw)
        caption = self._describe(method, explanation.params, target, session, job, 1.0)

        def draw() -> None:
            self.explanation = explanation
            self._show_map(shown, explanation.signed, caption)

        job.deliver(draw)

    @property
    def _display_hw(self) -> tuple[int, int]:
        return self.canvas.height, self.canvas.width

    def _describe(self, method, params, target, session, job, fraction) -> str:
        cls = session.predicted if target is None else target
        parts = [f"<b>{method}</b>", f"class <i>{html.escape(self.class_name(cls))}</i>"]
        if params.get("layer"):
            parts.append(f"layer <code>{params['layer']}</code>")
        parts.append(f"{job.elapsed_ms:.0f} ms")
        if fraction < 1:
            parts.append(f"refining {fraction:.0%}")
        return " · ".join(parts)

    # ---------------------------------------------------------------------- drawing
    def class_name(self, cls: int) -> str:
        if self.class_names and 0 <= cls < len(self.class_names):
            return str(self.class_names[cls])
        return f"class {cls}"

    def _show_image(self, index: int, session: ImageSession) -> None:
        pic = self.pictures[index]
        self._updating = True
        try:
            self.canvas.show(image=encode(_resize(pic.display, self._display_hw)))
            selected = session.predicted if self.target is None else self.target
            self.top.show(session.top(5), self.class_name, selected)
            options = layer_options(session.layers)
            if self.layer_picker.options != tuple(options):
                self.layer_picker.options = options
                names = [v for _, v in options]
                self.layer_picker.value = self.layer if self.layer in names else ""
            self._draw_probes(session)
        finally:
            self._updating = False

    def _render(self) -> tuple[Encoded | None, str]:
        if self._heat is None:
            return None, ""
        mode = self.overlay.mode(self._signed)
        cmap = self.overlay.colours(mode)
        clip = self.overlay.clip.value if self.overlay.clip.value < 100 else None
        rgba = render_heatmap(self._heat, None, mode=mode, cmap=cmap, alpha=1.0, clip=clip)
        vmin, vmax = value_range(self._heat, mode=mode, clip=clip)
        self.overlay.show_range(vmin, vmax, cmap)
        return encode(rgba), cmap

    def _show_map(self, heat: np.ndarray, signed: bool, caption: str) -> None:
        self._heat, self._signed, self._caption = heat, signed, caption
        encoded, _ = self._render()
        self.canvas.show(heatmap=encoded, alpha=self.overlay.alpha.value)
        self.error.value = ""
        self.status.value = caption

    def _overlay_changed(self, name: str) -> None:
        if name == "alpha":
            self.canvas.show(alpha=self.overlay.alpha.value)
            return
        self.engine.submit("render", lambda job: job.deliver(self._redraw_map), label="render")

    def _redraw_map(self) -> None:
        encoded, _ = self._render()
        if encoded is not None:
            self.canvas.show(heatmap=encoded)

    # ---------------------------------------------------------------------- probing
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
        pic = self.pictures[self.index]
        size = (self.probe_canvas.height, self.probe_canvas.width)
        probe = session.probe_map()
        heat = None
        if probe is not None:
            shown = session.display_map(probe.to(session.x.device), size)
            heat = encode(render_heatmap(shown, None, mode="signed", alpha=1.0))
        self.probe_canvas.show(image=encode(_resize(pic.display, size)), heatmap=heat, alpha=0.6)

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
            heat = session.display_map(e.heatmap[0], (192, 192))
            rgba = render_heatmap(
                heat,
                _resize(pic.display, (192, 192)),
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

    # ---------------------------------------------------------------------- feedback
    def _on_error(self, label: str, exc: BaseException, _tb: str) -> None:
        kind = type(exc).__name__
        self.error.value = (
            f"<div style='color:#b00020'><b>{kind}</b> in {html.escape(label)}: "
            f"{html.escape(str(exc))}</div>"
        )
        self.status.value = f"<span style='color:#b00020'>error in {html.escape(label)}</span>"
        self.progress.layout.visibility = "hidden"

    def _on_progress(self, label: str, fraction: float) -> None:
        self.progress.layout.visibility = "visible" if fraction < 1 else "hidden"
        self.progress.value = fraction

    def _on_idle(self, _lane: str) -> None:
        if not self.engine.busy():
            self.progress.layout.visibility = "hidden"

    def cancel(self) -> None:
        """Stop the running computations; the view keeps what it shows."""
        self.engine.cancel()
        self.progress.layout.visibility = "hidden"
        self.status.value = self._caption + " · cancelled"

    def wait(self, timeout: float = 60.0) -> bool:
        """Block until every computation is done (scripts and tests)."""
        return self.engine.wait(timeout)

    def close(self) -> None:
        self.engine.close()
        super().close()

    # ---------------------------------------------------------------------- export
    def snapshot(self) -> bytes:
        """The current view (image, heatmap, colour bar, caption) as PNG bytes."""
        from PIL import Image, ImageDraw

        view = self.canvas.composite()
        height, width = view.shape[:2]
        out = Image.new("RGB", (width, height + 40), "white")
        out.paste(Image.fromarray(view), (0, 0))
        if self._heat is not None:
            mode = self.overlay.mode(self._signed)
            cmap = self.overlay.colours(mode)
            clip = self.overlay.clip.value if self.overlay.clip.value < 100 else None
            vmin, vmax = value_range(self._heat, mode=mode, clip=clip)
            bar = colorbar(vmin, vmax, cmap, length=width - 80, thickness=10)
            out.paste(Image.fromarray(bar[..., :3]), (40, height + 4))
            draw = ImageDraw.Draw(out)
            draw.text((2, height + 2), f"{vmin:.2g}", fill="black")
            draw.text((width - 38, height + 2), f"{vmax:.2g}", fill="black")
            plain = _strip_tags(self._caption)
            draw.text((2, height + 22), plain[: width // 6], fill="black")
        buf = io.BytesIO()
        out.save(buf, "PNG")
        return buf.getvalue()

    def save(self, path: str | Path | None = None) -> Path:
        """Write :meth:`snapshot` to ``path`` (default: a name in the working directory)."""
        target = Path(path or f"xw-snapshot-{self.index}-{self.method}.png")
        target.write_bytes(self.snapshot())
        self.status.value = f"{self._caption} · saved <code>{html.escape(str(target))}</code>"
        return target

    def _repr_mimebundle_(self, **kwargs: Any) -> dict:
        bundle = super()._repr_mimebundle_(**kwargs) or {}
        bundle["image/png"] = base64.b64encode(self.snapshot()).decode("ascii")
        return bundle


def _resize(rgb: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    from PIL import Image

    if rgb.shape[:2] == tuple(hw):
        return rgb
    image = Image.fromarray(image_to_uint8(rgb)).resize((hw[1], hw[0]), Image.BILINEAR)
    return np.asarray(image.convert("RGB"))


def _strip_tags(text: str) -> str:
    import re

    return html.unescape(re.sub(r"<[^>]+>", "", text))
