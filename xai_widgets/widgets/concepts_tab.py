"""The Concepts tab: which parts of the object the network found, and which of them decided.

Concepts are found once over the gallery and the Explorer's dataset
(:func:`xai_widgets.features.concepts`, Deep Feature Factorization): for the picture shown,
its concepts ranked by |relevance| for the explained class (signed: red pushed toward the class,
blue against it), each shown MACE-style (the picture blacked out except that concept's segment),
and the picture coloured by concept. A click on a concept shows the pictures that express it
most across the image set. On a misclassified picture (when the true labels are known, e.g.
``Explorer.from_zoo``) the tab says so and ranks the concepts for the wrong class, so what pushed
toward it is on top, with what spoke for the true class below.

Changing the picture or the class only redraws; the layer, k or the seed recompute (on the
engine, with progress; "Cancel" stops it and the tab keeps working).

Example::

    ex = xw.Explorer.from_zoo("shapes")
    tab = ex.show_tab(ConceptsTab); ex.wait()
    tab.result.top(ex.index, cls=0); tab.select(2)    # concept 2's exemplars
"""

from __future__ import annotations

import html
import itertools

import ipywidgets as w
import numpy as np
import torch

from ..features import Concepts, concepts
from ..hooks import borrowed
from ..layers import default_layer, spatial_layers
from ..outputs import select_logits
from .canvas import encode
from .concepts_draw import AGAINST, BAR, FOR, GAP, PALETTE, TEXT, mace, segments, strip, tile_at
from .engine import Job
from .images import resize_rgb
from .view import View
from .views.surface import Surface

__all__ = ["ConceptsTab"]

TILE, SEG, EXEMPLAR = 96, 192, 72  # px
MAX_DATA = 1000  # images of a DataLoader dataset read for the concepts


