"""Our methods against the peer libraries users trust: Captum and pytorch-grad-cam.

Per-sample Pearson correlation >= 0.99 (Score-CAM >= 0.95) on fixture models with in-place
ReLU, BatchNorm and residual blocks. The peers run on a deep copy with ``inplace=False`` ReLUs
(the same function; the peers' module hooks break on in-place ReLU, captum #914, grad-cam #147),
ours on the original model with its in-place ReLUs. The functional net's F.relu is an nn.ReLU
module in the peers' copy, since the peers' guided backprop / deconvnet reach modules only.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from captum import attr as captum
from pytorch_grad_cam import GradCAM, GradCAMPlusPlus, ScoreCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn

import xai_widgets as xw
from helpers import FunctionalNet, make_input, make_model

# (model, CAM layer): a conv followed by an in-place ReLU, a BN residual block, a functional net
CASES = [("vgg", "features.3"), ("vgg", "features"), ("resnet", "layer1"), ("resnet", "layer2")]
GAP_CASES = [("resnet", "layer2"), ("functional", "conv2")]
TARGET = [1, 3]


class ModuleReluTwin(nn.Module):
    """FunctionalNet with its functional F.relu as an nn.ReLU module (the same function): the
    peers' guided backprop and deconvnet reach ReLU modules only, ours reaches both."""

    def __init__(self, net: FunctionalNet) -> None:
        super().__init__()
        self.conv1, self.conv2, self.head = net.conv1, net.conv2, net.head
        self.relu = nn.ReLU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(self.relu(self.conv1(x)), 2)
        return self.head(self.conv2(x).mean((2, 3)))


def peer_copy(model: nn.Module) -> nn.Module:
    twin = copy.deepcopy(model)
    for m in twin.modules():
        if isinstance(m, nn.ReLU):
            m.inplace = False
    return ModuleReluTwin(twin) if isinstance(twin, FunctionalNet) else twin


