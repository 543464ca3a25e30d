"""Concepts: the few parts of the object a layer has found, each with its relevance for a class.

Deep Feature Factorization (Collins, Achanta and Süsstrunk 2018, ECCV): the non-negative
activations A (N, C, h, w) of a layer over a set of images are read as one matrix V (N*h*w, C),
a row per position, and factorised by NMF (:mod:`.nmf`) into k parts, V ~ W D::

    D (k, C)        concept directions in channel space (rows scaled to unit length)
    W (N*h*w, k)    how much of each concept each position holds: k concept maps per image

Relevance of concept i for class c (signed: evidence for and against), from g = dS_c / dA:

* per image n: r_nic = sum_ij W_n,i,ij (g_n,ij . d_i), the concept's first-order share of the
  class score (the gradient along the concept direction, weighted by where the concept is);
* per class: R_ic = mean_n sum_ij (g_n,ij . d_i), the derivative of S_c when the concept is
  added everywhere. For a global-average-pool + linear head, g = w_c / (h w) at every position,
  so R_ic = w_c . d_i (the class weights projected on the concept) and r_nic = mean_ij(W_n,i) *
  (w_c . d_i): the concepts' shares then add up to the logit minus the bias, up to the NMF error.

The images that express a concept most (largest mean concept map) are its exemplars; shown
MACE-style (Kim et al. 2020: the image blacked out except the concept's region) they say what
the concept is without words, "best suited for non-AI experts".

Example::

    >>> c = concepts(model, images, "features.10", k=6, seed=0)
    >>> c.top(0, cls=2)              # [(concept, relevance), ...] by |relevance|
    >>> c.segmentation(0)            # (H, W): the concept at each pixel, -1 for none
    >>> c.exemplars[3]               # the images that show concept 3 most
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_model
from ..hooks import borrowed
from ..methods.forward import Forward
from ..methods.registry import Progress
from ..outputs import select_logits
from ._common import LayerInfo, check_int, iter_batches, probe, run_to
from .nmf import nmf

__all__ = ["Concepts", "concepts"]

MAX_CLASSES = 64  # the relevance is computed for every class up to this many outputs


@dataclass(frozen=True)
class Concepts:
    """The result of :func:`concepts` (all tensors on the CPU).

    ``directions`` (k, C) unit rows; ``maps`` (N, k, h, w) concept maps at the layer's
    resolution; ``classes`` the class indices the relevance columns belong to; ``relevance``
    (N, k, len(classes)) per image; ``class_relevance`` (k, len(classes)); ``logits`` (N, K);
    ``exemplars`` / ``exemplar_scores`` (k, m) image indices, best first, and their mean concept
    map; ``error`` the relative NMF error ||V - W D|| / ||V||; ``clipped`` the share of the
    activations' absolute mass that was negative and set to 0; ``size`` the input (H, W).
    """

    layer: str
    directions: torch.Tensor
    maps: torch.Tensor
    classes: tuple[int, ...]
    relevance: torch.Tensor
    class_relevance: torch.Tensor
    logits: torch.Tensor
    exemplars: torch.Tensor
    exemplar_scores: torch.Tensor
    error: float
    clipped: float
    size: tuple[int, int]
    seed: int

    @property
    def k(self) -> int:
        return int(self.directions.shape[0])

    @property
    def predictions(self) -> torch.Tensor:
        return self.logits.argmax(1)

    def column(self, cls: int) -> int:
        """The relevance column of class ``cls``; ValueError when it was not computed."""
        if cls not in self.classes:
            raise ValueError(
                f"concepts: the relevance was computed for classes {list(self.classes)[:12]}"
                f"{'…' if len(self.classes) > 12 else ''}, not for class {cls}; pass it in "
                "classes="
            )
        return self.classes.index(cls)

    def image_relevance(self, index: int, cls: int) -> torch.Tensor:
        """(k,) signed relevance of each concept for class ``cls`` in image ``index``."""
        return self.relevance[index, :, self.column(cls)]

    def top(self, index: int, cls: int, n: int | None = None) -> list[tuple[int, float]]:
        """[(concept, relevance)] for image ``index`` and class ``cls``, by |relevance|."""
        r = self.image_relevance(index, cls)
        order = torch.sort(r.abs(), descending=True, stable=True).indices[: n or self.k]
        return [(int(i), float(r[i])) for i in order]

    def upsampled(self, index: int) -> torch.Tensor:
        """(k, H, W): the concept maps of image ``index``, each divided by its maximum over
        all images (so 1 is the concept's strongest expression), at input resolution."""
        peak = self.maps.amax((0, 2, 3)).clamp(min=1e-12)[:, None, None]
        maps = (self.maps[index] / peak)[None]
        return F.interpolate(maps, size=self.size, mode="bilinear", align_corners=False)[0]

    def segmentation(self, index: int, threshold: float = 0.2) -> torch.Tensor:
        """(H, W) long: the strongest concept at each pixel, -1 where none reaches
        ``threshold`` of its strongest expression over the images (Collins et al.'s argmax)."""
        value, arg = self.upsampled(index).max(0)
        return torch.where(value >= threshold, arg, torch.full_like(arg, -1))

    def region(self, index: int, concept: int, threshold: float = 0.2) -> torch.Tensor:
        """(H, W) bool: where ``concept`` reaches ``threshold`` of its strongest expression
        over the images (regions of two concepts may overlap; MACE shows each alone)."""
        return self.upsampled(index)[concept] >= threshold


def _check(k: object, seed: object, exemplars: object) -> None:
    check_int(k, "k", "concepts", minimum=2)
    check_int(seed, "seed", "concepts", minimum=0)
    check_int(exemplars, "exemplars", "concepts")


def _materialise(images: object) -> object:
    """A one-shot iterator is read into a list: the images are read twice."""
    if isinstance(images, Iterable) and not isinstance(images, torch.Tensor):
        if iter(images) is images:  # type: ignore[arg-type]
            return list(images)  # type: ignore[arg-type]
    return images


def _activations(model, images, layer, k, progress) -> tuple[LayerInfo, torch.Tensor, tuple]:
    """Pass 1: the layer's activations (N, C, h, w) over all images (forward up to the layer)."""
    info = None
    parts = []
    for x, _labels, i, total in iter_batches(model, images, "concepts"):
        if info is None:
            info = probe(model, x, layer, "concepts")
            if k > info.channels:
                raise ValueError(
                    f"concepts: k={k} is more than the {info.channels} channels of layer "
                    f"{info.name!r}; "
                    + (
                        f"choose k in 2..{info.channels}"
                        if info.channels >= 2
                        else "choose a layer with at least 2 channels"
                    )
                )
            size = tuple(x.shape[2:])
        with borrowed(model), torch.no_grad():
            parts.append(run_to(model, x, info).detach())
        if progress is not None:
            progress(0.0 if total is None else 0.3 * (i + 1) / total)
    if info is None:
        raise ValueError("concepts: images is empty; give at least one image")
    return info, torch.cat(parts), size


def _classes(classes: Sequence[int] | None, count: int) -> tuple[int, ...]:
    if classes is None:
        if count > MAX_CLASSES:
            raise ValueError(
                f"concepts: the model has {count} classes; pass classes=[...] (at most "
                f"{MAX_CLASSES}) to say for which ones the relevance is computed"
            )
        return tuple(range(count))
    picked = tuple(dict.fromkeys(int(c) for c in classes))
    bad = [c for c in picked if not 0 <= c < count]
    if not picked or bad:
        raise ValueError(f"concepts: classes must be class indices in 0..{count - 1}, got {bad}")
    return picked


def _relevance(model, images, info, maps, directions, classes, output, progress):
    """Pass 2: logits and, per class, the gradient at the layer projected on the concepts."""
    rel, along, logits, seen, picked = [], [], [], 0, None
    for x, _labels, i, total in iter_batches(model, images, "concepts", grad=True):
        with borrowed(model):
            fwd = Forward.run(model, x, [info.name], shared=True, method="concepts")
            scores = select_logits(fwd.output, output)
            if picked is None:
                picked = _classes(classes, scores.shape[1])
            w = maps[seen : seen + x.shape[0]].to(x.device)
            r_b, a_b = [], []
            for c in picked:
                g = fwd.grad(scores[:, c].sum(), fwd.acts[info.name])
                proj = torch.einsum("bchw,kc->bkhw", g.detach(), directions)
                r_b.append((proj * w).sum((2, 3)))
                a_b.append(proj.sum((2, 3)))
        rel.append(torch.stack(r_b, 2).cpu())
        along.append(torch.stack(a_b, 2).cpu())
        logits.append(scores.detach().cpu())
        seen += x.shape[0]
        if progress is not None:
            progress(0.8 if total is None else 0.8 + 0.2 * (i + 1) / total)
    return picked, torch.cat(rel), torch.cat(along).mean(0), torch.cat(logits)


def concepts(
    model: nn.Module,
    images: object,
    layer: str | nn.Module | None = None,
    k: int = 6,
    seed: int = 0,
    progress: Progress | None = None,
    *,
    classes: Sequence[int] | None = None,
    exemplars: int = 8,
    max_iter: int = 200,
    output: object = None,
) -> Concepts:
    """Discover ``k`` concepts of ``layer`` over ``images`` (Deep Feature Factorization; see the
    module doc) and their relevance for ``classes`` (default: every class, for at most 64).

    ``images``: a tensor (N, C, H, W) or an iterable of batches / (batch, labels) pairs of one
    image size; ``layer``: a spatial layer, None or "" for the default one (best after a ReLU:
    negative activations are set to 0 and their share reported as ``clipped``); ``seed`` fixes
    the NMF start (same seed, same concepts). ``progress(fraction)`` runs between batches and
    NMF sweeps and may raise to cancel. Errors (raised before any work): k < 2 or more than the
    layer's channels, a layer without a spatial output, empty images.
    """
    check_model(model)
    _check(k, seed, exemplars)
    images = _materialise(images)
    info, acts, size = _activations(model, images, layer, k, progress)
    n, c, h, w = acts.shape
    total = acts.abs().sum().clamp(min=1e-12)
    clipped = float(acts.clamp(max=0).abs().sum() / total)
    V = acts.clamp(min=0).permute(0, 2, 3, 1).reshape(-1, c)
    nmf_progress = None if progress is None else (lambda f: progress(0.3 + 0.5 * f))
    factors = nmf(V, k, seed=seed, max_iter=max_iter, progress=nmf_progress)
    norms = factors.H.norm(dim=1)
    directions = factors.H / norms.clamp(min=1e-12)[:, None]
    W = factors.W * norms[None]
    order = torch.sort(W.sum(0), descending=True, stable=True).indices  # largest concept first
    directions, W = directions[order], W[:, order]
    maps = W.reshape(n, h, w, k).permute(0, 3, 1, 2).contiguous()
    picked, rel, along, logits = _relevance(
        model, images, info, maps, directions, classes, output, progress
    )
    amount = maps.mean((2, 3))  # (N, k)
    m = min(exemplars, n)
    top = torch.sort(amount.T, dim=1, descending=True, stable=True)
    return Concepts(
        layer=info.name,
        directions=directions.cpu(),
        maps=maps.cpu(),
        classes=picked,
        relevance=rel,
        class_relevance=along,
        logits=logits,
        exemplars=top.indices[:, :m].cpu(),
        exemplar_scores=top.values[:, :m].cpu(),
        error=factors.error,
        clipped=clipped,
        size=size,  # type: ignore[arg-type]
        seed=seed,
    )
