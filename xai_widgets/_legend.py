"""What a map's colours mean, in words, and whether there is anything to colour at all.

Two pure helpers the widgets show beside every colour bar (re-exported by ``render``):

- :func:`flatness` decides whether a map has structure or is "zero" (every value exactly 0),
  "constant" (one value c != 0 everywhere) or "noise" (its spread max - min is below the float
  noise of the numbers it was computed from). The noise floor is
  ``floor = rtol * eps(dtype) * max(max|h|, |reference|)``, with eps the machine epsilon of
  the map's dtype (float32: 1.2e-7) and ``reference`` the size of the quantities whose
  difference the map holds (a probe's unoccluded score, say 1.0 for a probability): a
  difference of two float32 numbers near 1 is only known to a few eps. Such a map must be said
  in words, never stretched to fill the colour bar.
- :func:`legend` gives the sentence for the colour convention of a render mode: signed maps
  on the diverging palette centred at zero ("red supports 'triangle', blue speaks against
  it"), non-negative maps on one sequential palette ("brighter = more important for
  'triangle'"). :func:`flat_message` gives the sentence for a flat map.

Example::

    >>> flatness(np.zeros((4, 4))).kind
    'zero'
    >>> flatness(np.array([1.0, 1.0 + 1e-7]), reference=1.0).kind
    'noise'
    >>> legend("signed", "triangle")
    "red supports 'triangle', blue speaks against it"
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from ._imaging import to_numpy

__all__ = ["FLAT_KINDS", "Flatness", "flat_message", "flatness", "legend", "natural_mode"]

FLAT_KINDS = ("structured", "zero", "constant", "noise")
RTOL = 64.0  # eps multiples: a few roundings in a forward pass of a small network


class Flatness(NamedTuple):
    """The verdict of :func:`flatness`: ``kind`` in :data:`FLAT_KINDS`; ``lo``/``hi`` the
    map's min and max; ``floor`` the float noise floor its spread was compared with."""

    kind: str
    lo: float
    hi: float
    floor: float

    @property
    def flat(self) -> bool:
        """True when there is nothing to colour (zero, constant or noise)."""
        return self.kind != "structured"

    @property
    def spread(self) -> float:
        return self.hi - self.lo


def flatness(heat: Any, reference: float | None = None, rtol: float = RTOL) -> Flatness:
    """Classify ``heat`` (any shape, NumPy or torch) as "zero", "constant", "noise" or
    "structured" (see the module doc for the floor). NaN or inf raise ValueError, an empty
    map too; ``reference`` must be finite and ``rtol`` >= 0."""
    h = to_numpy(heat)
    if h.size == 0:
        raise ValueError(f"flatness: the heatmap is empty (shape {h.shape})")
    if not np.isfinite(h).all():
        raise ValueError("flatness: the heatmap has NaN or inf values; fix the method output")
    if reference is not None and not np.isfinite(reference):
        raise ValueError(f"flatness: reference must be a finite number, got {reference!r}")
    if not (np.isfinite(rtol) and rtol >= 0):
        raise ValueError(f"flatness: rtol must be finite and >= 0, got {rtol!r}")
    dtype = h.dtype if np.issubdtype(h.dtype, np.floating) else np.dtype(np.float32)
    lo, hi = float(h.min()), float(h.max())
    scale = max(abs(lo), abs(hi), abs(reference or 0.0))
    floor = rtol * float(np.finfo(dtype).eps) * scale
    if lo == 0.0 and hi == 0.0:
        kind = "zero"
    elif lo == hi:
        kind = "constant"
    elif hi - lo <= floor:
        kind = "noise"
    else:
        kind = "structured"
    return Flatness(kind, lo, hi, floor)


def natural_mode(heat: Any) -> str:
    """ "signed" when ``heat`` has a negative value, else "positive": the render mode under
    which a map shows what it holds (a signed map on the diverging palette)."""
    return "signed" if float(to_numpy(heat).min()) < 0 else "positive"


def _name(target: object) -> str:
    """'triangle' for a name, "class 428" for an index or a bare number in a string."""
    if target is None or target == "":
        return "the explained class"
    if isinstance(target, (int, np.integer)) and not isinstance(target, bool):
        return f"class {int(target)}"
    text = str(target)
    if text.startswith("class "):
        return text
    return f"class {text}" if text.isdigit() else f"'{text}'"


def legend(mode: str, target: object = None) -> str:
    """The sentence beside the colour bar for a map rendered with ``mode`` (see
    :data:`xai_widgets.render.MODES`), explaining ``target`` (a class name or index)."""
    who = _name(target)
    if mode == "signed":
        return f"red supports {who}, blue speaks against it"
    if mode == "abs":
        return f"brighter = more important for {who} (for or against: the sign is dropped)"
    if mode in ("positive", "minmax"):
        return f"brighter = more important for {who}"
    raise ValueError(
        f"legend: unknown mode {mode!r}; expected one of signed, abs, positive, minmax"
    )


def flat_message(
    state: Flatness,
    method: str = "The map",
    target: object = None,
    layer: str | None = None,
    positive_only: bool = False,
) -> str:
    """The sentence shown instead of a flat map, e.g. "Grad-CAM found no positive evidence for
    'square' at layer features.6 (the map is zero everywhere)"; '' for a structured map.
    ``positive_only``: the method keeps only positive evidence (Grad-CAM's ReLU)."""
    who, at = _name(target), f" at layer {layer}" if layer else ""
    if state.kind == "zero":
        kind = "positive evidence" if positive_only else "evidence"
        return f"{method} found no {kind} for {who}{at} (the map is zero everywhere)"
    if state.kind == "constant":
        return (
            f"{method} gives the same value ({state.lo:.3g}) everywhere for {who}{at}: it "
            "singles out no region"
        )
    if state.kind == "noise":
        return (
            f"{method}: no measurable change for {who}{at} (values {state.lo:.2g} to "
            f"{state.hi:.2g} differ by less than float noise, {state.floor:.1g})"
        )
    return ""
