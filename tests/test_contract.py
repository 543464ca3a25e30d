"""The model contract: every registered method leaves the model bit-identical.

Every method runs on every fixture model in four states: eval, train, half the parameters
frozen with existing .grad, and a raising target (plus a model that raises mid-forward). The
weights, buffers (BatchNorm running statistics included), every module's training flag, each
parameter's requires_grad, .grad object and value, the hook dictionaries and the module objects
must all be exactly as before, and the original exception must reach the caller.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import xai_widgets as xw
from helpers import (
    GAP_MODELS,
    MODEL_NAMES,
    assert_unchanged,
    make_input,
    make_model,
    prepare_state,
    snapshot,
)

# Small parameters keep the 19 methods x 3 models x 5 states fast.
FAST = {
    "smoothgrad": {"samples": 3},
    "integrated_gradients": {"steps": 4},
    "occlusion": {"patch": 8, "stride": 8},
    "area_occlusion": {"segments": "grid", "n_segments": 4},
    "lime": {"segments": "grid", "n_segments": 4, "samples": 8},
    "kernel_shap": {"segments": "grid", "n_segments": 4, "samples": 8},
    "rise": {"masks": 8, "cell": 4},
}


# Attention maps need nn.MultiheadAttention blocks: on these CNNs a clear ValueError, the model
# untouched (tests/test_vit.py runs every method on a vision transformer).
ATTENTION = set(xw.list_methods("attention"))
NO_ATTENTION = "has no attention module"


class Boom(RuntimeError):
    pass


def _raising_target(output: torch.Tensor) -> torch.Tensor:
    raise Boom("target failed")


@pytest.mark.parametrize("method", xw.list_methods())
@pytest.mark.parametrize("state", ["eval", "train", "frozen"])
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_model_unchanged(method: str, state: str, name: str) -> None:
    model = make_model(name)
    prepare_state(model, state)
    before = snapshot(model)
    if method in ATTENTION:
        with pytest.raises(ValueError, match=NO_ATTENTION):
            xw.explain(model, make_input(), method)
    elif method == "cam" and name not in GAP_MODELS:
        # CAM is undefined without a GAP + linear head: a clear error, model untouched
        with pytest.raises(ValueError, match="global-average-pool"):
            xw.explain(model, make_input(), method)
    else:
        e = xw.explain(model, make_input(), method, **FAST.get(method, {}))
        assert torch.isfinite(e.heatmap).all()
    assert_unchanged(before, model)


@pytest.mark.parametrize("method", xw.list_methods())
@pytest.mark.parametrize("name", MODEL_NAMES)
def test_model_unchanged_when_target_raises(method: str, name: str) -> None:
    model = make_model(name)
    prepare_state(model, "frozen")
    before = snapshot(model)
    expected = (ValueError, NO_ATTENTION) if method in ATTENTION else (Boom, "target failed")
    with pytest.raises(expected[0], match=expected[1]):
        xw.explain(model, make_input(), method, target=_raising_target, **FAST.get(method, {}))
    assert_unchanged(before, model)


class Exploding(nn.Module):
    """Raises on the k-th forward call, after the wrapped model's hooks have run."""

    def __init__(self, inner: nn.Module, at_call: int) -> None:
        super().__init__()
        self.inner = inner
        self.at_call = at_call
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.inner(x)
        self.calls += 1
        if self.calls == self.at_call:
            raise Boom("model failed")
        return out


@pytest.mark.parametrize("method", xw.list_methods())
@pytest.mark.parametrize("at_call", [1, 2, 3])
def test_model_unchanged_when_model_raises(method: str, at_call: int) -> None:
    model = Exploding(make_model("resnet"), at_call)
    prepare_state(model, "frozen")
    before = snapshot(model)
    try:
        xw.explain(model, make_input(), method, **FAST.get(method, {}))
    except Boom:
        pass
    except ValueError as error:  # refused before any forward
        assert method in ATTENTION and NO_ATTENTION in str(error)
    else:
        # only possible when the method needs fewer forwards than at_call
        assert at_call > 1
    assert_unchanged(before, model)


def test_first_forward_failure_reaches_caller() -> None:
    model = Exploding(make_model("vgg"), 1)
    with pytest.raises(Boom, match="model failed"):
        xw.explain(model, make_input(), "saliency")
