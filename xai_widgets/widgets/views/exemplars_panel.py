"""The Activations view's exemplar panel: the gallery pictures that excite one channel most.

:func:`xai_widgets.features.top_activating` over the host's pictures (batched, with the view's
progress bar, stopped by "Stop" or a newer request), shown as the receptive-field crops of
each picture's strongest unit with their scores (:func:`.tiles.exemplar_grid`).
"""

from __future__ import annotations

import html

import ipywidgets as w
import torch

from ...features import Exemplars, top_activating
from ..canvas import encode
from ..engine import Job
from ..images import Picture
from .base import FeatureView
from .surface import Surface
from .tiles import exemplar_grid

__all__ = ["ExemplarsPanel"]


class ExemplarsPanel:
    """ "Exemplars" and "Stop" buttons, a caption and the crops; ``k`` best pictures."""

    def __init__(self, view: FeatureView, k: int = 9) -> None:
        self.view, self.k = view, k
        self.exemplars: Exemplars | None = None
        self.button = w.Button(description="Exemplars", icon="search", button_style="info")
        self.button.add_class("xw-act-exemplars")
        self.button.tooltip = "Find the data set images that excite the chosen channel most."
        stop = w.Button(description="Stop", icon="stop", layout=w.Layout(width="80px"))
        stop.add_class("xw-act-exemplars-stop")
        stop.on_click(lambda _b: view.cancel("exemplars"))
        self.grid = Surface("xw-act-exemplars-grid")
        self.caption = w.HTML()
        row = w.HBox([self.button, stop, view.progress], layout=w.Layout(align_items="center"))
        self.widget = w.VBox([row, self.caption, self.grid.widget])

    def find(self, layer: str, channel: int) -> None:
        """Rank the data set (else the gallery) by ``channel`` of ``layer``; show the best crops."""
        self.caption.value = f"finding exemplars of channel {channel} …"
        self.view.submit("exemplars", lambda job: self._run(job, layer, channel), "exemplars")

    def _run(self, job: Job, layer: str, channel: int) -> None:
        view = self.view
        sel = view.selection
        data = sel.data()
        ex = top_activating(view.model, data, layer, channel, self.k, progress=view.reporter(job))
        if sel.dataset is None:  # the gallery's own pictures, as the user sees them
            pics = [sel.pictures[i] for i in ex.indices.tolist()]
            source = f"{len(sel.pictures)} gallery pictures"
        else:
            pics = [
                Picture(sel.preprocess.display(img), img.cpu(), f"data #{i}")
                for i, img in zip(ex.indices.tolist(), ex.images, strict=True)
            ]
            total = len(data) if isinstance(data, torch.Tensor) else "the data set's"
            source = f"{total} data set images"
        encoded = encode(exemplar_grid(ex, pics), lossless=True)

        def draw() -> None:
            self.exemplars = ex
            self.grid.show(encoded)
            self.caption.value = (
                f"<b>the {len(ex.indices)} of {source}</b> that excite channel "
                f"{channel} of <code>{html.escape(layer)}</code> most (max over positions), "
                "each cropped to the receptive field of its strongest unit; score, name"
            )
            view.show_progress(None)

        job.deliver(draw)
