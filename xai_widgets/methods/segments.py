"""Image regions for the region methods: scikit-image superpixels, a grid, or the user's map.

:func:`segment` turns an input batch into one integer label map per sample, labels 0..M-1
(consecutive). ``segments`` is a name from :data:`SEGMENTERS` or an integer label map the user
gives ((H, W) for every sample or (N, H, W)), e.g. anatomical brain regions. The algorithms run
on each image min-max scaled to [0, 1] (the model input is normalized, the algorithms expect
image intensities); ``n_segments`` is honoured exactly by ``grid``, by SLIC as its target, and
approximately by quickshift and Felzenszwalb, whose scale is set from it.

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
    """(H, W) regular grid of about ``n_segments`` cells shaped like the image."""
    rows = max(1, min(height, round(math.sqrt(n_segments * height / width))))
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
        rgb = img.expand(-1, -1, 3) if channels == 1 else img
        kernel = max(1.0, 0.5 * math.sqrt(area / n_segments))
        out = segmentation.quickshift(
            rgb.contiguous().numpy(), kernel_size=kernel, max_dist=4 * kernel, ratio=0.5
        )
    else:  # felzenszwalb
        arr = img.numpy() if channels > 1 else img[:, :, 0].numpy()
        size = max(1, area // (2 * n_segments))
        out = segmentation.felzenszwalb(
            arr, scale=float(size), sigma=0.5, min_size=size, channel_axis=-1 if channels > 1 else None
        )
    return torch.from_numpy(out.astype("int64"))
