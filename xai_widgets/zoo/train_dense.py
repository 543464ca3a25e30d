"""Training of the per-pixel, multi-input zoo models (``Spec.task == "dense"``: the sea-ice
fusion networks), called by ``python -m xai_widgets.zoo.train fusion_small``.

The network trains on fresh 64 x 64 scenes every epoch (it is fully convolutional; a quarter of
the pixels of the 128 x 128 scenes it is evaluated on) with per-pixel binary cross-entropy on
the mixing layer's logits, AdamW and a one-cycle schedule. ``sar_norm`` / ``mwr_norm`` are set
from the first training set (per-channel mean and std) and stay fixed. The held-out accuracy is
per-pixel, ``P(ice) > 0.5`` against the labels, on ``n_test`` scenes of ``test_seed``.
"""

from __future__ import annotations

import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .. import data
from .card import ModelCard, save_model
from .fusion import FusionNet, describe_fusion
from .specs import Spec

__all__ = ["evaluate_dense", "held_out_dense", "train_dense"]

TRAIN_SIZE = 64


def held_out_dense(spec: Spec, n: int | None = None, seed: int | None = None) -> tuple:
    """``(sar, mwr, labels)`` never used in training (``test_seed``, the card's scene size)."""
    n = spec.n_test if n is None else n
    return data.dataset(spec.dataset, n, seed=spec.test_seed if seed is None else seed,
                        **spec.dataset_kwargs)  # fmt: skip


@torch.no_grad()
def pixel_accuracy(model: nn.Module, sar, mwr, labels, batch: int = 16) -> float:
    """The fraction of pixels where ``model(sar, mwr) > 0.5`` equals the label."""
    model.eval()
    device = next(model.parameters()).device
    correct = 0
    for start in range(0, len(sar), batch):
        part = slice(start, start + batch)
        prob = model(sar[part].to(device), mwr[part].to(device))[:, 0]
        correct += int(((prob > 0.5).cpu() == labels[part].bool()).sum())
    return correct / max(labels.numel(), 1)


def evaluate_dense(
    spec: Spec, model: nn.Module, n: int | None = None, seed: int | None = None
) -> float:
    """Per-pixel held-out accuracy of ``model`` (see :func:`held_out_dense`)."""
    return pixel_accuracy(model, *held_out_dense(spec, n, seed))


def _set_norms(model: FusionNet, sar: torch.Tensor, mwr: torch.Tensor) -> None:
    model.sar_norm.mean.copy_(sar.mean((0, 2, 3)))
    model.sar_norm.std.copy_(sar.std((0, 2, 3)))
    model.mwr_norm.mean.copy_(mwr.mean((0, 2, 3)))
    model.mwr_norm.std.copy_(mwr.std((0, 2, 3)))


def train_dense(spec: Spec, out: Path, verbose: bool = True) -> ModelCard:
    """Train the fusion model of ``spec``; write ``weights/NAME.pt`` and ``cards/NAME.json``."""
    torch.manual_seed(spec.seed)
    gen = torch.Generator().manual_seed(spec.seed)
    start = time.perf_counter()
    model = spec.build()
    if not isinstance(model, FusionNet):
        raise TypeError(f"{spec.name}: dense training expects a FusionNet")
    n = spec.n_train or 800
    sar, mwr, labels = data.dataset(spec.dataset, n, seed=spec.seed * 1000, size=TRAIN_SIZE)
    _set_norms(model, sar, mwr)
    steps = -(-n // spec.batch_size)
    opt = torch.optim.AdamW(model.parameters(), lr=spec.lr, weight_decay=spec.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=spec.lr, total_steps=steps * spec.epochs, pct_start=0.2
    )
    for epoch in range(spec.epochs):
        if epoch:
            sar, mwr, labels = data.dataset(
                spec.dataset, n, seed=spec.seed * 1000 + epoch, size=TRAIN_SIZE
            )
        model.train()
        order = torch.randperm(n, generator=gen)
        total = 0.0
        for i in range(steps):
            idx = order[i * spec.batch_size : (i + 1) * spec.batch_size]
            logits = model.logits(sar[idx], mwr[idx])[:, 0]
            loss = F.binary_cross_entropy_with_logits(logits, labels[idx].float())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        if verbose:
            elapsed = time.perf_counter() - start
            print(f"{spec.name}: epoch {epoch + 1}/{spec.epochs} loss {total / n:.4f} "
                  f"({elapsed:.0f} s)", flush=True)  # fmt: skip
    seconds = time.perf_counter() - start
    test = held_out_dense(spec)
    accuracy = pixel_accuracy(model, *test)
    card = ModelCard(
        name=spec.name,
        classes=("ice",),
        dataset=spec.dataset,
        dataset_kwargs=dict(spec.dataset_kwargs),
        input_size=spec.input_size,
        channels=spec.channels,
        mean=(0.0,),  # the model standardizes its inputs itself (sar_norm, mwr_norm)
        std=(1.0,),
        accuracy=round(accuracy, 4),
        architecture=describe_fusion(model),
        seed=spec.seed,
        test_seed=spec.test_seed,
        n_test=len(test[0]),
        description=spec.description + " Output: per-pixel P(ice) (N, 1, H, W); accuracy is "
        "per pixel. Inputs: sar (N, 1, H, W) in [0, 1], mwr (N, 14, H/16, W/16) in kelvin.",
        source=f"python -m xai_widgets.zoo.train {spec.name}",
        training={
            "epochs": spec.epochs,
            "images_per_epoch": n,
            "image_size": TRAIN_SIZE,
            "fresh_data_per_epoch": True,
            "batch_size": spec.batch_size,
            "loss": "per-pixel binary cross-entropy on the logits",
            "optimizer": f"AdamW(lr={spec.lr}, weight_decay={spec.weight_decay}), one-cycle",
            "augment": [],
            "seconds": round(seconds, 1),
            "threads": torch.get_num_threads(),
            "torch": torch.__version__.split("+")[0],
        },
        inputs=("sar", "mwr"),
        zscores={
            "layer": "mix",
            "groups": [[name, size] for name, size in model.groups()],
            "coarse": {"MWR": "mwr_norm"},
            "modules": model.group_modules(),
        },
    )
    size = save_model(model, card, out)
    if verbose:
        print(f"{spec.name}: held-out per-pixel accuracy {accuracy:.4f} on {len(test[0])} "
              f"scenes, {seconds:.0f} s, weights {size / 1024:.0f} KiB")  # fmt: skip
        if accuracy < spec.threshold:
            print(f"{spec.name}: WARNING below the required {spec.threshold:.0%}")
    return card
