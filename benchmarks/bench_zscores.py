"""Z-scores' cost (issue 14): ``xw.zscores`` over 256 sea-ice scenes of 128 x 128 on the
zoo's ``fusion_large`` against the same forward passes alone (same batches, ``no_grad``).
Target: ratio <= 1.3. The two alternate within each round (``_common.timed``); median of
``--repeat`` rounds after a warm-up. Also prints the time of a class switch (``top`` +
``grouped`` of another output) of a GAP + linear classifier's per-class Z-scores.

    python benchmarks/bench_zscores.py [--scenes 256] [--repeat 3] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import os

import torch
from _common import timed

import xai_widgets as xw
from xai_widgets import data, zoo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenes", type=int, default=256)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    model = zoo.load("fusion_large", device)
    sar, mwr, labels = data.dataset("sea_ice", args.scenes, seed=11)
    scenes = (sar, mwr, labels)

    def forwards() -> None:
        with torch.no_grad():
            for start in range(0, args.scenes, args.batch):
                part = slice(start, start + args.batch)
                model(sar[part].to(device), mwr[part].to(device))

    def zscores() -> None:
        xw.zscores(model, scenes, batch_size=args.batch)

    ms = timed({"forwards": forwards, "zscores": zscores}, args.repeat, device)
    print(
        f"{args.scenes} scenes of {sar.shape[-1]}x{sar.shape[-1]} on fusion_large, "
        f"{args.device}, {args.threads} thread(s), batch {args.batch}, median of {args.repeat}"
    )
    print(f"  forwards alone {ms['forwards'] / 1000:.2f} s")
    print(f"  zscores        {ms['zscores'] / 1000:.2f} s")
    print(f"  ratio          {ms['zscores'] / ms['forwards']:.3f}  (target <= 1.3)")

    gap = zoo.load("textures", device)
    c = zoo.card("textures")
    images, _, _ = data.dataset(c.dataset, 64, seed=1, **c.dataset_kwargs)
    zs = xw.zscores(gap, data.normalize(images, c), layer="fc")
    switch = timed(
        {f"class {k}": (lambda k=k: (zs.top(20, k), zs.grouped(k))) for k in range(len(c.classes))},
        20,
        torch.device("cpu"),
    )
    worst = max(switch.values())
    print(f"  class switch (top 20 + grouped of textures' fc): {worst:.2f} ms worst median")


if __name__ == "__main__":
    main()
