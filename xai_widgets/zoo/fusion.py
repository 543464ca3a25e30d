"""The SAR + microwave-radiometer fusion network of Malmgren-Hansen, Nielsen & Pedersen
("Explainability in CNN models by means of Z-scores", 2021, Figure 1), sized for 2 CPU cores.

::

    sar (N,1,H,W) -> sar_norm -> scale0: conv3x3-relu-conv3x3 ------------------> Scale-0
                         |-> branch2: avg 2x2 -> conv(dil 2)-relu-bn-drop-conv(dil 2)-bn -> Scale-2
                         |-> branch4: avg 4x4 -> ... dilation 4 -------------------> Scale-4
                         |-> branch8, branch16 ----------------------------> Scale-8, -16
    mwr (N,14,H/16,W/16) -> mwr_norm -> upsample x16 (bilinear) -------------------> MWR
    concat [Scale-0, Scale-2, Scale-4, Scale-8, Scale-16, MWR] -> mix (1x1 conv) -> sigmoid

Every group enters the 1x1 mixing convolution ``mix`` with a linear activation (the paper's
choice: the mixing layer then reads as a per-pixel logistic regression on the groups), or
through a ReLU in the ``relu`` variant, where inputs can die (zero variance over the data).
Each dilated branch reads the standardized SAR itself (one channel, so its d x d smoothing
is cheap), at full resolution. The MWR group enters upsampled: its spread is measured at
``mwr_norm`` (before upsampling), the paper's caution. Inputs are physical units (see
``data.sea_ice``): ``sar_norm`` and ``mwr_norm`` standardize them with statistics fixed at
training time.

Example::

    >>> model = FusionNet(width=14, branch_width=28)
    >>> model(torch.zeros(2, 1, 64, 64), torch.full((2, 14, 4, 4), 200.0)).shape
    torch.Size([2, 1, 64, 64])
    >>> model.groups()[:2]
    (('Scale-0', 14), ('Scale-2', 28))
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..data.sea_ice import MWR_CHANNELS, MWR_FACTOR

__all__ = ["DILATIONS", "FusionNet", "Smooth", "Standardize"]

DILATIONS = (2, 4, 8, 16)


class Standardize(nn.Module):
    """(x - mean) / std per channel, with fixed buffers (set once from training data)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(channels))
        self.register_buffer("std", torch.ones(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean[:, None, None]) / self.std[:, None, None]


class Smooth(nn.Module):
    """A d x d moving average at stride 1 (same size, border replicated), as two depthwise
    1-D box convolutions (faster on CPU than a d x d average pool)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        before = (self.size - 1) // 2
        after = self.size - 1 - before
        x = F.pad(x, (before, after, before, after), mode="replicate")
        channels = x.shape[1]
        row = x.new_full((channels, 1, 1, self.size), 1.0 / self.size)
        x = F.conv2d(x, row, groups=channels)
        return F.conv2d(x, row.transpose(2, 3), groups=channels)

    def extra_repr(self) -> str:
        return f"size={self.size}"


def _branch(hidden: int, out: int, dilation: int, dropout: float, relu: bool) -> nn.Sequential:
    layers: list[nn.Module] = [
        Smooth(dilation),
        nn.Conv2d(1, hidden, 3, padding=dilation, dilation=dilation),
        nn.ReLU(inplace=True),
        nn.BatchNorm2d(hidden),
        nn.Dropout2d(dropout),
        nn.Conv2d(hidden, out, 3, padding=dilation, dilation=dilation),
        nn.BatchNorm2d(out),
    ]
    if relu:
        layers.append(nn.ReLU())
    return nn.Sequential(*layers)


class FusionNet(nn.Module):
    """Per-pixel ice probability (N, 1, H, W) from ``sar`` (N, 1, H, W) and ``mwr``
    (N, 14, H/16, W/16); ``width`` channels in Scale-0 (and inside each branch's pair),
    ``branch_width`` out of each dilated branch; ``relu`` puts a ReLU in front of the mixing
    layer (else linear)."""

    def __init__(
        self,
        width: int = 14,
        branch_width: int = 14,
        relu: bool = False,
        dropout: float = 0.1,
        mwr_channels: int = len(MWR_CHANNELS),
    ) -> None:
        super().__init__()
        self.width, self.branch_width, self.relu = width, branch_width, relu
        self.mwr_channels = mwr_channels
        self.sar_norm = Standardize(1)
        self.mwr_norm = Standardize(mwr_channels)
        scale0: list[nn.Module] = [
            nn.Conv2d(1, width, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, padding=1),
        ]
        self.scale0 = nn.Sequential(*scale0, *([nn.ReLU()] if relu else []))
        for d in DILATIONS:
            self.add_module(f"branch{d}", _branch(width, branch_width, d, dropout, relu))
        self.upsample = nn.Upsample(scale_factor=MWR_FACTOR, mode="bilinear", align_corners=False)
        self.mix = nn.Conv2d(width + len(DILATIONS) * branch_width + mwr_channels, 1, 1)
        self.sigmoid = nn.Sigmoid()

    def groups(self) -> tuple[tuple[str, int], ...]:
        """The inputs of ``mix`` in concatenation order: (group name, channels)."""
        scales = tuple((f"Scale-{d}", self.branch_width) for d in DILATIONS)
        return (("Scale-0", self.width), *scales, ("MWR", self.mwr_channels))

    def group_modules(self) -> dict[str, str]:
        """The module whose output each group is, at the mixing layer's resolution."""
        scales = {f"Scale-{d}": f"branch{d}" for d in DILATIONS}
        return {"Scale-0": "scale0", **scales, "MWR": "upsample"}

    def logits(self, sar: torch.Tensor, mwr: torch.Tensor) -> torch.Tensor:
        """The mixing layer's output (the logit of ice), (N, 1, H, W)."""
        sar = self.sar_norm(sar)
        s0 = self.scale0(sar)
        branches = [getattr(self, f"branch{d}")(sar) for d in DILATIONS]
        m = self.upsample(self.mwr_norm(mwr))
        return self.mix(torch.cat([s0, *branches, m], dim=1))

    def forward(self, sar: torch.Tensor, mwr: torch.Tensor) -> torch.Tensor:
        return self.sigmoid(self.logits(sar, mwr))


def describe_fusion(model: FusionNet) -> str:
    """The architecture in one line, for the card."""
    params = sum(p.numel() for p in model.parameters())
    act = "relu" if model.relu else "linear"
    groups = ", ".join(f"{name} {size}" for name, size in model.groups())
    return (
        f"FusionNet (Malmgren-Hansen et al. Fig. 1): sar_norm -> scale0 conv3x3-relu-conv3x3 "
        f"({model.width}); branches on sar_norm, d=2,4,8,16: avg dxd -> conv3x3(dil d)-relu-bn-"
        f"dropout-conv3x3(dil d)-bn ({model.width}-{model.branch_width}); mwr_norm -> bilinear "
        f"x{MWR_FACTOR}; concat [{groups}] -> {act} -> mix 1x1 conv -> sigmoid; "
        f"{params:,} parameters"
    )
