"""Bad input gets a clear ValueError/TypeError naming the problem and what is accepted, raised
before any work: the model is never called (a counting hook proves it) and stays unchanged."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import xai_widgets as xw
from helpers import assert_unchanged, make_input, make_model, snapshot


class CallCounter:
    def __init__(self, model: torch.nn.Module) -> None:
        self.calls = 0
        self.handle = model.register_forward_pre_hook(self._count)

    def _count(self, module, args):
        self.calls += 1


CASES = [
    # (description, kwargs for explain, exception, message pattern)
    ("unknown method", {"method": "gradcam"}, ValueError, r"unknown method 'gradcam'.*grad_cam"),
    ("method not a str", {"method": 3}, TypeError, "method must be a name"),
    (
        "unknown layer",
        {"method": "grad_cam", "layer": "feature.3"},
        ValueError,
        r"unknown layer 'feature.3'; did you mean 'features.3'",
    ),
    (
        "non-spatial layer",
        {"method": "grad_cam", "layer": "classifier.1"},
        ValueError,
        r"layer 'classifier.1' has output shape \(1, 32\), not a spatial .* layers: features.0",
    ),
    (
        "layer of another type",
        {"method": "grad_cam", "layer": 3.5},
        TypeError,
        "dotted layer name or a submodule",
    ),
    (
        "foreign module",
        {"method": "grad_cam", "layer": torch.nn.Conv2d(3, 3, 1)},
        ValueError,
        "not a submodule of the model",
    ),
    (
        "unknown keyword",
        {"method": "occlusion", "window": 3},
        TypeError,
        r"unknown parameter\(s\) window; accepted: patch, stride, baseline",
    ),
    (
        "keyword to a method without params",
        {"method": "saliency", "steps": 3},
        TypeError,
        "accepted: none",
    ),
    ("patch <= 0", {"method": "occlusion", "patch": 0}, ValueError, "'patch' must be >= 1"),
    (
        "patch larger than image",
        {"method": "occlusion", "patch": 33},
        ValueError,
        r"patch 33 is larger than the image \(32x32\); accepted: 1..32",
    ),
    ("stride <= 0", {"method": "occlusion", "stride": -1}, ValueError, "'stride' must be >= 1"),
    (
        "steps <= 0",
        {"method": "integrated_gradients", "steps": 0},
        ValueError,
        "'steps' must be >= 1",
    ),
    ("samples <= 0", {"method": "smoothgrad", "samples": 0}, ValueError, "'samples' must be >= 1"),
    (
        "float for an int",
        {"method": "smoothgrad", "samples": 2.5},
        TypeError,
        "'samples' must be an int",
    ),
    ("bool for an int", {"method": "occlusion", "patch": True}, TypeError, "must be a int"),
    (
        "nan parameter",
        {"method": "smoothgrad", "noise": float("nan")},
        ValueError,
        "must be finite",
    ),
    (
        "target out of range",
        {"method": "saliency", "target": 5},
        ValueError,
        r"target class 5 is out of range for a model with 5 outputs; accepted: 0..4",
    ),
    ("negative target", {"method": "saliency", "target": -1}, ValueError, "out of range"),
    (
        "wrong target count",
        {"method": "saliency", "target": [1, 2, 3]},
        ValueError,
        "3 class indices for a batch of 2 samples",
    ),
    ("float target", {"method": "saliency", "target": 1.0}, TypeError, "target must be None"),
    ("str target", {"method": "saliency", "target": "cat"}, TypeError, "target must be None"),
    (
        "bad target callable",
        {"method": "saliency", "target": lambda o: o},
        ValueError,
        r"must map the output \(2, 5\) to a \(2,\) tensor",
    ),
]


@pytest.mark.parametrize(("what", "kwargs", "exc", "pattern"), CASES, ids=[c[0] for c in CASES])
def test_bad_arguments(what, kwargs, exc, pattern) -> None:
    model = make_model("vgg")
    before = snapshot(model)
    kwargs = dict(kwargs)
    method = kwargs.pop("method")
    with pytest.raises(exc, match=pattern):
        xw.explain(model, make_input(), method, **kwargs)
    assert_unchanged(before, model)


BAD_INPUTS = [
    (
        "numpy array",
        np.zeros((1, 3, 32, 32), np.float32),
        TypeError,
        "x must be a torch.Tensor.*xai_widgets.data.prepare",
    ),
    ("list", [[0.0]], TypeError, "x must be a torch.Tensor"),
    (
        "int tensor",
        torch.zeros(1, 3, 32, 32, dtype=torch.uint8),
        TypeError,
        "floating-point tensor",
    ),
    (
        "wrong channels",
        torch.zeros(1, 1, 32, 32),
        ValueError,
        r"x has 1 channels but the model's first convolution takes 3",
    ),
    ("2-D input", torch.zeros(32, 32), ValueError, "got 2 dimensions"),
    ("5-D input", torch.zeros(1, 1, 3, 32, 32), ValueError, "got 5 dimensions"),
    ("empty batch", torch.zeros(0, 3, 32, 32), ValueError, "empty batch"),
    ("empty image", torch.zeros(1, 3, 0, 32), ValueError, "empty image dimension"),
    ("nan", torch.full((1, 3, 32, 32), float("nan")), ValueError, "NaN or infinite"),
    ("inf", torch.full((1, 3, 32, 32), float("inf")), ValueError, "NaN or infinite"),
]


@pytest.mark.parametrize(
    ("what", "x", "exc", "pattern"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS]
)
@pytest.mark.parametrize("method", ["saliency", "grad_cam", "occlusion"])
def test_bad_inputs_raise_before_any_work(what, x, exc, pattern, method) -> None:
    model = make_model("vgg")
    before = snapshot(model)
    counter = CallCounter(model)
    with pytest.raises(exc, match=pattern):
        xw.explain(model, x, method)
    assert counter.calls == 0, "the model ran before the input was rejected"
    counter.handle.remove()
    assert_unchanged(before, model)


def test_model_must_be_a_module() -> None:
    with pytest.raises(TypeError, match=r"model must be a torch\.nn\.Module"):
        xw.explain(lambda t: t, make_input(), "saliency")


def test_static_parameter_errors_come_before_any_forward() -> None:
    model = make_model("vgg")
    counter = CallCounter(model)
    for kwargs in ({"patch": 0}, {"stride": 0}, {"window": 2}):
        with pytest.raises((ValueError, TypeError)):
            xw.explain(model, make_input(), "occlusion", **kwargs)
    with pytest.raises(ValueError):
        xw.explain(model, make_input(), "nope")
    with pytest.raises(ValueError):
        xw.explain(model, make_input(), "saliency", target=[1, 2, 3])
    assert counter.calls == 0


def test_cam_on_a_non_gap_head_names_the_alternative() -> None:
    with pytest.raises(ValueError, match=r"not global-average-pool \+ linear.*grad_cam"):
        xw.explain(make_model("vgg"), make_input(), "cam")


def test_method_params_of_unknown_method() -> None:
    with pytest.raises(ValueError, match="registered methods: saliency"):
        xw.method_params("nope")
