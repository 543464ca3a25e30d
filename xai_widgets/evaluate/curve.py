"""A perturbation curve and the batched engine that computes it.

Every curve is one integer map per image, ``removal`` (N, H, W): the step at which each pixel
is removed (and stays removed); step 0 is the untouched image. The image after step k is

    x_k = where(removal <= k, fill, x)      (deletion, region perturbation)
    x_k = where(removal <= k, x, fill)      (insertion: pixels revealed on the fill)

All N * (steps + 1) images are built with tensor ops chunk by chunk and forwarded in
memory-sized batches (no per-step Python loop over forwards), so one curve costs about one
batched forward of its steps + 1 images.

Example::

    c = deletion(model, x, heatmap)
    c.fractions          # (steps + 1,) fraction of pixels removed
    c.scores             # (N, steps + 1) the target's probability after each step
    c.auc, c.aopc        # (N,) each
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch import nn

from ..hooks import borrowed
from ..methods.batching import chunk_size, chunks, forward_batch
from ..targets import Target

__all__ = ["Curve", "run_curve", "tie_broken_order"]

Progress = Callable[[float], None]


@dataclass(frozen=True)
class Curve:
    """The scores of N images along one perturbation sequence.

    Attributes:
        fractions: (steps + 1,) fraction of the image's pixels removed (inserted) at each step.
        scores: (N, steps + 1) the target's score after each step; step 0 the clean image
            (for insertion: the fill alone).
        kind: "morf", "lerf", "deletion" or "insertion".
        score: "logit" or "probability" (for a callable target: what it returns).
        target: the explained class of each image (None for a callable target).
        settings: the parameters the curve was made with.
    """

    fractions: torch.Tensor
    scores: torch.Tensor
    kind: str
    score: str
    target: list[int] | None = None
    settings: dict = field(default_factory=dict)

    @property
    def aopc(self) -> torch.Tensor:
        """(N,) area over the perturbation curve (Samek et al. 2017, eq. 12):
        (1 / (steps + 1)) * sum_{k=0..steps} (f(x_0) - f(x_k))."""
        return (self.scores[:, :1] - self.scores).mean(1)

    @property
    def auc(self) -> torch.Tensor:
        """(N,) normalised area under the curve (Petsiuk et al. 2018): the trapezoid rule over
        ``fractions``, divided by the covered range of fractions (1 for a full curve)."""
        span = (self.fractions[-1] - self.fractions[0]).clamp(min=1e-12)
        return torch.trapezoid(self.scores, self.fractions.to(self.scores.dtype)) / span

    def __repr__(self) -> str:
        n, k = self.scores.shape
        return (
            f"Curve(kind={self.kind!r}, images={n}, steps={k - 1}, score={self.score!r}, "
            f"aopc={self.aopc.mean().item():.4g}, auc={self.auc.mean().item():.4g})"
        )


def tie_broken_order(values: torch.Tensor, descending: bool, seed: int) -> torch.Tensor:
    """(N, M) indices sorting each row of ``values``; equal values in a random order from
    ``seed`` (so a constant region of a map is not removed top-left first)."""
    n, m = values.shape
    gen = torch.Generator().manual_seed(seed)
    perm = torch.stack([torch.randperm(m, generator=gen) for _ in range(n)]).to(values.device)
    shuffled = values.gather(1, perm)
    order = torch.argsort(shuffled, dim=1, descending=descending, stable=True)
    return perm.gather(1, order)


def run_curve(
    model: nn.Module,
    x: torch.Tensor,
    removal: torch.Tensor,
    fill: torch.Tensor,
    steps: int,
    *,
    insert: bool,
    probability: bool,
    target: Target,
    progress: Progress | None = None,
) -> torch.Tensor:
    """(N, steps + 1) target scores of the images x_0 .. x_steps (see the module docstring).
    Every image is forwarded once, in one stream of batches: first the clean image of each
    sample (a deletion's step 0; an insertion's last step, which reveals every pixel), so
    ``target`` is bound (and a bad target fails) after the batches that hold them and before
    the others; then the other steps, sample by sample. ``progress`` gets the fraction done
    after each batch and may raise to cancel."""
    n = x.shape[0]
    clean_step = steps if insert else 0
    others = torch.tensor([k for k in range(steps + 1) if k != clean_step], device=x.device)
    every = torch.arange(n, device=x.device)
    sample = torch.cat([every, every.repeat_interleave(steps)])
    step = torch.cat([torch.full((n,), clean_step, device=x.device), others.repeat(n)])
    total = n * (steps + 1)
    per = max(1, chunk_size(x[0]))
    outputs = []
    with borrowed(model), torch.no_grad():
        for part in chunks(total, per):
            s, k = sample[part], step[part]
            gone = (removal[s] <= k[:, None, None])[:, None]
            if insert:
                images = torch.where(gone, x[s], fill[s])
            else:
                images = torch.where(gone, fill[s], x[s])
            outputs.append(forward_batch(model, images))
            if not target.bound and part.stop >= n:
                target.bind(torch.cat(outputs)[:n])
            if progress is not None:
                progress(part.stop / total)
    flat = torch.cat(outputs)
    out = flat.new_empty(n, steps + 1, flat.shape[1])
    out[sample, step] = flat
    out = out.reshape(n * (steps + 1), -1)
    if probability and target.fn is None:
        out = torch.softmax(out, dim=1)
    rows = torch.arange(n, device=x.device).repeat_interleave(steps + 1)
    return target.score(out, rows).reshape(n, steps + 1).detach()
