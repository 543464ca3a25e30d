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
from typing import TYPE_CHECKING

import torch
from torch import nn

from ..targets import Target
from .batching import chunks, forward_batch
from .incremental import Incremental

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

    def compute(
        self, order: torch.Tensor, first: int | None = None
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Compute the windows ``order`` (flat indices) for every sample, chunk by chunk (the
        first chunk ``first`` jobs, window x sample: the stream's coarse map; incrementally at
        most two chunks, in full at most one); yield (drops (N, nr, nc), done (nr, nc)) after
        each chunk."""
        x, n, (nr, nc) = self.x, self.x.shape[0], self.grid.shape
        order = order.to(x.device)
        win = order.repeat_interleave(n)  # flat jobs: every (window in order) x (sample)
        smp = torch.arange(n, device=x.device).repeat(order.numel())
        fill = torch.tensor(self.baseline, device=x.device, dtype=x.dtype)
        top, left = self.grid.starts
        most = 2 * self.per if self.run is not None else self.per  # full: the memory budget
        for part in _parts(win.numel(), self.per, min(first or self.per, most)):
            w, s = win[part], smp[part]
            with torch.no_grad():
                if self.run is not None:
                    patch = self.grid.patch
                    output = self.run.forward(top[w // nc], left[w % nc], s, patch, self.baseline)
                else:
                    mask = self.grid.rows[w // nc][:, :, None] & self.grid.cols[w % nc][:, None, :]
                    output = forward_batch(self.model, torch.where(mask[:, None], fill, x[s]))
                self.drops[s, w] = self.clean[s] - self.target.score(output, s)
            self.done[w] = True
            yield self.drops.view(n, nr, nc), self.done.view(nr, nc)


def _parts(total: int, per: int, first: int) -> Iterator[slice]:
    """Slices of ``range(total)``: ``first`` items, then ``per`` at a time."""
    yield slice(0, min(first, total))
    for part in chunks(max(0, total - first), per):
        yield slice(part.start + first, part.stop + first)