class ConceptsTab(View):
    """Concepts of one picture for the explained class; click one for its exemplars."""

    title = "Concepts"
    follows = ("index", "target", "pictures")

    def _build(self) -> list[w.Widget]:
        self.result: Concepts | None = None
        self.inputs: torch.Tensor | None = None
        self.shown: list[tuple[int, float]] = []
        self.selected: int | None = None
        self._key: tuple | None = None
        self._shapes: dict[str, tuple[int, ...]] = {}
        self._default = ""
        self.layer = w.Dropdown(options=[("default", "")], value="", description="layer")
        self.layer.add_class("xw-concepts-layer")
        self.k = w.IntSlider(
            6, min=2, max=12, description="concepts (k)", style={"description_width": "90px"}
        )
        self.k.add_class("xw-concepts-k")
        self.seed = w.BoundedIntText(0, min=0, max=10**6, description="seed")
        for control in (self.layer, self.k, self.seed):
            control.observe(lambda _c: self.refresh(), "value")
        self.cancel_button = w.Button(description="Cancel", icon="stop")
        self.cancel_button.add_class("xw-concepts-cancel")
        self.cancel_button.on_click(lambda _b: self.stop())
        self.verdict = w.HTML()
        self.verdict.add_class("xw-concepts-verdict")
        self.strip = Surface("xw-concepts-strip", TILE, TILE)
        self.strip.on_click(self._clicked)
        self.segments = Surface("xw-concepts-segments", SEG, SEG)
        self.legend = w.HTML()
        self.legend.add_class("xw-concepts-legend")
        self.exemplars = Surface("xw-concepts-exemplars", EXEMPLAR, EXEMPLAR)
        self.exemplar_caption = w.HTML()
        self.exemplar_caption.add_class("xw-concepts-exemplar-caption")
        return [
            w.HBox([self.layer, self.k, self.seed]),
            w.HBox([self.cancel_button, self.status, self.progress]),
            self.error,
            self.verdict,
            self.strip.widget,
            w.HBox([self.segments.widget, self.legend]),
            self.exemplar_caption,
            self.exemplars.widget,
        ]

    # ------------------------------------------------------------------ computing
    def _settings(self) -> tuple:
        return (
            self.layer.value,
            int(self.k.value),
            int(self.seed.value),
            len(self.selection.pictures),
        )

    def _refresh(self) -> None:
        target = self.selection.target
        missing = target is not None and self.result and target not in self.result.classes
        if self.result is None or self._key != self._settings() or missing:
            self.submit("concepts", self._compute, "concepts")
        else:
            self.draw()

    def stop(self) -> None:
        """Cancel a running search (the Cancel button)."""
        self.cancel("concepts")
        self.status.value = "cancelled: change a setting to search again"

    def _image_set(self) -> torch.Tensor:
        """The gallery's inputs first, then the dataset's (up to MAX_DATA of a DataLoader)."""
        sel = self.selection
        gallery = torch.stack([p.input for p in sel.pictures])
        data = sel.dataset
        if data is None:
            return gallery
        if not isinstance(data, torch.Tensor):
            batches = (b[0] if isinstance(b, (tuple, list)) else b for b in data)
            data = torch.cat(list(itertools.islice(batches, MAX_DATA)))[:MAX_DATA]
        return torch.cat([gallery, data.detach().cpu().float()])

    def _compute(self, job: Job) -> None:
        sel = self.selection
        self.need_classifier(sel.session())
        key = self._settings()
        job.deliver(lambda: setattr(self.status, "value", "finding concepts…"))
        inputs = self._image_set()
        x = inputs[:1].to(sel.device)
        if not self._shapes:
            self._shapes = dict(spatial_layers(sel.model, x))
            self._default = default_layer(sel.model, x)
            options = [(f"default ({self._default})", "")] + [(n, n) for n in self._shapes]
            job.deliver(lambda: setattr(self.layer, "options", options))
        most = max(2, min(12, self._shapes[key[0] or self._default][1]))
        if most != self.k.max:  # k fits the layer; a clamped k submits a new search
            job.deliver(lambda: setattr(self.k, "max", most))
            if key[1] > most:
                return
        with borrowed(sel.model), torch.no_grad():
            count = select_logits(sel.model(x), sel.output).shape[1]
        classes = None
        if count > 64:  # the relevance of the gallery's predictions and the chosen class
            with borrowed(sel.model), torch.no_grad():
                logits = select_logits(
                    sel.model(inputs[: len(sel.pictures)].to(sel.device)), sel.output
                )
            classes = sorted(
                {*logits.argmax(1).tolist(), *([sel.target] if sel.target is not None else [])}
            )
        result = concepts(
            sel.model, inputs, key[0] or None, k=key[1], seed=key[2],
            progress=self.reporter(job), classes=classes, output=sel.output,
        )  # fmt: skip

        def done() -> None:
            self.result, self.inputs, self._key, self.selected = result, inputs, key, None
            self.clear_error()
            self.status.value = (
                f"{result.k} concepts of <code>{html.escape(result.layer)}</code> over "
                f"{len(inputs)} images (NMF error {result.error:.0%})"
            )
            self.show_progress(None)
            self.draw()

        job.deliver(done)

    # ------------------------------------------------------------------ drawing
    def explained(self) -> int:
        """The explained class: the selection's target, else the predicted one."""
        sel, result = self.selection, self.result
        assert result is not None
        return sel.target if sel.target is not None else int(result.predictions[sel.index])

    def draw(self) -> None:
        """Redraw the picture's concepts for the explained class (no recomputation)."""
        result, sel = self.result, self.selection
        if result is None or sel.index >= len(result.logits):
            return
        index, cls = sel.index, self.explained()
        rgb = _scaled(sel.picture.display, SEG)
        self.verdict.value = self._verdict(index, cls)
        self.shown = result.top(index, cls)
        seg = result.segmentation(index).numpy()
        regions = [result.region(index, c).numpy() for c, _ in self.shown]
        tiles = [mace(rgb, region) for region in regions]
        notes = [
            f"{r:+.3g} {'for' if r >= 0 else 'against'}" if region.any() else "not here"
            for (_, r), region in zip(self.shown, regions, strict=True)
        ]
        self.strip.show(
            encode(strip(tiles, [f"concept {c}" for c, _ in self.shown], notes,
                         [PALETTE[c % len(PALETTE)] for c, _ in self.shown], TILE,
                         [FOR if r >= 0 else AGAINST for _, r in self.shown]), lossless=True),
            boxes=self._boxes(),
        )  # fmt: skip
        self.segments.show(encode(segments(rgb, seg, PALETTE), lossless=True))
        rows = "".join(
            f"<tr><td style='color:{PALETTE[c % len(PALETTE)]}'>■ concept {c}</td>"
            f"<td style='color:{FOR if r >= 0 else AGAINST}'>{r:+.3g}</td>"
            f"<td>{result.class_relevance[c, result.column(cls)]:+.3g}</td></tr>"
            for c, r in self.shown
        )
        self.legend.value = (
            f"<table><tr><th>segment</th><th>in this picture</th><th>per unit, any picture"
            f"</th></tr>{rows}</table><small>relevance for <b>{html.escape(sel.class_name(cls))}"
            "</b> in logit: red pushed toward it, blue against it. Click a concept above to "
            "see the pictures that show it most.</small>"
        )
        if self.selected is not None:
            self.select(self.selected)

    def _verdict(self, index: int, cls: int) -> str:
        result, sel = self.result, self.selection
        assert result is not None
        probs = result.logits[index].softmax(0)
        pred = int(probs.argmax())
        said = f"The model says <b>{html.escape(sel.class_name(pred))}</b> (p = {probs[pred]:.2f})"
        labels = getattr(sel, "labels", None)
        truth = labels[index] if labels is not None and index < len(labels) else None
        if truth is None or truth == pred:
            ok = "" if truth is None else " ✓ correct"
            name = html.escape(sel.class_name(cls))
            return f"<div>{said}{ok}; concepts ranked for <b>{name}</b>.</div>"
        spoke = ", ".join(
            f"concept {c} ({r:+.3g})" for c, r in result.top(index, int(truth))[:3] if r > 0
        ) if int(truth) in result.classes else ""  # fmt: skip
        return (
            f"<div style='color:#b00020'><b>✗ Misclassified</b>: {said}, but the picture is "
            f"<b>{html.escape(sel.class_name(int(truth)))}</b>. The red concepts below pushed "
            f"toward {html.escape(sel.class_name(cls))}"
            + (
                f"; what spoke for {html.escape(sel.class_name(int(truth)))}: {spoke}"
                if spoke
                else ""
            )
            + ".</div>"
        )

    def _boxes(self) -> list:
        order = [c for c, _ in self.shown]
        if self.selected is None or self.selected not in order:
            return []
        x = order.index(self.selected) * (TILE + GAP)
        return [(x, 0, TILE, BAR + TILE + TEXT, "#00e5ff")]

    def _clicked(self, x: float, _y: float) -> None:
        i = tile_at(x, len(self.shown), TILE)
        if i is not None:
            self.select(self.shown[i][0])

    def select(self, concept: int) -> None:
        """Show ``concept``'s exemplars (the images that express it most), MACE-style."""
        result, sel = self.result, self.selection
        if result is None or not 0 <= concept < result.k or self.inputs is None:
            return
        self.selected = concept
        self.strip.mark(self._boxes())
        rows = result.exemplars[concept].tolist()
        gallery = len(sel.pictures)
        tiles = [mace(self._display(i), result.segmentation(i).numpy() == concept) for i in rows]
        names = [f"gallery {i}" if i < gallery else f"data {i - gallery}" for i in rows]
        scores = [f"{s:.3g}" for s in result.exemplar_scores[concept].tolist()]
        colour = PALETTE[concept % len(PALETTE)]
        self.exemplars.show(
            encode(strip(tiles, names, scores, [colour] * len(tiles), EXEMPLAR), lossless=True)
        )
        self.exemplar_caption.value = (
            f"<b style='color:{colour}'>concept {concept}</b>: the {len(rows)} images that show "
            "it most (mean concept map below each), blacked out except the concept"
        )

    def _display(self, row: int) -> np.ndarray:
        sel = self.selection
        if row < len(sel.pictures):
            return sel.pictures[row].display
        assert self.inputs is not None
        return sel.preprocess.display(self.inputs[row])


def _scaled(rgb: np.ndarray, side: int) -> np.ndarray:
    """``rgb`` resized so that its longer side is ``side`` px."""
    h, w = rgb.shape[:2]
    scale = side / max(h, w)
    return resize_rgb(rgb, (max(1, round(h * scale)), max(1, round(w * scale))))
