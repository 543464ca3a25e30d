"""The model contract for xai_widgets.zscores: the model is left bit-identical (weights,
buffers, training flags, requires_grad, .grad, hooks, module objects) on every fixture model,
in eval / train / half-frozen states with user hooks, also when it raises or is cancelled."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import xai_widgets as xw
from helpers import MODEL_NAMES, assert_unchanged, make_input, make_model, prepare_state, snapshot

HEAD = {"vgg": "classifier.3", "resnet": "fc", "functional": "head"}


@pytest.mark.filterwarnings("ignore:zscores.*zero variance:RuntimeWarning")  # vgg's head
@pytest.mark.parametrize("state", ["eval", "train", "frozen"])
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_model_unchanged(state: str, name: str) -> None:
    model = make_model(name)
    prepare_state(model, state)
    before = snapshot(model)
    zs = xw.zscores(model, make_input(5), batch_size=2)  # default layer: a dry forward too
    assert zs.layer == HEAD[name]
    xw.zscores(model, make_input(3), layer=HEAD[name], groups=[("a", 2), ("b", zs.z.shape[1] - 2)])
    assert_unchanged(before, model)


class Boom(RuntimeError):
    pass


class Exploding(nn.Module):
    def __init__(self, inner: nn.Module, at_call: int) -> None:
        super().__init__()
        self.inner, self.at_call, self.calls = inner, at_call, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.inner(x)
        self.calls += 1
        if self.calls == self.at_call:
            raise Boom("model failed")
        return out


def _cancel(fraction: float) -> None:
    raise KeyboardInterrupt


@pytest.mark.parametrize(
    "case",
    ["model raises first", "model raises third", "cancel", "coarse mismatch", "not 1x1"],
)
def test_model_unchanged_when_it_raises(case: str) -> None:
    inner = make_model("resnet")
    model = Exploding(inner, 1 if case == "model raises first" else 3)
    prepare_state(model, "frozen")
    before = snapshot(model)
    kwargs: dict = {"layer": "inner.fc", "batch_size": 1}
    if case == "cancel":
        kwargs["progress"] = _cancel
    if case == "coarse mismatch":
        kwargs.update(groups=[("a", 12)], coarse={"a": "inner.fc"}, batch_size=4)
    if case == "not 1x1":
        kwargs["layer"] = "inner.layer1.conv1"
    with pytest.raises((Boom, KeyboardInterrupt, ValueError)):
        xw.zscores(model, make_input(4), **kwargs)
    assert_unchanged(before, model)
