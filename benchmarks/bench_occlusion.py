"""Incremental occlusion (issue 15): ours exact and approximate vs Captum's ``Occlusion`` in
one run, the arithmetic ceiling, and the Explorer's figures.

ResNet-18 (random weights) at ``--size`` px (224), patch 16, stride 8, CPU, one photo
(scikit-image's cat; the correlations on three more of its photos):

* Captum ``Occlusion`` with ``perturbations_per_eval`` 1 (its default) and 64;
* ours with full forwards (``engine="full"``: the batched forwards used before, 64 copies a
  pass), ours exact (incremental), ours ``approximate=True`` (the drill-down: 100 of 729
  windows, the rest estimated on a guide linearised after ``layer2``) and, for comparison,
  Krypton's projective-field threshold (every window, each layer's rectangle capped at
  ``TAU`` = 60% of its rows and columns), with each approximation's correlation with the
  exact map on four photos (random weights give rougher maps than a trained network's), and
  the drill-down's on the trained zoo models at 64 px;
* the ceiling: convolution multiply-adds of one full forward per window over those that each
  window really changes (:mod:`xai_widgets.methods.incremental.cost`), our own work ratio (the
  batch shares one rectangle size, so it computes a bit more than the changed places) and the
  measured speed-up over full forwards as a share of the ceiling;
* the Explorer's path (``explain_stream``): seconds to the coarse first map and to the full map.

Each is run ``--repeat`` times (default 1: a full-size run takes a few minutes), alternating.

    python benchmarks/bench_occlusion.py [--size 224] [--repeat 1] [--skip-captum-1]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from captum.attr import Occlusion
from torchvision.models import resnet18

import xai_widgets as xw
from xai_widgets import data, zoo
from xai_widgets.methods.incremental import TAU, Incremental
from xai_widgets.methods.incremental.cost import conv_work
from xai_widgets.methods.occlusion import OcclusionGrid
from xai_widgets.targets import Target
from xai_widgets.zoo.specs import SPECS

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
# the test's own input, so the benchmark's correlations are the ones the test asserts
from test_occlusion_drilldown import photo_input

PATCH, STRIDE = 16, 8


def seconds(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def stream_times(model, x, target) -> tuple[float, float]:
    """Seconds to the first (coarse) map and to the exact one through ``explain_stream``."""
    start, first = time.perf_counter(), None
    for e in xw.explain_stream(model, x, "occlusion", target=target, patch=PATCH, stride=STRIDE):
        first = first or time.perf_counter() - start
        assert e.params["engine"] == "incremental"
    return float(first), time.perf_counter() - start


def every_window(run: Incremental, grid: OcclusionGrid) -> torch.Tensor:
    """The outputs of every window of ``grid`` through ``run``, 64 windows a pass."""
    top, left = grid.starts
    nc = grid.shape[1]
    outputs = []
    with torch.no_grad():
        for part in torch.arange(grid.shape[0] * nc).split(64):
            zeros = torch.zeros(len(part), dtype=torch.long)
            outputs.append(run.forward(top[part // nc], left[part % nc], zeros, grid.patch, 0.0))
    return torch.cat(outputs)


PHOTOS = ("chelsea", "astronaut", "coffee", "rocket")  # scikit-image's; the first is timed


def threshold_map(model, x: torch.Tensor, target: int) -> torch.Tensor:
    """Krypton's projective-field threshold (``TAU``) on every window: the (1, H, W) map."""
    grid = OcclusionGrid.build(x.shape[2], x.shape[3], PATCH, STRIDE)
    with torch.no_grad():
        out = model(x)
        logits = every_window(Incremental.start(model, x, out, tau=TAU), grid)
    return grid.assemble((out[0, target] - logits[:, target]).view(1, *grid.shape))


def fidelity(model, size: int) -> None:
    """Each approximation's correlation with the exact map on every photo of ``PHOTOS``."""
    print(f"\ncorrelation with the exact map (predicted class), {', '.join(PHOTOS)}:")
    found: dict[str, list[float]] = {"approximate (drill-down)": [], "threshold tau=0.6": []}
    for name in PHOTOS:
        x = photo_input(name, size)
        with torch.no_grad():
            target = int(model(x).argmax(1))
        kw = {"target": target, "patch": PATCH, "stride": STRIDE}
        exact = xw.explain(model, x, "occlusion", **kw).heatmap.flatten()
        drill = xw.explain(model, x, "occlusion", approximate=True, **kw).heatmap
        for what, heat in zip(found, (drill, threshold_map(model, x, target)), strict=True):
            found[what].append(float(torch.corrcoef(torch.stack([exact, heat.flatten()]))[0, 1]))
    for what, rhos in found.items():
        below = sum(r < 0.95 for r in rhos)
        print(f"  {what:26} " + "  ".join(f"{r:.3f}" for r in rhos) + f"   ({below} below 0.95)")


