"""The declared parameters of the evaluation functions (the one parameter system).

Each function checks its keyword arguments against one of these frozen dataclasses with
:func:`~xai_widgets.params.check_params` before any work, and the Evaluate tab derives its
controls from :func:`~xai_widgets.params.declared` (the fill above all: it decides verdicts).

Example::

    from xai_widgets.params import declared
    [(s.name, s.choices) for s in declared(RegionSettings) if s.kind == "choice"]
    # [('order', ('morf', 'lerf')), ('fill', ('noise', 'mean', 'blur', 'zero')),
    #  ('rank', ('signed', 'abs'))]
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..params import param

__all__ = [
    "FILLS",
    "ORDERS",
    "RANKS",
    "BenchmarkSettings",
    "PixelSettings",
    "PointingSettings",
    "RandomizationSettings",
    "RegionSettings",
]

FILLS = ("noise", "mean", "blur", "zero")
ORDERS = ("morf", "lerf")
RANKS = ("signed", "abs")

_FILL_HELP = (
    "What a removed pixel becomes: noise (uniform in the image's value range, as Samek et al.), "
    "mean (the image's per-channel mean), blur (a strong Gaussian blur of the image, sigma = "
    "a tenth of the shorter side) or zero."
)
_RANK_HELP = (
    "How the heatmap orders pixels: signed (its values, as the papers) or abs (by magnitude; a "
    "signed map of a dark object on a light background can rank the object last)."
)
_SEED_HELP = "Seed of the noise fill and of the random tie-breaking of equal heatmap values."


def _fill(default: str) -> Any:
    return param(default, choices=FILLS, help=_FILL_HELP)


def _rank() -> Any:
    return param("signed", choices=RANKS, help=_RANK_HELP)


def _seed(help: str = _SEED_HELP) -> Any:
    return param(0, min=0, max=2**31 - 1, step=1, help=help)


@dataclass(frozen=True)
class RegionSettings:
    """Region perturbation (Samek et al. 2017): MoRF / LeRF curves and AOPC."""

    order: str = param(
        "morf",
        choices=ORDERS,
        help="Which regions go first: morf (most relevant first) or lerf (least relevant first).",
    )
    patch: int = param(
        8, min=1, max=4096, step=1, image_bound=True, help="Side of a removed square region (px)."
    )
    steps: int = param(50, min=1, max=100_000, step=1, help="Number of regions removed.")
    fill: str = _fill("noise")
    rank: str = _rank()
    seed: int = _seed()


@dataclass(frozen=True)
class PixelSettings:
    """Deletion / insertion (Petsiuk et al. 2018): probability curves and their AUC."""

    steps: int = param(50, min=1, max=100_000, step=1, help="Number of steps of the curve.")
    fill: str = _fill("zero")
    rank: str = _rank()
    seed: int = _seed()


@dataclass(frozen=True)
class PointingSettings:
    """Pointing game (Zhang et al. 2016)."""

    tolerance: float = param(
        0.0,
        min=0.0,
        max=1e6,
        step=1.0,
        help="A hit when the heatmap's maximum lies within this many pixels of the mask.",
    )


@dataclass(frozen=True)
class RandomizationSettings:
    """Model parameter randomisation (Adebayo et al. 2018)."""

    cascade: bool = param(
        True,
        help="Randomise the layers from the top down, cumulatively (else one layer at a time).",
    )
    seed: int = _seed("Seed of the re-initialisation.")


@dataclass(frozen=True)
class BenchmarkSettings:
    """The shared settings of the curve metrics in :func:`~xai_widgets.evaluate.benchmark`."""

    fill: str = _fill("noise")
    patch: int = param(
        8, min=1, max=4096, step=1, image_bound=True, help="Region side for MoRF/LeRF (px)."
    )
    steps: int = param(50, min=1, max=100_000, step=1, help="Steps of every curve.")
    rank: str = _rank()
    tolerance: float = param(0.0, min=0.0, max=1e6, step=1.0, help="Pointing game tolerance (px).")
    seed: int = _seed()
