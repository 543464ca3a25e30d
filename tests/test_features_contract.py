"""The model contract for xai_widgets.features: every function leaves the model bit-identical
(weights, buffers, training flags, requires_grad, .grad, hooks, module objects), on every
fixture model, in eval / train / half-frozen states with user hooks, also when it raises."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from helpers import MODEL_NAMES, assert_unchanged, make_input, make_model, prepare_state, snapshot
from xai_widgets import features as xf

LAYER = {"vgg": "features.4", "resnet": "layer1", "functional": "conv2"}
CONV = {"vgg": "features.3", "resnet": "layer1.conv1", "functional": "conv1"}


def _receptive(m: nn.Module, layer: str) -> object:
    # a fresh input shape each call, so the memo does not skip the work
    return xf.receptive_field(m, layer, make_input(1, 30 + len(layer)), (2, 3))


CALLS: dict[str, Callable[[nn.Module, str, str], object]] = {
    "activations": lambda m, layer, conv: xf.activations(m, make_input(), layer),
    "filters": lambda m, layer, conv: xf.filters(m, conv),
    "receptive_field": lambda m, layer, conv: _receptive(m, layer),
    "receptive_gradient": lambda m, layer, conv: xf.receptive_geometry(
        m, layer, make_input(1, 28), method="gradient"
    ),
    "top_activating": lambda m, layer, conv: xf.top_activating(m, make_input(6), layer, 1, k=3),
    "activation_space": lambda m, layer, conv: xf.activation_space(m, make_input(6), layer),
    "deconvnet": lambda m, layer, conv: xf.deconvnet_reconstruction(m, make_input(), layer, 1),
    "optimize": lambda m, layer, conv: list(xf.optimize(m, layer, 1, steps=3, size=24, jitter=1)),
    "optimize_stopped": lambda m, layer, conv: next(iter(xf.optimize(m, layer, 1, steps=9))),
    "optimize_pixel": lambda m, layer, conv: list(
        xf.optimize(m, layer, 1, steps=3, size=24, parametrization="pixel", blur_every=1)
    ),
    "optimize_class": lambda m, layer, conv: list(
        xf.optimize(m, None, objective="class", target=1, steps=3, size=32, blur_every=2)
    ),
    "post_activation": lambda m, layer, conv: xf.post_activation(m, make_input(), conv),
    "top_filters": lambda m, layer, conv: xf.top_filters(m, conv, 3),
    "dream": lambda m, layer, conv: xf.dream(m, make_input(1), layer, octaves=2, steps=2),
    "concepts": lambda m, layer, conv: xf.concepts(m, make_input(6), layer, k=3, max_iter=5),
}


@pytest.mark.parametrize("call", list(CALLS))
@pytest.mark.parametrize("state", ["eval", "train", "frozen"])
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_model_unchanged(call: str, state: str, name: str) -> None:
    model = make_model(name)
    prepare_state(model, state)
    before = snapshot(model)
    CALLS[call](model, LAYER[name], CONV[name])
    assert_unchanged(before, model)


class Boom(RuntimeError):
    pass


class Bomb(nn.Module):
    """Raises on its k-th call (inside the model, before the layer read)."""

    def __init__(self, at_call: int) -> None:
        super().__init__()
        self.at_call, self.calls = at_call, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        if self.calls == self.at_call:
            raise Boom("model failed")
        return x


def bombed(at_call: int) -> nn.Module:
    model = make_model("vgg")
    model.features.insert(1, Bomb(at_call))  # features.5 is now the second ReLU
    return model


@pytest.mark.parametrize("call", list(CALLS))
@pytest.mark.parametrize("at_call", [1, 2, 3])
def test_model_unchanged_when_the_model_raises(call: str, at_call: int) -> None:
    model = bombed(at_call)
    prepare_state(model, "frozen")
    before = snapshot(model)
    try:
        CALLS[call](model, "features.5", "features.4")
    except Boom:
        pass
    assert_unchanged(before, model)


def _cancel(fraction: float) -> None:
    raise KeyboardInterrupt  # also a BaseException that is not an Exception


RAISING: dict[str, Callable[[nn.Module], object]] = {
    "bad channel": lambda m: xf.top_activating(m, make_input(2), "features.4", 99),
    "cancel exemplars": lambda m: xf.top_activating(
        m, make_input(2), "features.4", 0, progress=_cancel
    ),
    "cancel space": lambda m: xf.activation_space(m, make_input(2), "features.4", progress=_cancel),
    "cancel dream": lambda m: xf.dream(m, make_input(1), "features.4", progress=_cancel),
    "bad position": lambda m: xf.receptive_field(m, "features.4", make_input(1), (99, 0)),
    "deconv channel": lambda m: xf.deconvnet_reconstruction(m, make_input(1), "features.4", -1),
    "optimize layer": lambda m: xf.optimize(m, "classifier.3", size=32),
    "filters layer": lambda m: xf.filters(m, "features.1"),
    "concepts k": lambda m: xf.concepts(m, make_input(2), "features.4", k=99),
    "cancel concepts": lambda m: xf.concepts(m, make_input(2), "features.4", progress=_cancel),
}


@pytest.mark.parametrize("case", list(RAISING))
def test_model_unchanged_when_a_function_raises(case: str) -> None:
    model = make_model("vgg")
    prepare_state(model, "frozen")
    before = snapshot(model)
    with pytest.raises((ValueError, KeyboardInterrupt)):
        RAISING[case](model)
    assert_unchanged(before, model)
