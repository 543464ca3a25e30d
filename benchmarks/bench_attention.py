"""Attention maps' cost (issue 12): ``attention`` and ``attention_rollout`` on the zoo's
``shapes_vit`` against one plain forward pass of the same batch (``no_grad``), and Grad-CAM on
the default layer for scale. Target: ratio <= 1.3 for both attention methods. Through
``xw.explain`` (checks, borrow, hooks, upsampling to the input included). The functions
alternate within each round (``_common.timed``); median of ``--repeat`` rounds after a
warm-up. With ``--model tiny`` a random ViT of the same shape runs instead (no weights needed).

    python benchmarks/bench_attention.py [--batch 1] [--repeat 50] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import os

import torch
from _common import timed

import xai_widgets as xw
from xai_widgets import data, zoo
from xai_widgets.zoo.specs import SPECS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--model", choices=("zoo", "tiny"), default="zoo")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    spec = SPECS["shapes_vit"]
    if args.model == "zoo":
        model, mean_std = zoo.load("shapes_vit", device), zoo.card("shapes_vit").mean_std
    else:
        model, mean_std = spec.build().to(device).eval(), ((0.5,), (0.29,))
    images, _, _ = data.dataset(spec.dataset, args.batch, seed=3, **spec.dataset_kwargs)
    x = data.normalize(images, mean_std).to(device)

    def forward() -> None:
        with torch.no_grad():
            model(x)

    fns = {
        "forward": forward,
        "attention": lambda: xw.explain(model, x, "attention"),
        "attention_rollout": lambda: xw.explain(model, x, "attention_rollout"),
        "grad_cam": lambda: xw.explain(model, x, "grad_cam"),
    }
    ms = timed(fns, args.repeat, device)
    print(
        f"shapes_vit ({args.model}), batch {args.batch} of {x.shape[-1]}x{x.shape[-1]}, "
        f"{args.device}, {args.threads} thread(s), median of {args.repeat}"
    )
    print(f"  one forward        {ms['forward']:8.2f} ms")
    for name in ("attention", "attention_rollout", "grad_cam"):
        ratio = ms[name] / ms["forward"]
        target = "  (target <= 1.3)" if name != "grad_cam" else ""
        print(f"  {name:<18} {ms[name]:8.2f} ms  ratio {ratio:.2f}{target}")


if __name__ == "__main__":
    main()
