"""Feature views' speed (issue 5): the channel grid as the Activations view draws it.

(a) The view's own grid path for a 64-channel layer of one 64 px image: ``activations`` ->
    per-channel min-max ``normalize`` -> ``upsample`` to 56 px tiles -> ``colormap`` -> labelled
    8 x 8 grid -> encoded (PNG at zlib level 1, as the view sends it; JPEG for comparison).
    Target <= 100 ms.
(b) The whole view, as a person feels it (no browser): a layer change (forward to the layer,
    ranking, grid, the channel map over the picture, receptive field) and a click on a tile
    (map only; the activations are cached), from the trait change until drawn.

Model: the last 64-channel conv of the zoo's "textures" (or "counting") model, else a small
random VGG-like CNN (layer "7": 64 channels at 16 x 16); see bench_features.py. Median of
``--repeat`` runs after a warm-up.

    python benchmarks/bench_views.py [--repeat 9] [--threads N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_features import small_cnn, timed, zoo_model

from xai_widgets import features as xf
from xai_widgets.widgets.canvas import encode
from xai_widgets.widgets.views import ActivationsView
from xai_widgets.widgets.views.activations_view import PAGE
from xai_widgets.widgets.views.tiles import channel_grid


def grid_path(model: torch.nn.Module, x: torch.Tensor, layer: str, lossless: bool = True):
    """Exactly what the view does for its grid (ranking by mean included)."""
    acts = xf.activations(model, x, layer)[0].float().cpu()
    values = acts.mean((1, 2))
    order = torch.sort(values, descending=True, stable=True).indices.tolist()[:PAGE]
    rgba, _ = channel_grid(acts, order, values[order].tolist())
    return encode(rgba, lossless=lossless)


def view_timings(model: torch.nn.Module, x: torch.Tensor, layer: str, repeat: int) -> tuple:
    view = ActivationsView(model, list(x), size=256)
    view.wait()
    other = next(n for n, _ in view.layers if n != layer)
    switch, click = [], []
    for _ in range(repeat + 1):
        view._acts.clear()
        view.layer = other
        view.wait()
        start = time.perf_counter()
        view.layer = layer
        view.wait()
        switch.append((time.perf_counter() - start) * 1000)
        start = time.perf_counter()
        view.channel = view.shown["order"][5]
        view.wait()
        click.append((time.perf_counter() - start) * 1000)
    assert view.error.value == "", view.error.value
    view.close()
    return statistics.median(switch[1:]), statistics.median(click[1:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, CPU, "
          f"load average {load:.2f} (other work on the cores slows every figure)")  # fmt: skip
    fallback = (small_cnn(), "7", 3, "small CNN (random weights)")
    model, layer, channels, name = zoo_model(("textures", "counting"), 64) or fallback
    gen = torch.Generator().manual_seed(0)
    x = torch.rand(3, channels, 64, 64, generator=gen)
    shape = tuple(xf.activations(model, x[:1], layer).shape[1:])
    device = torch.device("cpu")
    png = grid_path(model, x[:1], layer)
    t_png = timed(lambda: grid_path(model, x[:1], layer), args.repeat, device)
    t_jpg = timed(lambda: grid_path(model, x[:1], layer, lossless=False), args.repeat, device)
    print(f"(a) {name}, layer {layer!r} {shape}")
    print(f"    channel grid -> {png.size[0]}x{png.size[1]} PNG ({len(png.data) // 1024} kB): "
          f"{t_png:6.1f} ms (target <= 100 ms) {'OK' if t_png <= 100 else 'SLOW'}")  # fmt: skip
    print(f"    same grid as JPEG q92: {t_jpg:6.1f} ms")
    switch, click = view_timings(model, x, layer, max(3, args.repeat // 2))
    print("(b) ActivationsView (trait change -> drawn, no browser)")
    print(f"    layer change: {switch:6.1f} ms   tile click: {click:6.1f} ms")


if __name__ == "__main__":
    main()
