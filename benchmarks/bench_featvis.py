"""Feature visualization with its defaults on the zoo models (issue 9): for eight evenly
spaced live channels of each model's default layer, the picture's activation over the best of
100 data set images (goal > 1), the share of its fine detail in the central half (goal >= 0.5),
its fine detail (``detail_rms``; below ``FINE_DETAIL`` the picture is smooth and the share
means nothing) and how much a uniform picture excites the channel (over the best data image),
with the seconds per picture. The same channels and measures as
``tests/test_featvis_quality.py``.

    python benchmarks/bench_featvis.py [--models shapes,counting,textures,faces] [--threads 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from xai_widgets import data
from xai_widgets.features.priors import FINE_DETAIL, central_detail, detail_rms

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
# the test's own channels, uniform pictures and defaults
from test_featvis_quality import _channels_and_best, _uniform_best, _visualize


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="shapes,counting,textures,faces")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    passed = total = 0
    print("model     layer        channel  vs best data  centre share  fine detail  uniform     s")
    for name in args.models.split(","):
        model, card, layer, best, channels = _channels_and_best(name, 8)
        flat = _uniform_best(model, card, layer)
        for channel in (c for c in channels if best[c] > 0):
            start = time.perf_counter()
            last = _visualize(model, card, layer, channel)
            seconds = time.perf_counter() - start
            ratio = last.objective / float(best[channel])
            share = central_detail(last.image)
            fine = detail_rms(data.denormalize(last.image, card))
            smooth = fine < FINE_DETAIL
            ok = ratio > 1 and (share >= 0.5 or (smooth and flat[channel] >= 0.9 * best[channel]))
            passed, total = passed + ok, total + 1
            print(f"{name:9} {layer:12} {channel:7d}  {ratio:12.2f}  {share:12.2f}  "
                  f"{fine:11.3f}{'*' if smooth else ' '} {flat[channel] / best[channel]:7.2f}  "
                  f"{seconds:5.1f}")  # fmt: skip
    print(f"{passed} of {total} live channels meet the measure (* smooth: no fine detail)")


if __name__ == "__main__":
    main()
