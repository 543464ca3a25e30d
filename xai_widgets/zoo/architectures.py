"""The three architecture styles users meet, small enough to train on 2 CPU cores.

- :class:`VGGNet`: plain conv / in-place ReLU / max-pool ``features``, an ``avgpool`` to a
  fixed grid and a Flatten-Linear-ReLU-Linear ``classifier`` (Simonyan & Zisserman 2015; the
  layout of torchvision's VGG).
- :class:`ResNet`: ``conv1``/``bn1``/``relu`` stem, ``layer1..3`` of :class:`BasicBlock` (BatchNorm,
  in-place ReLU inside the block, the residual add in ``forward``), ``avgpool`` and ``fc``
  (He et al. 2016; the layout of torchvision's ResNet).
- :class:`GAPNet`: conv / in-place ReLU / max-pool ``features``, then global average pooling,
  ``flatten`` and one linear ``fc``, the head CAM requires (Zhou et al. 2016).

All return logits (N, classes) and accept any input size large enough for their pooling.

Example::

    >>> model = GAPNet(in_channels=1, classes=3, widths=(16, 32, 64))
    >>> model(torch.zeros(2, 1, 64, 64)).shape
    torch.Size([2, 3])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

__all__ = ["BasicBlock", "GAPNet", "ResNet", "VGGNet", "describe"]


def _conv_relu_pool(in_channels: int, widths: Sequence[int], pool_last: bool) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for i, width in enumerate(widths):
        layers += [nn.Conv2d(in_channels, width, 3, padding=1), nn.ReLU(inplace=True)]
        if pool_last or i < len(widths) - 1:
            layers.append(nn.MaxPool2d(2))
        in_channels = width
    return layers


class VGGNet(nn.Module):
    """VGG-like: ``features`` (Conv-ReLU-MaxPool per width), ``avgpool`` to ``grid`` x
    ``grid`` (identity at the training size), ``classifier`` Flatten-Linear-ReLU-Linear."""

    def __init__(
        self, in_channels: int, classes: int, widths: Sequence[int], hidden: int, grid: int
    ) -> None:
        super().__init__()
        self.features = nn.Sequential(*_conv_relu_pool(in_channels, widths, pool_last=True))
        self.avgpool = nn.AdaptiveAvgPool2d((grid, grid))
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(widths[-1] * grid * grid, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.classifier(self.avgpool(self.features(x)))


class BasicBlock(nn.Module):
    """relu(bn2(conv2(relu(bn1(conv1(x))))) + downsample(x)), as in torchvision's ResNet."""

    def __init__(self, in_channels: int, width: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, width, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(width, width, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.downsample: nn.Module | None = None
        if stride != 1 or in_channels != width:
            self.downsample = nn.Sequential(
                nn.Conv2d(in_channels, width, 1, stride, bias=False), nn.BatchNorm2d(width)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        out += identity
        return self.relu(out)


class ResNet(nn.Module):
    """Small ResNet: stem conv1 (stride ``stem_stride``)-bn1-relu, one BasicBlock stage per
    width (stride 2 from the second on), global ``avgpool`` and ``fc``."""

    def __init__(
        self, in_channels: int, classes: int, widths: Sequence[int], stem_stride: int = 1
    ) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, stem_stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.relu = nn.ReLU(inplace=True)
        previous = widths[0]
        for i, width in enumerate(widths, start=1):
            stage = nn.Sequential(BasicBlock(previous, width, stride=1 if i == 1 else 2))
            self.add_module(f"layer{i}", stage)
            previous = width
        self.stages = len(widths)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(previous, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu(self.bn1(self.conv1(x)))
        for i in range(1, self.stages + 1):
            x = getattr(self, f"layer{i}")(x)
        return self.fc(torch.flatten(self.avgpool(x), 1))


class GAPNet(nn.Module):
    """Conv stack ``features`` (Conv-ReLU, MaxPool between), ``avgpool`` (global), ``flatten``,
    ``fc``: class score = sum_k w_k mean(A_k), so CAM = sum_k w_k A_k is exact."""

    def __init__(self, in_channels: int, classes: int, widths: Sequence[int]) -> None:
        super().__init__()
        self.features = nn.Sequential(*_conv_relu_pool(in_channels, widths, pool_last=False))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(widths[-1], classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(self.flatten(self.avgpool(self.features(x))))


def describe(model: nn.Module) -> str:
    """The architecture in one line, e.g. ``VGGNet: features 4x[conv3x3-relu-maxpool]
    (16-32-32-32) -> avgpool 4x4 -> classifier flatten-linear(512,64)-relu-linear(64,2)``."""
    params = sum(p.numel() for p in model.parameters())
    if isinstance(model, VGGNet):
        convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
        lin = [m for m in model.classifier if isinstance(m, nn.Linear)]
        grid = model.avgpool.output_size
        body = (
            f"features {len(convs)}x[conv3x3-relu(inplace)-maxpool2] "
            f"({'-'.join(str(c.out_channels) for c in convs)}) -> avgpool {grid[0]}x{grid[1]} "
            f"-> classifier flatten-linear({lin[0].in_features},{lin[0].out_features})-relu-"
            f"linear({lin[1].in_features},{lin[1].out_features})"
        )
    elif isinstance(model, ResNet):
        widths = [
            getattr(model, f"layer{i}")[0].conv2.out_channels for i in range(1, model.stages + 1)
        ]
        body = (
            f"conv1 3x3/{model.conv1.stride[0]}-bn1-relu -> {model.stages} stages of "
            "BasicBlock[conv-bn-relu-conv-bn "
            f"+ shortcut, relu(inplace)] ({'-'.join(map(str, widths))}, stride 1-2-2) -> "
            f"global avgpool -> fc({model.fc.in_features},{model.fc.out_features})"
        )
    elif isinstance(model, GAPNet):
        convs = [m for m in model.features if isinstance(m, nn.Conv2d)]
        body = (
            f"features {len(convs)}x[conv3x3-relu(inplace)] with maxpool2 between "
            f"({'-'.join(str(c.out_channels) for c in convs)}) -> global avgpool -> flatten "
            f"-> fc({model.fc.in_features},{model.fc.out_features})"
        )
    elif type(model).__name__ == "VisionTransformer":
        from .vit import describe_vit

        body = describe_vit(model)  # type: ignore[arg-type]
    else:
        body = type(model).__name__
    return f"{type(model).__name__}: {body}; {params:,} parameters"
