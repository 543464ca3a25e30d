"""The Explain tab's words: the status line of a shown explanation and the sentence that
replaces a flat map.

Example::

    status_line(e, "cat", 12.0)  # "<b data-method='grad_cam'>Grad-CAM</b> · class <i>cat</i> ..."
"""

from __future__ import annotations

import html

import numpy as np

from ..explanation import Explanation
from ..methods.registry import get_method
from ..render import flat_message, flatness

__all__ = ["flat_words", "status_line"]


def status_line(e: Explanation, class_name: str, elapsed_ms: float) -> str:
    """Method (its label; its name in ``data-method``), class, layer, parameter values, time,
    the method's notes, and how far a streaming method has got."""
    label = html.escape(get_method(e.method).label)
    parts = [f"<b data-method='{e.method}'>{label}</b>", f"class <i>{html.escape(class_name)}</i>"]
    if e.params.get("layer"):
        parts.append(f"layer <code>{html.escape(str(e.params['layer']))}</code>")
    values = [
        f"{k} {v:g}"
        for k, v in e.params.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    ]
    values += [k for k, v in e.params.items() if v is True]
    values += [f"{k} {v}" for k, v in e.params.items() if isinstance(v, str) and k != "layer"]
    if values:
        parts.append(html.escape(", ".join(values)))
    parts.append(f"{elapsed_ms:.0f} ms")
    summary = (e.notes or {}).get("summary")
    if summary:
        parts.append(f"<span class='xw-note'>{html.escape(str(summary))}</span>")
    if e.fraction < 1:
        parts.append(f"refining {e.fraction:.0%}")
    return " · ".join(parts)


def flat_words(heat: np.ndarray, mode: str, e: Explanation, class_name: str | None) -> str:
    """The sentence for a map that shows nothing under ``mode`` ("" when it shows something)."""
    shown = np.maximum(heat, 0) if mode == "positive" else heat
    state = flatness(shown, reference=float(np.abs(heat).max()))
    label = get_method(e.method).label
    layer = e.params.get("layer")
    text = flat_message(state, label, class_name, layer, positive_only=mode == "positive")
    return html.escape(text)
