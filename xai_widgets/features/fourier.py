"""A decorrelated Fourier parametrisation of images for feature visualization.

Olah et al. 2017 ("Feature Visualization", Distill, section "Preconditioning and
Parameterization") optimize an image's Fourier coefficients instead of its pixels, scaled so
that every frequency starts with about the same energy as in natural images (whose spectrum
falls off as 1/f), and decorrelate its colours with the square root of the colour covariance
of ImageNet. Gradient steps then change low frequencies as easily as high ones, and the
high-frequency patterns that gradient ascent on raw pixels produces do not build up. As in
Lucid's ``fft_image`` and ``to_valid_rgb``::

    s_c(f)  = z_c(f) / max(|f|, 1 / max(H, W))^decay          z ~ sd * N(0, 1), complex
    y_c     = irfft2(s_c) / 4                                  (orthonormal inverse FFT)
    y       = sum_k M[c, k] y_k / max_k ||M[:, k]||            (3 channels only; M = C^(1/2))
    picture = sigmoid(y) in (0, 1)

|f| is the frequency in cycles per pixel; the picture is periodic, so jitter by rolling it
shows no seam. For one channel (grey) or any count other than 3 there is nothing to
decorrelate and M is the identity.

Example::

    >>> image = FourierImage((1, 3, 64, 64), generator=torch.Generator().manual_seed(0))
    >>> pixels = image()                 # (1, 3, 64, 64) in (0, 1); image.params are learnt
"""

from __future__ import annotations

import torch

__all__ = ["COLOR_CORRELATION_SQRT", "FourierImage", "frequencies"]

# Square root of ImageNet's RGB colour covariance (Lucid, ``color_correlation_svd_sqrt``).
COLOR_CORRELATION_SQRT = (
    (0.26, 0.09, 0.02),
    (0.27, 0.00, -0.05),
    (0.27, -0.09, 0.03),
)


def frequencies(height: int, width: int) -> torch.Tensor:
    """|f| in cycles per pixel on the half-spectrum grid of ``torch.fft.rfft2``: (H, W//2+1)."""
    fy = torch.fft.fftfreq(height)[:, None]
    fx = torch.fft.rfftfreq(width)[None, :]
    return torch.sqrt(fx * fx + fy * fy)


class FourierImage:
    """Learnable Fourier coefficients ``params`` (N, C, H, W//2+1, 2) and the map to pixels.

    ``decay``: the power of the 1/|f| scaling (1, as in Lucid); ``sd``: the standard deviation
    of the initial coefficients (0.01: a nearly flat grey start); ``decorrelate``: apply the
    colour decorrelation when there are 3 channels. Calling the object gives the picture in
    (0, 1) with gradients to ``params``.
    """

    def __init__(
        self,
        shape: tuple[int, int, int, int],
        *,
        generator: torch.Generator,
        decay: float = 1.0,
        sd: float = 0.01,
        decorrelate: bool = True,
        device: torch.device | None = None,
        dtype: torch.dtype = torch.float32,
    ) -> None:
        n, channels, height, width = shape
        self.size = (height, width)
        freqs = frequencies(height, width).to(device=device, dtype=dtype)
        floor = 1.0 / max(height, width)
        self.scale = (1.0 / freqs.clamp(min=floor) ** decay)[None, None, :, :, None]
        coeffs = (n, channels, *freqs.shape, 2)
        self.params = (
            torch.randn(coeffs, generator=generator, device=device, dtype=dtype) * sd
        ).requires_grad_(True)
        self.color: torch.Tensor | None = None
        if decorrelate and channels == 3:
            m = torch.tensor(COLOR_CORRELATION_SQRT, device=device, dtype=dtype)
            self.color = m / m.norm(dim=0).max()

    def linear(self) -> torch.Tensor:
        """The picture before the sigmoid: irfft2 of the scaled spectrum, colours mixed."""
        spectrum = torch.view_as_complex((self.scale * self.params).contiguous())
        y = torch.fft.irfft2(spectrum, s=self.size, norm="ortho") / 4.0
        if self.color is not None:
            y = torch.einsum("ck,nkhw->nchw", self.color, y)
        return y

    def __call__(self) -> torch.Tensor:
        return torch.sigmoid(self.linear())

    def parameters(self) -> list[torch.Tensor]:
        return [self.params]
