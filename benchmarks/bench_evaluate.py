"""Evaluation speed (issue 13): what a curve costs against the forward it cannot avoid, the
peer (Quantus RegionPerturbation, one forward per region), and a whole benchmark table.

1. On the zoo ``shapes`` and ``counting`` models, one image: region_perturbation (50 steps,
   patch 8), deletion and insertion (50 steps) against one no-grad batched forward of the
   curve's 51 images (the floor: in the layout the curves use, ``forward_batch``'s
   channels_last on the CPU; the plain NCHW forward is printed too), and Quantus's
   RegionPerturbation (50 regions) as the peer. Median of ``--repeat`` interleaved rounds
   after a warm-up; the ratio to the floor is the issue's "<= 1.5x" figure.
2. ``benchmark`` on ``shapes``: 100 images x 6 methods (saliency, gradient x input,
   integrated gradients, guided backprop, Grad-CAM, occlusion, default parameters) x 3 metrics
   (morf, deletion, insertion) plus the random baseline, timed once (the issue: < 60 s on the
   2-core CPU).

    python benchmarks/bench_evaluate.py [--repeat 7] [--images 100] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import time

import torch
from _common import timed

from xai_widgets import data, zoo
from xai_widgets import evaluate as ev
from xai_widgets.methods.batching import forward_batch


def inputs(name: str, n: int, device) -> tuple:
    card = zoo.card(name)
    images, _, masks = data.dataset(card.dataset, n, seed=21, **card.dataset_kwargs)
    return zoo.load(name, device), data.normalize(images, card).to(device), masks


def curves(name: str, device, repeat: int) -> None:
    model, x, _ = inputs(name, 1, device)
    heat = ev.random_heatmap(x, 0)
    batch = x.repeat(51, 1, 1, 1)

    def floor() -> None:
        with torch.no_grad():
            forward_batch(model, batch)

    def plain() -> None:
        with torch.no_grad():
            model(batch)

    fns = {
        "forward x51": floor,
        "forward x51 (plain NCHW)": plain,
        "region_perturbation": lambda: ev.region_perturbation(model, x, heat, fill="noise"),
        "deletion": lambda: ev.deletion(model, x, heat),
        "insertion": lambda: ev.insertion(model, x, heat),
    }
    try:
        import quantus

        metric = quantus.RegionPerturbation(
            patch_size=8, regions_evaluation=50, normalise=False, perturb_baseline=0.0,
            disable_warnings=True,
        )  # fmt: skip
        xs, ys, hs = x.cpu().numpy(), model(x).argmax(1).cpu().numpy(), heat[:, None].cpu().numpy()
        fns["quantus RegionPerturbation"] = lambda: metric(
            model=model, x_batch=xs, y_batch=ys, a_batch=hs, device=str(device), softmax=False
        )
    except ImportError:
        print("  (quantus not installed: no peer timing)")
    ms = timed(fns, repeat, device)
    base = ms["forward x51"]
    print(f"{name} on {device}: one image, 50 steps")
    for key, value in ms.items():
        print(f"  {key:28s} {value:8.1f} ms   {value / base:5.2f}x the batched forward")


def table(device, n: int) -> None:
    model, x, _ = inputs("shapes", n, device)
    methods = [
        "saliency", "input_x_gradient", "integrated_gradients", "guided_backprop", "grad_cam",
        "occlusion",
    ]  # fmt: skip
    start = time.perf_counter()
    t = ev.benchmark(model, x, methods, metrics=["morf", "deletion", "insertion"])
    seconds = time.perf_counter() - start
    print(
        f"benchmark on {device}: {n} images x {len(methods)} methods (+ random) x 3 metrics: "
        f"{seconds:.1f} s"
    )
    print(t.sorted("morf").markdown())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = torch.device(args.device)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    for name in ("shapes", "counting"):
        curves(name, device, args.repeat)
    table(device, args.images)


if __name__ == "__main__":
    main()
