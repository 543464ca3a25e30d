"""Concepts' cost (issue 12): ``features.concepts`` (Deep Feature Factorization) over 200
held-out images of each small zoo model, k = 6, at the default layer. Target: <= 10 s per
model on this 2-core CPU. Printed beside it: the forward passes alone (the floor), and the
factorisation step against scikit-learn's NMF (coordinate descent, same k and start) on the
same activation matrix, with both reconstruction errors. Median of ``--repeat`` rounds after a
warm-up, the timed functions alternating (``_common.timed``).

    python benchmarks/bench_concepts.py [--images 200] [--k 6] [--repeat 3] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import os

import numpy as np
import torch
from _common import timed

from xai_widgets import data, zoo
from xai_widgets import features as xf
from xai_widgets.features._common import probe, run_to
from xai_widgets.features.nmf import nmf
from xai_widgets.hooks import borrowed


def inputs(name: str, n: int) -> torch.Tensor:
    card = zoo.card(name)
    seed = (card.test_seed or 0) + 3
    images, _labels, _masks = data.dataset(card.dataset, n, seed=seed, **card.dataset_kwargs)
    mean, std = (torch.tensor(v)[:, None, None] for v in card.mean_std)
    return (images - mean) / std


def bench(name: str, args: argparse.Namespace, device: torch.device) -> None:
    """Time and print one zoo model."""
    from sklearn.decomposition import NMF

    model = zoo.load(name, device)
    x = inputs(name, args.images).to(device)
    info = probe(model, x, None, "bench")
    with borrowed(model), torch.no_grad():
        acts = run_to(model, x, info).clamp(min=0)
    V = acts.permute(0, 2, 3, 1).reshape(-1, acts.shape[1])
    Vn = V.double().cpu().numpy()
    peer = NMF(args.k, init="random", random_state=0, max_iter=200, tol=1e-4)
    results: dict[str, float] = {}

    def forwards() -> None:
        with torch.no_grad():
            model(x)

    def ours() -> None:
        results["ours"] = xf.concepts(model, x, k=args.k, seed=0).error

    def ours_nmf() -> None:
        results["ours_nmf"] = nmf(V, args.k, seed=0).error

    def sklearn_nmf() -> None:
        W = peer.fit_transform(Vn)
        results["sklearn"] = float(np.linalg.norm(Vn - W @ peer.components_) / np.linalg.norm(Vn))

    fns = {"forwards": forwards, "concepts": ours, "nmf": ours_nmf, "sklearn": sklearn_nmf}
    ms = timed(fns, args.repeat, device)
    verdict = "ok" if ms["concepts"] <= 10_000 else "OVER the 10 s target"
    print(
        f"  {name:9s} layer {info.name} {tuple(acts.shape[1:])} -> V {tuple(V.shape)}: "
        f"concepts {ms['concepts'] / 1000:.2f} s ({verdict}); forward alone "
        f"{ms['forwards'] / 1000:.3f} s; NMF ours {ms['nmf'] / 1000:.2f} s (error "
        f"{results['ours_nmf']:.4f}) vs scikit-learn {ms['sklearn'] / 1000:.2f} s (error "
        f"{results['sklearn']:.4f}), ratio {ms['nmf'] / ms['sklearn']:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--k", type=int, default=6)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--models", default="shapes,textures,faces,counting")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--threads", type=int, default=min(2, os.cpu_count() or 1))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    print(
        f"concepts over {args.images} images, k={args.k}, {args.device}, {args.threads} "
        f"thread(s), median of {args.repeat}; target <= 10 s"
    )
    for name in args.models.split(","):
        bench(name, args, device)


if __name__ == "__main__":
    main()
