"""Small trained models that ship inside the package, with their cards; ImageNet and ONNX
models from elsewhere.

===========  ===================  ==========================================
name         dataset              architecture style
===========  ===================  ==========================================
shapes       triangles_squares    VGG-like (conv/ReLU/max-pool, linear head)
counting     counting             ResNet (BatchNorm, residual blocks, GAP)
textures     textures             conv stack + global-average-pool head (CAM)
faces        faces                conv stack + global-average-pool head (CAM)
shapes_vit   triangles_squares    torchvision VisionTransformer (conv stem)
===========  ===================  ==========================================

Weights are plain state_dicts loaded with ``torch.load(weights_only=True)``;
``python -m xai_widgets.zoo.train NAME`` re-creates them (seeded, a few minutes on 2 cores).

Example::

    >>> from xai_widgets import data, zoo
    >>> model, c = zoo.load("shapes"), zoo.card("shapes")
    >>> images, labels, masks = data.dataset(c.dataset, 8, seed=5, **c.dataset_kwargs)
    >>> model(data.normalize(images, c)).argmax(1)          # logits -> classes
    >>> zoo.evaluate("shapes", n=300)                       # held-out accuracy, re-measured
"""

from __future__ import annotations

from functools import cache
from importlib import resources

import torch
from torch import nn

from .card import ModelCard
from .external import from_onnx, imagenet, imagenet_card
from .specs import SPECS

__all__ = [
    "ModelCard",
    "card",
    "evaluate",
    "from_onnx",
    "imagenet",
    "imagenet_card",
    "load",
    "names",
]


def names() -> list[str]:
    """The models that ship with the package."""
    return list(SPECS)


def _check(name: str) -> None:
    if name not in SPECS:
        raise ValueError(
            f"unknown zoo model {name!r}; the zoo has: {', '.join(SPECS)} "
            "(ImageNet models: zoo.imagenet(name); ONNX files: zoo.from_onnx(path))"
        )


def _resource(folder: str, filename: str):
    return resources.files(__name__).joinpath(folder, filename)


@cache
def card(name: str) -> ModelCard:
    """The card of zoo model ``name``: classes, dataset, preprocessing, held-out accuracy."""
    _check(name)
    path = _resource("cards", f"{name}.json")
    if not path.is_file():
        raise FileNotFoundError(
            f"the card of {name!r} is missing; run `python -m xai_widgets.zoo.train {name}`"
        )
    return ModelCard.from_json(path.read_text(encoding="utf-8"))


def load(name: str, device: torch.device | str | None = None) -> nn.Module:
    """A fresh copy of zoo model ``name`` with its trained weights, in eval mode, on
    ``device`` (default CPU). Raises ValueError listing the zoo for an unknown name."""
    _check(name)
    model = SPECS[name].build()
    path = _resource("weights", f"{name}.pt")
    if not path.is_file():
        raise FileNotFoundError(
            f"the weights of {name!r} are missing; run `python -m xai_widgets.zoo.train {name}`"
        )
    with path.open("rb") as f:
        state = torch.load(f, map_location=device or "cpu", weights_only=True)
    model.load_state_dict(state)
    model.zoo_card = card(name)  # read by analysis.zscores (groups, mixing layer)
    return model.to(device or "cpu").eval()


def evaluate(name: str, n: int | None = None, seed: int | None = None) -> float:
    """Re-measure the held-out accuracy of zoo model ``name`` on ``n`` fresh images (the
    card's ``test_seed`` and ``test`` split unless ``seed`` is given; never training data)."""
    from .train import evaluate_model, held_out

    _check(name)
    if SPECS[name].task == "dense":
        from .train_dense import evaluate_dense

        return evaluate_dense(SPECS[name], load(name), n, seed)
    images, labels = held_out(SPECS[name], n, seed)
    return evaluate_model(load(name), images, labels, card(name))
