"""Method cards: what each registered method computes, the paper, the question it answers, its
cost, where it misleads, and the course's method-selection criteria rated.

Every registered method has a card file ``xai_widgets/methods/cards/<name>.toml`` (package
data), read with :mod:`tomllib` and validated here: a missing or unknown field, a rating
outside low / medium / high, or a non-boolean ``model_agnostic`` raises a ValueError naming the
file. The measured speed comes from ``cards/speeds.json``, written by
``benchmarks/bench_cards.py``.

Example::

    >>> card = method_card("grad_cam")
    >>> card.title, card.criteria.detail, card.criteria.model_agnostic
    ('Grad-CAM', 'low', False)
    >>> print(card)            # text; a notebook shows card._repr_html_()
"""

from __future__ import annotations

import html
import json
import sys
from dataclasses import dataclass, fields
from importlib import resources
from typing import TYPE_CHECKING, Any

from .registry import get_method, list_methods

if TYPE_CHECKING:
    from importlib.abc import Traversable

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

__all__ = [
    "CRITERIA",
    "RATINGS",
    "Criteria",
    "MethodCard",
    "Speed",
    "all_cards",
    "card_path",
    "has_card",
    "method_card",
]

RATINGS = ("low", "medium", "high")
"""The accepted ratings of the graded criteria."""

TEXT_FIELDS = ("title", "paper", "formula", "question", "cost", "misleads")
"""The card's text fields, all required and non-empty."""

CRITERIA = {
    "detail": "Degree of detail",
    "class_discrimination": "Class discrimination",
    "effort": "Implementation effort",
    "intuitive": "Intuitive interpretability",
    "model_agnostic": "Model-agnostic",
}
"""The course's method-selection criteria, with the names a table shows."""


@dataclass(frozen=True)
class Criteria:
    """The method-selection criteria: ratings low / medium / high, and model_agnostic."""

    detail: str
    class_discrimination: str
    effort: str
    intuitive: str
    model_agnostic: bool

    def items(self) -> list[tuple[str, str]]:
        """(criterion's name, value in words), in the table's order."""
        return [
            (CRITERIA[f.name], _word(getattr(self, f.name))) for f in fields(self)
        ]  # fmt: skip


@dataclass(frozen=True)
class Speed:
    """One method's measured time with its default settings (see ``speeds.json``)."""

    ms: float
    forward_ratio: float
    setup: str

    def words(self) -> str:
        return f"{self.ms:.1f} ms, {self.forward_ratio:.0f}x one forward pass"


@dataclass(frozen=True)
class MethodCard:
    """A registered method's card; ``str(card)`` is text, ``_repr_html_`` a notebook's view."""

    name: str
    title: str
    paper: str
    formula: str
    question: str
    cost: str
    misleads: str
    criteria: Criteria
    speed: Speed | None
    speed_note: str

    def rows(self) -> list[tuple[str, str]]:
        """(label, text) of every part of the card, in reading order."""
        speed = self.speed.words() if self.speed is not None else self.speed_note
        return [
            ("Question", self.question),
            ("Formula", self.formula),
            ("Paper", self.paper),
            ("Cost", self.cost),
            ("Measured", speed + (f" ({self.speed.setup})" if self.speed else "")),
            ("Where it misleads", self.misleads),
        ]

    def __str__(self) -> str:
        lines = [f"{self.title} ({self.name})"]
        lines += [f"{label}: {text}" for label, text in self.rows()]
        lines.append("Criteria: " + "; ".join(f"{k} {v}" for k, v in self.criteria.items()))
        return "\n".join(lines)

    def _repr_html_(self) -> str:
        esc = html.escape
        cell = "<th style='text-align:left;vertical-align:top;padding:2px 10px 2px 0'>{}</th>"
        rows = [(k, f"<code>{esc(v)}</code>" if k == "Formula" else esc(v)) for k, v in self.rows()]
        rows += [(k, f"<b>{esc(v)}</b>") for k, v in self.criteria.items()]
        body = "".join(
            f"<tr>{cell.format(esc(k))}<td style='padding:2px 0'>{v}</td></tr>" for k, v in rows
        )
        return (
            f"<div class='xw-card xw-card-{esc(self.name)}' style='line-height:1.4'>"
            f"<h4 style='margin:4px 0'>{esc(self.title)}</h4><table>{body}</table></div>"
        )


def _word(value: str | bool) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value


def card_path(name: str) -> Traversable:
    """Where the card of method ``name`` lives (package data)."""
    return resources.files(__package__).joinpath("cards", f"{name}.toml")


