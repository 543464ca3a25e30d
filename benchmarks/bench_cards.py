"""The speed column of the method cards: every registered method timed on a zoo model with its
default settings, written to ``xai_widgets/methods/cards/speeds.json`` (issue 16).

Each method runs ``xw.explain(model, x, name)`` (default parameters, the predicted class) on
one picture of the zoo model's own dataset; the time is the median of ``--repeat`` runs after a
warm-up, the methods interleaved within each round (``_common.timed``), next to one plain
forward pass of the same picture (timed as 20 in a row), so ``forward_ratio`` is a cost that
depends less on the machine. A method that does not apply to the model
(``Method.unavailable``, e.g. CAM without a global-average-pool + linear head, or an attention
method on a CNN) or raises on it is recorded under ``skipped`` with its reason.

Run with one thread, as a kernel beside a browser on a small machine should:

    OMP_NUM_THREADS=1 python benchmarks/bench_cards.py [--model shapes] [--repeat 7]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
from pathlib import Path

import torch
from _common import timed

import xai_widgets as xw
from xai_widgets import data, zoo
from xai_widgets.api import build_method
from xai_widgets.hooks import borrowed

FORWARDS = 20
OUT = Path(__file__).resolve().parents[1] / "xai_widgets" / "methods" / "cards" / "speeds.json"


def machine() -> str:
    """The CPU (or GPU) in words."""
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name}, {os.cpu_count()} cores"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="shapes")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    model = zoo.load(args.model)
    card = zoo.card(args.model)
    images, _labels, _masks = data.dataset(card.dataset, 1, seed=3, **card.dataset_kwargs)
    x = data.normalize(images, card)
    methods, skipped = {}, {}
    for name in xw.list_methods():
        try:  # a method that refuses this model is recorded with its reason, not timed
            instance = build_method(model, x, name, {})
            with borrowed(model):
                reason = instance.unavailable(model, x, None)
            if not reason:
                xw.explain(model, x, name)
        except Exception as exc:  # any refusal is a reason to report
            reason = f"{type(exc).__name__}: {exc}"
        if reason:
            skipped[name] = f"does not apply to zoo model '{args.model}': {reason}"
        else:
            methods[name] = lambda name=name: xw.explain(model, x, name)

    def forwards() -> None:  # 20 in a row: one 1-2 ms call alone is all scheduling noise
        with torch.no_grad():
            for _ in range(FORWARDS):
                model(x)

    times = timed({"forward": forwards, **methods}, args.repeat, x.device)
    times["forward"] /= FORWARDS
    result = {
        "model": args.model,
        "input": f"1 x {' x '.join(map(str, x.shape[1:]))} ({card.dataset} picture)",
        "machine": machine(),
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "load_average": round(os.getloadavg()[0], 1),
        "repeat": args.repeat,
        "date": datetime.date.today().isoformat(),
        "forward_ms": round(times["forward"], 3),
        "methods": {
            name: {
                "ms": round(times[name], 2),
                "forward_ratio": round(times[name] / times["forward"], 1),
            }
            for name in methods
        },
        "skipped": skipped,
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"one forward: {times['forward']:.3f} ms ({result['machine']}, torch {result['torch']})")
    print(f"{'method':24s} {'ms':>10s} {'x forward':>10s}")
    for name, entry in result["methods"].items():
        print(f"{name:24s} {entry['ms']:10.2f} {entry['forward_ratio']:10.1f}")
    for name, reason in skipped.items():
        print(f"{name:24s} skipped: {reason}")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
