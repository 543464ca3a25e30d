"""The result of :func:`xai_widgets.zscores`: Z-scores, their parts, rankings and group sums.

Example::

    zs.top(5, output="ice")          # the five inputs with the largest |Z|, sign kept
    zs.grouped()                     # {"Scale-0": GroupSum(abs_sum=..., signed_sum=...), ...}
    zs.compare(other).plot()         # two models side by side, groups matched by name
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any, NamedTuple

import torch

__all__ = ["Comparison", "GroupSum", "Ranked", "ZScores"]


class Ranked(NamedTuple):
    """One input in a ranking: its index at the mixing layer, group, Z, coefficient, sigma."""

    index: int
    group: str
    z: float
    coef: float
    sigma: float


class GroupSum(NamedTuple):
    """A group's Z-scores summed: of |Z| and of signed Z, over its ``alive`` inputs."""

    abs_sum: float
    signed_sum: float
    size: int
    alive: int

    @property
    def mean_abs(self) -> float:
        """|Z| per live input (compares groups of different sizes)."""
        return self.abs_sum / self.alive if self.alive else 0.0


@dataclass(frozen=True, eq=False)
class ZScores:
    """``z`` (outputs, inputs) = ``coef / sigma``, NaN for ``dead`` inputs; ``sigma`` (inputs,)
    the one used (taken before upsampling for the ``coarse`` groups), ``sigma_layer`` as
    measured at the mixing layer's input, ``mean`` the inputs' mean. All float64 on the CPU."""

    z: torch.Tensor
    sigma: torch.Tensor
    coef: torch.Tensor
    groups: dict[str, tuple[int, ...]]
    dead: tuple[int, ...]
    sigma_layer: torch.Tensor
    mean: torch.Tensor
    bias: torch.Tensor | None = None
    layer: str = ""
    outputs: tuple[str, ...] = ()
    samples: int = 0
    coarse: tuple[str, ...] = ()
    model: str = ""
    _group_of: dict[int, str] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        for name, idx in self.groups.items():
            for i in idx:
                self._group_of[i] = name

    # -------------------------------------------------------------------------- lookups
    def output_index(self, output: int | str = 0) -> int:
        """The row of ``z`` for an output given by index or name."""
        if isinstance(output, str):
            if output not in self.outputs:
                raise ValueError(
                    f"ZScores: unknown output {output!r}; outputs: {', '.join(self.outputs)}"
                )
            return self.outputs.index(output)
        if isinstance(output, bool) or not isinstance(output, int):
            raise TypeError(f"ZScores: output must be an int or a name, not {output!r}")
        if not -len(self.z) <= output < len(self.z):
            raise ValueError(f"ZScores: output must be in 0..{len(self.z) - 1}, got {output}")
        return output % len(self.z)

    def group_of(self, index: int) -> str:
        """The group that holds input ``index``."""
        return self._group_of[index]

    # -------------------------------------------------------------------------- rankings
    def top(self, k: int | None = 10, output: int | str = 0) -> list[Ranked]:
        """The ``k`` live inputs with the largest |Z| for ``output`` (all when ``k`` is None),
        descending, sign kept."""
        if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 0):
            raise ValueError(f"ZScores.top: k must be an int >= 0 or None, got {k!r}")
        o = self.output_index(output)
        row = self.z[o]
        alive = torch.nonzero(~torch.isnan(row)).flatten()
        order = alive[torch.sort(-row[alive].abs(), stable=True).indices]
        order = order[: len(order) if k is None else k].tolist()
        z, coef, sigma = (
            row[order].tolist(),
            self.coef[o, order].tolist(),
            self.sigma[order].tolist(),
        )
        return [
            Ranked(i, self.group_of(i), zi, ci, si)
            for i, zi, ci, si in zip(order, z, coef, sigma, strict=True)
        ]

    def grouped(self, output: int | str = 0) -> dict[str, GroupSum]:
        """Per group, in group order: the sum of |Z| and of signed Z over live inputs."""
        row = self.z[self.output_index(output)]
        out = {}
        for name, idx in self.groups.items():
            values = row[list(idx)]
            live = values[~torch.isnan(values)]
            out[name] = GroupSum(
                float(live.abs().sum()), float(live.sum()), len(idx), int(live.numel())
            )
        return out

    def compare(self, other: ZScores, output: int | str = 0) -> Comparison:
        """This result beside ``other`` (another model), groups matched by name."""
        if not isinstance(other, ZScores):
            raise TypeError(f"ZScores.compare: other must be a ZScores, not {type(other).__name__}")
        return Comparison(self, other, output)

    # -------------------------------------------------------------------------- display
    def plot(self, k: int = 30, output: int | str = 0, ax: Any = None) -> Any:
        """The paper's two figures: the first ``k`` Z-scores in descending |Z| order coloured
        by group, and the grouped sums of |Z| (a matplotlib Figure)."""
        from .zscores_plot import plot_zscores

        return plot_zscores(self, k, self.output_index(output), ax)

    def _repr_html_(self) -> str:
        from .zscores_plot import zscores_html

        return zscores_html(self)

    def __repr__(self) -> str:
        return (
            f"ZScores(model={self.model!r}, layer={self.layer!r}, outputs={len(self.outputs)}, "
            f"inputs={self.sigma.numel()}, groups={list(self.groups)}, dead={len(self.dead)}, "
            f"samples={self.samples})"
        )


@dataclass(frozen=True)
class Comparison:
    """Two Z-score results side by side; ``rows()`` per group name (union, first's order)."""

    a: ZScores
    b: ZScores
    output: int | str = 0

    def rows(self) -> list[tuple[str, GroupSum | None, GroupSum | None]]:
        ga, gb = self.a.grouped(self.output), self.b.grouped(self.output)
        names = list(ga) + [n for n in gb if n not in ga]
        return [(n, ga.get(n), gb.get(n)) for n in names]

    def plot(self, ax: Any = None) -> Any:
        from .zscores_plot import plot_comparison

        return plot_comparison(self, ax)

    def _repr_html_(self) -> str:
        def cell(g: GroupSum | None) -> str:
            if g is None:
                return "<td>-</td><td>-</td>"
            return f"<td>{g.size}</td><td>{g.abs_sum:.3g}</td>"

        head = "".join(
            f"<th>{html.escape(z.model)}: size</th><th>sum |Z|</th>" for z in (self.a, self.b)
        )
        body = "".join(
            f"<tr><td>{html.escape(n)}</td>{cell(x)}{cell(y)}</tr>" for n, x, y in self.rows()
        )
        return f"<table><tr><th>group</th>{head}</tr>{body}</table>"
