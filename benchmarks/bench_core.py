"""Core speed: ours and the peer timed in one run, ratios printed (issue 2).

Models: torchvision resnet18 (random weights) at 224 px, and a small VGG-like CNN at 64 px.
For each: one plain no-grad forward (the floor), Grad-CAM (ours vs pytorch-grad-cam),
occlusion patch 16 / stride 8 (ours vs Captum with perturbations_per_eval 1 and 64), integrated
gradients 50 steps (ours vs Captum with internal_batch_size 16). Median of ``--repeat`` rounds
after a warm-up, ours and the peer alternating within each round. Runs on CPU, and on CUDA
too when one is present.

    python benchmarks/bench_core.py [--repeat 5] [--device cpu|cuda|all] [--quick]
"""

from __future__ import annotations

import argparse
import copy

import torch
from _common import small_cnn, timed
from captum.attr import IntegratedGradients, Occlusion
from pytorch_grad_cam import GradCAM
from pytorch_grad_cam.utils.model_targets import ClassifierOutputTarget
from torch import nn
from torchvision.models import resnet18

import xai_widgets as xw


def no_inplace(model: nn.Module) -> nn.Module:
    """The peers' copy: pytorch-grad-cam and Captum hooks need out-of-place ReLUs."""
    twin = copy.deepcopy(model)
    for m in twin.modules():
        if isinstance(m, nn.ReLU):
            m.inplace = False
    return twin


def bench(name: str, model: nn.Module, size: int, layer: str, device, repeat: int) -> list:
    model = model.to(device).eval()
    peer = no_inplace(model)
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0)).to(device)
    with torch.no_grad():
        target = int(model(x).argmax(1))
    rows = []

    def forward():
        with torch.no_grad():
            model(x)

    with GradCAM(peer, [dict(peer.named_modules())[layer]]) as cam:
        t = timed(
            {
                "forward": forward,
                "ours": lambda: xw.explain(model, x, "grad_cam", target=target, layer=layer),
                "peer": lambda: cam(x, [ClassifierOutputTarget(target)]),
            },
            repeat, device,
        )  # fmt: skip
    rows.append((name, "forward (no grad)", t["forward"], None, None))
    rows.append((name, "grad_cam", t["ours"], "pytorch-grad-cam GradCAM", t["peer"]))
    rows.append((name, "grad_cam / forward", t["ours"] / t["forward"], "target <= 1.6", None))

    occlusion = Occlusion(peer)

    def captum_occlusion(ppe: int):
        return lambda: occlusion.attribute(
            x, sliding_window_shapes=(3, 16, 16), strides=(3, 8, 8), baselines=0.0,
            target=target, perturbations_per_eval=ppe,
        )  # fmt: skip

    t = timed(
        {
            "ours": lambda: xw.explain(model, x, "occlusion", target=target, patch=16, stride=8),
            "ppe1": captum_occlusion(1),
            "ppe64": captum_occlusion(64),
        },
        max(1, repeat // 2), device,
    )  # fmt: skip
    rows.append((name, "occlusion 16/8", t["ours"], "Captum Occlusion ppe=1", t["ppe1"]))
    rows.append((name, "occlusion 16/8", t["ours"], "Captum Occlusion ppe=64", t["ppe64"]))

    ig = IntegratedGradients(peer)
    t = timed(
        {
            "ours": lambda: xw.explain(
                model, x, "integrated_gradients", target=target, steps=50
            ),
            "peer": lambda: ig.attribute(
                x, baselines=0.0, target=target, n_steps=50, internal_batch_size=16
            ),
        },
        repeat, device,
    )  # fmt: skip
    rows.append((name, "integrated_gradients 50", t["ours"], "Captum IG ibs=16", t["peer"]))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--device", default="all", choices=["cpu", "cuda", "all"])
    parser.add_argument("--quick", action="store_true", help="small CNN only")
    args = parser.parse_args()
    devices = [torch.device("cpu")]
    if args.device == "cuda" or (args.device == "all" and torch.cuda.is_available()):
        devices = [torch.device("cuda")] if args.device == "cuda" else [*devices, "cuda"]
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    for device in map(torch.device, devices):
        torch.manual_seed(0)
        cases = [("small CNN 64px", small_cnn(), 64, "6")]
        if not args.quick:
            cases.append(("resnet18 224px", resnet18(weights=None), 224, "layer4"))
        print(f"\n== device {device} ==")
        print(f"{'model':16} {'what':26} {'ours ms':>9}  {'peer':28} {'peer ms':>9} {'ratio':>7}")
        for case in cases:
            for model, what, ours, peer, theirs in bench(*case, device, args.repeat):
                if peer and theirs is None:  # a ratio row
                    print(f"{model:16} {what:26} {ours:9.2f}  {peer:28}")
                    continue
                ratio = f"{ours / theirs:7.2f}" if theirs else ""
                peer_ms = f"{theirs:9.1f}" if theirs else ""
                print(f"{model:16} {what:26} {ours:9.1f}  {peer or '':28} {peer_ms:>9} {ratio}")
    print("\nratio = ours / peer (lower is faster)")


if __name__ == "__main__":
    main()
