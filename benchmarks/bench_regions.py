"""Region, sampling and relevance methods: ours and the peer timed in one run, ratios printed
(issue 11).

* ``lrp`` (epsilon_plus_flat) on torchvision resnet18 at 224 px against Zennit's ``Gradient``
  attributor called directly with the same composite and canonizers (target: <= 1.1x).
* ``area_occlusion``, ``lime``, ``kernel_shap`` on the shared small CNN at 64 px with the same
  grid of regions, against Captum's ``FeatureAblation``, ``Lime`` (ridge, alpha 1) and
  ``KernelShap`` with its default one perturbation per forward and with 64 per forward
  (target: >= 3x faster than the default, not slower than 64).
* ``rise``: Captum has no RISE; it runs against the same estimator with one mask per forward
  (each copy in channels_last too, as ours: the layout alone is not what is compared).

Median of ``--repeat`` rounds after a warm-up, ours and the peer alternating within each round
(``_common.timed``). ``--resnet`` also times the region methods on resnet18 at 224 px.

    python benchmarks/bench_regions.py [--repeat 3] [--device cpu|cuda] [--resnet]
"""

from __future__ import annotations

import argparse
import copy

import torch
from _common import small_cnn, timed
from captum._utils.models.linear_model import SkLearnRidge
from captum.attr import FeatureAblation, KernelShap, Lime
from torch import nn
from torchvision.models import resnet18
from zennit.attribution import Gradient

import xai_widgets as xw
from xai_widgets.methods.canonize import canonizers_for
from xai_widgets.methods.lrp import make_composite
from xai_widgets.methods.rise import rise_masks
from xai_widgets.methods.segments import grid_labels


def no_inplace(model: nn.Module) -> nn.Module:
    twin = copy.deepcopy(model)
    for m in twin.modules():
        if isinstance(m, nn.ReLU):
            m.inplace = False
    return twin


def bench_lrp(device, repeat: int) -> list:
    torch.manual_seed(0)
    model = resnet18(weights=None).to(device).eval()
    x = torch.randn(1, 3, 224, 224, generator=torch.Generator().manual_seed(0)).to(device)
    with torch.no_grad():
        out = model(x)
    t = int(out.argmax(1))
    start = torch.zeros_like(out)
    start[0, t] = out[0, t]

    def zennit_direct():
        composite = make_composite("epsilon_plus_flat", 1e-6, canonizers_for(model), x)
        with Gradient(model, composite) as attributor:
            attributor(x, start)

    times = timed(
        {"ours": lambda: xw.explain(model, x, "lrp", target=t), "peer": zennit_direct},
        repeat, device,
    )  # fmt: skip
    return [("resnet18 224px", "lrp eps+flat", times["ours"], "Zennit Gradient", times["peer"])]


def bench_regions(name: str, model: nn.Module, size: int, device, repeat: int) -> list:
    model = model.to(device).eval()
    peer = no_inplace(model)
    x = torch.randn(1, 3, size, size, generator=torch.Generator().manual_seed(0)).to(device)
    with torch.no_grad():
        target = int(model(x).argmax(1))
    labels = grid_labels(size, size, 49, device)
    mask = labels[None, None].expand(1, 3, -1, -1)
    rows = []

    ablation = FeatureAblation(peer)
    t = timed(
        {
            "ours": lambda: xw.explain(model, x, "area_occlusion", target=target, segments=labels),
            "ppe1": lambda: ablation.attribute(x, target=target, feature_mask=mask, baselines=0.0),
            "ppe64": lambda: ablation.attribute(
                x, target=target, feature_mask=mask, baselines=0.0, perturbations_per_eval=64
            ),
        },
        repeat, device,
    )  # fmt: skip
    rows.append((name, "area_occlusion 49", t["ours"], "Captum FeatureAblation ppe=1", t["ppe1"]))
    rows.append((name, "area_occlusion 49", t["ours"], "Captum FeatureAblation ppe=64", t["ppe64"]))

    lime = Lime(peer, interpretable_model=SkLearnRidge(alpha=1.0))
    shap = KernelShap(peer)

    def peer_run(explainer, ppe: int):
        return lambda: explainer.attribute(
            x, target=target, feature_mask=mask, baselines=0.0, n_samples=500,
            perturbations_per_eval=ppe,
        )  # fmt: skip

    for method, explainer, label in (("lime", lime, "Captum Lime"), ("kernel_shap", shap,
                                     "Captum KernelShap")):  # fmt: skip
        t = timed(
            {
                "ours": lambda m=method: xw.explain(
                    model, x, m, target=target, segments=labels, samples=500
                ),
                "ppe1": peer_run(explainer, 1),
                "ppe64": peer_run(explainer, 64),
            },
            repeat, device,
        )  # fmt: skip
        rows.append((name, f"{method} 500", t["ours"], f"{label} ppe=1", t["ppe1"]))
        rows.append((name, f"{method} 500", t["ours"], f"{label} ppe=64", t["ppe64"]))

    draws = rise_masks(2000, 7, 0.5, (size, size), 0, device)

    def rise_one_per_forward():
        total = torch.zeros(size, size, device=device)
        with torch.no_grad():
            for k in range(2000):
                m = draws.make(slice(k, k + 1))
                copy = (x * m[:, None]).contiguous(memory_format=torch.channels_last)
                total += model(copy)[0, target] * m[0]
        return total / (2000 * 0.5)

    t = timed(
        {
            "ours": lambda: xw.explain(model, x, "rise", target=target, masks=2000),
            "peer": rise_one_per_forward,
        },
        max(1, repeat // 2), device,
    )  # fmt: skip
    rows.append((name, "rise 2000", t["ours"], "same estimator, 1 per fwd", t["peer"]))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--resnet", action="store_true", help="region methods on resnet18 too")
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, device {device}")
    rows = bench_lrp(device, max(args.repeat, 5))
    torch.manual_seed(0)
    rows += bench_regions("small CNN 64px", small_cnn(), 64, device, args.repeat)
    if args.resnet:
        torch.manual_seed(0)
        rows += bench_regions("resnet18 224px", resnet18(weights=None), 224, device, 1)
    print(f"{'model':16} {'what':20} {'ours ms':>9}  {'peer':30} {'peer ms':>9} {'ratio':>7}")
    for model, what, ours, peer, theirs in rows:
        print(f"{model:16} {what:20} {ours:9.1f}  {peer:30} {theirs:9.1f} {ours / theirs:7.2f}")
    print("\nratio = ours / peer (lower is faster)")


if __name__ == "__main__":
    main()
