"""Image regions for the region methods: scikit-image superpixels, a grid, or the user's map.

:func:`segment` turns an input batch into one integer label map per sample, labels 0..M-1
(consecutive). ``segments`` is a name from :data:`SEGMENTERS` or an integer label map the user
gives ((H, W) for every sample or (N, H, W)), e.g. anatomical brain regions. The algorithms run
on each image min-max scaled to [0, 1] (the model input is normalized, the algorithms expect
image intensities); ``n_segments`` is honoured exactly by ``grid`` (when it factors into a
near-square grid), by SLIC as its target, and approximately by quickshift and Felzenszwalb (a
few bisection steps on their scale parameter keep the run whose region count is nearest;
quickshift runs at most 64 px a side, its labels scaled back).

The scikit-image calls need host arrays: only this module crosses to the CPU, and only the
(small) image for the segmentation; the label map goes back to the input's device.

Example::

    labels = segment(x, "slic", 50)          # (N, H, W) int64 on x.device, labels 0..M-1
    labels = segment(x, brain_regions, 0)    # the user's map, relabelled 0..M-1
"""

from __future__ import annotations

import math

import torch

__all__ = ["SEGMENTERS", "check_label_map", "region_count", "segment"]

_QUICKSHIFT_SIDE = 64

SEGMENTERS = ("slic", "quickshift", "felzenszwalb", "grid")
"""The named segmentations (the choices of a region method's ``segments`` parameter)."""


def check_label_map(labels: object, x: torch.Tensor, owner: str) -> None:
    """Raise a clear error when ``labels`` is not an integer (H, W) or (N, H, W) map of ``x``."""
    where = f"{owner}: parameter 'segments'"
    if not isinstance(labels, torch.Tensor):
        raise TypeError(f"{where} must be one of {SEGMENTERS} or an integer label map tensor")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise TypeError(
            f"{where} as a label map must have an integer dtype (one region id per pixel), "
            f"got {labels.dtype}"
        )
    n, _, height, width = x.shape
    if tuple(labels.shape) not in ((height, width), (n, height, width)):
        raise ValueError(
            f"{where} as a label map must have shape (H, W) = ({height}, {width}) or "
            f"(N, H, W) = ({n}, {height}, {width}) to match the input; got {tuple(labels.shape)}"
        )


def segment(x: torch.Tensor, segments: str | torch.Tensor, n_segments: int) -> torch.Tensor:
    """(N, H, W) int64 label maps of ``x`` (N, C, H, W) on ``x.device``, each relabelled to
    consecutive ids 0..M_i-1 in order of first appearance by id."""
    n, _, height, width = x.shape
    if isinstance(segments, torch.Tensor):
        check_label_map(segments, x, "segment")
        labels = segments.to(x.device, torch.int64).expand(n, height, width)
    elif segments == "grid":
        labels = grid_labels(height, width, n_segments, x.device).expand(n, height, width)
    elif segments in SEGMENTERS:
        labels = torch.stack([_skimage_labels(img, segments, n_segments) for img in x])
        labels = labels.to(x.device)
    else:
        raise ValueError(f"segment: segments must be one of {SEGMENTERS}; got {segments!r}")
    return torch.stack([torch.unique(m, return_inverse=True)[1] for m in labels])


def region_count(labels: torch.Tensor) -> int:
    """M, the number of regions of one consecutive (H, W) label map."""
    return int(labels.max()) + 1


def grid_labels(height: int, width: int, n_segments: int, device=None) -> torch.Tensor:
    """(H, W) regular grid of ``n_segments`` cells (rows x cols = n_segments with cells about
    as tall as wide) when such a factorization exists, else of about ``n_segments``."""
    ideal = math.sqrt(n_segments * height / width)  # rows that give square cells
    divisors = [r for r in range(1, n_segments + 1) if n_segments % r == 0]
    rows = min(divisors, key=lambda r: abs(math.log(r / ideal)))
    if abs(math.log(rows / ideal)) > math.log(2):  # no near-square factorization
        rows = max(1, round(ideal))
    rows = max(1, min(height, rows))
    cols = max(1, min(width, round(n_segments / rows)))
    r = torch.arange(height, device=device) * rows // height
    c = torch.arange(width, device=device) * cols // width
    return r[:, None] * cols + c[None, :]


def _skimage_labels(image: torch.Tensor, method: str, n_segments: int) -> torch.Tensor:
    from skimage import segmentation  # a runtime dependency; imported on first use

    img = image.detach().to("cpu", torch.float64)
    lo, hi = img.amin(), img.amax()
    img = ((img - lo) / (hi - lo).clamp(min=1e-12)).permute(1, 2, 0)  # (H, W, C) in [0, 1]
    channels = img.shape[2]
    area = img.shape[0] * img.shape[1]
    if method == "slic":
        arr = img.numpy() if channels > 1 else img[:, :, 0].numpy()
        out = segmentation.slic(
            arr,
            n_segments=n_segments,
            compactness=1.0,  # on [0, 1] intensities, not Lab: superpixels also on noise
            convert2lab=False,
            start_label=0,
            channel_axis=-1 if channels > 1 else None,
        )
    elif method == "quickshift":
        # quickshift's cost grows with the kernel area: it runs at most 64 px a side and its
        # labels are scaled back (nearest) to the image
        height, width = img.shape[:2]
        scale = min(1.0, _QUICKSHIFT_SIDE / max(height, width))
        small = torch.nn.functional.interpolate(
            img.permute(2, 0, 1)[None], scale_factor=scale, mode="area"
        )[0].permute(1, 2, 0) if scale < 1 else img  # fmt: skip
        rgb = (small.expand(-1, -1, 3) if channels == 1 else small).contiguous().numpy()
        kernel = max(1.0, 0.35 * math.sqrt(small.shape[0] * small.shape[1] / n_segments))
        out = _fit_count(
            lambda d: segmentation.quickshift(rgb, kernel_size=kernel, max_dist=d, ratio=0.5),
            kernel / 2, kernel * 8, n_segments,
        )  # fmt: skip
        if scale < 1:
            out = torch.nn.functional.interpolate(
                torch.from_numpy(out)[None, None].double(), size=(height, width), mode="nearest"
            )[0, 0].numpy()  # fmt: skip
    else:  # felzenszwalb
        arr = img.numpy() if channels > 1 else img[:, :, 0].numpy()
        axis = -1 if channels > 1 else None
        size = max(1, area // (4 * n_segments))
        out = _fit_count(
            lambda k: segmentation.felzenszwalb(
                arr, scale=k, sigma=0.5, min_size=size, channel_axis=axis
            ),
            1.0, 1e4, n_segments,
        )  # fmt: skip
    return torch.from_numpy(out.astype("int64"))


def _fit_count(run, lo: float, hi: float, n_segments: int, steps: int = 6):
    """The segmentation, among ``steps`` bisection steps (in log space) over a scale
    parameter whose growth merges regions, whose region count is nearest ``n_segments``."""
    best, best_gap = None, math.inf
    for _ in range(steps):
        mid = math.sqrt(lo * hi)
        out = run(mid)
        count = int(out.max()) + 1
        gap = abs(math.log(count / n_segments))
        if gap < best_gap:
            best, best_gap = out, gap
        if count == n_segments:
            break
        lo, hi = (mid, hi) if count > n_segments else (lo, mid)
    return best
