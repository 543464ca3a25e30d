"""How each zoo model is built and trained: one :class:`Spec` per name, the only place.

``train.py`` reads the recipe, ``load`` the builder; the card written by training records the
rest. Every model trains with label smoothing (Szegedy et al. 2016, eps = 0.1): the target of
the true class is 1 - eps + eps / K, so a trained model is not saturated (a 2-class model's
top-1 probability tends to 0.95, not 1.0) and occluding the object visibly moves the
probability (``counting``, unsaturated without it, trains with eps = 0). Seeds: training
draws fresh data per epoch from ``seed * 1000 + epoch`` (or, for the fixed faces set, the
``train`` split); held-out accuracy uses ``test_seed`` and the ``test`` split, which training
never sees.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from torch import nn

from .architectures import GAPNet, ResNet, VGGNet
from .fusion import FusionNet
from .vit import small_vit

__all__ = ["SPECS", "Spec"]


@dataclass(frozen=True)
class Spec:
    name: str
    dataset: str
    build: Callable[[], nn.Module]
    input_size: tuple[int, int]
    channels: int
    threshold: float  # held-out accuracy the shipped weights must reach
    description: str
    dataset_kwargs: dict[str, Any] = field(default_factory=dict)
    split: bool = False  # the dataset takes split="train"/"test" (a fixed held-out part)
    fresh_data: bool = True  # regenerate the training set each epoch
    n_train: int | None = 4000
    epochs: int = 6
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    label_smoothing: float = 0.1  # cross-entropy targets 1 - eps + eps/K: logits stay finite
    augment: tuple[str, ...] = ("flip",)
    seed: int = 1
    test_seed: int = 20240
    n_test: int = 1000
    task: str = "classify"  # "dense": per-pixel, multi-input (trained by train_dense.py)
    warm_start: str = ""  # zoo model whose `features` initialise the stem (a hybrid ViT)


SPECS: dict[str, Spec] = {
    spec.name: spec
    for spec in (
        Spec(
            name="shapes",
            dataset="triangles_squares",
            dataset_kwargs={"size": 64},
            build=lambda: VGGNet(1, 2, widths=(8, 16, 32, 32), hidden=64, grid=4),
            input_size=(64, 64),
            channels=1,
            threshold=0.97,
            description="Triangles vs squares (Rangelova et al. 2018); masks give the object.",
            augment=("flip", "rot90"),
        ),
        Spec(
            name="counting",
            dataset="counting",
            dataset_kwargs={"size": 64, "max_count": 5},
            build=lambda: ResNet(1, 6, widths=(16, 32, 64), stem_stride=2),
            input_size=(64, 64),
            channels=1,
            threshold=0.90,
            description="How many circles (0-5)? Label k = number of circles; masks mark them.",
            augment=("flip", "rot90"),
            epochs=8,
            # Not saturated without smoothing (median top-1 probability 0.63 on held-out
            # images); with eps = 0.1 the held-out accuracy fell from 0.953 to 0.910.
            label_smoothing=0.0,
        ),
        Spec(
            name="textures",
            dataset="textures",
            dataset_kwargs={"size": 64},
            build=lambda: GAPNet(1, 3, widths=(8, 16, 32, 64)),
            input_size=(64, 64),
            channels=1,
            threshold=0.90,
            description="Brick, grass or gravel patch (scikit-image photos; bottom rows held out).",
            split=True,
            n_train=3000,
            epochs=6,
            augment=("flip",),
        ),
        Spec(
            name="faces",
            dataset="faces",
            build=lambda: GAPNet(1, 2, widths=(16, 32, 64)),
            input_size=(25, 25),
            channels=1,
            threshold=0.90,
            description="Face or not (scikit-image lfw_subset, 25x25; every 4th image held out).",
            split=True,
            fresh_data=False,
            n_train=None,
            epochs=120,
            batch_size=32,
            augment=("hflip", "shift", "jitter"),
            n_test=50,
        ),
        Spec(
            name="shapes_vit",
            dataset="triangles_squares",
            dataset_kwargs={"size": 64},
            build=lambda: small_vit(
                1,
                2,
                image_size=64,
                patch=8,
                layers=3,
                heads=4,
                dim=32,
                mlp=64,
                hybrid=(8, 16, 32, 32),
            ),
            input_size=(64, 64),
            channels=1,
            threshold=0.95,
            description="Triangles vs squares with a vision transformer (torchvision "
            "VisionTransformer, hybrid: the shapes CNN's convs as stem to 8x8 patches, 3 blocks of "
            "4 heads): attention maps and rollout.",
            augment=("flip", "rot90"),
            epochs=4,
            lr=1e-3,
            warm_start="shapes",
        ),
    )
}


# Sensor fusion (per-pixel ice probability from SAR + radiometer; zoo/fusion.py, train_dense.py).
_FUSION = dict(
    dataset="sea_ice",
    dataset_kwargs={"size": 128},
    input_size=(128, 128),
    channels=1,
    threshold=0.90,
    task="dense",
    n_train=512,
    epochs=3,
    batch_size=16,
    lr=5e-3,
    augment=(),
    n_test=64,
)
SPECS.update(
    {
        "fusion_small": Spec(
            name="fusion_small",
            build=lambda: FusionNet(width=14, branch_width=14),
            description="Sea ice from SAR + radiometer (Malmgren-Hansen et al.), 14 per group.",
            **_FUSION,
        ),
        "fusion_large": Spec(
            name="fusion_large",
            build=lambda: FusionNet(width=14, branch_width=28),
            description="Sea ice from SAR + radiometer, 28 per dilated group (Table 1, large).",
            **{**_FUSION, "n_train": 384},
        ),
        "fusion_large_relu": Spec(
            name="fusion_large_relu",
            build=lambda: FusionNet(width=14, branch_width=28, relu=True),
            description="fusion_large with a ReLU in front of the mixing layer (lr 2e-2, seed 2): "
            "inputs can die; this training left three Scale-0 inputs dead (zero on every pixel).",
            **{**_FUSION, "n_train": 384, "lr": 2e-2, "seed": 2},
        ),
    }
)