def zoo_fidelity(n: int = 8) -> None:
    """The drill-down's correlation with the exact map on trained networks: each 64 px zoo
    model, ``n`` held-out images, patch 8 / stride 4 (median and worst image)."""
    print(f"trained zoo models, {n} held-out images each, patch 8 / stride 4:")
    for name in ("shapes", "counting", "textures"):
        model, card = zoo.load(name), zoo.card(name)
        spec = SPECS[name]
        images = data.dataset(spec.dataset, n, seed=card.test_seed, **spec.dataset_kwargs)[0]
        x = data.normalize(images, card.mean_std)
        kw = {"patch": 8, "stride": 4}
        exact = xw.explain(model, x, "occlusion", **kw).heatmap.flatten(1)
        approx = xw.explain(model, x, "occlusion", approximate=True, **kw)
        pairs = zip(exact, approx.heatmap.flatten(1), strict=True)
        rhos = [float(torch.corrcoef(torch.stack(pair))[0, 1]) for pair in pairs]
        print(f"  {name:10} {approx.params['windows'].split(',')[0]}: median "
              f"{statistics.median(rhos):.3f}, worst {min(rhos):.3f}")  # fmt: skip


def our_work(model, x, size: int) -> int:
    """Convolution multiply-adds our exact engine computes for the whole grid."""
    with torch.no_grad():
        run = Incremental.start(model, x, model(x))
    every_window(run, OcclusionGrid.build(size, size, PATCH, STRIDE))
    return run.macs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--skip-captum-1", action="store_true", help="skip the slowest peer")
    args = parser.parse_args()
    torch.manual_seed(0)
    model = resnet18(weights=None).eval()
    x = photo_input(PHOTOS[0], args.size)
    with torch.no_grad():
        target = int(model(x).argmax(1))
    occlusion = Occlusion(model)

    def captum(ppe: int) -> Callable[[], object]:
        return lambda: occlusion.attribute(
            x, sliding_window_shapes=(3, PATCH, PATCH), strides=(3, STRIDE, STRIDE),
            baselines=0.0, target=target, perturbations_per_eval=ppe,
        )  # fmt: skip

    def ours(**kw) -> Callable[[], object]:
        return lambda: xw.explain(
            model, x, "occlusion", target=target, patch=PATCH, stride=STRIDE, **kw
        )

    def full() -> None:
        grid = OcclusionGrid.build(args.size, args.size, PATCH, STRIDE)
        with torch.no_grad():
            for _ in grid.iter_drops(model, x, Target.from_spec(target, 1), 0.0, engine="full"):
                pass

    runs = {"captum ppe=64": captum(64), "ours full forwards": full, "ours exact": ours(),
            "ours approximate": ours(approximate=True),
            "threshold tau=0.6": lambda: threshold_map(model, x, target)}  # fmt: skip
    if not args.skip_captum_1:
        runs = {"captum ppe=1": captum(1), **runs}
    times: dict[str, list[float]] = {name: [] for name in runs}
    first, last = [], []
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, resnet18 "
          f"{args.size} px, patch {PATCH}, stride {STRIDE}, CPU")  # fmt: skip
    for _ in range(args.repeat):
        for name, fn in runs.items():
            times[name].append(seconds(fn))
            print(f"  {name:22} {times[name][-1]:8.2f} s", flush=True)
        a, b = stream_times(model, x, target)
        first.append(a)
        last.append(b)
    t = {name: statistics.median(v) for name, v in times.items()}
    print(f"\n{'what':22} {'seconds':>8}  speed-up vs captum ppe=1 / ppe=64 / full forwards")
    for name, sec in t.items():
        vs1 = f"{t['captum ppe=1'] / sec:6.2f}x" if "captum ppe=1" in t else "     -"
        print(f"{name:22} {sec:8.2f}  {vs1} / {t['captum ppe=64'] / sec:6.2f}x / "
              f"{t['ours full forwards'] / sec:6.2f}x")  # fmt: skip
    whole, changed = conv_work(
        Incremental.start(model, x, model(x)), args.size, args.size, PATCH, STRIDE
    )
    mine = our_work(model, x, args.size)
    ceiling, measured = whole / changed, t["ours full forwards"] / t["ours exact"]
    print(f"\nconv work: full forwards {whole / 1e9:.1f} G multiply-adds, changed places "
          f"{changed / 1e9:.1f} G, ours {mine / 1e9:.1f} G")  # fmt: skip
    print(f"ceiling (full / changed) {ceiling:.2f}x; our work ratio {whole / mine:.2f}x; "
          f"measured exact vs full forwards {measured:.2f}x = {measured / ceiling:.0%} "
          "of the ceiling")  # fmt: skip
    fidelity(model, args.size)
    zoo_fidelity()
    coarse, whole_map = statistics.median(first), statistics.median(last)
    print(f"explain_stream (the Explorer's path): coarse first map {coarse:.2f} s, "
          f"full map {whole_map:.2f} s")  # fmt: skip


if __name__ == "__main__":
    main()
