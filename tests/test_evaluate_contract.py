"""The model contract for xai_widgets.evaluate: every function leaves the user's model
bit-identical (weights, buffers, training flags, requires_grad, .grad, hooks, module objects),
on every fixture model, in eval / train / half-frozen states with user hooks, also when the
progress callback cancels or the target raises. randomization works on a deep copy."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch import nn

from helpers import MODEL_NAMES, assert_unchanged, make_input, make_model, prepare_state, snapshot
from xai_widgets import evaluate as ev


def _heat(x: torch.Tensor) -> torch.Tensor:
    return ev.random_heatmap(x, 1)


CALLS: dict[str, Callable[..., object]] = {
    "region_perturbation": lambda m, x, **k: ev.region_perturbation(
        m, x, _heat(x), patch=8, steps=6, **k
    ),
    "deletion": lambda m, x, **k: ev.deletion(m, x, _heat(x), steps=6, **k),
    "insertion": lambda m, x, **k: ev.insertion(m, x, _heat(x), steps=6, fill="blur", **k),
    "randomization": lambda m, x, **k: ev.randomization(m, x, "grad_cam", **k),
    "randomization_independent": lambda m, x, **k: ev.randomization(
        m, x, "saliency", cascade=False, **k
    ),
    "randomization_layers": lambda m, x, **k: ev.randomization_layers(m, x),
    "randomized": lambda m, x, **k: ev.randomized(m, ev.randomization_layers(m, x)[:2]),
    "benchmark": lambda m, x, **k: ev.benchmark(
        m,
        x,
        ["saliency", "grad_cam"],
        masks=_heat(x) > 0.5,
        metrics=["morf", "lerf", "deletion", "insertion", "pointing_game"],
        steps=4,
        **k,
    ),
}
CANCELLABLE = [c for c in CALLS if not c.startswith("randomiz") or c == "randomization"]


@pytest.mark.parametrize("call", list(CALLS))
@pytest.mark.parametrize("state", ["eval", "train", "frozen"])
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_model_unchanged(call: str, state: str, name: str) -> None:
    model = make_model(name)
    prepare_state(model, state)
    before = snapshot(model)
    CALLS[call](model, make_input())
    assert_unchanged(before, model)


class Cancel(Exception):
    pass


@pytest.mark.parametrize("call", CANCELLABLE)
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_model_unchanged_when_cancelled(call: str, name: str) -> None:
    model = make_model(name)
    prepare_state(model, "frozen")
    before = snapshot(model)

    def cancel(fraction: float) -> None:
        raise Cancel

    with pytest.raises(Cancel):
        CALLS[call](model, make_input(), progress=cancel)
    assert_unchanged(before, model)


def _raising_target(output: torch.Tensor) -> torch.Tensor:
    raise Cancel("target failed")


@pytest.mark.parametrize("call", CANCELLABLE)
def test_model_unchanged_when_target_raises(call: str) -> None:
    model = make_model("resnet")
    prepare_state(model, "frozen")
    before = snapshot(model)
    with pytest.raises(Cancel, match="target failed"):
        CALLS[call](model, make_input(), target=_raising_target)
    assert_unchanged(before, model)


def test_randomized_is_a_copy() -> None:
    model = make_model("vgg")
    x = make_input()
    clone = ev.randomized(model, ev.randomization_layers(model, x))
    assert clone is not model
    own = {id(p) for p in model.parameters()}
    assert not any(id(p) in own for p in clone.parameters())
    changed = [
        not torch.equal(a, b)
        for a, b in zip(model.state_dict().values(), clone.state_dict().values(), strict=True)
    ]
    assert all(changed)


def test_default_is_eval_during_curves() -> None:
    """A model handed over in train mode is evaluated in eval mode (BatchNorm statistics are
    used, not updated) and given back in train mode."""
    model = make_model("resnet").train()
    x = make_input()
    h = _heat(x)
    a = ev.deletion(model, x, h, steps=4).scores
    b = ev.deletion(make_model("resnet").eval(), x, h, steps=4).scores
    torch.testing.assert_close(a, b)
    assert model.training
    assert isinstance(model, nn.Module)
