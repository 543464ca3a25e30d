"""The batched forward of the perturbation methods (methods/batching.py): channels_last on the
CPU gives the plain forward's numbers, leaves the model alone, and falls back for a model that
cannot take it."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from xai_widgets.methods.batching import _NCHW_ONLY, forward_batch


def _cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
        nn.Flatten(), nn.Linear(8, 4),
    ).eval()  # fmt: skip


class _Viewing(nn.Module):
    """Old-style code: ``.view`` on a convolution's output (needs NCHW contiguity)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.fc = nn.Linear(4 * 8 * 8, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x)
        return self.fc(h.view(h.shape[0], -1))


def test_channels_last_forward_equals_the_plain_forward_and_leaves_the_model_alone() -> None:
    model = _cnn()
    before = {k: (v.clone(), v.stride()) for k, v in model.state_dict().items()}
    x = torch.randn(16, 3, 32, 32)
    with torch.no_grad():
        plain = model(x)
        fast = forward_batch(model, x)
    torch.testing.assert_close(fast, plain, rtol=1e-4, atol=1e-5)
    assert model not in _NCHW_ONLY
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k][0]) and v.stride() == before[k][1], k


def test_a_model_that_needs_nchw_falls_back_and_is_remembered() -> None:
    torch.manual_seed(0)
    model = _Viewing().eval()
    x = torch.randn(5, 3, 8, 8)
    with torch.no_grad():
        try:
            model(x.contiguous(memory_format=torch.channels_last))
        except RuntimeError:
            pass
        else:
            pytest.skip("this torch build tolerates the view: nothing to fall back from")
        torch.testing.assert_close(forward_batch(model, x), model(x))
    assert model in _NCHW_ONLY
    with torch.no_grad():
        torch.testing.assert_close(forward_batch(model, x), model(x))


def test_single_channel_batches_get_channels_last_strides_and_single_copies_keep_theirs() -> None:
    seen: list[tuple[int, ...]] = []
    conv = nn.Conv2d(1, 2, 3)
    conv.register_forward_pre_hook(lambda m, a: seen.append(a[0].stride()))
    with torch.no_grad():
        x = torch.randn(4, 1, 8, 8)
        torch.testing.assert_close(forward_batch(conv, x), conv(x))
        forward_batch(conv, torch.randn(1, 1, 8, 8))
    assert seen[0] == (64, 1, 8, 1)  # channels_last: the channel stride is 1
    assert seen[2] == (64, 64, 8, 1)  # one copy: as given
