"""What score is explained: a class logit per sample, or any row-wise function of the output.

A :class:`Target` is made from the user's ``target=`` argument before any work and bound once,
on the model's output for the clean (unperturbed) input: ``None`` becomes the predicted class of
each sample then, so perturbation methods keep explaining that class even when a perturbed copy
would be classified otherwise.

Example::

    t = Target.from_spec(None, n=2)
    logits = model(x)              # (2, K)
    t.bind(logits)                 # t.indices == logits.argmax(1).tolist()
    t.score(model(x_perturbed), rows=torch.tensor([0, 0, 1]))   # (3,) logits of those classes
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

__all__ = ["Target", "TargetSpec"]

TargetSpec = int | Sequence[int] | Callable[[torch.Tensor], torch.Tensor] | None


def _is_int(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, torch.Tensor) and value.dim() == 0 and not value.is_floating_point()


@dataclass
class Target:
    """A validated target: class indices (one per sample) or a row-wise callable.

    ``indices`` is None until :meth:`bind` for ``target=None``; for a callable it stays None.
    ``clean_scores`` holds the explained scores of the clean input once bound.
    """

    n: int
    indices: list[int] | None = None
    fn: Callable[[torch.Tensor], torch.Tensor] | None = None
    clean_scores: torch.Tensor | None = field(default=None, repr=False)

    @classmethod
    def from_spec(cls, spec: TargetSpec, n: int) -> Target:
        """Check the form of ``spec`` for a batch of ``n`` samples (ranges are checked at bind)."""
        if spec is None:
            return cls(n)
        if callable(spec) and not isinstance(spec, torch.Tensor):
            return cls(n, fn=spec)
        if _is_int(spec):
            return cls(n, indices=[int(spec)] * n)
        if isinstance(spec, torch.Tensor):
            if spec.dim() != 1 or spec.is_floating_point():
                raise TypeError(
                    "target as a tensor must be 1-D with integer class indices, got "
                    f"shape {tuple(spec.shape)} dtype {spec.dtype}"
                )
            spec = spec.tolist()
        if isinstance(spec, (str, bytes)) or not isinstance(spec, Sequence):
            raise TypeError(
                "target must be None (predicted class), an int, a sequence of ints (one per "
                f"sample) or a callable output -> (N,) scores, not {type(spec).__name__}"
            )
        if not all(_is_int(t) for t in spec):
            raise TypeError("target sequence must hold ints (class indices), one per sample")
        if len(spec) != n:
            raise ValueError(
                f"target has {len(spec)} class indices for a batch of {n} samples; "
                "give one per sample, or a single int for all"
            )
        return cls(n, indices=[int(t) for t in spec])

    @property
    def bound(self) -> bool:
        return self.clean_scores is not None

    def bind(self, output: torch.Tensor) -> torch.Tensor:
        """Fix the explained classes on the clean output (N, K); returns the (N,) scores."""
        if output.dim() != 2 or output.shape[0] != self.n:
            raise ValueError(
                f"the model returned shape {tuple(output.shape)}; a classifier output "
                f"(N={self.n}, classes) is needed"
            )
        if self.fn is None:
            classes = output.shape[1]
            if self.indices is None:
                self.indices = output.detach().argmax(1).tolist()
            bad = [t for t in self.indices if not 0 <= t < classes]
            if bad:
                raise ValueError(
                    f"target class {bad[0]} is out of range for a model with {classes} "
                    f"outputs; accepted: 0..{classes - 1}"
                )
        scores = self.score(output)
        self.clean_scores = scores.detach()
        return scores

    def score(self, output: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        """The explained score of each row of ``output``; ``rows[i]`` says which sample row i
        is a (perturbed) copy of (default: row i is sample i)."""
        if self.fn is not None:
            scores = self.fn(output)
            if not isinstance(scores, torch.Tensor) or scores.shape != (output.shape[0],):
                got = tuple(scores.shape) if isinstance(scores, torch.Tensor) else type(scores)
                raise ValueError(
                    f"the target callable must map the output {tuple(output.shape)} to a "
                    f"({output.shape[0]},) tensor of scores, got {got}"
                )
            return scores
        if self.indices is None:
            raise RuntimeError("Target.score called before bind()")
        index = torch.as_tensor(self.indices, device=output.device)
        if rows is not None:
            index = index[rows.to(output.device)]
        return output.gather(1, index[:, None])[:, 0]

    def spec(self) -> list[int] | None:
        """The explained classes as a list (None for a callable target)."""
        return None if self.fn is not None else list(self.indices or [])
