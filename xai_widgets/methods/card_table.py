"""The comparison table of all method cards: the course's method-selection criteria (degree of
detail, class discrimination, implementation effort, intuitive interpretability,
model-agnostic) with the speed we measured filled in per method.

Example::

    >>> table = method_table()
    >>> table.rows[0]["method"], table.rows[0]["detail"]
    ('saliency', 'high')
    >>> print(table)           # text; a notebook shows table._repr_html_()
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import Any

from .card import CRITERIA, has_card, method_card, setup
from .registry import FAMILIES, get_method, list_methods

__all__ = ["MethodTable", "method_table"]

COLUMNS = {
    "title": "Method",
    "family": "Family",
    **CRITERIA,
    "ms": "Speed (ms)",
    "forward_ratio": "× one forward",
}
"""Row keys and the headers the table shows, in order."""


@dataclass(frozen=True)
class MethodTable:
    """One row per registered method with a card: ``rows`` are plain dicts (``method``,
    ``title``, ``family``, the criteria, ``ms`` and ``forward_ratio`` or None when not measured,
    ``speed_note``); ``setup`` says what the speeds were measured on."""

    rows: list[dict[str, Any]]
    setup: str
    without_card: list[str]

    def cells(self, row: dict[str, Any]) -> list[str]:
        """The row's cells as the table shows them."""
        out = []
        for key in COLUMNS:
            value = row[key]
            if key == "ms":
                value = f"{value:.1f}" if value is not None else "n/a"
            elif key == "forward_ratio":
                value = f"{value:.0f}" if value is not None else "n/a"
            elif isinstance(value, bool):
                value = "yes" if value else "no"
            out.append(str(value))
        return out

    def notes(self) -> list[str]:
        lines = [f"Speed: {self.setup}."]
        lines += [f"{r['title']}: {r['speed_note']}" for r in self.rows if r["ms"] is None]
        if self.without_card:
            lines.append(f"No card (registered at run time): {', '.join(self.without_card)}")
        return lines

    def __str__(self) -> str:
        table = [list(COLUMNS.values())] + [self.cells(r) for r in self.rows]
        widths = [max(len(line[i]) for line in table) for i in range(len(COLUMNS))]
        text = ["  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)) for line in table]
        text.insert(1, "  ".join("-" * w for w in widths))
        return "\n".join([*text, "", *self.notes()])

    def _repr_html_(self) -> str:
        esc = html.escape
        head = "".join(f"<th>{esc(h)}</th>" for h in COLUMNS.values())
        body = "".join(
            f"<tr class='xw-row-{esc(r['method'])}'>"
            + "".join(f"<td>{esc(c)}</td>" for c in self.cells(r))
            + "</tr>"
            for r in self.rows
        )
        notes = "".join(f"<div><small>{esc(n)}</small></div>" for n in self.notes())
        return (
            f"<div class='xw-method-table'><table><thead><tr>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>{notes}</div>"
        )


def method_table() -> MethodTable:
    """All method cards as one comparison table (the course's criteria and our measured speed).

    Example: ``xw.method_table()`` in a notebook; ``xw.method_table().rows`` as data."""
    rows = []
    for name in list_methods():
        if not has_card(name):
            continue
        card = method_card(name)
        crit = card.criteria
        rows.append(
            {
                "method": name,
                "title": card.title,
                "family": FAMILIES[get_method(name).family],
                "detail": crit.detail,
                "class_discrimination": crit.class_discrimination,
                "effort": crit.effort,
                "intuitive": crit.intuitive,
                "model_agnostic": crit.model_agnostic,
                "ms": card.speed.ms if card.speed else None,
                "forward_ratio": card.speed.forward_ratio if card.speed else None,
                "speed_note": card.speed_note,
            }
        )
    without = [n for n in list_methods() if not has_card(n)]
    return MethodTable(rows, setup(), without)
