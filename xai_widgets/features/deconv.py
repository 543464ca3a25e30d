"""Deconvnet projection of one activation back to pixel space (Zeiler & Fergus 2014,
"Visualizing and understanding convolutional networks", Section 2.1).

Zeiler & Fergus keep one activation of a layer, set all others of the layer to zero, and run
the signal R down through a "deconvnet" attached to every layer below:

* conv layer z = W * a + b:   R_a = W^T * R_z  (transposed convolution: the flipped filters)
* max pool:                   R goes to the argmax of each window (the "switches" recorded on
                              the forward pass), zero elsewhere ("unpooling")
* ReLU:                       R_in = max(R_out, 0)  (rectify the reconstruction)

Each of the first two is exactly the gradient of the layer with respect to its input (the
gradient of a convolution is the transposed convolution; the gradient of a max pool routes to
the argmax, which *is* the switch), and the third is the deconvnet ReLU rule. So the projection
is computed as the gradient of the chosen activation with respect to the input with every ReLU
module under :func:`xai_widgets.hooks.relu_rule` ``"deconvnet"``:

    R_x = dA[n, c, i, j] / dx |_(deconvnet ReLUs) * A[n, c, i, j]

seeded with the activation's own value (the strongest one per image by default, as in the
paper, or the whole channel map). Biases are not subtracted, as in the paper; BatchNorm
(which postdates it) contributes its gradient (a per-channel scale); functional ``F.relu``
calls keep the plain gradient. ``tests/test_features_deconv.py`` checks the equivalence against
an explicit transposed-convolution / unpooling implementation.

Example::

    >>> r = deconvnet_reconstruction(model, x, "features.4", channel=3)   # (N, C, H, W)
    >>> render_heatmap(r[0].abs().amax(0))
"""

from __future__ import annotations

import torch
from torch import nn

from ..checks import check_input, check_model
from ..hooks import borrowed, relu_rule
from ._common import check_channel, probe, run_to

__all__ = ["deconvnet_reconstruction"]


def _check_position(position: object, shape: tuple[int, int, int], layer: str) -> None:
    if isinstance(position, str) and position in ("max", "all"):
        return
    if (
        not isinstance(position, (tuple, list))
        or len(position) != 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in position)
    ):
        raise ValueError(
            f"deconvnet_reconstruction: position must be 'max', 'all' or (i, j) ints, got "
            f"{position!r}"
        )
    i, j = position
    if not (0 <= i < shape[1] and 0 <= j < shape[2]):
        raise ValueError(
            f"deconvnet_reconstruction: position {tuple(position)} is outside layer {layer!r}, "
            f"whose output has {shape[1]} x {shape[2]} positions"
        )


def deconvnet_reconstruction(
    model: nn.Module,
    x: torch.Tensor,
    layer: str | nn.Module | None,
    channel: int,
    *,
    position: str | tuple[int, int] = "max",
) -> torch.Tensor:
    """The deconvnet projection (N, C, H, W) of one activation of ``channel`` of ``layer``.

    ``position``: "max" (each image's strongest activation of the channel, the paper's
    choice), "all" (the whole channel map) or a unit (i, j). Detached, on the model's device.
    """
    check_model(model)
    x = check_input(model, x)
    info = probe(model, x, layer, "deconvnet_reconstruction")
    check_channel(info, channel, "deconvnet_reconstruction")
    _check_position(position, info.shape, info.name)
    with borrowed(model), relu_rule(model, "deconvnet"):
        xin = x.detach().requires_grad_(True)
        acts = run_to(model, xin, info)
        chosen = acts[:, channel].detach()
        seed = torch.zeros_like(acts)
        if position == "all":
            seed[:, channel] = chosen
        elif position == "max":
            flat = chosen.flatten(1)
            arg = flat.argmax(1, keepdim=True)
            seed[:, channel] = (
                torch.zeros_like(flat).scatter(1, arg, flat.gather(1, arg)).view_as(chosen)
            )
        else:
            i, j = position  # type: ignore[misc]
            seed[:, channel, i, j] = chosen[:, i, j]
        (grad,) = torch.autograd.grad(acts, xin, seed)
    return grad.detach()
