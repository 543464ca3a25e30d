"""The result of :func:`xai_widgets.explain`: raw tensors plus a way to look at them.

Example::

    e = explain(model, x, "integrated_gradients")
    e.attribution.shape        # (N, C, H, W)
    e.heatmap.shape            # (N, H, W), raw values, sign kept
    e.to_image(0)              # PIL image: heatmap over the input
    e                          # in a notebook: shown as PNG
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

__all__ = ["Explanation"]


@dataclass
class Explanation:
    """An explanation of N samples.

    Attributes:
        attribution: raw method output: (N, C, H, W) for input-space methods, (N, h, w) at
            layer resolution for CAM methods.
        heatmap: (N, H, W) at input resolution, raw values (sign kept, not normalized).
        method: the method's registered name; ``params`` its parameters as used (``layer``
            resolved to a dotted name).
        target: the explained class of each sample, or None for a callable target.
        scores: (N,) explained scores of the clean input.
        inputs: the input as the model saw it; ``image`` optionally the picture the user knows
            (e.g. denormalized), used for overlays instead of a min-max scaled ``inputs``.
        signed: whether the heatmap's sign carries meaning (diverging colours by default).
        fraction: how much of a streaming method's work this result reflects (1: exact).
        notes: what the method did that the numbers do not say, e.g. for guided backprop and
            deconvnet ``relu_rule``, ``relu_reached`` (ReLU calls given the rule, modules and
            functional calls), ``plain_gradient_activations`` ({"GELU": 18}) and ``summary``,
            one sentence a view can show.
    """

    attribution: torch.Tensor
    heatmap: torch.Tensor
    method: str
    params: dict[str, Any]
    target: list[int] | None
    scores: torch.Tensor | None
    inputs: torch.Tensor | None = field(default=None, repr=False)
    image: Any = field(default=None, repr=False)
    signed: bool = True
    fraction: float = 1.0
    notes: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (
            f"Explanation(method={self.method!r}, params={self.params}, target={self.target}, "
            f"attribution={tuple(self.attribution.shape)}, heatmap={tuple(self.heatmap.shape)})"
        )

    @property
    def mode(self) -> str:
        """The default normalization: 'signed' for signed maps, else 'positive'."""
        return "signed" if self.signed else "positive"

    def to_image(
        self,
        index: int = 0,
        *,
        image: Any = None,
        mode: str | None = None,
        cmap: str | None = None,
        alpha: float = 0.5,
        clip: float | None = 99.5,
    ):
        """The heatmap of sample ``index`` over its image, as a PIL image (RGBA)."""
        from PIL import Image

        from .render import render_heatmap

        if not 0 <= index < self.heatmap.shape[0]:
            raise IndexError(f"index {index} out of range for {self.heatmap.shape[0]} samples")
        if image is None and self.image is not None:
            image = self.image[index] if _is_batch(self.image) else self.image
        if image is None and self.inputs is not None:
            image = self.inputs[index]
        rgba = render_heatmap(
            self.heatmap[index],
            image,
            mode=mode or self.mode,
            cmap=cmap,
            alpha=alpha,
            clip=clip,
        )
        return Image.fromarray(rgba, mode="RGBA")

    def show(self, index: int = 0, **kwargs: Any):
        """A matplotlib figure: the image, the overlay and a colour bar of the raw values."""
        import matplotlib.pyplot as plt

        from .render import default_cmap, image_to_uint8, value_range

        mode = kwargs.pop("mode", None) or self.mode
        cmap = kwargs.pop("cmap", None) or default_cmap(mode)
        clip = kwargs.get("clip", 99.5)
        fig, axes = plt.subplots(1, 2, figsize=(7, 3.4))
        source = self.image if self.image is not None else self.inputs
        if source is not None:
            picked = source[index] if _is_batch(source) else source
            axes[0].imshow(image_to_uint8(picked))
        axes[0].set_title("input")
        overlay = self.to_image(index, mode=mode, cmap=cmap, **kwargs)
        axes[1].imshow(overlay)
        title = f"{self.method}"
        if self.target is not None:
            title += f" (class {self.target[index]})"
        axes[1].set_title(title)
        vmin, vmax = value_range(self.heatmap[index], mode=mode, clip=clip)
        mappable = plt.cm.ScalarMappable(cmap=cmap, norm=plt.Normalize(vmin, vmax))
        fig.colorbar(mappable, ax=axes[1], fraction=0.046, pad=0.04)
        for ax in axes:
            ax.axis("off")
        fig.tight_layout()
        return fig

    def _repr_png_(self) -> bytes:
        import numpy as np

        from .render import to_png

        return to_png(np.asarray(self.to_image(0)))


def _is_batch(image: Any) -> bool:
    if isinstance(image, (list, tuple)):
        return True
    shape = getattr(image, "shape", None)
    return shape is not None and len(shape) == 4
