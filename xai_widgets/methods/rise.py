"""RISE (Petsiuk, Das & Saenko 2018, "RISE: Randomized input sampling for explanation of
black-box models"), batched.

``masks`` random binary grids of ``cell`` x ``cell`` cells, each cell on with probability
``p``, are upsampled bilinearly to (cell + 1) * ceil(H / cell) pixels per side and cropped at a
random shift in [0, ceil(H / cell)) (the paper's smooth masks M_i in [0, 1]). The saliency is
the Monte-Carlo estimate

    S = E[f(x * M) M] / p  ~=  1 / (N p) sum_i f(x * M_i) M_i

with f the explained score (a logit by default; a probability target reproduces the paper).
All random numbers are drawn up front from a ``torch.Generator(seed)`` on the input's device,
so the masks do not depend on the chunk size; :func:`rise_masks` gives them.

Streaming: the running estimate after every chunk (divided by the masks done so far), the
last one over all masks.

Example::

    e = explain(model, x, "rise", masks=4000, cell=8, p=0.5, seed=1)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from .batching import chunk_size, chunks, forward_batch
from .gradients import bind_clean
from .regions import final
from .registry import Method, Progress, param, register

__all__ = ["Rise", "RiseMasks", "rise_masks"]


@dataclass
class RiseMasks:
    """The random draws of RISE; :meth:`make` builds the (k, H, W) masks of a slice."""

    grids: torch.Tensor  # (N, cell, cell) float 0/1
    shifts: torch.Tensor  # (N, 2) int
    size: tuple[int, int]

    def make(self, part: slice) -> torch.Tensor:
        height, width = self.size
        cell = self.grids.shape[1]
        ch, cw = math.ceil(height / cell), math.ceil(width / cell)
        up = F.interpolate(
            self.grids[part][:, None], size=((cell + 1) * ch, (cell + 1) * cw), mode="bilinear",
            align_corners=False,
        )[:, 0]  # fmt: skip
        k = up.shape[0]
        dev = up.device
        rows = self.shifts[part, 0, None] + torch.arange(height, device=dev)
        cols = self.shifts[part, 1, None] + torch.arange(width, device=dev)
        return up[torch.arange(k, device=dev)[:, None, None], rows[:, :, None], cols[:, None, :]]


def rise_masks(
    n: int, cell: int, p: float, size: tuple[int, int], seed: int, device, dtype=torch.float32
) -> RiseMasks:
    """The seeded draws of ``n`` RISE masks for images of ``size`` (H, W)."""
    gen = torch.Generator(device=device).manual_seed(seed)
    grids = (torch.rand((n, cell, cell), generator=gen, device=device) < p).to(dtype)
    ch, cw = math.ceil(size[0] / cell), math.ceil(size[1] / cell)
    shift_y = torch.randint(0, ch, (n,), generator=gen, device=device)
    shift_x = torch.randint(0, cw, (n,), generator=gen, device=device)
    return RiseMasks(grids, torch.stack([shift_y, shift_x], 1), size)


@register(
    "rise",
    label="RISE",
    family="perturbation",
    tip=(
        "The class score averaged over many randomly masked copies "
        "of the picture, for each pixel kept visible."
    ),
)
@dataclass(frozen=True)
class Rise(Method):
    """RISE (Petsiuk et al. 2018): S = E[f(x * M) M] / p over ``masks`` random smooth masks
    (``cell`` x ``cell`` grids, cells kept with probability ``p``, upsampled and shifted).

    Example: ``explain(model, x, "rise", masks=2000, cell=7, p=0.5)``.
    """

    masks: int = param(2000, min=1, max=100000, step=1, help="Random masks averaged.")
    cell: int = param(7, min=1, max=256, step=1, help="Grid cells per side of a mask.")
    p: float = param(0.5, min=0.01, max=1.0, step=0.05, help="Probability a cell is kept.")
    seed: int = param(0, min=0, max=2**31 - 1, step=1, help="Seed of the random masks.")

    reduce = "mean"

    def check_input(self, x: torch.Tensor) -> None:
        if self.cell > min(x.shape[2:]):
            raise ValueError(
                f"rise: parameter 'cell' ({self.cell}) must be at most the image's shorter side "
                f"({min(x.shape[2:])})"
            )

    def __call__(self, model, x, target, progress: Progress | None = None, cache=None):
        return final(self.stream(model, x, target, progress))

    def stream(self, model, x, target, progress: Progress | None = None, cache=None):
        bind_clean(model, x, target)
        n = x.shape[0]
        draws = rise_masks(self.masks, self.cell, self.p, tuple(x.shape[2:]), self.seed, x.device)
        total = torch.zeros(n, *x.shape[2:], device=x.device, dtype=x.dtype)
        per = max(1, chunk_size(x[0]) // n)
        with torch.no_grad():
            for part in chunks(self.masks, per):
                mask = draws.make(part).to(x.dtype)  # (k, H, W)
                k = mask.shape[0]
                copies = (x[None] * mask[:, None, None]).reshape(k * n, *x.shape[1:])
                rows = torch.arange(n, device=x.device).repeat(k)
                scores = target.score(forward_batch(model, copies), rows).view(k, n)
                total += torch.einsum("kn,khw->nhw", scores.to(x.dtype), mask)
                if progress is not None:
                    progress(part.stop / self.masks)
                estimate = total / (part.stop * self.p)
                yield estimate[:, None].expand(-1, x.shape[1], -1, -1), part.stop / self.masks
