"""Multi-input scenes and dense regions in the Selection (see :mod:`xai_widgets.dense`).

A model with several inputs (the sea-ice fusion network: SAR and radiometer) is shown with
``images`` as a list of scenes, each a tuple of the model's inputs without the batch axis. The
gallery and the canvas show the explained input (``explain_input``, default 0); every session
explains the model with respect to that input while the scene's other inputs are held
(:class:`~xai_widgets.dense.OneInput`), and its status says so.

Example::

    sar, mwr, _ = data.dataset("sea_ice", 4)
    sel = Selection(zoo.load("fusion_small"), list(zip(sar, mwr)), classes=["ice"])
    sel.session().note        # 'explaining sar; mwr held at this scene's values'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ..dense import OneInput, held_note, input_names

__all__ = ["Scenes", "check_region"]


def _is_scene(item: Any) -> bool:
    return (
        isinstance(item, (tuple, list))
        and len(item) >= 2
        and all(isinstance(t, torch.Tensor) for t in item)
    )


class Scenes:
    """The held inputs of every scene of a multi-input model (on the model's device)."""

    def __init__(self, model: nn.Module, scenes: Sequence[Any], index: int) -> None:
        sizes = {len(s) for s in scenes}
        if len(sizes) != 1:
            raise ValueError(
                f"every scene must hold the same number of inputs, got {sorted(sizes)}"
            )
        count = sizes.pop()
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < count:
            raise ValueError(
                f"explain_input must be an input index in 0..{count - 1}, got {index!r}"
            )
        self.model = model
        self.index = index
        self.scenes = [tuple(t.detach()[None] for t in scene) for scene in scenes]
        self.names = input_names(model, count)

    @classmethod
    def split(cls, model: nn.Module, images: Any, index: int) -> tuple[Any, Scenes | None]:
        """``(the explained pictures, Scenes)`` for a list of scenes; ``(images, None)`` for
        anything else (pictures of a one-input model)."""
        if not isinstance(images, (list, tuple)) or not images or not _is_scene(images[0]):
            if index != 0:
                raise ValueError("explain_input needs scenes: a list of tuples of model inputs")
            return images, None
        if not all(_is_scene(s) for s in images):
            raise TypeError("scenes must all be tuples of tensors (one per model input)")
        scenes = cls(model, images, index)
        shape = tuple(images[0][index].shape)
        if len(shape) != 3 or shape[0] not in (1, 3):
            raise ValueError(
                f"explain_input={index} ({scenes.names[index]!r}) has shape {shape}; the "
                "Explorer shows a 1- or 3-channel picture (C, H, W). Explain this input "
                "without widgets: xw.explain(xai_widgets.dense.OneInput(model, scene, "
                f"index={index}), ...)"
            )
        return [scene[index] for scene in images], scenes

    def model_for(self, scene: int, device: torch.device) -> OneInput:
        """The model as a one-input model of the explained input of scene ``scene``."""
        held = [t.to(device) for t in self.scenes[scene]]
        return OneInput(self.model, held, self.index)

    def columns(self) -> tuple[torch.Tensor, ...]:
        """Every scene as dataset columns (one batch tensor per input), for statistics."""
        count = len(self.scenes[0])
        return tuple(torch.cat([scene[i] for scene in self.scenes]) for i in range(count))

    def check_data(self, data: Any) -> Any:
        """A dataset of scenes: columns (a tuple of batch tensors, the inputs first, e.g.
        ``data.dataset("sea_ice", 64)``) or an iterable of such batches (a DataLoader)."""
        if isinstance(data, (str, bytes)) or not hasattr(data, "__iter__"):
            raise TypeError(
                "dataset of a multi-input model must be columns (a tuple of batch tensors, the "
                f"model's inputs first) or a DataLoader of such batches, not {type(data).__name__}"
            )
        if isinstance(data, tuple) and len(data) < len(self.scenes[0]):
            raise ValueError(
                f"dataset has {len(data)} column(s) but the model takes {len(self.scenes[0])} "
                "inputs"
            )
        return data

    def note(self) -> str:
        return held_note(self.names, self.index)


def check_region(value: Any, size: tuple[int, int]) -> tuple[int, int, int, int] | None:
    """A dense region (top, left, bottom, right) inside an output map of ``size``, or None
    (the whole map); ValueError/TypeError naming what is accepted."""
    if value is None:
        return None
    if not isinstance(value, (tuple, list)) or len(value) != 4:
        raise TypeError(f"region must be (top, left, bottom, right) or None, got {value!r}")
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise TypeError(f"region must hold four integers (pixels), got {value!r}")
    top, left, bottom, right = value
    height, width = size
    if not (0 <= top < bottom <= height and 0 <= left < right <= width):
        raise ValueError(
            f"region {tuple(value)} is not inside the {height} x {width} map; need "
            "0 <= top < bottom <= height and 0 <= left < right <= width"
        )
    return (top, left, bottom, right)
