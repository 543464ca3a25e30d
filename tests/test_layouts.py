"""Layouts of 4-D layer outputs read from the model's structure and tensors (no class names):
permuted views by strides, permuted copies by values, last-axis Linear/LayerNorm, elementwise
pass-through, and PyTorch's (N, C, h, w) where nothing settles it."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from xai_widgets.hooks import watch_calls
from xai_widgets.layouts import NCHW, LayoutTracker


class Move(nn.Module):
    """A user's own permute module (a view, or a copy when ``copy``)."""

    def __init__(self, dims: tuple[int, ...], copy: bool = False) -> None:
        super().__init__()
        self.dims, self.copy = dims, copy

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x.permute(*self.dims)
        return out.contiguous() if self.copy else out


class Scale(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * 2


def layouts(model: nn.Module, x: torch.Tensor) -> dict:
    tracker = LayoutTracker(x)
    with watch_calls(model, tracker.observe), torch.no_grad():
        model(x)
    return tracker.axes


@pytest.mark.parametrize("copy", [False, True])
def test_a_permute_is_followed_by_strides_or_values(copy: bool) -> None:
    torch.manual_seed(0)
    # (N, C, h, w) -> (N, w, h, C): h and w swapped too; 5 x 5 so sizes cannot tell them apart
    model = nn.Sequential(nn.Conv2d(3, 5, 3, padding=1), Move((0, 3, 2, 1), copy), Scale())
    axes = layouts(model, torch.randn(1, 3, 5, 5))
    assert axes["0"] == NCHW
    assert axes["1"] == (3, 2, 1) and axes["2"] == (3, 2, 1)  # Scale keeps the layout


def test_last_axis_linear_and_layernorm_are_channels_last() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), Move((0, 2, 3, 1)), nn.LayerNorm(4), nn.Linear(4, 6)
    )
    axes = layouts(model, torch.randn(1, 3, 6, 8))
    assert [axes[k] for k in "0123"] == [NCHW, (3, 1, 2), (3, 1, 2), (3, 1, 2)]


def test_a_layernorm_over_channels_first_keeps_channels_first() -> None:
    # torchvision's LayerNorm2d is a LayerNorm that permutes inside: shape in == shape out
    class LayerNorm2d(nn.LayerNorm):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)

    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), LayerNorm2d(4))
    assert layouts(model, torch.randn(1, 3, 6, 8))["1"] == NCHW


def test_unsettled_outputs_are_left_to_the_convention() -> None:
    class Fresh(nn.Module):  # a 4-D tensor unrelated to anything seen before
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return torch.zeros(1, 7, 9, 11)

    assert layouts(nn.Sequential(Fresh()), torch.randn(1, 3, 6, 8))["0"] is None
