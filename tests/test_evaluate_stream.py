"""xai_widgets.evaluate.benchmark over a DataLoader (issue 15): the same table as the tensor,
masks from the batches, errors naming the batch with the model untouched, progress, cancel."""

from __future__ import annotations

import pytest
import torch
from torch.utils.data import DataLoader, IterableDataset, TensorDataset

from helpers import assert_unchanged, make_input, make_model, snapshot
from xai_widgets import evaluate as ev

METHODS = ["saliency", ("occlusion", {"patch": 8, "stride": 8})]


def _masks(n: int, size: int = 32) -> torch.Tensor:
    mask = torch.zeros(n, size, size, dtype=torch.bool)
    for i in range(n):
        mask[i, 2 + i : 9 + i, 3 + 2 * i : 10 + 2 * i] = True
    return mask


def test_loader_equals_tensor() -> None:
    model = make_model("vgg")
    x, mask = make_input(7), _masks(7)
    labels = torch.zeros(7, dtype=torch.long)
    kw = dict(steps=8, fill="noise")
    want = ev.benchmark(model, x, METHODS, masks=mask, batch=3, **kw)
    loader = DataLoader(TensorDataset(x, labels, mask), batch_size=3)
    got = ev.benchmark(model, loader, METHODS, **kw)
    assert got.methods == want.methods and got.metrics == want.metrics
    assert "pointing_game" in got.metrics  # the masks came from the batches
    for m in want.methods:
        for q in want.metrics:
            torch.testing.assert_close(got.values[m][q], want.values[m][q], rtol=1e-5, atol=1e-6)
    assert got.heatmaps == {}  # a stream keeps no maps (bounded memory)
    # plain tensor batches (no masks): the default metrics only
    plain = ev.benchmark(model, [x[:4], x[4:]], ["saliency"], steps=8, batch=4)
    assert plain.metrics == ["morf", "deletion", "insertion"]
    ref = ev.benchmark(model, x, ["saliency"], steps=8, batch=4)
    torch.testing.assert_close(plain.values["saliency"]["morf"], ref.values["saliency"]["morf"])


class _Failing(IterableDataset):
    def __init__(self, x: torch.Tensor, fail_at: int) -> None:
        self.x, self.fail_at = x, fail_at

    def __iter__(self):
        for i in range(0, len(self.x), 2):
            if i // 2 == self.fail_at:
                raise OSError("disk gone")
            yield self.x[i : i + 2]


def test_error_mid_way_names_the_batch_and_leaves_the_model() -> None:
    model = make_model("vgg")
    before = snapshot(model)
    loader = DataLoader(_Failing(make_input(8), fail_at=2), batch_size=None)
    with pytest.raises(ev.DataError, match="batch 2") as info:
        ev.benchmark(model, loader, ["saliency"], metrics=["deletion"], steps=4)
    assert isinstance(info.value.__cause__, OSError)
    assert_unchanged(before, model)
    with pytest.raises(TypeError, match="batch 1"):
        ev.benchmark(model, [make_input(2), "oops"], ["saliency"], metrics=["deletion"], steps=4)
    assert_unchanged(before, model)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(masks=_masks(2)), "'masks'"),
        (dict(target=[0, 1]), "'target'"),
    ],
)
def test_bad_stream_arguments(kwargs, message) -> None:
    model = make_model("vgg")
    with pytest.raises(TypeError, match=message):
        ev.benchmark(model, [make_input(2)], ["saliency"], **kwargs)
    with pytest.raises(ValueError, match="no batch"):
        ev.benchmark(model, [], ["saliency"])
    with pytest.raises(TypeError, match="'images'"):
        ev.benchmark(model, 3, ["saliency"])


def test_stream_progress_and_cancel() -> None:
    model = make_model("functional")
    loader = DataLoader(TensorDataset(make_input(6)), batch_size=2)
    seen: list[float] = []
    ev.benchmark(model, loader, ["saliency"], metrics=["deletion"], steps=4, progress=seen.append)
    assert seen[-1] == pytest.approx(1.0) and seen == sorted(seen)
    assert any(0.3 < f < 0.7 for f in seen)  # the fraction spans the loader's batches

    class Cancel(Exception):
        pass

    before = snapshot(model)
    with pytest.raises(Cancel):
        ev.benchmark(model, loader, ["saliency"], steps=4, progress=lambda f: _raise(Cancel))
    assert_unchanged(before, model)


def _raise(kind: type[Exception]) -> None:
    raise kind
