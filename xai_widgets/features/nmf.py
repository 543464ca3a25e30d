"""Non-negative matrix factorisation in torch, on the data's device: V ~ W H with W, H >= 0.

Hierarchical alternating least squares (HALS; Cichocki & Phan 2009, "Fast local algorithms for
large scale nonnegative matrix and tensor factorizations", IEICE Trans. Fundamentals 92(3)).
One sweep updates each row j of H, then each column j of W, in closed form with the others
fixed::

    H_j <- max(0, H_j + ((W^T V)_j - (W^T W)_j H) / (W^T W)_jj)
    W_j <- max(0, W_j + ((V H^T)_j - W (H H^T)_j) / (H H^T)_jj)

The error ||V - W H||_F^2 = ||V||^2 - 2 <W, V H^T> + <W^T W, H H^T> costs O(k^2 (m + n)) per
sweep, so it is checked every 5 sweeps and the loop stops when it improved by less than
5 ``tol`` (relative) over them. The start is scikit-learn's ``init="random"``: uniform(0, 1)
* sqrt(mean(V) / k), drawn from a ``torch.Generator`` seeded with ``seed`` (on the CPU, so a
seed gives the same start on every device).

Example::

    >>> V = torch.rand(500, 32)
    >>> f = nmf(V, k=4, seed=0)
    >>> f.W.shape, f.H.shape, f.error   # (500, 4), (4, 32), relative Frobenius error
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

__all__ = ["Factors", "nmf"]

_TINY = 1e-12


@dataclass(frozen=True)
class Factors:
    """V ~ W H: ``W`` (m, k), ``H`` (k, n), both >= 0; ``error`` = ||V - W H||_F / ||V||_F;
    ``iterations`` the sweeps run."""

    W: torch.Tensor
    H: torch.Tensor
    error: float
    iterations: int


def _sq_error(vv: torch.Tensor, Wt: torch.Tensor, H: torch.Tensor, P: torch.Tensor):
    """||V - W H||_F^2 from ||V||^2, W^T, H and P = H V^T (no m x n product)."""
    return vv - 2 * (Wt * P).sum() + ((Wt @ Wt.T) * (H @ H.T)).sum()


def nmf(
    V: torch.Tensor,
    k: int,
    *,
    seed: int = 0,
    max_iter: int = 200,
    tol: float = 1e-4,
    progress: Callable[[float], None] | None = None,
) -> Factors:
    """Factorise a non-negative (m, n) matrix into k parts by HALS (see the module doc).

    ``progress(fraction)`` runs every 10 sweeps and may raise to cancel. W is kept transposed
    (k, m) so that each update touches one contiguous row."""
    if V.dim() != 2:
        raise ValueError(f"nmf: V must be a 2-D matrix, got shape {tuple(V.shape)}")
    if bool((V < 0).any()):
        raise ValueError("nmf: V must be non-negative")
    m, n = V.shape
    if not 1 <= k <= min(m, n):
        raise ValueError(f"nmf: k must be in 1..{min(m, n)} for a {m} x {n} matrix, got {k}")
    gen = torch.Generator().manual_seed(int(seed))
    scale = float(V.mean().clamp(min=_TINY) / k) ** 0.5
    W = torch.rand(m, k, generator=gen, dtype=torch.float64) * scale
    H = (torch.rand(k, n, generator=gen, dtype=torch.float64) * scale).to(V.device, V.dtype)
    Wt = W.T.contiguous().to(V.device, V.dtype)  # (k, m)
    Vt = V.T.contiguous()  # (n, m)
    vv = (V * V).sum()
    previous = None
    iterations = 0
    for iterations in range(1, max_iter + 1):
        A, B = Wt @ V, Wt @ Wt.T  # W^T V (k, n), W^T W (k, k)
        for j in range(k):
            H[j] = (H[j] + (A[j] - B[j] @ H) / B[j, j].clamp(min=_TINY)).clamp(min=0)
        P, Q = H @ Vt, H @ H.T  # (V H^T)^T (k, m), H H^T (k, k)
        for j in range(k):
            Wt[j] = (Wt[j] + (P[j] - Q[j] @ Wt) / Q[j, j].clamp(min=_TINY)).clamp(min=0)
        if progress is not None and iterations % 10 == 0:
            progress(iterations / max_iter)
        if iterations % 5 and iterations != max_iter:
            continue  # the error is checked every 5 sweeps
        err = float(_sq_error(vv, Wt, H, P).clamp(min=0))
        if previous is not None and previous - err <= 5 * tol * previous:
            break
        previous = err
    final = float(_sq_error(vv, Wt, H, H @ Vt).clamp(min=0))
    return Factors(Wt.T.contiguous(), H, (final / float(vv.clamp(min=_TINY))) ** 0.5, iterations)
