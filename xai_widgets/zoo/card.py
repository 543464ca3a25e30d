"""Model cards: what a zoo model was trained on and how to feed it (Mitchell et al. 2019,
"Model Cards for Model Reporting", reduced to what a notebook needs).

A card carries the preprocessing (``mean``, ``std``, ``input_size``, ``channels``), so
``data.prepare(image, card)`` builds the model's input and ``data.denormalize(x, card)`` shows
the picture the user knows. ``dataset`` is a name ``data.dataset`` accepts (with
``dataset_kwargs``); ``accuracy`` and ``median_confidence`` (the median top-1 softmax
probability, which says how saturated the model is) were measured by the training script
on ``n_test`` held-out images generated with ``test_seed`` (never used in training).

Example::

    >>> c = card("shapes")
    >>> c.classes, c.input_size, round(c.accuracy, 3)
    (('triangle', 'square'), (64, 64), 0.981)
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = ["ModelCard", "save_model"]


@dataclass(frozen=True)
class ModelCard:
    """Everything a widget needs to know about a model besides its weights."""

    name: str
    classes: tuple[str, ...]
    dataset: str | None
    input_size: tuple[int, int]
    channels: int
    mean: tuple[float, ...]
    std: tuple[float, ...]
    accuracy: float | None
    architecture: str
    median_confidence: float | None = None  # median top-1 softmax probability, held out
    dataset_kwargs: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    test_seed: int | None = None
    n_test: int | None = None
    description: str = ""
    source: str = ""
    training: dict[str, Any] = field(default_factory=dict)
    inputs: tuple[str, ...] = ()  # names of forward's inputs when there are several
    zscores: dict[str, Any] = field(default_factory=dict)  # layer, groups, coarse, modules

    def __post_init__(self) -> None:
        object.__setattr__(self, "classes", tuple(str(c) for c in self.classes))
        object.__setattr__(self, "input_size", tuple(int(s) for s in self.input_size))
        object.__setattr__(self, "mean", tuple(float(m) for m in self.mean))
        object.__setattr__(self, "std", tuple(float(s) for s in self.std))
        object.__setattr__(self, "inputs", tuple(str(s) for s in self.inputs))

    @property
    def mean_std(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """``(mean, std)``, the pair ``data.prepare`` also accepts."""
        return self.mean, self.std

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> ModelCard:
        raw = json.loads(text)
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in raw.items() if k in known})


def save_model(model: nn.Module, card: ModelCard, out: Path) -> int:
    """Write ``weights/<name>.pt`` and ``cards/<name>.json`` under ``out``; the weights' size
    in bytes."""
    weights = out / "weights" / f"{card.name}.pt"
    weights.parent.mkdir(parents=True, exist_ok=True)
    (out / "cards").mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), weights)
    (out / "cards" / f"{card.name}.json").write_text(card.to_json())
    return weights.stat().st_size
