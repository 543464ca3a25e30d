"""Feature views' speed (issue 5): the numbers a person feels when clicking through layers.

(a) Channel grid of a 64-channel layer: activations of one 64 px image -> per-channel min-max
    normalization -> upsample each 16 x 16 map to 48 x 48 -> colormap -> 8 x 8 grid -> PNG,
    with ``xai_widgets.render``. Target <= 100 ms.
(b) Top-9 dataset exemplars over 2000 images of 64 px (batches of 100, as a DataLoader gives
    them) for one channel, crops included. Target <= 10 s on CPU.

Models: for (a) the last 64-channel conv of the zoo's "textures" (or "counting") model, for
(b) the last conv of the zoo's "shapes" model; a small VGG-like CNN (random weights, layer "7":
64 channels at 16 x 16) where the zoo is not there yet. Images are random (speed does not depend
on them). Median of ``--repeat`` runs after a warm-up.

    python benchmarks/bench_features.py [--repeat 5] [--device cpu|cuda] [--threads N]
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import torch
from _common import small_cnn, timed
from torch import nn

from xai_widgets import features as xf
from xai_widgets import render


def zoo_model(names: tuple[str, ...], channels: int | None = None) -> tuple | None:
    """(model, layer, input channels, name) of the first zoo model in ``names`` that loads,
    reading its last conv with ``channels`` outputs (any conv when None); None without one."""
    try:
        from xai_widgets import zoo
    except ImportError:
        return None
    for name in names:
        try:
            model = zoo.load(name)
        except (AttributeError, FileNotFoundError, KeyError, ValueError):
            continue
        convs = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.Conv2d)]
        fit = [n for n, m in convs if channels is None or m.out_channels == channels]
        if fit:
            return model.eval(), fit[-1], convs[0][1].in_channels, f"zoo {name!r}"
    return None


def channel_grid_png(model: nn.Module, x: torch.Tensor, layer: str, tile: int = 48) -> bytes:
    """Activations -> per-channel normalization -> upsample -> colormap -> grid -> PNG."""
    acts = xf.activations(model, x, layer)[0]  # (C, h, w)
    maps = np.stack([render.normalize(a, "minmax") for a in acts.numpy(force=True)])
    tiles = render.colormap(render.upsample(maps, (tile, tile)), "viridis")
    return render.to_png(render.grid(list(tiles), ncols=8))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    torch.manual_seed(0)
    fallback = (small_cnn(), "7", 3, "small CNN (random weights)")
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, device {device}, "
          f"load average {load:.2f} (other work on the cores slows every figure)")  # fmt: skip

    model, layer, channels, name = zoo_model(("textures", "counting"), 64) or fallback
    model = model.to(device)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(1, channels, 64, 64, generator=gen).to(device)
    png = channel_grid_png(model, x, layer)
    t_grid = timed({"grid": lambda: channel_grid_png(model, x, layer)}, args.repeat, device)["grid"]
    shape = render.from_png(png).shape
    print(f"(a) {name}, layer {layer!r}")
    print(f"    channel grid, 64 channels -> {shape[1]}x{shape[0]} PNG: {t_grid:8.1f} ms  "
          f"(target <= 100 ms) {'OK' if t_grid <= 100 else 'SLOW'}")  # fmt: skip

    model, layer, channels, name = zoo_model(("shapes",)) or fallback
    model = model.to(device)
    print(f"(b) {name}, layer {layer!r}")
    images = torch.randn(2000, channels, 64, 64, generator=gen)
    batches = [images[i : i + 100] for i in range(0, 2000, 100)]  # CPU batches, as loaded

    def exemplars() -> xf.Exemplars:
        return xf.top_activating(model, batches, layer, 5, k=9)

    ex = exemplars()
    t_top = timed({"top": exemplars}, max(1, args.repeat // 2), device)["top"] / 1000
    verdict = "OK" if t_top <= 10 else "SLOW"
    print(f"    top-9 exemplars over 2000 images of 64 px:       {t_top:8.2f} s   "
          f"(target <= 10 s)   {verdict}; crops {tuple(ex.crops.shape)}")  # fmt: skip


if __name__ == "__main__":
    main()
