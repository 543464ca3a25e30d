"""Per-channel mean and standard deviation over a stream of batches, in one pass.

Each batch contributes its count, mean and sum of squared deviations from its own mean
(computed on the batch's device, in slices); batches are merged with the pairwise update of
Chan, Golub & LeVeque (1979) in float64, so the result does not depend on the batch size and
does not suffer the cancellation of a running sum of squares. Population statistics (no
degrees-of-freedom correction).

Example::

    m = Moments(channels=3, dim=1)
    for x in batches:            # (N, 3, H, W)
        m.add(x)
    m.mean, m.std                # float64 (3,), over samples and pixels
"""

from __future__ import annotations

import torch

__all__ = ["Moments"]

_SLICE = 1 << 21  # values per slice of the centred pass (8 MB of float32)


class Moments:
    """Running per-channel statistics of tensors whose channels lie along ``dim``."""

    def __init__(self, channels: int, dim: int, what: str = "") -> None:
        self.channels, self.dim, self.what = channels, dim, what
        self.count = 0
        self._mean: torch.Tensor | None = None
        self._m2: torch.Tensor | None = None

    def add(self, x: torch.Tensor) -> None:
        """Add every value of ``x`` (channel ``c`` = ``x.select(dim, c)``)."""
        x = x.detach()
        if x.dim() == 0 or x.shape[self.dim] != self.channels:
            got = "a scalar" if x.dim() == 0 else f"{x.shape[self.dim]} channels"
            raise ValueError(
                f"{self.what or 'moments'}: expected {self.channels} channels along dim "
                f"{self.dim}, got {got} (shape {tuple(x.shape)})"
            )
        if x.numel() == 0:
            return
        if not x.is_floating_point():
            x = x.float()
        dim = self.dim % x.dim()
        dims = [d for d in range(x.dim()) if d != dim]
        n = x.numel() // self.channels
        acc = torch.float32 if x.device.type == "mps" else torch.float64
        mean = x.mean(dims, keepdim=True)
        m2 = torch.zeros(self.channels, dtype=acc, device=x.device)
        # centred squares in slices of about _SLICE values, in one reused buffer: a fresh
        # full-size temporary costs more than the reduction itself (page faults)
        step = max(1, _SLICE * x.shape[0] // max(x.numel(), 1)) if dim != 0 else x.shape[0]
        buffer = torch.empty_like(x[:step])
        for start in range(0, x.shape[0], step):
            part = x[start : start + step]
            centred = buffer[: part.shape[0]]
            torch.sub(part, mean if dim != 0 else mean[start : start + step], out=centred)
            centred.square_()
            m2 += centred.sum(dims).to(acc)
        mean = mean.flatten().to(acc)
        if self._mean is None or self._m2 is None:
            self.count, self._mean, self._m2 = n, mean, m2
            return
        total = self.count + n
        delta = mean - self._mean
        self._mean = self._mean + delta * (n / total)
        self._m2 = self._m2 + m2 + delta.square() * (self.count * n / total)
        self.count = total

    @property
    def mean(self) -> torch.Tensor:
        """float64 (channels,) on the CPU."""
        if self._mean is None:
            raise ValueError(f"{self.what or 'moments'}: no values were added")
        return self._mean.double().cpu()

    @property
    def std(self) -> torch.Tensor:
        """Population standard deviation, float64 (channels,) on the CPU."""
        if self._m2 is None:
            raise ValueError(f"{self.what or 'moments'}: no values were added")
        return (self._m2.double().cpu() / self.count).clamp(min=0).sqrt()
