"""Region perturbation (MoRF / LeRF, AOPC) and deletion / insertion curves.

* Samek et al. 2017, "Evaluating the visualization of what a deep neural network has
  learned": the image is cut into non-overlapping ``patch`` x ``patch`` regions (edge regions
  smaller where ``patch`` does not divide the image), ranked by their summed relevance; region
  r_k is replaced by the fill at step k (``morf``: most relevant first, ``lerf``: least).
  The curve is the target's logit; AOPC = (1 / (steps + 1)) sum_k (f(x_0) - f(x_k)).
  Coincides with Quantus ``RegionPerturbation(patch_size, order, regions_evaluation=steps,
  normalise=False, abs=False)`` with ``perturb_baseline="black"`` and our ``fill="zero"``,
  logits (``softmax=False``), when ``patch`` divides the image: Quantus's scores are our
  f(x_0) - f(x_k), k >= 1 (tests/test_evaluate_peers.py).
* Petsiuk et al. 2018, "RISE": ``deletion`` removes pixels in the heatmap's order, most
  relevant first, replacing them by the fill (the paper: zero); ``insertion`` reveals them on
  the fill (the paper: a blurred image). ``steps`` equal steps cover all H * W pixels; the
  curve is the target's softmax probability and ``Curve.auc`` its normalised area.

Equal heatmap values are ordered randomly from ``seed``. A callable target's own score is used
as given (no softmax). The model is borrowed (eval, restored bit-identical).

Example::

    import xai_widgets as xw
    from xai_widgets.evaluate import deletion, region_perturbation
    e = xw.explain(model, x, "occlusion", patch=8, stride=4)
    morf = region_perturbation(model, x, e.heatmap, fill="noise")
    morf.aopc                 # (N,) higher is better for MoRF
    deletion(model, x, e.heatmap).auc   # (N,) lower is better
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_input, check_model
from ..params import check_params
from ..targets import Target, TargetSpec
from ._inputs import check_heatmap
from .curve import Curve, Progress, run_curve, tie_broken_order
from .fill import fill_image
from .settings import PixelSettings, RegionSettings

__all__ = ["deletion", "insertion", "region_perturbation", "region_sums"]


def _ranked(heat: torch.Tensor, rank: str) -> torch.Tensor:
    return heat.abs() if rank == "abs" else heat


def region_sums(heat: torch.Tensor, patch: int) -> torch.Tensor:
    """(N, ceil(H/patch) * ceil(W/patch)) summed relevance of each region, row-major; the
    image is zero-padded at the bottom and right to a multiple of ``patch``."""
    n, h, w = heat.shape
    padded = F.pad(heat, (0, -w % patch, 0, -h % patch))
    sums = F.avg_pool2d(padded[:, None], patch, divisor_override=1)
    return sums.reshape(n, -1)


def _removed_fractions(removal: torch.Tensor, steps: int) -> torch.Tensor:
    """(steps + 1,) fraction of the pixels removed after each step, mean over the images
    (edge regions are smaller where the patch does not divide the image)."""
    n = removal.shape[0]
    flat = removal.reshape(n, -1).clamp(max=steps + 1).cpu()
    counts = torch.zeros(n, steps + 2, dtype=torch.float64)
    counts.scatter_add_(1, flat, torch.ones_like(flat, dtype=torch.float64))
    removed = counts[:, : steps + 1].cumsum(1)  # step 0 removes nothing (removal >= 1)
    return removed.mean(0) / flat.shape[1]


def region_perturbation(
    model: nn.Module,
    x: torch.Tensor,
    heatmap: torch.Tensor,
    *,
    target: TargetSpec = None,
    order: str = "morf",
    patch: int = 8,
    steps: int = 50,
    fill: str = "noise",
    rank: str = "signed",
    seed: int = 0,
    progress: Progress | None = None,
) -> Curve:
    """MoRF / LeRF curve of ``heatmap`` (N, H, W) for the images ``x`` (N, C, H, W): the
    target's logit after each of ``steps`` region removals (see the module docstring).

    Raises ValueError/TypeError naming the parameter for a heatmap of the wrong shape, a
    patch larger than the image, steps < 1 or more steps than regions, an unknown fill, order
    or rank, before any work.
    """
    settings = dict(order=order, patch=patch, steps=steps, fill=fill, rank=rank, seed=seed)
    check_params(RegionSettings, settings, "region_perturbation")
    model = check_model(model)
    x = check_input(model, x)
    heat = check_heatmap(heatmap, x, "region_perturbation")
    n, _, h, w = x.shape
    if patch > min(h, w):
        raise ValueError(
            f"region_perturbation: parameter 'patch' is {patch}, larger than the image "
            f"({h}x{w}); accepted: 1..{min(h, w)}"
        )
    rows, cols = -(-h // patch), -(-w // patch)
    if steps > rows * cols:
        raise ValueError(
            f"region_perturbation: parameter 'steps' is {steps} but a {h}x{w} image has only "
            f"{rows * cols} regions of {patch}x{patch}; accepted: 1..{rows * cols}"
        )
    spec = Target.from_spec(target, n)
    sums = region_sums(_ranked(heat, rank), patch)
    ordered = tie_broken_order(sums, descending=order == "morf", seed=seed)
    region_rank = torch.empty_like(ordered)
    region_rank.scatter_(1, ordered, torch.arange(rows * cols, device=x.device).expand(n, -1))
    grid = region_rank.reshape(n, rows, cols) + 1  # region of rank r goes at step r + 1
    removal = grid.repeat_interleave(patch, 1).repeat_interleave(patch, 2)[:, :h, :w]
    scores = run_curve(
        model,
        x,
        removal,
        fill_image(x, fill, seed),
        steps,
        insert=False,
        probability=False,
        target=spec,
        progress=progress,
    )
    fractions = _removed_fractions(removal, steps)
    return Curve(fractions, scores.cpu(), order, "logit", spec.spec(), settings)


def _pixel_curve(
    owner: str,
    insert: bool,
    model: nn.Module,
    x: torch.Tensor,
    heatmap: torch.Tensor,
    target: TargetSpec,
    settings: dict,
    progress: Progress | None,
) -> Curve:
    check_params(PixelSettings, settings, owner)
    model = check_model(model)
    x = check_input(model, x)
    heat = check_heatmap(heatmap, x, owner)
    n, _, h, w = x.shape
    steps, pixels = settings["steps"], h * w
    if steps > pixels:
        raise ValueError(
            f"{owner}: parameter 'steps' is {steps} but the image has {pixels} pixels; "
            f"accepted: 1..{pixels}"
        )
    spec = Target.from_spec(target, n)
    order = tie_broken_order(
        _ranked(heat, settings["rank"]).reshape(n, -1), descending=True, seed=settings["seed"]
    )
    counts = (torch.arange(steps + 1, dtype=torch.int64) * pixels * 2 + steps) // (2 * steps)
    position = torch.empty_like(order)
    position.scatter_(1, order, torch.arange(pixels, device=x.device).expand(n, -1))
    # the pixel at position p goes at the first step k whose count exceeds p
    removal = torch.searchsorted(counts.to(x.device), position, right=True).reshape(n, h, w)
    scores = run_curve(
        model,
        x,
        removal,
        fill_image(x, settings["fill"], settings["seed"]),
        steps,
        insert=insert,
        probability=True,
        target=spec,
        progress=progress,
    )
    fractions = counts.to(torch.float64) / pixels
    kind = "insertion" if insert else "deletion"
    score = "probability" if spec.fn is None else "target"
    return Curve(fractions, scores.cpu(), kind, score, spec.spec(), dict(settings))


def deletion(
    model: nn.Module,
    x: torch.Tensor,
    heatmap: torch.Tensor,
    *,
    target: TargetSpec = None,
    steps: int = 50,
    fill: str = "zero",
    rank: str = "signed",
    seed: int = 0,
    progress: Progress | None = None,
) -> Curve:
    """Deletion curve (Petsiuk et al. 2018): the target's softmax probability as the pixels
    are replaced by ``fill`` in ``heatmap`` order, most relevant first; ``Curve.auc`` (lower
    is better). ``steps`` equal steps remove all pixels."""
    settings = dict(steps=steps, fill=fill, rank=rank, seed=seed)
    return _pixel_curve("deletion", False, model, x, heatmap, target, settings, progress)


def insertion(
    model: nn.Module,
    x: torch.Tensor,
    heatmap: torch.Tensor,
    *,
    target: TargetSpec = None,
    steps: int = 50,
    fill: str = "blur",
    rank: str = "signed",
    seed: int = 0,
    progress: Progress | None = None,
) -> Curve:
    """Insertion curve (Petsiuk et al. 2018): the target's softmax probability as the
    pixels of ``x`` are revealed on ``fill`` (the paper: a blurred image) in ``heatmap``
    order, most relevant first; ``Curve.auc`` (higher is better). Step 0 is the fill alone."""
    settings = dict(steps=steps, fill=fill, rank=rank, seed=seed)
    return _pixel_curve("insertion", True, model, x, heatmap, target, settings, progress)
