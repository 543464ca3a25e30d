"""The arithmetic ceiling of incremental occlusion: convolution multiply-adds a full forward
costs per occluded copy, and the multiply-adds that each window really changes (every Conv2d
output position whose receptive field meets the window, per copy, without the shared batch
size or any threshold). Their ratio bounds the speed-up of any exact incremental engine.

Along one axis a window op maps changed rows [lo, hi] to [ceil((lo + p - d (k - 1)) / s),
floor((hi + p) / s)] (clipped to the map); a sum of two maps changes the union; pointwise ops
change nothing new. A Conv2d output place costs C_in / groups * k_h * k_w multiply-adds per
output channel.

Example::

    full, changed = conv_work(Incremental.start(model, x, model(x)), 224, 224, 16, 8)
    print(f"ceiling {full / changed:.2f}x")
"""

from __future__ import annotations

import torch
from torch import fx, nn

from .engine import Incremental, _geometry

__all__ = ["conv_macs", "conv_work", "work_by_node"]


def conv_macs(module: nn.Conv2d, places: torch.Tensor | int) -> torch.Tensor | int:
    """Multiply-adds of ``places`` output positions (all channels) of ``module``."""
    kh, kw = module.kernel_size
    return places * module.out_channels * module.in_channels // module.groups * kh * kw


def conv_work(
    run: Incremental, height: int, width: int, patch: int, stride: int
) -> tuple[int, int]:
    """(full, changed): convolution multiply-adds of one full forward per window, and of
    only the places each window changes, summed over the windows of the grid."""
    from ..occlusion import window_starts  # not at the top: occlusion imports this package

    rows, cols = window_starts(height, patch, stride), window_starts(width, patch, stride)
    full, upto = work_by_node(run, rows, cols, patch)
    return full, max(upto.values(), default=0)


def work_by_node(
    run: Incremental, rows: list[int], cols: list[int], patch: int
) -> tuple[int, dict[fx.Node, int]]:
    """(full, upto) for the ``patch`` windows at the offsets ``rows`` x ``cols``: as
    :func:`conv_work`'s ``full``, and for every node the changed multiply-adds of those
    windows up to and including it (graph order)."""
    r = torch.tensor([a for a in rows for _ in cols])
    c = torch.tensor([b for _ in rows for b in cols])
    spans: dict[fx.Node, tuple[torch.Tensor, ...]] = {}
    upto: dict[fx.Node, int] = {}
    full = changed = 0
    for node in run.plan.graph.nodes:
        rule = run.plan.rule[node]
        shape = getattr(run.clean[node], "shape", None)
        if rule == "patch":
            spans[node] = (r, r + patch - 1, c, c + patch - 1)
        elif rule == "point":
            spans[node] = spans[node.args[0]]
        elif rule == "pair":
            a, b = (spans[n] for n in node.args if isinstance(n, fx.Node))
            lo = [torch.minimum(a[i], b[i]) for i in (0, 2)]
            hi = [torch.maximum(a[i], b[i]) for i in (1, 3)]
            spans[node] = (lo[0], hi[0], lo[1], hi[1])
        elif rule == "window":
            module = run.plan.window(node)
            k, s, d, p = _geometry(module)
            a = spans[node.args[0]]
            out = []
            for axis in (0, 1):
                reach, m = d[axis] * (k[axis] - 1), shape[2 + axis]
                lo = torch.div(
                    a[2 * axis] + p[axis] - reach + s[axis] - 1, s[axis], rounding_mode="floor"
                )
                hi = torch.div(a[2 * axis + 1] + p[axis], s[axis], rounding_mode="floor")
                out += [lo.clamp(0, m - 1), hi.clamp(-1, m - 1)]
            spans[node] = tuple(out)
            if isinstance(module, nn.Conv2d):
                area = (out[1] - out[0] + 1).clamp(min=0) * (out[3] - out[2] + 1).clamp(min=0)
                changed += int(conv_macs(module, area).sum())
                full += int(conv_macs(module, shape[2] * shape[3])) * len(r)
        elif rule == "dense" and node.op == "call_module":
            module = run.plan.modules[str(node.target)]
            if isinstance(module, nn.Conv2d):
                places = shape[2] * shape[3] * len(r)
                full += int(conv_macs(module, places))
                changed += int(conv_macs(module, places))
        upto[node] = changed
    return full, upto
