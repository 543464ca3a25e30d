"""Matplotlib figures as PNG bytes for a widget (``ipywidgets.Image``), made without pyplot so
they are safe in the engine's worker threads and leave no figure open.

Example::

    png = figure_png(lambda fig: fig.add_subplot().plot([0, 1], [1, 0]))
"""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

__all__ = ["figure_png"]


def figure_png(draw: Callable[[Any], Any], size: tuple[float, float] = (4.2, 3.0)) -> bytes:
    """PNG bytes of a figure of ``size`` inches (100 dpi) that ``draw(fig)`` fills."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=size, dpi=100)
    FigureCanvasAgg(fig)
    draw(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
