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

import html
import threading
import time
from collections import OrderedDict
from typing import Any

import ipywidgets as w
import numpy as np
from traitlets import Int, TraitError, Unicode, observe, validate

from ..checks import check_model
from ..layers import model_device
from ..methods.registry import list_methods, method_params
from .controls import method_controls
from .engine import Engine, Job
from .explorer_actions import ActionsMixin
from .explorer_export import ExportMixin
from .explorer_view import PROBE_HINT, ViewMixin
from .images import Picture, pictures
from .session import ImageSession
from .views import add_feature_tabs

__all__ = ["Explorer"]


class Explorer(ViewMixin, ActionsMixin, ExportMixin, w.VBox):
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
        self._sessions_lock = threading.Lock()
        self.explanation = None
        self._heat: np.ndarray | None = None
        self._drawn: tuple[int, int] | None = None
        self._progress_shown = 0.0
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
        self.probe_label.value = PROBE_HINT
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
        """Show the current method's controls. All controls stay in the box and only their
        ``display`` changes: a style change, not a DOM rebuild, keeps a toggle fast."""
        if not self.params_box.children:
            others = [c for m in self.controls.values() for n, c in m.items() if n != "layer"]
            self.params_box.children = [self.layer_picker, *others]
        shown = {id(c) for n, c in self.controls[self.method].items() if n != "layer"}
        if any(s.kind == "layer" for s in method_params(self.method)):
            shown.add(id(self.layer_picker))
        for control in self.params_box.children:
            display = None if id(control) in shown else "none"
            if control.layout.display != display:
                control.layout.display = display

    def visible_controls(self) -> list[w.Widget]:
        """The parameter controls shown for the current method."""
        return [c for c in self.params_box.children if c.layout.display != "none"]

    # ---------------------------------------------------------------------- computing
    def _request(self) -> None:
        self.engine.submit("compute", self._compute, label="explain")

    def _current_params(self, method: str) -> dict[str, Any]:
        params = dict(self.params[method])
        if "layer" in params:
            params["layer"] = self.layer
        return params

    def _session(self, job: Job) -> ImageSession:
        """The open session of the current image (at most three kept; lanes share them)."""
        index = self.index
        with self._sessions_lock:
            session = self.sessions.get(index)
            if session is not None:
                self.sessions.move_to_end(index)
        if session is None:
            pic = self.pictures[index]
            session = ImageSession.open(self.model, pic.input[None].to(self.device))
            with self._sessions_lock:
                session = self.sessions.setdefault(index, session)
                while len(self.sessions) > 3:
                    self.sessions.popitem(last=False)
        job.check()
        job.deliver(lambda: self._show_image(index, session))
        return session

    def _compute(self, job: Job) -> None:
        """Bring the view to the current state: open the image if needed, explain, draw. The
        map crosses to the CPU at the input's resolution; the browser scales it to the canvas."""
        session = self._session(job)
        method, target = self.method, self.target
        params = self._current_params(method)
        if method == "occlusion":
            self._progressive_occlusion(job, session, params, target)
            return
        explanation = session.explain(method, params, target, progress=job.progress)
        shown = explanation.heatmap[0].float().cpu().numpy()
        caption = self._describe(method, explanation.params, target, session, job, 1.0)

        def draw() -> None:
            self.explanation = explanation
            self._show_map(shown, explanation.signed, caption)

        job.deliver(draw)

    def _progressive_occlusion(self, job: Job, session: ImageSession, params, target) -> None:
        """The coarse map as soon as it exists, refinements at most every 150 ms, the exact
        map last."""
        last = 0.0
        for heat, fraction in session.occlusion_progressive(params, target, job.progress):
            now = time.perf_counter()
            if 0 < last and now - last < 0.15 and fraction < 1:
                continue
            last = now
            shown = heat.float().cpu().numpy()
            caption = self._describe("occlusion", params, target, session, job, fraction)
            job.deliver(lambda s=shown, c=caption: self._show_map(s, True, c))
        self.explanation = None

    def _describe(self, method, params, target, session, job, fraction) -> str:
        cls = session.predicted if target is None else target
        parts = [f"<b>{method}</b>", f"class <i>{html.escape(self.class_name(cls))}</i>"]
        if params.get("layer"):
            parts.append(f"layer <code>{params['layer']}</code>")
        values = [f"{k} {v:g}" for k, v in params.items() if k != "layer"]
        if values:
            parts.append(", ".join(values))
        parts.append(f"{job.elapsed_ms:.0f} ms")
        if fraction < 1:
            parts.append(f"refining {fraction:.0%}")
        return " · ".join(parts)

    # ---------------------------------------------------------------------- feedback
    def _on_error(self, label: str, exc: BaseException, _tb: str) -> None:
        kind = type(exc).__name__
        self.error.value = (
            f"<div style='color:#b00020'><b>{kind}</b> in {html.escape(label)}: "
            f"{html.escape(str(exc))}</div>"
        )
        self.status.value = f"<span style='color:#b00020'>error in {html.escape(label)}</span>"
        self.progress.layout.visibility = "hidden"
        if label == "explain":  # the map on screen no longer answers the request
            self._heat = None
            self.explanation = None
            self.canvas.show(heatmap=None)

    def _on_progress(self, job: Job, fraction: float) -> None:
        """Show the progress bar for work that takes a while (over 0.3 s), updated at most
        every 0.1 s: each update is a message to the browser, competing with the maps."""
        now = time.perf_counter()
        if job.elapsed_ms < 300 or now - self._progress_shown < 0.1:
            return
        self._progress_shown = now
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
