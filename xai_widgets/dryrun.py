"""What one dry forward of one sample tells about a model's layers: every output shape, the
layout of each 4-D output (:mod:`xai_widgets.layouts`), the order modules complete in, which
leaves mix channels, how many classes the output has, which modules pass their input on, and
which 3-D outputs are vision-transformer tokens on a patch grid (:mod:`xai_widgets.tokens`),
which outputs do not depend on the input at all (no gradient path from it, in a second forward:
the held inputs of a multi-input model, constants) and which the scores do not use.
:mod:`xai_widgets.layers` memoizes it per model and input and builds ``spatial_layers`` and
``default_layer`` on it.

Example::

    run = dry_run(model, x[:1])
    run.spatial            # [(name, (N, C, h, w))], channels-last outputs permuted
    run.head_start()       # where the class-score maps begin (SqueezeNet), or None
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from .dense import OneInput
from .hooks import borrowed, watch_calls
from .layouts import Axes, LayoutTracker, nchw_shape
from .outputs import select_logits
from .tokens import TokenGrid, find_grid

__all__ = ["DryRun", "dry_run", "is_spatial"]


def is_spatial(shape: tuple[int, ...]) -> bool:
    """A spatial output is (N, C, h, w) with more than one position."""
    return len(shape) == 4 and shape[2] * shape[3] > 1


@dataclass(frozen=True)
class DryRun:
    """What one dry forward of one sample tells about the model's layers.

    ``shapes``: [(name, shape)] of every tensor output as returned, in completion order (a
    module run twice keeps its last); ``axes``: {name: layout of a 4-D output or None};
    ``order``: every completed named module, in order; ``mixing``: leaf modules with a weight
    of two or more dimensions (convolution, linear); ``classes``: the number of logits (None
    when the output has no recognisable logits tensor); ``passthrough``: modules that returned
    their input itself (``Identity``, ``Dropout`` in eval); ``static``: modules whose float
    output has no gradient path from the input (they do not see it); ``unused``:
    modules whose output the logits do not depend on (an auxiliary head); ``classes``
    of a dense model (per-pixel scores (N, K, H, W)) is K.
    """

    shapes: list[tuple[str, tuple[int, ...]]]
    axes: dict[str, Axes | None]
    order: list[str]
    mixing: frozenset[str]
    classes: int | None
    passthrough: frozenset[str] = frozenset()
    tokens: dict[str, TokenGrid] | None = None
    attention: tuple[str, ...] = ()
    static: frozenset[str] = frozenset()
    unused: frozenset[str] = frozenset()

    @property
    def spatial(self) -> list[tuple[str, tuple[int, ...]]]:
        """[(name, (N, C, h, w) shape)] of the spatial outputs; a token output (N, p + h*w,
        D) is listed as its patch grid (N, D, h, w)."""
        tokens = self.tokens or {}
        found = [
            (n, tokens[n].shape(shape) if n in tokens else nchw_shape(shape, self.axes.get(n)))
            for n, shape in self.shapes
        ]
        return [(n, shape) for n, shape in found if is_spatial(shape)]

    def mixes_tokens_after(self, name: str) -> bool:
        """Whether an attention module (``nn.MultiheadAttention``) completes after layer
        ``name``: only then can its patch tokens reach a class-token head."""
        if not self.attention:
            return True
        return self.order.index(name) < max(self.order.index(a) for a in self.attention)

    def head_start(self) -> int | None:
        """Position in ``order`` of the first class-score map (see :func:`default_layer`)."""
        if self.classes is None:
            return None
        used = [n in self.mixing and n not in self.unused for n in self.order]
        last_mixing = max((i for i, u in enumerate(used) if u), default=-1)
        for name, shape in self.spatial:
            at = self.order.index(name)
            if shape[1] == self.classes and at >= last_mixing and name not in self.unused:
                return at
        return None


def dry_run(model: nn.Module, sample: torch.Tensor) -> DryRun:
    """Run ``sample`` (already on the model's device and in its dtype) through the borrowed
    model once, without gradients, and record what :class:`DryRun` holds."""
    tracker = LayoutTracker(sample)
    order: list[str] = []
    shapes: dict[str, tuple[int, ...]] = {}
    result: list[object] = []
    passthrough: set[str] = set()
    sizes: list[tuple[int, int]] = []
    tokens: dict[str, TokenGrid] = {}

    def seen(name: str, module: nn.Module, inputs: tuple, versions: tuple, output: object) -> None:
        tracker.observe(name, module, inputs, versions, output)
        if not name:
            result.append(output)
            return
        order.append(name)
        if any(output is t and t._version == v for t, v in zip(inputs, versions, strict=True)):
            passthrough.add(name)  # its input itself, unchanged (not an in-place op)
        if isinstance(output, torch.Tensor):
            shapes.pop(name, None)
            shapes[name] = tuple(output.shape)
            tokens.pop(name, None)
            if output.dim() == 4:
                shape = nchw_shape(tuple(output.shape), tracker.axes.get(name))
                if shape[2] * shape[3] > 1:
                    sizes.append((shape[2], shape[3]))
            grid = find_grid(tuple(output.shape), sizes)
            if grid is not None:
                tokens[name] = grid

    with borrowed(model):
        with torch.no_grad(), watch_calls(model, seen):
            model(sample)
        # a held input (OneInput) or a tuple / dict / object return (an auxiliary head) is
        # where layers may not see the input or not reach the scores; other models skip this
        looked = isinstance(model, OneInput) or not (result and isinstance(result[0], torch.Tensor))
        static, unused = ((), ())
        if looked and not sample.is_meta:
            static, unused = _second_pass(model, sample)
    mixing = frozenset(
        name
        for name, m in model.named_modules()
        if next(m.children(), None) is None
        and any(p.dim() >= 2 for p in m.parameters(recurse=False))
    )
    classes = None
    try:
        logits = select_logits(result[0]) if result else None
        if logits is not None and logits.dim() in (2, 4):
            classes = int(logits.shape[1])
    except ValueError:
        pass
    return DryRun(
        list(shapes.items()),
        dict(tracker.axes),
        order,
        mixing,
        classes,
        frozenset(passthrough),
        tokens,
        tuple(n for n in order if isinstance(model.get_submodule(n), nn.MultiheadAttention)),
        frozenset(static),
        frozenset(unused),
    )


def _second_pass(model: nn.Module, sample: torch.Tensor) -> tuple[frozenset[str], frozenset[str]]:
    """Forward another input with gradients from the input only (the borrowed parameters need
    none): ``static``, the layers whose float output does not depend on the input (no
    gradient path from it: a held input of a multi-input model, a constant); ``unused``, for a
    model returning a tuple, dict or object, the layers the logits do not depend on (an
    auxiliary head; found by one backward pass). A model that cannot run this way gives
    neither."""
    static: set[str] = set()
    kept: dict[str, torch.Tensor] = {}

    def record(name: str, _m: nn.Module, _i: tuple, _v: tuple, output: object) -> None:
        if name and isinstance(output, torch.Tensor) and output.is_floating_point():
            if output.requires_grad:
                kept[name] = output
                static.discard(name)
            else:
                static.add(name)

    try:
        other = _other(sample).requires_grad_(True)
        with torch.enable_grad(), watch_calls(model, record):
            returned = model(other.clone())  # not a leaf: a model may change its input in place
        unused: frozenset[str] = frozenset()
        logits = None if isinstance(returned, torch.Tensor) else select_logits(returned)
        if logits is not None and logits.requires_grad and kept:
            names = list(kept)
            grads = torch.autograd.grad(
                logits.float().sum(), [kept[n] for n in names], allow_unused=True
            )
            unused = frozenset(n for n, g in zip(names, grads, strict=True) if g is None)
    except (RuntimeError, ValueError):
        return frozenset(), frozenset()
    return frozenset(static), unused


def _other(sample: torch.Tensor) -> torch.Tensor:
    """A different input of the same shape and scale (fixed noise added)."""
    generator = torch.Generator().manual_seed(0)
    noise = torch.randn(sample.shape, generator=generator).to(sample.device, sample.dtype)
    return sample + noise * (sample.float().std().item() + 1e-2)
