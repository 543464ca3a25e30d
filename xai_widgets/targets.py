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

import numbers
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from .outputs import OutputSpec, check_output_spec, select_logits

__all__ = ["Target", "TargetSpec"]

TargetSpec = int | Sequence[int] | Callable[[torch.Tensor], torch.Tensor] | None


def _is_bool(value: object) -> bool:
    return isinstance(value, bool) or type(value).__name__ in ("bool_", "bool")


def _is_int(value: object) -> bool:
    """An integral scalar: int, numpy integer, 0-d integer tensor or 0-d integer array."""
    if _is_bool(value):
        return False
    if isinstance(value, numbers.Integral):
        return True
    if isinstance(value, torch.Tensor):
        return (
            value.dim() == 0
            and not value.is_floating_point()
            and not value.is_complex()
            and (value.dtype != torch.bool)
        )
    return _array_kind(value) in ("i", "u") and getattr(value, "ndim", -1) == 0


def _array_kind(value: object) -> str:
    """The numpy dtype kind of an array-like (``"i"``, ``"u"``, ``"f"``...), "" otherwise;
    numpy is never imported here."""
    dtype = getattr(value, "dtype", None)
    return getattr(dtype, "kind", "") if hasattr(value, "tolist") else ""


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
    output: OutputSpec = field(default=None, repr=False)

    @classmethod
    def from_spec(cls, spec: TargetSpec, n: int, output: OutputSpec = None) -> Target:
        """Check the form of ``spec`` for a batch of ``n`` samples (ranges are checked at bind).

        ``spec``: None, an integral scalar (int, numpy integer, 0-d integer tensor/array), a
        1-D sequence/array/tensor of them (one per sample) or a callable. ``output`` says where
        the logits are in what the model returns (:func:`~xai_widgets.outputs.select_logits`).
        """
        output = check_output_spec(output)
        if spec is None:
            return cls(n, output=output)
        if callable(spec) and not isinstance(spec, torch.Tensor):
            return cls(n, fn=spec, output=output)
        if _is_int(spec):
            return cls(n, indices=[int(spec)] * n, output=output)  # type: ignore[call-overload]
        if isinstance(spec, torch.Tensor) or _array_kind(spec):
            kind = _array_kind(spec)
            bad = (
                spec.is_floating_point() or spec.is_complex() or spec.dtype == torch.bool
                if isinstance(spec, torch.Tensor)
                else kind not in ("i", "u")
            )
            if spec.ndim != 1 or bad:  # type: ignore[union-attr]
                raise TypeError(
                    "target as a tensor or array must be 1-D with integer class indices, got "
                    f"shape {tuple(spec.shape)} dtype {spec.dtype}"  # type: ignore[union-attr]
                )
            spec = spec.tolist()  # type: ignore[union-attr]
        if isinstance(spec, (str, bytes)) or not isinstance(spec, Sequence):
            raise TypeError(
                "target must be None (predicted class), an integer, a sequence/array of "
                "integers (one per sample) or a callable output -> (N,) scores, not "
                f"{type(spec).__name__}"
            )
        if not all(_is_int(t) for t in spec):
            bad_item = next(t for t in spec if not _is_int(t))
            raise TypeError(
                "target sequence must hold integers (class indices), one per sample; got "
                f"{type(bad_item).__name__} {bad_item!r}"
            )
        if len(spec) != n:
            raise ValueError(
                f"target has {len(spec)} class indices for a batch of {n} samples; "
                "give one per sample, or a single int for all"
            )
        return cls(n, indices=[int(t) for t in spec], output=output)

    @property
    def bound(self) -> bool:
        return self.clean_scores is not None

    def logits(self, output: object) -> torch.Tensor:
        """The class scores in what the model returned (``output=`` applied)."""
        return select_logits(output, self.output)

    def bind(self, output: object) -> torch.Tensor:
        """Fix the explained classes on the clean output (the model's return value, logits
        (N, K) after ``output=``); returns the (N,) scores."""
        logits = self.logits(output)
        dense_ok = self.fn is not None and logits.dim() > 2  # a callable reads any (N, ...)
        if (logits.dim() != 2 and not dense_ok) or logits.shape[0] != self.n:
            how = "the model returned" if logits is output else "output= picked"
            raise ValueError(
                f"{how} shape {tuple(logits.shape)}; a classifier output "
                f"(N={self.n}, classes) is needed (for a model returning a tuple, dict or "
                "object, say where the logits are with output=)"
            )
        output = logits
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
        scores = self.score_logits(output)
        self.clean_scores = scores.detach()
        return scores

    def score(self, output: object, rows: torch.Tensor | None = None) -> torch.Tensor:
        """The explained score of each row of ``output`` (the model's return value, logits
        after ``output=``); ``rows[i]`` says which sample row i is a (perturbed) copy of
        (default: row i is sample i)."""
        return self.score_logits(self.logits(output), rows)

    def score_logits(self, output: torch.Tensor, rows: torch.Tensor | None = None) -> torch.Tensor:
        """Like :meth:`score`, on the class scores already picked from the model's return."""
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
