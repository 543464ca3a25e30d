"""Does the Explorer's engine change or slow the user's own torch code in the same kernel?
(issue 15: "whatever changes thread settings must restore them and must not slow a user's own
torch code in the same kernel").

A user's workload (a conv + matmul loop on the kernel's default intra-op threads) is timed in
the main thread in rounds that alternate: alone, then while the Explorer's engine answers
method toggles in its lane threads (driven from Python the way the widget tests do), then alone
again, and while a plain thread (no engine) runs the same methods with torch's defaults, the
peer. It prints the median ms per step in each state, the ratios, and the main thread's
``torch.get_num_threads()`` before, during and after. On a machine with few cores the engine's
own compute competes for the cores, so "during" is slower by the share of CPU the engine takes;
the check that matters is that the main thread's thread count is untouched and that "after"
equals "alone".

Run from the repository root::

    PYTHONPATH=$PWD python benchmarks/bench_threads.py --model shapes --rounds 3
"""

from __future__ import annotations

import argparse
import statistics
import threading
import time

import torch

import xai_widgets as xw

METHODS = ["grad_cam", "score_cam", "lrp", "sg_lrp", "saliency", "integrated_gradients"]


def user_step(w: torch.Tensor, x: torch.Tensor, a: torch.Tensor) -> None:
    """What a user's own code might do between looking at maps: a conv and a matmul."""
    torch.nn.functional.conv2d(x, w, padding=1).relu_().sum()
    (a @ a).sum()


def time_user(steps: int) -> list[float]:
    g = torch.Generator().manual_seed(0)
    w = torch.randn(32, 16, 3, 3, generator=g)
    x = torch.randn(8, 16, 64, 64, generator=g)
    a = torch.randn(384, 384, generator=g)
    out = []
    for _ in range(steps):
        start = time.perf_counter()
        user_step(w, x, a)
        out.append((time.perf_counter() - start) * 1000)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="shapes")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=50)
    args = parser.parse_args()

    threads_before = torch.get_num_threads()
    ex = xw.Explorer.from_zoo(args.model, n=2, data_size=0, size=128)
    assert ex.wait(120)
    methods = [m for m in METHODS if m not in ex.explain_tab.unavailable]
    time_user(3)  # warm-up

    alone: list[float] = []
    during: list[float] = []
    after: list[float] = []
    peer: list[float] = []
    threads_during: list[int] = []
    toggles = 0
    for _ in range(args.rounds):
        alone += time_user(args.steps)
        stop = threading.Event()

        def drive(stop: threading.Event = stop) -> None:
            nonlocal toggles
            i = 0
            while not stop.is_set():
                ex.selection.method = methods[i % len(methods)]
                ex.wait(60)
                toggles += 1
                i += 1

        driver = threading.Thread(target=drive, daemon=True)
        driver.start()
        time.sleep(0.2)  # the engine is busy
        during += time_user(args.steps)
        threads_during.append(torch.get_num_threads())
        stop.set()
        driver.join(120)
        ex.wait(60)
        after += time_user(args.steps)
        # the peer: the same explanations in a plain thread with torch's defaults (no engine)
        stop = threading.Event()
        model, x = ex.selection.model, ex.selection.session(0).x

        def plain(stop: threading.Event = stop, model=model, x=x) -> None:
            i = 0
            while not stop.is_set():
                xw.explain(model, x, methods[i % len(methods)])
                i += 1

        other = threading.Thread(target=plain, daemon=True)
        other.start()
        time.sleep(0.2)
        peer += time_user(args.steps)
        stop.set()
        other.join(120)
    ex.close()
    threads_after = torch.get_num_threads()

    med = {
        k: statistics.median(v)
        for k, v in (("alone", alone), ("during", during), ("after", after), ("peer", peer))
    }
    print(f"model {args.model}, {toggles} toggles answered ({', '.join(methods)})")
    print(f"user step, median ms: alone {med['alone']:.1f}, while the engine computes "
          f"{med['during']:.1f}, after {med['after']:.1f}")  # fmt: skip
    print(f"peer: while a plain thread runs the same methods with torch's default threads "
          f"{med['peer']:.1f} ms ({med['peer'] / med['alone']:.2f}x alone)")  # fmt: skip
    print(f"ratios: during/alone {med['during'] / med['alone']:.2f}x, "
          f"after/alone {med['after'] / med['alone']:.2f}x")  # fmt: skip
    print(f"main thread torch.get_num_threads(): before {threads_before}, "
          f"during {sorted(set(threads_during))}, after {threads_after}")  # fmt: skip
    print(
        f"threads are per thread in this torch build: {xw.widgets.engine.threads_are_per_thread()}"
    )
    if threads_after != threads_before or set(threads_during) != {threads_before}:
        raise SystemExit("FAIL: the main thread's intra-op thread count changed")


if __name__ == "__main__":
    main()
