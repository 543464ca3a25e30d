"""Token outputs of vision transformers seen as spatial maps.

A ViT encoder block returns tokens (N, p + h*w, D): ``p`` leading tokens that are not patches
(the class token, p = 1; a distillation token too, p = 2) and one token per patch of the
h x w grid, row by row. Every layer-based method and view reads such an output as the map
(N, D, h, w) of its patch tokens, the leading tokens dropped: what pytorch-grad-cam's
``reshape_transform`` recipe does for ViTs. The grid size comes from the model itself: the
spatial size of the patch embedding's output seen earlier in the same forward pass.

Example::

    grid = TokenGrid(prefix=1, h=8, w=8)
    maps = to_grid(tokens, grid)                      # (N, 65, D) -> (N, D, 8, 8)
    same = from_grid(tokens[:, :1], maps, grid)       # back to (N, 65, D)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

__all__ = ["PREFIXES", "TokenGrid", "find_grid", "from_grid", "to_grid"]

PREFIXES = (1, 2, 0)
"""Leading non-patch tokens tried, in order: a class token, class + distillation, none."""


@dataclass(frozen=True)
class TokenGrid:
    """How a (N, prefix + h*w, D) token tensor maps to a (N, D, h, w) grid."""

    prefix: int
    h: int
    w: int

    def shape(self, tokens_shape: tuple[int, ...]) -> tuple[int, int, int, int]:
        """The (N, D, h, w) shape of the grid view of a token tensor of ``tokens_shape``."""
        return (tokens_shape[0], tokens_shape[2], self.h, self.w)


def find_grid(shape: tuple[int, ...], sizes: Sequence[tuple[int, int]]) -> TokenGrid | None:
    """The grid of a 3-D output ``shape`` (N, T, D): T = prefix + h*w for a spatial size
    (h, w) among ``sizes`` (the latest first) with more than one position; None otherwise."""
    if len(shape) != 3:
        return None
    tokens = shape[1]
    for prefix in PREFIXES:
        for h, w in reversed(sizes):
            if h * w > 1 and tokens == prefix + h * w:
                return TokenGrid(prefix, h, w)
    return None


def to_grid(tokens: torch.Tensor, grid: TokenGrid) -> torch.Tensor:
    """(N, prefix + h*w, D) -> (N, D, h, w): the patch tokens as a map (leading ones dropped)."""
    n, _, d = tokens.shape
    return tokens[:, grid.prefix :].transpose(1, 2).reshape(n, d, grid.h, grid.w)


def from_grid(head: torch.Tensor, maps: torch.Tensor, grid: TokenGrid) -> torch.Tensor:
    """The inverse of :func:`to_grid`: ``head`` (N, prefix, D) leading tokens and ``maps``
    (N, D, h, w) back to (N, prefix + h*w, D), differentiable with respect to ``maps``."""
    patches = maps.flatten(2).transpose(1, 2)
    return torch.cat([head, patches], 1) if grid.prefix else patches.contiguous()
