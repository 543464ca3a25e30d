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
import numpy as np
import torch

from .. import evaluate as ev
from ..methods.registry import get_method, list_methods
from ..params import declared
from ..render import render_heatmap, to_png
from .controls import param_control
from .engine import Job
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
        self.curves: dict[str, Any] = {}
        self.table: ev.Table | None = None
        self.sanity: ev.Randomization | None = None
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
        self.map_image = w.Image(format="png", layout=w.Layout(width=f"{THUMB}px"))
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
        self.sanity_image = w.Image(format="png", layout=w.Layout(width=f"{THUMB}px"))
        self.sanity_plot = w.Image(format="png", layout=w.Layout(width="420px"))
        self.sanity_text = w.HTML()
        settings = w.VBox([self.kind, self.fill, self.rank, self.patch])
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
            w.HBox([self.sanity_image, self.sanity_plot]),
            self.sanity_text,
        ]

    # ------------------------------------------------------------------ the curves
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
        e = session.explain(method, sel.param_values(method), sel.target)
        job.check()
        x, target = session.x, e.target
        heat, noise = e.heatmap, ev.random_heatmap(session.x, 0)
        settings = self._settings()
        curves = {}
        if self.kind.value == "region":
            regions = (-(-x.shape[2] // settings["patch"])) * (-(-x.shape[3] // settings["patch"]))
            steps = min(50, regions)
            for name, h in (("method", heat), ("random", noise)):
                for order in ("morf", "lerf"):
                    curves[f"{name} {order}"] = ev.region_perturbation(
                        sel.model, x, h, target=target, order=order, steps=steps, **settings
                    )
                    job.check()
        else:
            for name, h in (("method", heat), ("random", noise)):
                curves[f"{name} deletion"] = ev.deletion(sel.model, x, h, target=target, **settings)
                curves[f"{name} insertion"] = ev.insertion(
                    sel.model, x, h, target=target, **settings
                )
                job.check()
        masks = sel.masks[index] if sel.masks is not None else None
        where = None
        if masks is not None:
            mask = torch.as_tensor(masks)[None].to(heat.device)
            where = (
                float(ev.pointing_game(heat, mask)[0]), float(ev.relevance_mass(heat, mask)[0]),
                float(ev.pointing_game(noise, mask)[0]), float(ev.relevance_mass(noise, mask)[0]),
            )  # fmt: skip
        label = get_method(method).label
        png = figure_png(lambda fig: _plot_curves(fig, curves, label))
        picture = resize_rgb(sel.pictures[index].display, (THUMB, THUMB))
        mode = "signed" if e.signed else "positive"
        overlay = render_heatmap(e.heatmap[0].float().cpu().numpy(), picture, mode=mode, alpha=0.55)
        text = _summary(curves, label, where)

        def draw() -> None:
            self.curves = curves
            self.map_image.value = to_png(overlay)
            self.plot.value = png
            self.summary.value = text
            self.status.value = f"{html.escape(label)} · {job.elapsed_ms:.0f} ms"
            self.clear_error()

        job.deliver(draw)

    # ------------------------------------------------------------------ the gallery
    def run_gallery(self, methods: list[str] | None = None) -> None:
        """The benchmark table of ``methods`` (default: the chosen ones) on every picture."""
        chosen = list(methods or self.methods.value)
        self.table_html.value = "<i>running…</i>"
        self.submit("gallery", lambda job: self._gallery(job, chosen), "gallery")

    def _gallery(self, job: Job, methods: list[str]) -> None:
        sel = self.selection
        x = torch.stack([p.input for p in sel.pictures]).to(sel.device)
        masks = None
        if sel.masks is not None and all(m is not None for m in sel.masks):
            masks = torch.stack([torch.as_tensor(m) for m in sel.masks]).bool()
        settings = self._settings()
        table = ev.benchmark(
            sel.model, x, methods, masks=masks, fill=settings["fill"], rank=settings["rank"],
            patch=self.patch.value, steps=min(50, _regions(x, self.patch.value)),
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
        method = sel.method
        result = ev.randomization(
            sel.model, session.x, method, target=session.predicted if sel.target is None
            else sel.target, progress=self.reporter(job), **sel.param_values(method),
        )  # fmt: skip
        png = figure_png(lambda fig: _plot_sanity(fig, result, get_method(method).label))

        def draw() -> None:
            self.sanity = result
            self.top_k.max = len(result.layers)
            self.sanity_plot.value = png
            self._show_sanity_step()
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


def _regions(x: torch.Tensor, patch: int) -> int:
    return (-(-x.shape[2] // patch)) * (-(-x.shape[3] // patch))


def _plot_curves(fig: Any, curves: dict[str, Any], label: str) -> None:
    ax = fig.add_subplot(1, 1, 1)
    colours = {"morf": "#c62828", "lerf": "#1565c0", "deletion": "#c62828", "insertion": "#1565c0"}
    for key, curve in curves.items():
        who, kind = key.split(" ")
        mean = curve.scores.mean(0).cpu().numpy()
        x = curve.fractions.cpu().numpy()
        name = label if who == "method" else "random"
        tag = kind.upper() if len(kind) == 4 else kind
        style = "-" if who == "method" else "--"
        ax.plot(x, mean, color=colours[kind], linestyle=style, label=f"{name} {tag}")
    kind = next(iter(curves.values())).score
    region = "method morf" in curves
    ax.set_xlabel("fraction of the image removed" if region else "fraction of pixels")
    ax.set_ylabel(f"target {kind}")
    ax.legend(fontsize=7)
    fig.tight_layout()


def _plot_sanity(fig: Any, result: Any, label: str) -> None:
    ax = fig.add_subplot(1, 1, 1)
    steps = np.arange(1, len(result.layers) + 1)
    ax.plot(steps, result.spearman_abs.mean(1).cpu().numpy(), "o-", label="rank corr. |map|")
    ax.plot(steps, result.ssim.mean(1).cpu().numpy(), "s--", label="SSIM")
    ax.set_ylim(-0.1, 1.05)
    ax.set_xlabel("top layers randomised")
    ax.set_ylabel(f"{label}: similarity to the original")
    ax.legend(fontsize=7)
    fig.tight_layout()


def _summary(curves: dict[str, Any], label: str, where: tuple | None) -> str:
    name = html.escape(label)
    if "method morf" in curves:
        m, r = float(curves["method morf"].aopc[0]), float(curves["random morf"].aopc[0])
        verdict = "better than" if m > r else "no better than"
        text = (
            f"AOPC (MoRF, higher = the map finds what matters): {name} <b>{m:.3g}</b>, "
            f"random {r:.3g}: {name} is {verdict} a random map on this picture."
        )
    else:
        d, dr = float(curves["method deletion"].auc[0]), float(curves["random deletion"].auc[0])
        i, ir = float(curves["method insertion"].auc[0]), float(curves["random insertion"].auc[0])
        text = (
            f"Deletion AUC (lower is better): {name} <b>{d:.3g}</b>, random {dr:.3g}; "
            f"insertion AUC (higher is better): {name} <b>{i:.3g}</b>, random {ir:.3g}."
        )
    if where is not None:
        hit, mass, rhit, rmass = where
        text += (
            f"<br>Against the object's mask: pointing game {'hit' if hit else 'miss'} "
            f"(random: {'hit' if rhit else 'miss'}), relevance mass {mass:.2f} "
            f"(random {rmass:.2f})."
        )
    return text + " One picture is one sample: run on the gallery for a verdict with errors."
