"""The Explorer: click, slide, toggle, and watch the explanation follow the hand.

A gallery of pictures over a ``Tab`` of independent views, all built from one
:class:`~.selection.Selection`: the Explain tab, the feature views, and every tab registered
with :func:`~.tabs.register_tab`. Python drives it exactly as a click does::

    import xai_widgets as xw
    ex = xw.Explorer.from_zoo("shapes")                  # a shipped model and its data
    ex = xw.Explorer(model, images, classes=names, preprocess=(mean, std))
    ex.selection.method = "saliency"; ex.wait()
    ex.explanation.method                               # 'saliency'

The constructor never computes: the widget appears at once and the first map streams in. A
view computes only while its tab is shown.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import ipywidgets as w

from ..explanation import Explanation
from .explain_tab import ExplainTab
from .export import snapshot
from .images import decode_upload
from .panels import Gallery
from .selection import Selection
from .tabs import registered_tabs
from .view import View

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
        names: the pictures' names; method: the method shown first; size: the main canvas's
            longer side in px; tabs: the tab classes to show (default: every registered tab);
            input_size: resize and centre-crop pictures to this model input size (an int or
            (height, width); default: a zoo card's size) while the canvas shows the photo;
            masks: a ground-truth (H, W) bool mask per picture, for the localisation measures;
            dataset: the data exemplars and statistics run over (default: the gallery);
            output: where the logits are in what the model returns (an index, a key or a
            callable; default: a tensor, a tuple's first, a dict's "logits", ``.logits``);
            explain_input: for scenes of a multi-input model (``images`` a list of tuples of
            inputs), the input explained; the others are held at the scene's values and only
            the tabs that handle scenes are shown (the Explain tab).

    A per-pixel model (output (N, K, H, W)) is explained through a class's mean score over a
    region chosen on its prediction map, shown beside the picture (:mod:`.prediction`).
    """

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
        tabs: Sequence[type[View]] | None = None,
        input_size: int | tuple[int, int] | None = None,
        masks: Sequence[Any] | None = None,
        dataset: Any = None,
        output: Any = None,
        explain_input: int = 0,
    ) -> None:
        self.selection = Selection(
            model, images, classes=classes, preprocess=preprocess, names=names, method=method,
            input_size=input_size, masks=masks, dataset=dataset, output=output,
            explain_input=explain_input,
        )  # fmt: skip
        sel = self.selection
        self.gallery = Gallery(sel.pictures, lambda i: setattr(sel, "index", i))
        sel.observe(lambda c: self.gallery.select(c["new"]), "index")
        sel.observe(lambda c: self.gallery.set_pictures(c["new"]), "pictures")
        self.upload = w.FileUpload(accept="image/*", multiple=False, description="Add image")
        self.upload.add_class("xw-upload")
        self.upload.observe(self._uploaded, "value")
        self.views: list[View] = []
        if tabs is None:  # a multi-input model's scenes: the tabs that can show them
            tabs = [t for t in registered_tabs() if sel.scenes is None or t.scenes]
        for cls in tabs:
            view = cls(sel, size=size) if cls is ExplainTab else cls(sel)
            self.views.append(view)
        self.tabs = w.Tab(self.views, titles=[v.title for v in self.views])
        self.tabs.observe(self._tab_selected, "selected_index")
        sel.observe(self._focus, "focus")
        header = w.HBox([self.gallery.canvas, self.upload], layout=w.Layout(align_items="center"))
        self.notes = w.HTML("".join(f"<div>ⓘ {html.escape(n)}</div>" for n in sel.notes))
        self.notes.add_class("xw-notes")
        super().__init__(children=[header, self.notes, self.tabs])
        self.add_class("xw-explorer")
        if self.views:
            self.views[0].set_on_screen(True)
        self.save_button = self.explain_tab.save_button if self.explain_tab else None
        if self.save_button is not None:
            self.save_button.on_click(lambda _b: self.save())

    @classmethod
    def from_zoo(
        cls, name: str, n: int = 12, seed: int | None = None, data_size: int = 200, **kwargs: Any
    ) -> Explorer:
        """An Explorer on a shipped zoo model with held-out images of its own dataset (the
        card's test seed unless ``seed`` is given), their masks, its class names and
        preprocessing, and ``data_size`` more held-out images as the dataset that exemplars
        and statistics run over."""
        from .. import data, zoo

        card = zoo.card(name)
        seed = card.test_seed if seed is None and card.test_seed is not None else (seed or 0)
        if card.dataset == "sea_ice":  # two sensors per scene, per-pixel labels
            sar, mwr, _labels = data.dataset(card.dataset, n, seed=seed, **card.dataset_kwargs)
            if data_size and "dataset" not in kwargs:  # Z-scores' statistics: more scenes
                more = min(data_size, 64)
                kwargs["dataset"] = data.dataset(
                    card.dataset, more, seed=seed + 1, **card.dataset_kwargs
                )
            return cls(
                zoo.load(name), list(zip(sar, mwr, strict=True)), classes=card.classes,
                names=[f"scene {i}" for i in range(n)], **kwargs,
            )  # fmt: skip
        images, labels, masks = data.dataset(card.dataset, n, seed=seed, **card.dataset_kwargs)
        names = [f"#{i} {card.classes[int(y)]}" for i, y in enumerate(labels)]
        if masks is not None and "masks" not in kwargs:
            kwargs["masks"] = list(masks)
        if data_size and "dataset" not in kwargs:
            more, _, _ = data.dataset(card.dataset, data_size, seed=seed + 1, **card.dataset_kwargs)
            kwargs["dataset"] = list(more)
        explorer = cls(
            zoo.load(name), list(images), classes=card.classes, preprocess=card, names=names,
            **kwargs,
        )  # fmt: skip
        explorer.selection.labels = [int(y) for y in labels]  # the Concepts tab's verdict
        return explorer

    # ------------------------------------------------------------------ the selection
    @property
    def model(self) -> Any:
        return self.selection.model

    @property
    def pictures(self) -> list:
        return self.selection.pictures

    @property
    def index(self) -> int:
        """The selected picture (``selection.index``)."""
        return self.selection.index

    @index.setter
    def index(self, value: int) -> None:
        self.selection.index = value

    @property
    def method(self) -> str:
        """The method shown (``selection.method``)."""
        return self.selection.method

    @method.setter
    def method(self, value: str) -> None:
        self.selection.method = value

    @property
    def target(self) -> int | None:
        """The explained class, None = the predicted one (``selection.target``)."""
        return self.selection.target

    @target.setter
    def target(self, value: int | None) -> None:
        self.selection.target = value

    @property
    def layer(self) -> str:
        """The layer of layer-based methods, '' = the default (``selection.layer``)."""
        return self.selection.layer

    @layer.setter
    def layer(self, value: str) -> None:
        self.selection.layer = value

    # ------------------------------------------------------------------ the views
    def view(self, cls: type[View]) -> View | None:
        """The shown view of class ``cls`` (None if this Explorer has no such tab)."""
        return next((v for v in self.views if isinstance(v, cls)), None)

    @property
    def explain_tab(self) -> ExplainTab | None:
        return self.view(ExplainTab)  # type: ignore[return-value]

    @property
    def feature_views(self) -> list[View]:
        from .views import FeatureView

        return [v for v in self.views if isinstance(v, FeatureView)]

    @property
    def explanation(self) -> Explanation | None:
        """The :class:`~xai_widgets.Explanation` the Explain tab shows (after :meth:`wait`,
        the one of the current selection)."""
        tab = self.explain_tab
        return None if tab is None else tab.explanation

    def _tab_selected(self, change: dict) -> None:
        for i, view in enumerate(self.views):
            view.set_on_screen(i == change["new"])

    def _focus(self, change: dict) -> None:
        request = dict(change["new"])
        title = request.pop("tab", None)
        view = next((v for v in self.views if v.title == title), None)
        if view is None:
            return
        self.tabs.selected_index = self.views.index(view)
        for name, value in request.items():
            setattr(view, name, value)

    def show_tab(self, cls: type[View]) -> View:
        """Select the tab of class ``cls`` (as a click on its title does)."""
        view = self.view(cls)
        if view is None:
            raise ValueError(f"this Explorer has no {cls.__name__} tab")
        self.tabs.selected_index = self.views.index(view)
        return view

    # ------------------------------------------------------------------ actions
    def probe(self, x: float, y: float) -> None:
        """Occlude the patch centred at main-canvas pixel (x, y), as a click does."""
        self._explain().probes.probe(x, y)

    def clear_probes(self) -> None:
        self._explain().probes.clear()

    def compare(self, methods: list[str] | None = None) -> None:
        """Show the chosen methods (default: all) side by side for the current picture."""
        self._explain().compare.compare(methods)

    def set_param(self, name: str, value: Any, method: str | None = None) -> None:
        """Set a parameter of ``method`` (default: the current one), as its control would."""
        self.selection.set_param(name, value, method)

    def add_image(self, image: Any, name: str = "") -> int:
        """Add an image (tensor, numpy array, PIL) to the gallery and select it."""
        return self.selection.add_picture(image, name)

    def _uploaded(self, change: dict) -> None:
        files = change["new"]
        if not files:
            return
        try:
            for item in files:
                self.add_image(decode_upload(item["content"]), name=item.get("name", "upload"))
        except (ValueError, TypeError) as exc:
            self._explain().show_error("upload", exc)
        finally:
            self.upload.value = ()  # the same file can be chosen again

    def snapshot(self) -> bytes:
        """The Explain tab's view (image, heatmap, colour bar, caption) as PNG bytes."""
        return snapshot(self._explain())

    def save(self, path: str | Path | None = None) -> Path:
        """Write :meth:`snapshot` to ``path`` (default: a name in the working directory)."""
        sel = self.selection
        target = Path(path or f"xw-snapshot-{sel.index}-{sel.method}.png")
        target.write_bytes(self.snapshot())
        tab = self._explain()
        tab.status.value = f"{tab.caption} · saved <code>{target}</code>"
        return target

    def cancel(self) -> None:
        """Stop the running computations; the views keep what they show."""
        for view in self.views:
            view.cancel()

    def wait(self, timeout: float = 60.0) -> bool:
        """Block until the shown views show the current selection (scripts and tests)."""
        return self.selection.engine.wait(timeout)

    def close(self) -> None:
        selection = getattr(self, "selection", None)  # None when the constructor raised
        if selection is not None:
            selection.close()
        for view in getattr(self, "views", []):
            view.close()
        super().close()

    def _explain(self) -> ExplainTab:
        tab = self.explain_tab
        if tab is None:
            raise ValueError("this Explorer has no Explain tab")
        return tab

    def _repr_mimebundle_(self, **kwargs: Any) -> dict:
        bundle = super()._repr_mimebundle_(**kwargs) or {}
        if self.explain_tab is not None:
            bundle["image/png"] = base64.b64encode(self.snapshot()).decode("ascii")
        return bundle
