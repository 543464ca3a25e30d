"""What the colours of a map mean, in words beside its colour bar, and the words for a map that
shows nothing (zero or constant everywhere), which is never stretched to look like a finding.

Example::

    meaning("signed", "cat")     # 'red supports <b>cat</b>, blue speaks against it'
    flat_message(np.zeros((8, 8)), "positive", "Grad-CAM", "cat", "layer4")
    # '<b>Grad-CAM</b> found no positive evidence for <b>cat</b> at layer <code>layer4</code>.'
"""

from __future__ import annotations

import html

import numpy as np

__all__ = ["flat_message", "meaning"]


def meaning(mode: str, name: str) -> str:
    """What the colours mean under ``mode`` for class ``name`` (HTML, ``name`` escaped)."""
    if mode == "signed":
        return f"red supports <b>{name}</b>, blue speaks against it"
    if mode == "abs":
        return f"brighter = larger magnitude for <b>{name}</b> (either sign)"
    return f"brighter = more important for <b>{name}</b>"


def flat_message(
    heat: np.ndarray, mode: str, method: str, name: str, layer: str | None = None
) -> str:
    """Words for a map that shows nothing under ``mode`` (zero, or the same value everywhere
    up to float noise); "" for a map that shows something."""
    shown = np.maximum(heat, 0) if mode == "positive" else heat
    scale = max(float(np.abs(heat).max()), 1e-30)
    peak = float(np.abs(shown).max())
    if float(np.ptp(shown)) > 1e-6 * scale and peak > 0:
        return ""
    label = html.escape(method)
    at = f" at layer <code>{html.escape(layer)}</code>" if layer else ""
    if peak == 0:
        what = "positive evidence" if mode == "positive" else "evidence"
        return f"<b>{label}</b> found no {what} for <b>{name}</b>{at}."
    return (
        f"<b>{label}</b> gives the same value ({float(shown.flat[0]):.3g}) everywhere for "
        f"<b>{name}</b>{at}: the map says nothing about where."
    )
