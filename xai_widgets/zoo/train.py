"""Re-create the shipped zoo weights and cards, seeded, on a few CPU cores.

Usage::

    python -m xai_widgets.zoo.train shapes          # one model
    python -m xai_widgets.zoo.train all --out /tmp/zoo   # all four, written elsewhere

Each model trains with AdamW, a one-cycle schedule (Smith & Topin 2019) and label-smoothed
cross-entropy (Szegedy et al. 2016; eps in the spec, 0.1) on generated data
(fresh images every epoch) or, for ``faces``, the fixed training split with flips, shifts and
brightness jitter. Afterwards the held-out accuracy is measured on data the training never
saw (``test_seed`` / the ``test`` split), with the median top-1 probability, and written into
the card with the preprocessing
(mean and std of the first training set). Writes ``weights/NAME.pt`` (a plain state_dict)
and ``cards/NAME.json`` under ``--out`` (default: the installed package).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .. import data
from .architectures import describe
from .card import ModelCard, save_model
from .specs import SPECS, Spec

__all__ = ["evaluate_model", "held_out", "median_confidence", "train"]

PACKAGE_DIR = Path(__file__).resolve().parent


def _dataset(spec: Spec, n: int | None, seed: int, split: str) -> tuple:
    kwargs = dict(spec.dataset_kwargs)
    if spec.split:
        kwargs["split"] = split
    return data.dataset(spec.dataset, n, seed=seed, **kwargs)


def held_out(spec: Spec, n: int | None = None, seed: int | None = None) -> tuple:
    """``(images, labels)`` never used in training: ``test_seed`` and the ``test`` split.
    A fixed dataset (``faces``) has at most ``spec.n_test`` held-out images; ``n`` is capped."""
    n = spec.n_test if n is None or (not spec.fresh_data and n > spec.n_test) else n
    images, labels, _ = _dataset(spec, n, spec.test_seed if seed is None else seed, "test")
    return images, labels


@torch.no_grad()
def evaluate_model(
    model: nn.Module, images: torch.Tensor, labels: torch.Tensor, mean_std, batch: int = 256
) -> float:
    """Top-1 accuracy of ``model`` on images in [0, 1], normalized with ``mean_std``."""
    model.eval()
    device = next(model.parameters()).device
    correct = 0
    for start in range(0, len(images), batch):
        x = data.normalize(images[start : start + batch].to(device), mean_std)
        correct += int((model(x).argmax(1).cpu() == labels[start : start + batch]).sum())
    return correct / max(len(images), 1)


@torch.no_grad()
def median_confidence(model: nn.Module, images: torch.Tensor, mean_std, batch: int = 256) -> float:
    """Median over ``images`` of the top-1 softmax probability max_c softmax(f(x))_c: how
    saturated the model is (1.0 means every probability display reads 1.000)."""
    model.eval()
    device = next(model.parameters()).device
    tops = []
    for start in range(0, len(images), batch):
        x = data.normalize(images[start : start + batch].to(device), mean_std)
        tops.append(model(x).softmax(1).amax(1).cpu())
    return float(torch.cat(tops).median()) if tops else float("nan")


def _augment(x: torch.Tensor, ops: tuple[str, ...], gen: torch.Generator) -> torch.Tensor:
    n = len(x)

    def coin() -> torch.Tensor:
        return (torch.rand(n, generator=gen) < 0.5).view(n, 1, 1, 1)

    if "flip" in ops or "hflip" in ops:
        x = torch.where(coin(), x.flip(-1), x)
    if "flip" in ops:
        x = torch.where(coin(), x.flip(-2), x)
    if "rot90" in ops:
        x = torch.where(coin(), x.transpose(-1, -2), x)
    if "shift" in ops:
        pad = 2
        padded = F.pad(x, (pad, pad, pad, pad), mode="replicate")
        dy, dx = torch.randint(0, 2 * pad + 1, (2,), generator=gen).tolist()
        x = padded[..., dy : dy + x.shape[-2], dx : dx + x.shape[-1]]
    if "jitter" in ops:
        gain = 1 + 0.3 * (torch.rand(n, 1, 1, 1, generator=gen) - 0.5)
        bias = 0.2 * (torch.rand(n, 1, 1, 1, generator=gen) - 0.5)
        mean = x.mean((1, 2, 3), keepdim=True)
        x = ((x - mean) * gain + mean + bias).clamp(0, 1)
    return x


def train(name: str, out: Path | str | None = None, verbose: bool = True) -> ModelCard:
    """Train zoo model ``name`` from its spec, write weights and card, return the card."""
    if name not in SPECS:
        raise ValueError(f"unknown zoo model {name!r}; available: {', '.join(SPECS)}")
    spec = SPECS[name]
    out = PACKAGE_DIR if out is None else Path(out)
    if spec.task == "dense":
        from .train_dense import train_dense

        return train_dense(spec, out, verbose)
    torch.manual_seed(spec.seed)
    gen = torch.Generator().manual_seed(spec.seed)
    start = time.perf_counter()
    model = spec.build()
    if spec.warm_start:
        from . import load
        from .vit import init_stem

        copied = init_stem(model, load(spec.warm_start))  # type: ignore[arg-type]
        if verbose:
            print(f"{name}: {copied} stem convolutions from the zoo's {spec.warm_start!r}")
    images, labels, _ = _dataset(spec, spec.n_train, spec.seed * 1000, "train")
    dims = (0, 2, 3)
    mean_std = (
        tuple(round(float(v), 4) for v in images.mean(dims)),
        tuple(round(float(v), 4) for v in images.std(dims)),
    )
    steps = -(-len(images) // spec.batch_size)
    opt = torch.optim.AdamW(model.parameters(), lr=spec.lr, weight_decay=spec.weight_decay)
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=spec.lr, total_steps=steps * spec.epochs, pct_start=0.2
    )
    for epoch in range(spec.epochs):
        if epoch and spec.fresh_data:
            images, labels, _ = _dataset(spec, spec.n_train, spec.seed * 1000 + epoch, "train")
        model.train()
        order = torch.randperm(len(images), generator=gen)
        total = 0.0
        for i in range(steps):
            idx = order[i * spec.batch_size : (i + 1) * spec.batch_size]
            x = data.normalize(_augment(images[idx], spec.augment, gen), mean_std)
            loss = F.cross_entropy(model(x), labels[idx], label_smoothing=spec.label_smoothing)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        if verbose and (epoch + 1) % max(1, spec.epochs // 10) == 0:
            elapsed = time.perf_counter() - start
            print(
                f"{name}: epoch {epoch + 1}/{spec.epochs} "
                f"loss {total / len(images):.4f} ({elapsed:.0f} s)"
            )
    seconds = time.perf_counter() - start
    test_images, test_labels = held_out(spec)
    accuracy = evaluate_model(model, test_images, test_labels, mean_std)
    confidence = median_confidence(model, test_images, mean_std)
    card = ModelCard(
        name=name,
        classes=data.class_names(spec.dataset, **spec.dataset_kwargs),
        dataset=spec.dataset,
        dataset_kwargs=dict(spec.dataset_kwargs),
        input_size=spec.input_size,
        channels=spec.channels,
        mean=mean_std[0],
        std=mean_std[1],
        accuracy=round(accuracy, 4),
        median_confidence=round(confidence, 4),
        architecture=describe(model),
        seed=spec.seed,
        test_seed=spec.test_seed,
        n_test=len(test_images),
        description=spec.description,
        source=f"python -m xai_widgets.zoo.train {name}",
        training={
            "epochs": spec.epochs,
            "images_per_epoch": len(images),
            "fresh_data_per_epoch": spec.fresh_data,
            "batch_size": spec.batch_size,
            "optimizer": f"AdamW(lr={spec.lr}, weight_decay={spec.weight_decay}), one-cycle",
            "loss": f"cross-entropy, label smoothing {spec.label_smoothing}",
            "augment": list(spec.augment),
            **(
                {"warm_start": f"stem convs from zoo {spec.warm_start!r}"}
                if spec.warm_start
                else {}
            ),
            "seconds": round(seconds, 1),
            "threads": torch.get_num_threads(),
            "torch": torch.__version__.split("+")[0],
        },
    )
    size = save_model(model, card, out)
    if verbose:
        print(
            f"{name}: held-out accuracy {accuracy:.4f}, median top-1 probability "
            f"{confidence:.4f} on {len(test_images)} images, "
            f"{seconds:.0f} s, weights {size / 1024:.0f} KiB"
        )
        if accuracy < spec.threshold:
            print(f"{name}: WARNING below the required {spec.threshold:.0%}")
    return card


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m xai_widgets.zoo.train", description=__doc__.split("\n")[0]
    )
    parser.add_argument("name", choices=[*SPECS, "all"], help="zoo model to train, or all")
    parser.add_argument(
        "--out", default=None, help="folder for weights/ and cards/ (default: the package)"
    )
    parser.add_argument(
        "--threads", type=int, default=min(2, os.cpu_count() or 1), help="torch CPU threads"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, args.threads))
    for name in SPECS if args.name == "all" else [args.name]:
        train(name, args.out)


if __name__ == "__main__":
    main()
