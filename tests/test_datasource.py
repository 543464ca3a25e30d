"""A data source that fails mid-way (issue 15): ``top_activating``, ``zscores`` and
``evaluate.benchmark`` name the batch, keep the original error as the cause and leave the model
as it was; a DataLoader gives the same result as the tensor it wraps."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import xai_widgets as xw
from helpers import assert_unchanged, make_input, make_model, snapshot
from xai_widgets import evaluate as ev
from xai_widgets.datasource import DataError, numbered
from xai_widgets.features import top_activating


class Failing:
    """Batches of ``x``; raises OSError when asked for batch ``at``."""

    def __init__(self, x: torch.Tensor, size: int, at: int) -> None:
        self.x, self.size, self.at = x, size, at

    def __len__(self) -> int:
        return -(-self.x.shape[0] // self.size)

    def __iter__(self):
        for i in range(len(self)):
            if i == self.at:
                raise OSError("corrupt file img_0042.jpg")
            yield self.x[i * self.size : (i + 1) * self.size]


def test_numbered_names_the_batch_and_keeps_the_cause() -> None:
    with pytest.raises(DataError, match=r"top_activating: parameter 'images'.*batch 2") as info:
        list(numbered(Failing(torch.zeros(10, 1), 2, 2), "top_activating", "images"))
    assert isinstance(info.value.__cause__, OSError)


@pytest.mark.parametrize(
    "call",
    [
        lambda m, src: top_activating(m, src, "features.3", 0, k=3),
        lambda m, src: xw.zscores(m, src),
        lambda m, src: ev.benchmark(m, src, ["saliency"], metrics=["morf"], steps=4),
    ],
    ids=["top_activating", "zscores", "benchmark"],
)
def test_a_source_that_fails_mid_way_names_the_batch_and_leaves_the_model(call) -> None:
    model = make_model("vgg")
    before = snapshot(model)
    with pytest.raises(DataError, match="batch 2") as info:
        call(model, Failing(make_input(n=12), 4, 2))
    assert isinstance(info.value.__cause__, OSError)
    assert_unchanged(before, model)


def test_top_activating_over_a_dataloader_equals_the_tensor() -> None:
    model = make_model("vgg")
    x = make_input(n=20)
    loader = DataLoader(TensorDataset(x, torch.zeros(20)), batch_size=6)
    a = top_activating(model, x, "features.3", 1, k=4)
    b = top_activating(model, loader, "features.3", 1, k=4)
    assert torch.equal(a.indices, b.indices)
    torch.testing.assert_close(a.scores, b.scores)
    torch.testing.assert_close(a.images, b.images)
