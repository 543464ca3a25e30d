"""Costs of handling models as users bring them (issue 10), timed interleaved in one run:

* Score-CAM streaming: time to the first partial map vs the exact map (ResNet-18, layer4,
  512 channels, 64 px, random weights);
* guided backprop, now reaching functional ReLU through a TorchFunctionMode, vs saliency;
* the layout-aware dry forward behind ``spatial_layers`` vs a plain shape-recording forward
  (ConvNeXt-T, 197 spatial layers), both without the memo.

Run: ``OMP_NUM_THREADS=2 python benchmarks/bench_user_models.py [--repeat 5]``
"""

from __future__ import annotations

import argparse

import torch
import torchvision
from _common import timed

import xai_widgets as xw
from xai_widgets.hooks import borrowed, record_shapes
from xai_widgets.layers import _MEMO, spatial_layers


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    device = torch.device("cpu")
    torch.manual_seed(0)
    resnet = torchvision.models.resnet18(weights=None).eval()
    x = torch.randn(1, 3, 64, 64)

    def first_partial() -> None:
        stream = xw.explain_stream(resnet, x, "score_cam", layer="layer4", batch_size=32)
        next(iter(stream))
        stream.close()

    t = timed(
        {
            "score_cam first partial": first_partial,
            "score_cam exact": lambda: xw.explain(resnet, x, "score_cam", layer="layer4"),
        },
        args.repeat,
        device,
    )
    first, exact = t["score_cam first partial"], t["score_cam exact"]
    print(
        f"Score-CAM ResNet-18 64 px: first partial {first:.0f} ms, exact {exact:.0f} ms, "
        f"ratio {exact / first:.1f}x"
    )

    t = timed(
        {
            "saliency": lambda: xw.explain(resnet, x, "saliency"),
            "guided_backprop": lambda: xw.explain(resnet, x, "guided_backprop"),
        },
        args.repeat * 4,
        device,
    )
    print(
        f"guided backprop {t['guided_backprop']:.1f} ms vs saliency {t['saliency']:.1f} ms: "
        f"ratio {t['guided_backprop'] / t['saliency']:.2f}"
    )

    convnext = torchvision.models.convnext_tiny(weights=None).eval()

    def layouts() -> None:
        _MEMO.pop(convnext, None)
        spatial_layers(convnext, x)

    def plain() -> None:
        with borrowed(convnext), record_shapes(convnext), torch.no_grad():
            convnext(x)

    t = timed({"layout-aware": layouts, "plain": plain}, args.repeat, device)
    print(
        f"dry forward ConvNeXt-T 64 px: layout-aware {t['layout-aware']:.0f} ms vs plain "
        f"shapes {t['plain']:.0f} ms: ratio {t['layout-aware'] / t['plain']:.2f}"
    )


if __name__ == "__main__":
    main()
