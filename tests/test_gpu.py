"""On a GPU when one exists (marker ``gpu``; skipped without CUDA): the features, the
evaluation, Z-scores, concepts and the Explorer keep their work on the model's device, and give
what the CPU gives. Every method on CUDA is in ``test_api.py``."""

from __future__ import annotations

import pytest
import torch

import xai_widgets as xw
from helpers import make_input, make_model
from xai_widgets import evaluate as ev
from xai_widgets import features as xf

pytestmark = pytest.mark.gpu


def _pair(name: str = "resnet") -> tuple[torch.nn.Module, torch.nn.Module]:
    cpu = make_model(name)
    return cpu, make_model(name).cuda()


def test_feature_functions_stay_on_the_device_and_agree_with_the_cpu() -> None:
    cpu, gpu = _pair()
    x = make_input(n=4)
    acts = xf.activations(gpu, x.cuda(), "layer1")
    assert acts.device.type == "cuda"
    torch.testing.assert_close(acts.cpu(), xf.activations(cpu, x, "layer1"), rtol=1e-3, atol=1e-4)
    top = xf.top_activating(gpu, x.cuda(), "layer1", 0, k=2)
    assert list(top.indices) == list(xf.top_activating(cpu, x, "layer1", 0, k=2).indices)
    steps = list(xf.optimize(gpu, "layer1", 0, steps=4, size=32))
    assert steps and steps[-1].image.isfinite().all()
    concepts = xf.concepts(gpu, x.cuda(), "layer1", k=2, max_iter=20)
    assert concepts.maps.shape[0] == 4


def test_evaluation_and_zscores_on_the_device() -> None:
    cpu, gpu = _pair()
    x = make_input(n=2)
    heat = xw.explain(gpu, x.cuda(), "grad_cam").heatmap
    assert heat.device.type == "cuda"
    curve = ev.deletion(gpu, x.cuda(), heat, steps=5)
    ref = ev.deletion(cpu, x, heat.cpu(), steps=5)
    assert abs(float(curve.auc.mean()) - float(ref.auc.mean())) < 1e-3
    zs = xw.zscores(gpu, x.cuda())
    assert torch.isfinite(zs.z).all()


def test_the_explorer_computes_on_the_model_device() -> None:
    gpu = make_model("resnet").cuda()
    ex = xw.Explorer(gpu, make_input(n=2), size=96)
    try:
        assert ex.wait(60)
        assert ex.explanation.heatmap.device.type == "cuda"
        ex.selection.method = "occlusion"
        assert ex.wait(60) and ex.explanation.method == "occlusion"
        assert next(gpu.parameters()).device.type == "cuda"  # never moved to the CPU
    finally:
        ex.close()
