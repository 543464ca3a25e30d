"""Activation space: where images lie in a layer's feature space, projected to 2-D by PCA.

Each image n becomes its pooled activation vector a_n = pool_ij A_l[n, :, i, j] (C,) (global
average, ``pool="mean"``, or max), and the vectors are projected on their first two principal
components (Pearson 1901; the "activation atlas" idea of Carter et al. 2019 with PCA in place of
UMAP): with the centred matrix X = [a_n - mean] = U S V^T,

    embedding = X V[:, :2]        explained[k] = S_k^2 / sum_j S_j^2

Signs are fixed so that each component's largest loading is positive (deterministic output).
Classes that the layer separates form separate clouds.

Example::

    >>> space = activation_space(model, loader, "features.3")   # labels taken from the loader
    >>> space.embedding.shape, space.explained
    (torch.Size([2000, 2]), tensor([0.41, 0.17]))
    >>> fig = plot_activation_space(space, classes=["circle", "square"])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..checks import check_model
from ..hooks import borrowed
from ..methods.registry import Progress
from ._common import LayerInfo, iter_batches, probe, run_to

__all__ = ["ActivationSpace", "activation_space", "plot_activation_space"]

_POOLS = ("mean", "max")


@dataclass(frozen=True)
class ActivationSpace:
    """``embedding`` (N, 2) PCA coordinates; ``pooled`` (N, C) the pooled activations;
    ``labels`` (N,) or None; ``components`` (2, C) principal axes; ``mean`` (C,);
    ``explained`` (2,) fraction of the variance along each axis. All on the CPU."""

    layer: str
    embedding: torch.Tensor
    pooled: torch.Tensor
    labels: torch.Tensor | None
    components: torch.Tensor
    mean: torch.Tensor
    explained: torch.Tensor

    def plot(self, classes: Sequence[str] | None = None, ax: Any = None) -> Any:
        """Shortcut for :func:`plot_activation_space`."""
        return plot_activation_space(self, classes=classes, ax=ax)


def _pca(pooled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    data = pooled.double()
    mean = data.mean(0)
    centred = data - mean
    _, s, vh = torch.linalg.svd(centred, full_matrices=False)
    comps = vh[:2]
    if comps.shape[0] < 2:  # a single channel: the second axis is empty
        comps = torch.cat([comps, torch.zeros_like(comps)])
        s = torch.cat([s, torch.zeros(1, dtype=s.dtype)])
    signs = torch.sign(comps.gather(1, comps.abs().argmax(1, keepdim=True)))
    comps = comps * torch.where(signs == 0, torch.ones_like(signs), signs)
    total = (s**2).sum()
    explained = (s[:2] ** 2) / total if total > 0 else torch.zeros(2, dtype=s.dtype)
    return (centred @ comps.T).float(), comps.float(), mean.float(), explained.float()


def _labels(given: object, collected: list, n: int) -> torch.Tensor | None:
    if given is None and collected and all(c is not None for c in collected):
        given = torch.cat([torch.as_tensor(c).reshape(-1).cpu() for c in collected])
    if given is None:
        return None
    labels = torch.as_tensor(given).reshape(-1).cpu()
    if len(labels) != n:
        raise ValueError(f"activation_space: {len(labels)} labels for {n} images; give one each")
    return labels


def activation_space(
    model: nn.Module,
    images: object,
    layer: str | nn.Module | None,
    labels: Sequence[int] | torch.Tensor | None = None,
    *,
    pool: str = "mean",
    progress: Progress | None = None,
) -> ActivationSpace:
    """2-D PCA embedding of the pooled activations of ``layer`` for ``images``.

    ``images``: a tensor (N, C, H, W) or an iterable of batches or (batch, labels) pairs; the
    labels of such pairs are used when ``labels`` is None. Needs at least 2 images. Batched,
    the forward stopping after the layer; ``progress(fraction)`` runs after each chunk and may
    raise to cancel.
    """
    check_model(model)
    if pool not in _POOLS:
        raise ValueError(f"activation_space: pool must be 'mean' or 'max', got {pool!r}")
    if isinstance(images, torch.Tensor) and labels is not None:
        n_labels, n_images = len(torch.as_tensor(labels).reshape(-1)), len(images)
        if n_labels != n_images:
            raise ValueError(
                f"activation_space: {n_labels} labels for {n_images} images; give one each"
            )
    info: LayerInfo | None = None
    pooled, collected = [], []
    for x, batch_labels, i, total in iter_batches(model, images, "activation_space"):
        if info is None:
            info = probe(model, x, layer, "activation_space")
        with borrowed(model), torch.no_grad():
            acts = run_to(model, x, info).flatten(2)
        pooled.append((acts.mean(2) if pool == "mean" else acts.amax(2)).cpu())
        collected.append(batch_labels)
        if progress is not None:
            progress(0.0 if total is None else (i + 1) / total)
    n = sum(len(p) for p in pooled)
    if info is None or n < 2:
        raise ValueError(f"activation_space: needs at least 2 images, got {n}")
    data = torch.cat(pooled)
    embedding, comps, mean, explained = _pca(data)
    return ActivationSpace(
        info.name, embedding, data, _labels(labels, collected, n), comps, mean, explained
    )


def plot_activation_space(
    space: ActivationSpace, classes: Sequence[str] | None = None, ax: Any = None
) -> Any:
    """A matplotlib Figure: the embedding as a scatter plot, one colour per label (legend with
    ``classes[label]`` when given), axes labelled with the explained variance."""
    import matplotlib.pyplot as plt

    if ax is None:
        fig, ax = plt.subplots(figsize=(5, 4.5))
    else:
        fig = ax.figure
    xy = space.embedding.numpy()
    if space.labels is None:
        ax.scatter(xy[:, 0], xy[:, 1], s=8, alpha=0.7)
    else:
        labels = space.labels.numpy()
        cmap = plt.colormaps["tab10" if len(set(labels.tolist())) <= 10 else "tab20"]
        for n, value in enumerate(sorted(set(labels.tolist()))):
            mask = labels == value
            name = classes[int(value)] if classes is not None else str(value)
            ax.scatter(xy[mask, 0], xy[mask, 1], s=8, alpha=0.7, color=cmap(n % cmap.N), label=name)
        ax.legend(loc="best", fontsize="small", markerscale=2)
    ev = space.explained.tolist()
    ax.set_xlabel(f"PC 1 ({ev[0]:.0%} of variance)")
    ax.set_ylabel(f"PC 2 ({ev[1]:.0%} of variance)")
    ax.set_title(f"activation space of {space.layer}")
    return fig
