"""What the benchmarks share: a small CNN and the interleaved timer (run the scripts from the
repository root or benchmarks/)."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
from torch import nn


def small_cnn() -> nn.Module:
    """A VGG-like CNN for 64 px inputs: 3 conv/ReLU(inplace)/max-pool blocks, 2 linear."""
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 8 * 8, 64), nn.ReLU(inplace=True), nn.Linear(64, 10),
    ).eval()  # fmt: skip


def timed(fns: dict[str, Callable[[], object]], repeat: int, device) -> dict[str, float]:
    """Median wall time in ms of each function over ``repeat`` rounds after a warm-up; the
    functions alternate within each round, so a change in machine load hits them alike."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            start = time.perf_counter()
            fn()
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            times[name].append((time.perf_counter() - start) * 1000)
    return {name: statistics.median(t) for name, t in times.items()}
