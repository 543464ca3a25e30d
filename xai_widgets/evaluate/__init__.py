"""Is the map right? Objective heatmap quality measures and sanity checks.

Faithfulness curves (the model's score as pixels go, in the heatmap's order):
:func:`region_perturbation` (Samek et al. 2017: MoRF / LeRF, AOPC), :func:`deletion` and
:func:`insertion` (Petsiuk et al. 2018: AUC), each returning a :class:`Curve`. Localisation
against a ground-truth mask: :func:`pointing_game`, :func:`relevance_mass`,
:func:`relevance_rank` (Arras et al. 2022). Sanity: :func:`randomization` (Adebayo et al.
2018). All of it over a gallery, with a ``random`` baseline: :func:`benchmark` -> :class:`Table`.

Example::

    import xai_widgets as xw
    from xai_widgets import evaluate as ev
    heat = xw.explain(model, x, "grad_cam").heatmap
    ev.region_perturbation(model, x, heat, fill="noise").aopc
    ev.pointing_game(heat, masks)
    table = ev.benchmark(model, x, ["saliency", "grad_cam"], masks=masks)
    table            # HTML in a notebook; table.rows for a paper
"""

from .benchmark import benchmark
from .curve import Curve
from .fill import fill_image, random_heatmap
from .localization import pointing_game, relevance_mass, relevance_rank
from .metrics import METRICS, Metric
from .perturbation import deletion, insertion, region_perturbation
from .randomization import Randomization, randomization, randomization_layers, randomized
from .settings import (
    BenchmarkSettings,
    PixelSettings,
    PointingSettings,
    RandomizationSettings,
    RegionSettings,
)
from .stream import DataError
from .table import Table

__all__ = [
    "METRICS",
    "BenchmarkSettings",
    "Curve",
    "DataError",
    "Metric",
    "PixelSettings",
    "PointingSettings",
    "Randomization",
    "RandomizationSettings",
    "RegionSettings",
    "Table",
    "benchmark",
    "deletion",
    "fill_image",
    "insertion",
    "pointing_game",
    "random_heatmap",
    "randomization",
    "randomization_layers",
    "randomized",
    "region_perturbation",
    "relevance_mass",
    "relevance_rank",
]
