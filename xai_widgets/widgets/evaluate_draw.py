"""What the Evaluate tab draws: the curves and the sanity plot (matplotlib figures) and the
verdict in words under them (:mod:`.evaluate_tab`)."""

from __future__ import annotations

import html
from typing import Any

import numpy as np
import torch

__all__ = ["plot_curves", "plot_sanity", "regions", "summary"]


def regions(x: torch.Tensor, patch: int) -> int:
    return (-(-x.shape[2] // patch)) * (-(-x.shape[3] // patch))


def plot_curves(fig: Any, curves: dict[str, Any], label: str) -> None:
    ax = fig.add_subplot(1, 1, 1)
    colours = {"morf": "#c62828", "lerf": "#1565c0", "deletion": "#c62828", "insertion": "#1565c0"}
    for key, curve in curves.items():
        who, kind = key.split(" ")
        mean = curve.scores.mean(0).cpu().numpy()
        x = curve.fractions.cpu().numpy()
        name = label if who == "method" else "random"
        tag = kind.upper() if len(kind) == 4 else kind
        style = "-" if who == "method" else "--"
        ax.plot(x, mean, color=colours[kind], linestyle=style, label=f"{name} {tag}")
    kind = next(iter(curves.values())).score
    region = "method morf" in curves
    ax.set_xlabel("fraction of the image removed" if region else "fraction of pixels")
    ax.set_ylabel(f"target {kind}")
    ax.legend(fontsize=7)
    fig.tight_layout()


def plot_sanity(fig: Any, result: Any, label: str) -> None:
    ax = fig.add_subplot(1, 1, 1)
    steps = np.arange(1, len(result.layers) + 1)
    ax.plot(steps, result.spearman_abs.mean(1).cpu().numpy(), "o-", label="rank corr. |map|")
    ax.plot(steps, result.ssim.mean(1).cpu().numpy(), "s--", label="SSIM")
    ax.set_ylim(-0.1, 1.05)
    ax.set_xlabel("top layers randomised")
    ax.set_ylabel(f"{label}: similarity to the original")
    ax.legend(fontsize=7)
    fig.tight_layout()


def summary(curves: dict[str, Any], label: str, where: tuple | None) -> str:
    name = html.escape(label)
    if "method morf" in curves:
        m, r = float(curves["method morf"].aopc[0]), float(curves["random morf"].aopc[0])
        verdict = "better than" if m > r else "no better than"
        text = (
            f"AOPC (MoRF, higher = the map finds what matters): {name} <b>{m:.3g}</b>, "
            f"random {r:.3g}: {name} is {verdict} a random map on this picture."
        )
    else:
        d, dr = float(curves["method deletion"].auc[0]), float(curves["random deletion"].auc[0])
        i, ir = float(curves["method insertion"].auc[0]), float(curves["random insertion"].auc[0])
        text = (
            f"Deletion AUC (lower is better): {name} <b>{d:.3g}</b>, random {dr:.3g}; "
            f"insertion AUC (higher is better): {name} <b>{i:.3g}</b>, random {ir:.3g}."
        )
    if where is not None:
        hit, mass, rhit, rmass = where
        text += (
            f"<br>Against the object's mask: pointing game {'hit' if hit else 'miss'} "
            f"(random: {'hit' if rhit else 'miss'}), relevance mass {mass:.2f} "
            f"(random {rmass:.2f})."
        )
    return text + " One picture is one sample: run on the gallery for a verdict with errors."
