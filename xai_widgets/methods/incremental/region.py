"""Changed regions of a batch of occluded copies, and how a layer moves them.

Every occluded copy k differs from the clean input in one window; at each layer it differs
only in a rectangle (rows ``y0[k] .. y0[k] + h``, columns ``x0[k] .. x0[k] + w``) that grows
with the receptive field. A :class:`Patch` holds the values of that rectangle for all K copies
at once; one size (h, w) serves the whole batch (the largest), each copy's rectangle shifted to
stay inside the map, so a patch may cover a few unchanged places too (recomputed, still
exact). Along one axis a window op (kernel k, stride s, dilation d, padding p) maps the
changed input rows [a, b) to the output rows

    lo = ceil((a + p - d (k - 1)) / s),   hi = floor((b - 1 + p) / s)

(Krypton, Nakandala et al. SIGMOD 2019, section 3) and reads input rows
[lo s - p, hi s - p + d (k - 1)]. With ``cap`` (Krypton's projective-field threshold tau) the
output rectangle is cut to at most ``cap`` rows around the centre of the exact one: places
beyond it keep their clean values, an approximation.

Example::

    span = project(a, 16, n=56, m=56, k=3, s=1, d=1, p=1)   # rows of a 3x3 conv's output
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["Patch", "Span", "gather", "project", "union"]


@dataclass
class Patch:
    """Values (K, C, h, w) of the changed rectangle of each copy, its top-left corner
    (``y0``, ``x0``, (K,) long) in a map of ``shape`` (C, H, W)."""

    values: torch.Tensor
    y0: torch.Tensor
    x0: torch.Tensor
    shape: tuple[int, ...]

    @property
    def size(self) -> tuple[int, int]:
        return self.values.shape[2], self.values.shape[3]


@dataclass
class Span:
    """One axis of a batch of output rectangles: starts (K,) and one length."""

    start: torch.Tensor
    length: int


def _fit(lo: torch.Tensor, hi: torch.Tensor, m: int, cap: int | None) -> Span:
    """A common length covering [lo, hi] of every copy (at least 1, at most ``m`` or ``cap``),
    starts shifted to stay within [0, m)."""
    lo, hi = lo.clamp(0, m - 1), hi.clamp(0, m - 1)
    hi = torch.maximum(hi, lo)
    length = min(m, int((hi - lo).max()) + 1)
    if cap is not None and length > cap:
        length = cap
        lo = (lo + hi + 1) // 2 - length // 2
    start = torch.minimum(lo, torch.full_like(lo, m - length)).clamp(min=0)
    return Span(start, length)


def project(
    a: torch.Tensor, size: int, *, m: int, k: int, s: int, d: int, p: int, cap: int | None = None
) -> Span:
    """Output rows of a window op that see the changed input rows [a, a + size)."""
    reach = d * (k - 1)
    lo = torch.div(a + p - reach + s - 1, s, rounding_mode="floor")
    hi = torch.div(a + size - 1 + p, s, rounding_mode="floor")
    return _fit(lo, hi, m, cap)


def union(a0: torch.Tensor, a: int, b0: torch.Tensor, b: int, m: int) -> Span:
    """The rows covering both changed ranges [a0, a0 + a) and [b0, b0 + b)."""
    return _fit(torch.minimum(a0, b0), torch.maximum(a0 + a, b0 + b) - 1, m, None)


def gather(
    patch: Patch,
    clean: torch.Tensor,
    sample: torch.Tensor,
    rows: Span,
    cols: Span,
    pad: tuple[int, int] = (0, 0),
) -> torch.Tensor:
    """The occluded map read over ``rows`` x ``cols`` (in the coordinates of ``clean``, the
    clean map (N, H', W', C) channels-last, padded by ``pad`` (top, left)): the patch's values
    where it has them, the clean values of each copy's ``sample`` elsewhere. Returns
    (K, C, rh, rw) in channels-last strides.

    Each copy's rectangle is one block of the clean map's sliding windows (``unfold``: a view),
    so the read indexes K blocks instead of K x rh x rw places (3-5x faster); the patch is
    then written into its place in each block (a masked blend where it is not wholly inside).
    """
    dev = clean.device
    windows = clean.unfold(1, rows.length, 1).unfold(2, cols.length, 1)  # (N, ., ., C, rh, rw)
    base = windows[sample, rows.start, cols.start]  # (K, C, rh, rw), a copy
    h, w = patch.size
    rr = (patch.y0 + pad[0] - rows.start)[:, None] + torch.arange(h, device=dev)  # (K, h)
    cc = (patch.x0 + pad[1] - cols.start)[:, None] + torch.arange(w, device=dev)  # (K, w)
    in_r, in_c = (rr >= 0) & (rr < rows.length), (cc >= 0) & (cc < cols.length)
    if bool(in_r.all()) and bool(in_c.all()) and bool((rr[:, 0] == rr[0, 0]).all()):
        if bool((cc[:, 0] == cc[0, 0]).all()):  # one place in every block: a slice
            top, left = int(rr[0, 0]), int(cc[0, 0])
            base[:, :, top : top + h, left : left + w] = patch.values
            return base
    values = patch.values.permute(0, 2, 3, 1)  # (K, h, w, C)
    if bool(in_r.all()) and bool(in_c.all()):
        k = torch.arange(rr.shape[0], device=dev)[:, None, None]
        base[k, :, rr[:, :, None], cc[:, None, :]] = values
        return base
    inside = in_r[:, :, None] & in_c[:, None, :]  # (K, h, w): patch places inside the block
    if bool(inside.any()):
        kk, ii, jj = torch.nonzero(inside, as_tuple=True)
        base[kk, :, rr[kk, ii], cc[kk, jj]] = values[kk, ii, jj]
    return base