def correlation(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Pearson correlation of each sample's flattened maps."""
    a = a.reshape(a.shape[0], -1).double()
    b = b.reshape(b.shape[0], -1).double()
    a = a - a.mean(1, keepdim=True)
    b = b - b.mean(1, keepdim=True)
    return (a * b).sum(1) / (a.norm(dim=1) * b.norm(dim=1) + 1e-30)


def assert_close_maps(ours: torch.Tensor, peer, threshold: float = 0.99) -> None:
    """Per-sample correlation >= threshold; a sample whose peer map is flat (e.g. a Grad-CAM
    with only negative evidence, all zero after the ReLU) must be flat in ours too."""
    ours = ours.detach().cpu().float()
    peer = torch.as_tensor(peer, dtype=torch.float32).detach().cpu()
    assert ours.shape[0] == peer.shape[0]
    flat = peer.reshape(peer.shape[0], -1).std(1) == 0
    ours_flat = ours.reshape(ours.shape[0], -1).std(1) <= 1e-7 * ours.abs().amax().clamp(min=1)
    assert torch.equal(flat, flat & ours_flat), "peer map is flat where ours is not"
    r = correlation(ours[~flat], peer[~flat])
    assert (r >= threshold).all(), f"per-sample correlation {r.tolist()} < {threshold}"


@pytest.mark.parametrize("name", ["vgg", "resnet", "functional"])
@pytest.mark.parametrize(
    ("method", "peer"),
    [
        ("saliency", lambda m: (captum.Saliency(m), {"abs": False})),
        ("input_x_gradient", lambda m: (captum.InputXGradient(m), {})),
        ("guided_backprop", lambda m: (captum.GuidedBackprop(m), {})),
        ("deconvnet", lambda m: (captum.Deconvolution(m), {})),
    ],
)
def test_gradient_methods_match_captum(name, method, peer) -> None:
    model, x = make_model(name), make_input()
    ours = xw.explain(model, x, method, target=TARGET).attribution
    algo, kwargs = peer(peer_copy(model))
    theirs = algo.attribute(x.clone().requires_grad_(), target=TARGET, **kwargs)
    assert_close_maps(ours, theirs)
    if method in ("saliency", "input_x_gradient"):
        torch.testing.assert_close(ours, theirs.detach(), rtol=1e-4, atol=1e-6)


def test_saliency_heatmap_is_max_abs_over_channels() -> None:
    model, x = make_model("vgg"), make_input()
    e = xw.explain(model, x, "saliency", target=TARGET)
    theirs = captum.Saliency(peer_copy(model)).attribute(x, target=TARGET, abs=True)
    torch.testing.assert_close(e.heatmap, theirs.amax(1), rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("name", ["vgg", "resnet", "functional"])
def test_integrated_gradients_match_captum(name) -> None:
    model, x = make_model(name), make_input()
    ours = xw.explain(model, x, "integrated_gradients", target=TARGET, steps=32)
    theirs = captum.IntegratedGradients(peer_copy(model)).attribute(
        x, baselines=0.0, target=TARGET, n_steps=32, method="gausslegendre"
    )
    assert_close_maps(ours.attribution, theirs)
    torch.testing.assert_close(ours.attribution, theirs.float(), rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("name", ["vgg", "resnet", "functional"])
def test_integrated_gradients_completeness(name) -> None:
    """sum_i IG_i = S(x) - S(baseline), within 5% at 128 steps."""
    model, x = make_model(name), make_input(n=3, seed=5)
    baseline = 0.0
    e = xw.explain(model, x, "integrated_gradients", steps=128, baseline=baseline)
    with torch.no_grad():
        logits = model(x)
        base = model(torch.full_like(x, baseline))
    idx = torch.tensor(e.target)
    expected = logits[range(3), idx] - base[range(3), idx]
    total = e.attribution.sum((1, 2, 3))
    assert ((total - expected).abs() <= 0.05 * expected.abs()).all(), (total, expected)


@pytest.mark.parametrize(("name", "layer"), CASES)
def test_grad_cam_matches_captum(name, layer) -> None:
    model, x = make_model(name), make_input()
    ours = xw.explain(model, x, "grad_cam", target=TARGET, layer=layer).attribution
    twin = peer_copy(model)
    theirs = captum.LayerGradCam(twin, dict(twin.named_modules())[layer]).attribute(
        x, target=TARGET, relu_attributions=True
    )[:, 0]
    assert_close_maps(ours, theirs)
    torch.testing.assert_close(ours, theirs.detach(), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(("name", "layer"), CASES)
def test_guided_grad_cam_matches_captum(name, layer) -> None:
    model, x = make_model(name), make_input()
    ours = xw.explain(model, x, "guided_grad_cam", target=TARGET, layer=layer).attribution
    twin = peer_copy(model)
    theirs = captum.GuidedGradCam(twin, dict(twin.named_modules())[layer]).attribute(
        x, target=TARGET, interpolate_mode="bilinear"
    )
    assert_close_maps(ours, theirs)


def _grad_cam_lib(cls, model: nn.Module, layer: str, x: torch.Tensor, **kw):
    twin = peer_copy(model)
    with cls(model=twin, target_layers=[dict(twin.named_modules())[layer]], **kw) as cam:
        if hasattr(cam, "batch_size"):
            cam.batch_size = 16
        return cam(input_tensor=x, targets=[ClassifierOutputTarget(t) for t in TARGET])


@pytest.mark.parametrize(("name", "layer"), CASES)
def test_grad_cam_pp_matches_pytorch_grad_cam(name, layer) -> None:
    model, x = make_model(name), make_input()
    ours = xw.explain(model, x, "grad_cam_pp", target=TARGET, layer=layer).heatmap
    assert_close_maps(ours, _grad_cam_lib(GradCAMPlusPlus, model, layer, x))


@pytest.mark.parametrize(("name", "layer"), CASES)
def test_score_cam_matches_pytorch_grad_cam(name, layer) -> None:
    model, x = make_model(name), make_input()
    ours = xw.explain(model, x, "score_cam", target=TARGET, layer=layer).heatmap
    assert_close_maps(ours, _grad_cam_lib(ScoreCAM, model, layer, x), threshold=0.95)


@pytest.mark.parametrize(("name", "layer"), GAP_CASES)
def test_cam_matches_grad_cam_on_gap_models(name, layer) -> None:
    """On a GAP + linear head, Grad-CAM = ReLU(CAM) / (h w); pytorch-grad-cam is the oracle."""
    model, x = make_model(name), make_input()
    e = xw.explain(model, x, "cam", target=TARGET, layer=layer)
    ours = xw.explain(model, x, "cam", target=TARGET, layer=layer).attribution.clamp(min=0)
    up = torch.nn.functional.interpolate(ours[:, None], size=x.shape[2:], mode="bilinear")
    assert_close_maps(up[:, 0], _grad_cam_lib(GradCAM, model, layer, x))
    # and CAM's weights are the classifier's own weights
    fc = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
    acts = {}
    handle = dict(model.named_modules())[layer].register_forward_hook(
        lambda m, i, o: acts.setdefault("a", o.detach().clone())
    )
    with torch.no_grad():
        model(x)
    handle.remove()
    expected = torch.einsum("nk,nkhw->nhw", fc.weight[TARGET], acts["a"])
    torch.testing.assert_close(e.attribution, expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["vgg", "resnet"])
@pytest.mark.parametrize(("patch", "stride"), [(8, 4), (16, 8), (6, 2)])
def test_occlusion_matches_captum(name, patch, stride) -> None:
    model, x = make_model(name), make_input()
    ours = xw.explain(model, x, "occlusion", target=TARGET, patch=patch, stride=stride)
    theirs = captum.Occlusion(peer_copy(model)).attribute(
        x,
        sliding_window_shapes=(3, patch, patch),
        strides=(3, stride, stride),
        baselines=0.0,
        target=TARGET,
        perturbations_per_eval=16,
    )
    assert_close_maps(ours.attribution, theirs)
    torch.testing.assert_close(ours.attribution, theirs, rtol=1e-4, atol=1e-5)


def test_occlusion_covers_every_pixel_when_stride_misses_the_edge() -> None:
    """32 px, patch 10, stride 7: windows at 0, 7, 14, 21 and a last one flush at 22."""
    model, x = make_model("resnet"), make_input()
    e = xw.explain(model, x, "occlusion", patch=10, stride=7)
    from xai_widgets.methods.occlusion import window_starts

    assert window_starts(32, 10, 7) == [0, 7, 14, 21, 22]
    # a pixel of the last column is covered only by the flush window: its drop, exactly
    with torch.no_grad():
        clean = model(x)[range(2), e.target]
        occluded = x.clone()
        occluded[:, :, 0:10, 22:32] = 0.0
        drop = clean - model(occluded)[range(2), e.target]
    torch.testing.assert_close(e.heatmap[:, 0, 31], drop, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", ["vgg", "resnet"])
def test_smoothgrad_matches_captum_noise_tunnel(name) -> None:
    model, x = make_model(name), make_input()
    samples, noise = 600, 0.1
    ours = xw.explain(model, x, "smoothgrad", target=TARGET, samples=samples, noise=noise)
    nt = captum.NoiseTunnel(captum.Saliency(peer_copy(model)))
    torch.manual_seed(0)
    theirs = torch.cat(
        [
            nt.attribute(
                x[i : i + 1],
                nt_type="smoothgrad",
                nt_samples=samples,
                nt_samples_batch_size=100,
                stdevs=float(noise * (x[i].max() - x[i].min())),
                target=TARGET[i],
                abs=False,
            )
            for i in range(2)
        ]
    )
    assert_close_maps(ours.attribution, theirs)
