"""Models the benchmarks share (run the scripts from the repository root or benchmarks/)."""

from __future__ import annotations

from torch import nn


def small_cnn() -> nn.Module:
    """A VGG-like CNN for 64 px inputs: 3 conv/ReLU(inplace)/max-pool blocks, 2 linear."""
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(64 * 8 * 8, 64), nn.ReLU(inplace=True), nn.Linear(64, 10),
    ).eval()  # fmt: skip
