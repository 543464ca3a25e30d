"""Data-set scale (issue 15): ``top_activating`` against the forwards it cannot avoid, and its
memory over a DataLoader that is much larger than memory would allow to keep.

1. Speed: ``top_activating`` over 2,000 held-out images of a zoo model (its default layer,
   channel 0) against the same images forwarded through the whole model in the same batches
   (``torch.no_grad()``, the plain loop a user would write), and against the forward up to the
   layer only (what ``top_activating`` must run). Median of ``--repeat`` interleaved rounds.
   The issue: <= 1.2x the cost of the forwards alone.
2. Memory: ``top_activating`` over a DataLoader of ``--images`` random 64 px images that are
   generated on the fly by the Dataset (so the data never sits in memory), RSS of the process
   (``/proc/self/status`` VmRSS) after a warm-up pass and after the timed pass. The issue: RSS
   growth < 100 MB over 20,000 images.

    python benchmarks/bench_dataset.py [--models shapes,textures] [--repeat 5] [--images 20000]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch.utils.data import DataLoader, Dataset

from xai_widgets import data, zoo
from xai_widgets.features import top_activating
from xai_widgets.features._common import probe, run_to
from xai_widgets.hooks import borrowed
from xai_widgets.layers import default_layer


def rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class Noise(Dataset):
    """``n`` images of ``channels`` x 64 x 64, made when asked (seeded by index)."""

    def __init__(self, n: int, channels: int) -> None:
        self.n, self.channels = n, channels

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        gen = torch.Generator().manual_seed(i)
        return torch.rand(self.channels, 64, 64, generator=gen), 0


def speed(name: str, n: int, batch: int, repeat: int) -> None:
    card = zoo.card(name)
    model = zoo.load(name)
    images = data.normalize(data.dataset(card.dataset, n, seed=3, **card.dataset_kwargs)[0], card)
    layer = default_layer(model, images[:1])
    info = probe(model, images[:1], layer, "bench")

    def forwards() -> None:
        with torch.no_grad():
            for i in range(0, n, batch):
                model(images[i : i + batch])

    def to_layer() -> None:
        with borrowed(model), torch.no_grad():
            for i in range(0, n, batch):
                run_to(model, images[i : i + batch], info)

    def ours() -> None:
        top_activating(model, images, layer, 0, k=9)

    fns = {"forwards (whole model)": forwards, "forwards to the layer": to_layer,
           "top_activating": ours}  # fmt: skip
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeat):
        for key, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - start)
    ms = {k: statistics.median(v) * 1000 for k, v in times.items()}
    base = ms["forwards (whole model)"]
    print(f"{name}: {n} images, layer {layer}, batches of {batch}")
    for key, value in ms.items():
        print(f"  {key:24s} {value:8.1f} ms  {value / base:5.2f}x the whole-model forwards")


def memory(name: str, n: int) -> None:
    model = zoo.load(name)
    channels = next(model.parameters()).shape[1]
    loader = DataLoader(Noise(n, channels), batch_size=256)
    top_activating(model, DataLoader(Noise(512, channels), batch_size=256), None, 0, k=9)
    before = rss_mb()
    start = time.perf_counter()
    result = top_activating(model, loader, None, 0, k=9)
    seconds = time.perf_counter() - start
    after = rss_mb()
    print(f"{name}: top_activating over a DataLoader of {n} generated 64 px images: "
          f"{seconds:.1f} s, RSS {before:.0f} -> {after:.0f} MB (growth {after - before:+.1f} MB; "
          f"goal < 100 MB); best image index {int(result.indices[0])}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="shapes,textures")
    parser.add_argument("--images", type=int, default=20000)
    parser.add_argument("--speed-images", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    for name in args.models.split(","):
        speed(name, args.speed_images, args.batch, args.repeat)
    memory(args.models.split(",")[0], args.images)


if __name__ == "__main__":
    main()
