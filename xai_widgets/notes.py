"""Notes a method leaves on its result: what it did that the numbers alone do not say (e.g.
how many ReLU calls guided backprop reached). :func:`xai_widgets.explain` collects them into
``Explanation.notes``; outside a collection, :func:`note` does nothing.

Example::

    with collecting() as notes:
        note("relu_rule", "guided")
    notes  # {"relu_rule": "guided"}

:func:`note_param` records a parameter as used instead (merged into ``Explanation.params``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

__all__ = ["collecting", "note", "note_param"]

_NOTES: ContextVar[dict[str, Any] | None] = ContextVar("xai_widgets_notes", default=None)


def note(key: str, value: Any) -> None:
    """Record ``key: value`` in the notes being collected (if any)."""
    notes = _NOTES.get()
    if notes is not None:
        notes[key] = value


def note_param(key: str, value: Any) -> None:
    """Record a parameter as the method used it (``Explanation.params[key]``), e.g. which
    engine computed the result; kept under ``notes["params"]`` until the result is built."""
    notes = _NOTES.get()
    if notes is not None:
        notes.setdefault("params", {})[key] = value


@contextmanager
def collecting(notes: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Collect the notes of the code run in the block into ``notes`` (a new dict if None)."""
    notes = {} if notes is None else notes
    token = _NOTES.set(notes)
    try:
        yield notes
    finally:
        _NOTES.reset(token)
