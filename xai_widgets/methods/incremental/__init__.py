"""Incremental inference for occlusion (Krypton, Nakandala et al. SIGMOD 2019): forward many
occluded copies of an input by recomputing only what each window changes.

:func:`start_engine` traces the model and returns an :class:`Incremental` runner, or None when
the model needs full forwards; either way it notes the engine used (``engine`` "incremental"
or "full", and ``engine_reason`` for a fallback) in the Explanation's params.

Example::

    run = start_engine(model, x, model(x), "auto")
    logits = run.forward(rows, cols, samples, (16, 16), 0.0) if run else model(occluded)
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ...notes import note_param
from .engine import Incremental
from .graph import Plan, Untraceable

__all__ = ["ENGINES", "TAU", "Incremental", "Plan", "Untraceable", "start_engine"]

ENGINES = ("auto", "full")
TAU = 0.6
"""Krypton's projective-field threshold, for ``Incremental.start(..., tau=TAU)``: a layer
recomputes at most ``ceil(TAU * size)`` rows and columns around the centre of what a window
changes. Not used by ``occlusion(approximate=True)``, whose drill-down (:mod:`..drill`) was
more accurate for the time it saves on ResNet-18 (``benchmarks/bench_occlusion.py`` prints
both)."""


def start_engine(model: nn.Module, x: torch.Tensor, output: Any, engine: str) -> Incremental | None:
    """The incremental runner for ``model`` on ``x`` (whose clean ``output`` is given), or
    None for full forwards (``engine="full"``, or the model cannot be followed)."""
    if engine == "full":
        reason = "engine='full' was asked for"
    else:
        try:
            run = Incremental.start(model, x, output)
        except Untraceable as error:
            reason = str(error)
        else:
            note_param("engine", "incremental")
            return run
    note_param("engine", "full")
    note_param("engine_reason", reason)
    return None
