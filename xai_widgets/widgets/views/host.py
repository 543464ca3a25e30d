"""What a feature view needs from whoever shows it: the :class:`ViewHost` interface.

The Explorer is a host (it has every attribute below and an ``index`` trait); a standalone view
builds a :class:`StandaloneHost` from ``(model, images, preprocess, classes)`` with the same
picture handling as the Explorer (:func:`xai_widgets.widgets.images.pictures`) and its own
:class:`~xai_widgets.widgets.engine.Engine`.

Model inputs become pictures again with :func:`to_display`: the host's preprocessing is undone
when it can be (a zoo card or ``(mean, std)``: :func:`xai_widgets.data.denormalize`), else the
image is min-max scaled, as ``images.py`` shows a tensor it was given.

Example::

    host = StandaloneHost(model, images, preprocess=zoo.card("shapes"))
    host.index = 2            # views observe it: host.observe(handler, "index")
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol, runtime_checkable

import numpy as np
import torch
from torch import nn
from traitlets import HasTraits, Int, TraitError, validate

from ...checks import check_model
from ...layers import model_device
from ...render import image_to_uint8
from ..engine import Engine
from ..images import Picture, pictures

__all__ = ["StandaloneHost", "ViewHost", "to_display"]


@runtime_checkable
class ViewHost(Protocol):
    """The small interface a view is built on (the Explorer satisfies it as it is).

    ``model``: the classifier (never modified); ``engine``: the shared latest-wins lanes;
    ``pictures``: the gallery (``Picture(display, input, name)``); ``index``: the current
    picture, observable with ``observe(handler, "index")``; ``preprocess``: None, a card,
    ``(mean, std)`` or a callable (for :func:`to_display`); ``class_name(c)``: a label. Views
    show their own errors; the host's engine error handler is never used by them.
    """

    model: nn.Module
    engine: Engine
    pictures: list[Picture]
    preprocess: Any
    index: int

    def class_name(self, cls: int) -> str: ...

    def observe(self, handler: Callable[[dict], None], names: Any = ...) -> None: ...


class StandaloneHost(HasTraits):
    """A host for a view shown on its own: the pictures, an engine and the ``index`` trait.

    Args:
        model: any ``torch.nn.Module`` image classifier; never modified.
        images: a batch tensor, a list of tensors / arrays / PIL images, or a dataset name.
        preprocess: None (images are model inputs), a zoo card or ``(mean, std)``, or a
            callable picture -> tensor (see :mod:`xai_widgets.widgets.images`).
        classes: class names; names: picture names.
    """

    index = Int(0, help="the current picture")

    def __init__(
        self,
        model: nn.Module,
        images: Any,
        preprocess: Any = None,
        classes: Sequence[str] | None = None,
        names: Sequence[str] | None = None,
    ) -> None:
        super().__init__()
        self.model = check_model(model)
        self.pictures: list[Picture] = pictures(images, preprocess, names)
        self.preprocess = preprocess
        self.class_names = list(classes) if classes is not None else None
        self.device = model_device(model)
        self.engine = Engine()

    @validate("index")
    def _valid_index(self, proposal: dict) -> int:
        if not 0 <= proposal["value"] < len(self.pictures):
            raise TraitError(f"index must be in 0..{len(self.pictures) - 1}")
        return proposal["value"]

    def class_name(self, cls: int) -> str:
        if self.class_names and 0 <= cls < len(self.class_names):
            return str(self.class_names[cls])
        return f"class {cls}"

    def close(self) -> None:
        self.engine.close()


def _invertible(preprocess: Any) -> bool:
    """True for a card, a mapping with mean/std or a (mean, std) pair (images.py's rule: a
    callable without ``mean`` is a function, anything else non-None is normalization)."""
    return preprocess is not None and not (callable(preprocess) and not hasattr(preprocess, "mean"))


def to_display(x: torch.Tensor, preprocess: Any = None) -> np.ndarray:
    """A model input (C, H, W) or (1, C, H, W) as an (H, W, 3) uint8 picture.

    Normalization known (card, ``(mean, std)``): ``denormalize`` (clamped to [0, 1]); None:
    as the gallery shows an input (values in [0, 1] kept, others min-max scaled); a callable
    cannot be inverted: min-max scaled.
    """
    x = x.detach().float().cpu()
    if x.dim() == 4:
        x = x[0]
    if _invertible(preprocess):
        from ...data import denormalize

        try:
            return image_to_uint8(denormalize(x[None], preprocess)[0])
        except (TypeError, ValueError):
            pass  # statistics that do not fit this input: fall back to min-max
    elif preprocess is None:
        return image_to_uint8(x)
    lo, hi = float(x.min()), float(x.max())
    return image_to_uint8((x - lo) / (hi - lo) if hi > lo else torch.zeros_like(x))
