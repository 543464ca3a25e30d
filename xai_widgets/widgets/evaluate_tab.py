"""The Evaluate tab: how much to trust the map beside it.

For the current picture and method: the perturbation curves (MoRF and LeRF of Samek et al.
2017, or deletion and insertion of Petsiuk et al. 2018) with a random heatmap's curves dashed on
the same axes, AOPC / AUC printed, and the fill that removes pixels chosen right here (it can
flip the verdict). With ground-truth masks (the ``shapes`` and ``counting`` data sets): the
pointing game and the relevance mass. "Run on the gallery" gives the benchmark table of the
chosen methods with standard errors. Sanity: "randomise the top k layers" re-draws the map as
the network is destroyed layer by layer (Adebayo et al. 2018), with the similarity curve under
it: a method whose map does not change is not explaining the model.

Example::

    ex = xw.Explorer.from_zoo("shapes")
    tab = ex.show_tab(EvaluateTab); ex.wait()
    tab.curves["method"].aopc, tab.curves["random"].aopc
"""

from __future__ import annotations

import html
from typing import Any

import ipywidgets as w
import torch

from .. import evaluate as ev
from ..methods.registry import get_method, list_methods
from ..params import declared
from ..render import render_heatmap, to_png
from .controls import param_control
from .engine import Job
from .evaluate_draw import plot_curves, plot_sanity, regions, summary
from .figures import figure_png
from .images import resize_rgb
from .view import View

__all__ = ["EvaluateTab"]

KINDS = {"MoRF / LeRF (AOPC)": "region", "deletion / insertion (AUC)": "pixel"}
THUMB = 192