def _speeds_path() -> Traversable:
    return resources.files(__package__).joinpath("cards", "speeds.json")


def parse_card(name: str, text: str, where: str) -> tuple[dict[str, str], Criteria]:
    """The text fields and criteria of a card's TOML ``text``; ValueError naming ``where``."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"method card {where}: not valid TOML ({exc})") from exc
    wanted = {*TEXT_FIELDS, "criteria"}
    missing, unknown = sorted(wanted - data.keys()), sorted(data.keys() - wanted)
    if missing or unknown:
        raise ValueError(
            f"method card {where}: "
            + "; ".join(
                part
                for part in (
                    f"missing fields {missing}" if missing else "",
                    f"unknown fields {unknown}" if unknown else "",
                )
                if part
            )
            + f"; a card has {', '.join(TEXT_FIELDS)} and a [criteria] table"
        )
    for key in TEXT_FIELDS:
        if not isinstance(data[key], str) or not data[key].strip():
            raise ValueError(f"method card {where}: {key!r} must be a non-empty string")
    crit = data["criteria"]
    if not isinstance(crit, dict):
        raise ValueError(f"method card {where}: 'criteria' must be a table ([criteria])")
    missing, unknown = sorted(CRITERIA.keys() - crit.keys()), sorted(crit.keys() - CRITERIA.keys())
    if missing or unknown:
        raise ValueError(
            f"method card {where}: [criteria] missing {missing}, unknown {unknown}; "
            f"accepted: {', '.join(CRITERIA)}"
        )
    for key in ("detail", "class_discrimination", "effort", "intuitive"):
        if crit[key] not in RATINGS:
            raise ValueError(
                f"method card {where}: criteria.{key} is {crit[key]!r}; accepted: "
                f"{', '.join(RATINGS)}"
            )
    if not isinstance(crit["model_agnostic"], bool):
        raise ValueError(f"method card {where}: criteria.model_agnostic must be true or false")
    return {k: data[k].strip() for k in TEXT_FIELDS}, Criteria(**crit)


def speeds() -> dict[str, Any]:
    """The contents of ``speeds.json`` (empty when it was never written)."""
    path = _speeds_path()
    if not path.is_file():
        return {}
    return json.loads(path.read_text(encoding="utf-8"))


def speed_of(name: str) -> tuple[Speed | None, str]:
    """The measured speed of method ``name`` and, when there is none, why, in words."""
    data = speeds()
    entry = data.get("methods", {}).get(name)
    if entry is None:
        skipped = data.get("skipped", {}).get(name)
        if skipped:
            return None, f"not measured: {skipped}"
        return None, "not measured yet (run benchmarks/bench_cards.py)"
    return Speed(float(entry["ms"]), float(entry["forward_ratio"]), setup(data)), ""


def setup(data: dict[str, Any] | None = None) -> str:
    """Which model, input and machine the speeds were measured on, in words."""
    data = speeds() if data is None else data
    if not data:
        return "no speeds measured yet"
    return (
        f"median of {data['repeat']} runs, default settings, zoo model '{data['model']}', "
        f"input {data['input']}, {data['machine']}, torch {data['torch']}, "
        f"{data['threads']} thread(s), load average {data['load_average']}, {data['date']}"
    )


def method_card(name: str) -> MethodCard:
    """The card of registered method ``name``; ValueError listing the methods for an unknown
    name, FileNotFoundError naming the file to write for a method without a card.

    Example: ``xw.method_card("occlusion")`` (HTML in a notebook, ``print`` for text)."""
    get_method(name)  # TypeError / ValueError listing the registered methods
    path = card_path(name)
    where = f"xai_widgets/methods/cards/{name}.toml"
    if not path.is_file():
        raise FileNotFoundError(
            f"method {name!r} has no card: write {where} (fields: "
            f"{', '.join(TEXT_FIELDS)}, [criteria] {', '.join(CRITERIA)})"
        )
    text, criteria = parse_card(name, path.read_text(encoding="utf-8"), where)
    speed, note = speed_of(name)
    return MethodCard(name=name, criteria=criteria, speed=speed, speed_note=note, **text)


def has_card(name: str) -> bool:
    """Whether registered method ``name`` has a card file (a method registered at run time,
    e.g. by ``from_captum``, may have none)."""
    return card_path(name).is_file()


def all_cards() -> list[MethodCard]:
    """The cards of every registered method that has one, in registration order."""
    return [method_card(n) for n in list_methods() if has_card(n)]
