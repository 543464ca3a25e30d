"""The one state every tab reads and writes.

A :class:`Selection` holds the model, the pictures and what is being looked at: the picture
(``index``), the method, the explained class (``target``, None = the predicted one), the layer
('' = the model's default layer) and the current method's parameter values (``params``, a dict
that is replaced, never mutated, so observers fire). Tabs observe it; controls are linked to it
both ways, so setting a trait from Python does exactly what the control does. It also owns the
engine (the latest-wins compute lanes every tab shares) and the per-picture sessions (the
recorded forward pass of a picture, shared by every tab).

Example::

    sel = Selection(model, images, classes=names, preprocess=card)
    sel.method = "occlusion"
    sel.params = {"patch": 8}          # merged with the method's other values, then checked
    sel.params                         # {'patch': 8, 'stride': 8, 'baseline': 0.0}
    sel.session(0).top(3)              # [(class, probability), ...] of picture 0
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn
from traitlets import (
    Dict,
    HasTraits,
    Instance,
    Int,
    List,
    TraitError,
    Tuple,
    Unicode,
    observe,
    validate,
)

from ..checks import check_model
from ..layers import model_device
from ..methods.registry import get_method, list_methods, method_params
from ..outputs import OutputSpec, check_output_spec
from ..params import check_params, clamp_related
from .engine import Engine
from .images import Picture, Preprocess, picture, pictures
from .scenes import Scenes, check_region
from .session import ImageSession

__all__ = ["Selection"]

_SESSIONS = 3  # pictures whose recorded forward pass is kept
LARGE_PICTURE = 512  # px: a larger picture without an input size gets a note


class Selection(HasTraits):
    """What every tab shows: see the module doc.

    Args:
        model: any ``torch.nn.Module`` image classifier, or per-pixel model (output (N, K,
            H, W): classes are scored by their mean over ``region``); never modified.
        images: a batch tensor, a list of tensors / numpy arrays / PIL images, or a dataset
            name of :mod:`xai_widgets.data`; for a model with several inputs, a list of
            scenes, each a tuple of its inputs without the batch axis (:mod:`.scenes`).
        classes: class names (index -> name); preprocess: None, a zoo card, ``(mean, std)``
            or a callable picture -> tensor (see :class:`~.images.Preprocess`); names: the
            pictures' names; method: the method shown first; explain_input: which input of a
            scene is explained (the others are held at the scene's values).
    """

    pictures = List(help="the pictures: what the canvas shows beside what the model sees")
    index = Int(0, help="the selected picture")
    method = Unicode("grad_cam", help="the attribution method (see list_methods())")
    target = Int(None, allow_none=True, help="the explained class; None = the predicted one")
    layer = Unicode("", help="the layer of layer-based methods; '' = the model's default layer")
    params = Dict(help="the current method's parameter values (replace, never mutate)")
    engine = Instance(Engine, help="the latest-wins compute lanes every tab shares")
    focus = Dict(help="a request to show something in another tab: {'tab': title, trait: value}")
    region = Tuple(
        None, allow_none=True,
        help="a per-pixel model's explained region (top, left, bottom, right); None: all",
    )  # fmt: skip

    def __init__(
        self,
        model: nn.Module,
        images: Any,
        *,
        classes: Sequence[str] | None = None,
        preprocess: Any = None,
        names: Sequence[str] | None = None,
        method: str = "grad_cam",
        engine: Engine | None = None,
        input_size: int | tuple[int, int] | None = None,
        masks: Sequence[Any] | None = None,
        dataset: Any = None,
        output: OutputSpec = None,
        explain_input: int = 0,
    ) -> None:
        self.model = check_model(model)
        images, self.scenes = Scenes.split(self.model, images, explain_input)
        self.output = check_output_spec(output)
        self.preprocess = Preprocess.of(preprocess, input_size)
        self.classes = [str(c) for c in classes] if classes is not None else None
        self.device = model_device(model)
        self._saved = {m: _defaults(m) for m in list_methods()}
        self._sessions: OrderedDict[int, ImageSession] = OrderedDict()
        self._sessions_lock = threading.Lock()
        super().__init__(pictures=pictures(images, self.preprocess, names))
        self.notes = _size_notes(self.pictures, self.preprocess)
        self.masks = _check_masks(masks, self.pictures)
        self.dataset = self._check_dataset(dataset)
        self.labels: list[int] | None = None  # true classes when known (from_zoo); None: not
        self.engine = engine or Engine()
        self.method = method
        self.params = self._saved[method]

    # ---------------------------------------------------------------- validation
    @validate("index")
    def _valid_index(self, proposal: dict) -> int:
        if not 0 <= proposal["value"] < len(self.pictures):
            raise TraitError(f"index must be in 0..{len(self.pictures) - 1}")
        return proposal["value"]

    @validate("method")
    def _valid_method(self, proposal: dict) -> str:
        if proposal["value"] not in list_methods():
            methods = ", ".join(list_methods())
            raise TraitError(f"unknown method {proposal['value']!r}; one of {methods}")
        return proposal["value"]

    @validate("target")
    def _valid_target(self, proposal: dict) -> int | None:
        value = proposal["value"]
        if value is not None and value < 0:
            raise TraitError(f"target must be a class index >= 0 or None, got {value}")
        return value

    @validate("region")
    def _valid_region(self, proposal: dict) -> tuple[int, int, int, int] | None:
        try:
            return check_region(proposal["value"], tuple(self.picture.input.shape[1:]))
        except (TypeError, ValueError) as exc:
            raise TraitError(str(exc)) from exc

    @validate("params")
    def _valid_params(self, proposal: dict) -> dict:
        """Missing names keep their current values; unknown names and bad values raise."""
        method = self.method
        values = {**self._saved.get(method, {}), **proposal["value"]}
        values.pop("layer", None)  # the layer is its own trait
        try:
            values = clamp_related(get_method(method), values)
            check_params(get_method(method), values, method)
        except (TypeError, ValueError) as exc:
            raise TraitError(str(exc)) from exc
        return values

    @observe("method")
    def _method_changed(self, change: dict) -> None:
        self.params = self._saved[change["new"]]

    @observe("params")
    def _params_changed(self, change: dict) -> None:
        self._saved[self.method] = dict(change["new"])

    @observe("index")
    def _index_changed(self, _change: dict) -> None:
        self.target = None

    # ---------------------------------------------------------------- parameters
    def set_param(self, name: str, value: Any, method: str | None = None) -> None:
        """Set one parameter of ``method`` (default: the current one), as its control would."""
        method = method or self.method
        if method == self.method:
            self.params = {**self.params, name: value}
            return
        values = clamp_related(get_method(method), {**self._saved[method], name: value})
        check_params(get_method(method), values, method)
        self._saved[method] = values

    def param_values(self, method: str | None = None) -> dict[str, Any]:
        """The parameter values of ``method`` (default: the current one), layer included."""
        method = method or self.method
        values = dict(self.params if method == self.method else self._saved[method])
        if any(spec.kind == "layer" for spec in method_params(method)):
            values["layer"] = self.layer
        return values

    def show_in(self, tab: str, **traits: Any) -> None:
        """Ask the Explorer to open the tab titled ``tab`` and set ``traits`` on its view (a
        bar of the Z-scores tab opens its channel in the Activations tab)."""
        self.focus = {"tab": tab, **traits}

    # ---------------------------------------------------------------- pictures
    @property
    def picture(self) -> Picture:
        return self.pictures[self.index]

    def add_picture(self, image: Any, name: str = "") -> int:
        """Add an image (tensor, numpy array, PIL) and select it; returns its index."""
        if self.scenes is not None:
            raise ValueError("a multi-input model's scenes are fixed; no picture can be added")
        pic = picture(image, self.preprocess, name or f"#{len(self.pictures)}")
        expected = tuple(self.pictures[0].input.shape)
        if tuple(pic.input.shape) != expected:
            raise ValueError(
                f"the image became {tuple(pic.input.shape)} after preprocessing; this view "
                f"shows {expected} inputs: pass a preprocess that resizes (a zoo card or a "
                "callable)"
            )
        self.pictures = [*self.pictures, pic]
        self.index = len(self.pictures) - 1
        return self.index

    def class_name(self, cls: int) -> str:
        """The class's name, or "class 428" when the classes have no names."""
        if self.classes and 0 <= cls < len(self.classes):
            return self.classes[cls]
        return f"class {cls}"

    def _check_dataset(self, dataset: Any) -> Any:
        if self.scenes is not None and dataset is not None:
            return self.scenes.check_data(dataset)
        if dataset is None or (isinstance(dataset, torch.Tensor) and dataset.dim() == 4):
            return dataset
        if isinstance(dataset, (list, tuple)):
            if not dataset:
                raise ValueError("dataset is empty; give at least one picture")
            return torch.stack([self.preprocess.input(item) for item in dataset])
        if hasattr(dataset, "__iter__") and not isinstance(dataset, (str, torch.Tensor)):
            return dataset  # a DataLoader: streamed by the functions that use it
        raise TypeError(
            "dataset must be model inputs (N, C, H, W), a list of pictures or a DataLoader, "
            f"not {type(dataset).__name__}"
        )

    def data(self) -> Any:
        """What exemplars and statistics run over: the dataset, else the gallery's inputs."""
        if self.dataset is not None:
            return self.dataset
        if self.scenes is not None:
            return self.scenes.columns()
        return torch.stack([p.input for p in self.pictures])

    # ---------------------------------------------------------------- sessions
    def session(self, index: int | None = None) -> ImageSession:
        """The recorded forward pass of picture ``index`` (default: the current one), opened
        on first use (call it in an engine job: it runs the model); the last three are kept."""
        index = self.index if index is None else index
        with self._sessions_lock:
            session = self._sessions.get(index)
            if session is not None:
                self._sessions.move_to_end(index)
                session.region = self.region
                return session
        pic = self.pictures[index]
        model = self.model if self.scenes is None else self.scenes.model_for(index, self.device)
        session = ImageSession.open(model, pic.input[None].to(self.device), self.output)
        session.note = "" if self.scenes is None else self.scenes.note()
        with self._sessions_lock:
            session = self._sessions.setdefault(index, session)
            while len(self._sessions) > _SESSIONS:
                self._sessions.popitem(last=False)
        session.region = self.region
        return session

    def open_session(self, index: int | None = None) -> ImageSession | None:
        """The session of picture ``index`` if it is open already (never runs the model)."""
        with self._sessions_lock:
            return self._sessions.get(self.index if index is None else index)

    def close(self) -> None:
        self.engine.close()


def _check_masks(masks: Sequence[Any] | None, pics: list[Picture]) -> list[Any] | None:
    if masks is None:
        return None
    if len(masks) != len(pics):
        raise ValueError(f"masks: {len(masks)} masks for {len(pics)} pictures; give one each")
    out = []
    for i, (mask, pic) in enumerate(zip(masks, pics, strict=True)):
        mask = torch.as_tensor(mask)
        if tuple(mask.shape) != tuple(pic.input.shape[1:]):
            raise ValueError(
                f"masks: mask {i} has shape {tuple(mask.shape)}, its picture is "
                f"{tuple(pic.input.shape[1:])} (H, W)"
            )
        out.append(mask.bool())
    return out


def _size_notes(pics: list[Picture], preprocess: Preprocess) -> list[str]:
    """What a person should know about the sizes: a large picture the model sees as it is."""
    if preprocess.size is not None or preprocess.kind == "callable":
        return []
    side = max(max(p.input.shape[1:]) for p in pics)
    if side <= LARGE_PICTURE:
        return []
    return [
        f"The model sees these pictures at their own size (up to {side} px). A model trained "
        "on smaller inputs (224 px for ImageNet models) may answer differently: pass "
        "input_size=224 (or a zoo card as preprocess) to resize and centre-crop them as in "
        "training."
    ]


def _defaults(method: str) -> dict[str, Any]:
    return {s.name: s.default for s in method_params(method) if s.kind != "layer"}