class EvaluateTab(View):
    """Curves, localisation, the gallery benchmark and the randomisation check (module doc)."""

    title = "Evaluate"
    follows = ("index", "method", "target", "layer", "params")

    def _build(self) -> list[w.Widget]:
        self.add_class("xw-eval-tab")
        self.curves: dict[str, Any] = {}
        self._baseline: dict[tuple, dict[str, Any]] = {}
        self.table: ev.Table | None = None
        self.sanity: ev.Randomization | None = None
        self.method = w.Dropdown(
            options=[(get_method(m).label, m) for m in list_methods()],
            value=self.selection.method,
            description="method",
        )
        self.method.add_class("xw-eval-method")
        self.method.observe(self._pick_method, "value")
        self.selection.observe(self._method_shown, "method")
        self.kind = w.Dropdown(options=list(KINDS.items()), value="region", description="curves")
        self.kind.add_class("xw-eval-kind")
        specs = {s.name: s for s in declared(ev.RegionSettings)}
        self.fill = param_control(specs["fill"], css="xw-eval-")
        self.rank = param_control(specs["rank"], css="xw-eval-")
        side = min(self.selection.picture.input.shape[1:])
        self.patch = param_control(specs["patch"], side, css="xw-eval-")
        self.patch.max = min(self.patch.max, 32)
        for control in (self.kind, self.fill, self.rank, self.patch):
            control.observe(lambda _c: self.refresh(), "value")
        square = {"width": f"{THUMB}px", "height": f"{THUMB}px", "flex": "0 0 auto"}
        self.map_image = w.Image(format="png", layout=w.Layout(**square))
        self.plot = w.Image(format="png", layout=w.Layout(width="420px"))
        self.plot.add_class("xw-eval-plot")
        self.summary = w.HTML()
        self.summary.add_class("xw-eval-summary")
        run = w.Button(description="Run on the gallery", icon="table", button_style="primary")
        run.add_class("xw-eval-run")
        run.on_click(lambda _b: self.run_gallery())
        self.methods = w.SelectMultiple(
            options=[(get_method(m).label, m) for m in list_methods()],
            value=["saliency", "grad_cam", "occlusion"],
            rows=5,
            description="methods",
        )
        self.table_html = w.HTML()
        self.table_html.add_class("xw-eval-table")
        self.top_k = w.IntSlider(
            0, min=0, max=1, description="randomise top", style={"description_width": "110px"},
            tooltip="Re-initialise the top k layers (on a copy of the model) and redraw the map.",
        )  # fmt: skip
        self.top_k.add_class("xw-eval-randomise")
        self.top_k.observe(lambda _c: self._show_sanity_step(), "value")
        check = w.Button(description="Sanity check", icon="random")
        check.add_class("xw-eval-sanity")
        check.on_click(lambda _b: self.run_sanity())
        self.sanity_image = w.Image(format="png", layout=w.Layout(**square))
        self.sanity_plot = w.Image(format="png", layout=w.Layout(width="420px"))
        self.sanity_text = w.HTML()
        # hidden until the first check: an empty image shows a broken-picture icon
        self.sanity_pictures = w.HBox(
            [self.sanity_image, self.sanity_plot], layout=w.Layout(display="none")
        )
        settings = w.VBox([self.method, self.kind, self.fill, self.rank, self.patch])
        return [
            w.HBox([self.map_image, self.plot, settings]),
            self.summary,
            w.HBox([self.status, self.progress]),
            self.error,
            w.HTML("<b>The gallery</b>: every chosen method against a random heatmap"),
            w.HBox([self.methods, run]),
            self.table_html,
            w.HTML("<b>Sanity check</b> (Adebayo et al. 2018): does the map depend on the model?"),
            w.HBox([check, self.top_k]),
            self.sanity_pictures,
            self.sanity_text,
        ]

    # ------------------------------------------------------------------ the curves
    def _pick_method(self, change: dict) -> None:
        """The tab's own method picker: compare methods' curves without leaving the tab."""
        if change["new"] != self.selection.method:
            self.selection.method = change["new"]

    def _method_shown(self, change: dict) -> None:
        if self.method.value != change["new"]:
            self.method.value = change["new"]

    def _refresh(self) -> None:
        self.submit("curves", self._curves, "evaluate")

    def _settings(self) -> dict[str, Any]:
        common = {"fill": self.fill.value, "rank": self.rank.value}
        if self.kind.value == "region":
            return {**common, "patch": self.patch.value}
        return common

    def _curves(self, job: Job) -> None:
        sel = self.selection
        index, method = sel.index, sel.method
        session = sel.session(index)
        self.need_classifier(session)
        e = session.explain(method, sel.param_values(method), sel.target)
        job.check()
        x, target = session.x, e.target
        heat, noise = e.heatmap, ev.random_heatmap(session.x, 0)
        settings = self._settings()
        # the random baseline's curves do not depend on the method: kept per picture, target,
        # kind and settings, so a method switch computes only the method's two curves
        key = (index, repr(target), self.kind.value, tuple(sorted(settings.items())))
        baseline = self._baseline.get(key)
        curves = self._curve_pair(job, x, heat, target, settings, "method")
        if baseline is None:
            baseline = self._curve_pair(job, x, noise, target, settings, "random")
            if len(self._baseline) > 64:
                self._baseline.clear()
            self._baseline[key] = baseline
        curves.update(baseline)
        masks = sel.masks[index] if sel.masks is not None else None
        where = None
        if masks is not None:
            mask = torch.as_tensor(masks)[None].to(heat.device)
            where = (
                float(ev.pointing_game(heat, mask)[0]), float(ev.relevance_mass(heat, mask)[0]),
                float(ev.pointing_game(noise, mask)[0]), float(ev.relevance_mass(noise, mask)[0]),
            )  # fmt: skip
        label = get_method(method).label
        png = figure_png(lambda fig: plot_curves(fig, curves, label))
        picture = resize_rgb(sel.pictures[index].display, (THUMB, THUMB))
        mode = "signed" if e.signed else "positive"
        overlay = render_heatmap(e.heatmap[0].float().cpu().numpy(), picture, mode=mode, alpha=0.55)
        text = summary(curves, label, where)

        def draw() -> None:
            self.curves = curves
            self.map_image.value = to_png(overlay)
            self.plot.value = png
            self.summary.value = text
            self.status.value = f"{html.escape(label)} · {job.elapsed_ms:.0f} ms"
            self.clear_error()

        job.deliver(draw)

    def _curve_pair(
        self, job: Job, x: torch.Tensor, heat: torch.Tensor, target: Any, settings: dict, who: str
    ) -> dict[str, Any]:
        """MoRF and LeRF (or deletion and insertion) of one heatmap, keyed "<who> <kind>"."""
        model, out = self.selection.model, {}
        if self.kind.value == "region":
            steps = min(50, regions(x, settings["patch"]))
            for order in ("morf", "lerf"):
                out[f"{who} {order}"] = ev.region_perturbation(
                    model, x, heat, target=target, order=order, steps=steps, **settings
                )
                job.check()
        else:
            out[f"{who} deletion"] = ev.deletion(model, x, heat, target=target, **settings)
            out[f"{who} insertion"] = ev.insertion(model, x, heat, target=target, **settings)
            job.check()
        return out

    # ------------------------------------------------------------------ the gallery
    def run_gallery(self, methods: list[str] | None = None) -> None:
        """The benchmark table of ``methods`` (default: the chosen ones) on every picture."""
        chosen = list(methods or self.methods.value)
        self.table_html.value = "<i>running…</i>"
        self.submit("gallery", lambda job: self._gallery(job, chosen), "gallery")

    def _gallery(self, job: Job, methods: list[str]) -> None:
        sel = self.selection
        self.need_classifier(sel.session())
        x = torch.stack([p.input for p in sel.pictures]).to(sel.device)
        masks = None
        if sel.masks is not None and all(m is not None for m in sel.masks):
            masks = torch.stack([torch.as_tensor(m) for m in sel.masks]).bool()
        settings = self._settings()
        table = ev.benchmark(
            sel.model, x, methods, masks=masks, fill=settings["fill"], rank=settings["rank"],
            patch=self.patch.value, steps=min(50, regions(x, self.patch.value)),
            progress=self.reporter(job),
        ).sorted()  # fmt: skip

        def draw() -> None:
            self.table = table
            self.table_html.value = table._repr_html_()
            self.show_progress(None)

        job.deliver(draw)

    # ------------------------------------------------------------------ sanity
    def run_sanity(self) -> None:
        """Randomise the layers from the top, cascading, and keep every step's map."""
        self.sanity_text.value = "<i>randomising…</i>"
        self.submit("sanity", self._sanity, "sanity check")

    def _sanity(self, job: Job) -> None:
        sel = self.selection
        session = sel.session()
        self.need_classifier(session)
        method = sel.method
        result = ev.randomization(
            sel.model, session.x, method, target=session.predicted if sel.target is None
            else sel.target, progress=self.reporter(job), **sel.param_values(method),
        )  # fmt: skip
        png = figure_png(lambda fig: plot_sanity(fig, result, get_method(method).label))

        def draw() -> None:
            self.sanity = result
            self.top_k.max = len(result.layers)
            self.sanity_plot.value = png
            self._show_sanity_step()
            self.sanity_pictures.layout.display = "flex"
            self.show_progress(None)

        job.deliver(draw)

    def _show_sanity_step(self) -> None:
        result = self.sanity
        if result is None:
            return
        k = min(self.top_k.value, len(result.layers))
        picture = resize_rgb(self.selection.picture.display, (THUMB, THUMB))
        heat = result.maps[k, 0].float().cpu().numpy()
        self.sanity_image.value = to_png(render_heatmap(heat, picture, mode="abs", alpha=0.55))
        label = html.escape(get_method(result.method).label)
        if k == 0:
            self.sanity_text.value = f"{label} on the trained model."
            return
        rho = float(result.spearman_abs[k - 1].mean())
        warning = " — <b>the map barely changed: it does not explain this model</b>"
        self.sanity_text.value = (
            f"{label} with the top {k} layers randomised (down to <code>"
            f"{html.escape(result.layers[k - 1])}</code>): rank correlation with the trained "
            f"model's map {rho:.2f}" + (warning if rho > 0.9 else "")
        )
