"""The metrics :func:`~xai_widgets.evaluate.benchmark` knows: name, label, direction, needs.

Example::

    METRICS["morf"].label, METRICS["morf"].higher_is_better     # ('AOPC MoRF', True)
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["DEFAULT_METRICS", "MASK_METRICS", "METRICS", "Metric"]


@dataclass(frozen=True)
class Metric:
    """One measure of a heatmap's quality, per image."""

    name: str
    label: str
    higher_is_better: bool
    needs_mask: bool
    help: str


METRICS: dict[str, Metric] = {
    m.name: m
    for m in (
        Metric("morf", "AOPC MoRF", True, False, "logit drop, most relevant regions first"),
        Metric("lerf", "AOPC LeRF", False, False, "logit drop, least relevant regions first"),
        Metric("deletion", "Deletion AUC", False, False, "probability as pixels are removed"),
        Metric("insertion", "Insertion AUC", True, False, "probability as pixels come back"),
        Metric("pointing_game", "Pointing game", True, True, "maximum inside the object"),
        Metric("relevance_mass", "Relevance mass", True, True, "share of positive relevance"),
        Metric("relevance_rank", "Relevance rank", True, True, "top-|mask| pixels inside"),
    )
}
"""Every metric :func:`benchmark` computes, in display order."""

DEFAULT_METRICS = ("morf", "deletion", "insertion")
MASK_METRICS = ("pointing_game", "relevance_mass", "relevance_rank")
