"""The score drops of one occlusion, window by window: :class:`WindowDrops` holds the clean
score, the engine (incremental or full forwards) and the drops computed so far, so a later
stage (the drill-down of ``approximate=True``) can choose its windows from an earlier one's.

Example::

    run = grid.open(model, x, target, baseline=0.0)      # one clean forward, one engine
    for drops, done in run.compute(torch.arange(10)):    # windows 0..9, chunk by chunk
        ...
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ..targets import Target
from .batching import chunks, forward_batch
from .incremental import Incremental
from .incremental.linear import Linear

if TYPE_CHECKING:
    from .occlusion import OcclusionGrid

__all__ = ["WindowDrops"]


@dataclass
class WindowDrops:
    """The score drops of one occlusion, filled in as windows are computed: ``drops`` (N,
    nr * nc) and ``done`` (nr * nc,), one engine (and clean forward) for every call of
    :meth:`compute`."""

    grid: OcclusionGrid
    model: nn.Module
    x: torch.Tensor
    target: Target
    baseline: float
    clean: torch.Tensor
    run: Incremental | None
    per: int
    drops: torch.Tensor
    done: torch.Tensor
    linear: Linear | None = None
    """With :meth:`guide_with`: the deep first-order guide, and each window's ``guide``
    (N, nr * nc) value where ``guided`` (nr * nc,)."""
    guide: torch.Tensor | None = None
    guided: torch.Tensor | None = None

    def guide_with(self, linear: Linear) -> None:
        """Also compute every computed window's first-order drop at ``linear``'s cut."""
        self.linear = linear
        self.guide = torch.zeros_like(self.drops)
        self.guided = torch.zeros_like(self.done)

    def compute(
        self, order: torch.Tensor, first: int | None = None, exact: bool = True
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Compute the windows ``order`` (flat indices) for every sample, chunk by chunk (the
        first chunk ``first`` jobs, window x sample: the stream's coarse map; incrementally at
        most two chunks, in full at most one); yield (drops (N, nr, nc), done (nr, nc)) after
        each chunk. ``exact=False`` (with :meth:`guide_with`) computes only their guide, the
        layers up to the cut."""
        if not exact and self.linear is None:
            raise ValueError("compute(exact=False) computes only a guide: call guide_with first")
        x, n, (nr, nc) = self.x, self.x.shape[0], self.grid.shape
        order = order.to(x.device)
        win = order.repeat_interleave(n)  # flat jobs: every (window in order) x (sample)
        smp = torch.arange(n, device=x.device).repeat(order.numel())
        most = 2 * self.per if self.run is not None else self.per  # full: the memory budget
        for part in _parts(win.numel(), self.per, min(first or self.per, most)):
            w, s = win[part], smp[part]
            with torch.no_grad():
                output = self._forward(w, s, exact)
                if output is not None:
                    self.drops[s, w] = self.clean[s] - self.target.score(output, s)
                    self.done[w] = True
            yield self.drops.view(n, nr, nc), self.done.view(nr, nc)

    def _forward(self, w: torch.Tensor, s: torch.Tensor, exact: bool) -> Any:
        """The output for windows ``w`` of samples ``s`` (None if not ``exact``), filling in
        their guide on the way where there is one."""
        nc = self.grid.shape[1]
        if self.run is None:
            fill = torch.tensor(self.baseline, device=self.x.device, dtype=self.x.dtype)
            mask = self.grid.rows[w // nc][:, :, None] & self.grid.cols[w % nc][:, None, :]
            return forward_batch(self.model, torch.where(mask[:, None], fill, self.x[s]))
        top, left = self.grid.starts
        where = (top[w // nc], left[w % nc], s, self.grid.patch, self.baseline)
        if self.linear is None:
            return self.run.forward(*where)
        assert self.guide is not None and self.guided is not None
        result = self.run.forward(*where, cut=self.linear.cut, stop=not exact)
        output, at_cut = result if exact else (None, result)
        self.guide[s, w] = self.linear.drops(at_cut, s)
        self.guided[w] = True
        return output


def _parts(total: int, per: int, first: int) -> Iterator[slice]:
    """Slices of ``range(total)``: ``first`` items, then ``per`` at a time."""
    yield slice(0, min(first, total))
    for part in chunks(max(0, total - first), per):
        yield slice(part.start + first, part.stop + first)
