"""Model parameter randomisation (Adebayo et al. 2018, "Sanity checks for saliency maps").

A faithful explanation depends on the weights: re-initialise the layers and the map must
change. :func:`randomization` works on a deep copy of the model (the user's model is never
touched): with ``cascade`` the layers are re-initialised from the top (the output layer)
down, cumulatively; otherwise one at a time, the others kept. At each step it records the
map of the same method for the originally explained classes and its similarity to the
original map: Spearman rank correlation of the absolute and of the signed maps, and SSIM of
the absolute maps scaled to [0, 1] (see :mod:`.similarity`).

A layer is a module with parameters of its own (a convolution, a linear layer, a BatchNorm),
in the order the forward pass calls them. Re-initialisation calls the layer's own
``reset_parameters()`` (PyTorch's default initialiser; BatchNorm's running statistics reset
too) under a seed fixed per layer name, so the same layer gets the same new weights in the
cascading and the independent runs, and in :func:`randomized` for the widget's slider.

Example::

    r = randomization(model, x, "guided_backprop")
    r.layers                    # ['classifier.3', 'classifier.1', 'features.9', ...]
    r.spearman_abs.mean(1)      # (steps,) mean over images; near 1: the map did not change
    r.maps[3]                   # (N, H, W): the map with the top three layers randomised
"""

from __future__ import annotations

import copy
import zlib
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from ..api import explain
from ..checks import check_input, check_model
from ..hooks import borrowed, record_calls
from ..params import check_params
from ..targets import TargetSpec
from .curve import Progress
from .settings import RandomizationSettings
from .similarity import spearman, ssim, unit_scale

__all__ = ["Randomization", "randomization", "randomization_layers", "randomized"]


@dataclass(frozen=True)
class Randomization:
    """Maps and similarities along a randomisation run.

    Attributes:
        method, params: the explained method and its parameters.
        layers: the layers, top first; step k (1-based) randomised ``layers[:k]`` (cascade)
            or only ``layers[k - 1]``.
        cascade: which of the two.
        maps: (steps + 1, N, H, W) heatmaps, ``maps[0]`` the original model's.
        spearman_abs, spearman_signed, ssim: (steps, N) similarity to the original map.
    """

    method: str
    params: dict
    layers: list[str]
    cascade: bool
    maps: torch.Tensor
    spearman_abs: torch.Tensor
    spearman_signed: torch.Tensor
    ssim: torch.Tensor
    target: list[int] | None = field(default=None)

    def summary(self) -> dict[str, list[float]]:
        """Mean over the images of each similarity, per step."""
        return {
            "spearman_abs": self.spearman_abs.mean(1).tolist(),
            "spearman_signed": self.spearman_signed.mean(1).tolist(),
            "ssim": self.ssim.mean(1).tolist(),
        }


def randomization_layers(model: nn.Module, x: torch.Tensor) -> list[str]:
    """Dotted names of the modules with parameters of their own, top (last called) first."""
    model = check_model(model)
    x = check_input(model, x)
    with borrowed(model), torch.no_grad(), record_calls(model) as calls:
        model(x[:1])
    names: list[str] = []
    for call in calls:
        if call.name not in names and any(True for _ in call.module.parameters(recurse=False)):
            names.append(call.name)
    calls.clear()
    return names[::-1]


def _reinitialise(module: nn.Module, name: str, seed: int) -> None:
    layer_seed = (seed * 1_000_003 + zlib.crc32(name.encode())) % 2**63
    devices = sorted({p.device.index or 0 for p in module.parameters() if p.is_cuda})
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        torch.manual_seed(layer_seed)
        reset = getattr(module, "reset_parameters", None)
        if callable(reset):
            reset()
            return
        for p in module.parameters(recurse=False):  # no initialiser of its own
            bound = 1.0 / max(1, p[0].numel() if p.dim() > 1 else p.numel()) ** 0.5
            p.uniform_(-bound, bound)


def randomized(model: nn.Module, layers: list[str], seed: int = 0) -> nn.Module:
    """A deep copy of ``model`` with ``layers`` (dotted names) re-initialised; ``model`` is
    not touched. For the slider "randomise the top k layers":
    ``randomized(model, randomization_layers(model, x)[:k])``."""
    model = check_model(model)
    modules = dict(model.named_modules())
    unknown = [name for name in layers if name not in modules]
    if unknown:
        raise ValueError(
            f"randomized: parameter 'layers' names {unknown[0]!r}, not a module of the model; "
            "accepted: names from randomization_layers(model, x)"
        )
    check_params(RandomizationSettings, {"seed": seed}, "randomized")
    clone = copy.deepcopy(model)
    named = dict(clone.named_modules())
    for name in layers:
        _reinitialise(named[name], name, seed)
    return clone


def randomization(
    model: nn.Module,
    x: torch.Tensor,
    method: str,
    *,
    target: TargetSpec = None,
    cascade: bool = True,
    seed: int = 0,
    progress: Progress | None = None,
    **params: Any,
) -> Randomization:
    """Adebayo et al.'s model parameter randomisation test of ``method`` on ``x`` (see the
    module docstring). ``params`` go to the method; ``progress`` gets the fraction of steps
    done and may raise to cancel."""
    check_params(RandomizationSettings, {"cascade": cascade, "seed": seed}, "randomization")
    model = check_model(model)
    x = check_input(model, x)
    original = explain(model, x, method, target=target, **params)  # checks method and params
    fixed = original.target if original.target is not None else target
    layers = randomization_layers(model, x)
    if not layers:
        raise ValueError("randomization: the model has no layers with parameters to randomise")
    maps = [original.heatmap.detach()]
    clone = copy.deepcopy(model) if cascade else None
    for k, name in enumerate(layers):
        if cascade:
            assert clone is not None
            _reinitialise(dict(clone.named_modules())[name], name, seed)
            current = clone
        else:
            current = randomized(model, [name], seed)
        maps.append(explain(current, x, method, target=fixed, **params).heatmap.detach())
        if progress is not None:
            progress((k + 1) / len(layers))
    stack = torch.stack(maps).cpu()
    first = stack[0]
    rho_abs = torch.stack([spearman(first.abs(), m.abs()) for m in stack[1:]])
    rho_signed = torch.stack([spearman(first, m) for m in stack[1:]])
    ref = unit_scale(first.abs())
    sims = torch.stack([ssim(ref, unit_scale(m.abs())) for m in stack[1:]])
    return Randomization(
        method=method,
        params=original.params,
        layers=layers,
        cascade=cascade,
        maps=stack,
        spearman_abs=rho_abs,
        spearman_signed=rho_signed,
        ssim=sims,
        target=original.target,
    )
