"""Synthetic sea-ice scenes for SAR + microwave-radiometer fusion (the setting of
Malmgren-Hansen, Nielsen & Pedersen, "Explainability in CNN models by means of Z-scores", 2021,
reduced to what can be generated offline).

Each scene is built from three smooth Gaussian random fields (white noise filtered with a
Gaussian kernel in Fourier space, periodic): an ice-concentration field thresholded at a
per-scene quantile into ice / water with sharp, ragged edges (the labels), a wind field over
the water, and small-scale texture. Two sensors see it:

- ``sar``: one full-resolution backscatter channel, sigma0 in dB mapped to [0, 1] as
  ``(dB + 30) / 30``. Ice is bright and textured; calm water is dark; wind-roughened water is
  as bright and as textured as ice, so backscatter alone is ambiguous. Multiplicative speckle
  (4-look Gamma) and an incidence-angle ramp across the columns are added.
- ``mwr``: 14 brightness-temperature channels in kelvin (7 frequencies x 2 polarizations, as
  AMSR2) at 1/16 of the SAR resolution: each footprint mixes ice and water emission by its ice
  fraction (low frequencies with a wider footprint), plus wind emissivity over water,
  per-scene atmosphere at the water-vapour / 89 GHz channels and sensor noise. The ice / water
  contrast is clear (tens of kelvin) but spatially coarse.

Example::

    >>> sar, mwr, labels = sea_ice(4, size=64, seed=0)
    >>> sar.shape, mwr.shape, labels.shape
    (torch.Size([4, 1, 64, 64]), torch.Size([4, 14, 4, 4]), torch.Size([4, 64, 64]))
"""

from __future__ import annotations

import numpy as np
import torch

__all__ = ["MWR_CHANNELS", "MWR_FACTOR", "sea_ice"]

MWR_FACTOR = 16  # SAR pixels per radiometer pixel along each axis
MWR_CHANNELS = tuple(
    f"{f}{p}" for f in ("6.9", "7.3", "10.7", "18.7", "23.8", "36.5", "89.0") for p in "HV"
)
# Brightness temperature (K) of open water and of ice per channel (H, V alternate).
_T_WATER = np.array([85, 160, 86, 161, 90, 165, 105, 180, 120, 195, 125, 200, 160, 225], float)
_T_ICE = np.array([235, 248, 235, 248, 234, 247, 232, 245, 230, 243, 226, 238, 215, 228], float)
_WIND_K = np.array([6, 2, 6, 2, 7, 2, 9, 3, 9, 3, 10, 4, 12, 5], float)  # wind emissivity
_ATMOS_K = np.array([0, 0, 0, 0, 1, 1, 3, 2, 18, 14, 6, 5, 30, 24], float)  # vapour, cloud
_NOISE_K = np.array([1.5, 1.5, 1.5, 1.5, 1.0, 1.0, 1.0, 1.0, 1.2, 1.2, 1.5, 1.5, 4.0, 4.0])
_WIDE = 6  # the first six channels (6.9-10.7 GHz) have footprints wider than a pixel
_CHUNK = 256  # scenes generated at once (bounds the FFT temporaries)


def _fields(rng: np.random.Generator, n: int, size: int, sigma: float) -> np.ndarray:
    """(n, size, size) periodic Gaussian random fields, smoothing std ``sigma`` pixels,
    standardized per scene."""
    noise = rng.standard_normal((n, size, size))
    f = np.fft.fftfreq(size)
    kernel = np.exp(-2 * (np.pi * sigma) ** 2 * (f[:, None] ** 2 + f[None, :] ** 2))
    field = np.fft.ifft2(np.fft.fft2(noise) * kernel).real
    field -= field.mean((1, 2), keepdims=True)
    field /= field.std((1, 2), keepdims=True) + 1e-12
    return field


def _blur3(x: np.ndarray) -> np.ndarray:
    """A 3x3 binomial blur at the edge-replicated border, on (n, c, h, w)."""
    p = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)), mode="edge")
    rows = 0.25 * p[:, :, :-2] + 0.5 * p[:, :, 1:-1] + 0.25 * p[:, :, 2:]
    return 0.25 * rows[..., :-2] + 0.5 * rows[..., 1:-1] + 0.25 * rows[..., 2:]


def _scenes(rng: np.random.Generator, n: int, size: int) -> tuple[np.ndarray, ...]:
    coarse = size // MWR_FACTOR
    # Ice: a smooth field plus a little small-scale roughness, thresholded per scene.
    conc = _fields(rng, n, size, 10.0) + 0.3 * _fields(rng, n, size, 2.5)
    ice_fraction = rng.uniform(0.1, 0.9, n)
    flat = np.sort(conc.reshape(n, size * size), axis=1)
    rank = ((1 - ice_fraction) * (size * size - 1)).astype(int)
    ice = conc > flat[np.arange(n), rank][:, None, None]
    # Wind over water in [0, 1]: calm in some scenes, stormy in others.
    wind = 1 / (1 + np.exp(-1.5 * (_fields(rng, n, size, 20.0) + rng.normal(-0.7, 1.2, (n, 1, 1)))))
    texture = _fields(rng, n, size, 1.2)
    ice_db = -15.0 + rng.uniform(-2, 2, (n, 1, 1)) + 1.8 * texture
    water_db = -24.0 + 10.0 * wind + 1.8 * texture
    ramp = np.linspace(1.5, -1.5, size)[None, None, :]  # near to far range
    speckle = 10 * np.log10(rng.gamma(4.0, 1 / 4.0, (n, size, size)))
    db = np.where(ice, ice_db, water_db) + ramp + speckle
    sar = np.clip((db + 30.0) / 30.0, 0.0, 1.0)
    # Radiometer: footprint ice fraction and wind, mixed per channel.
    blocks = (n, coarse, MWR_FACTOR, coarse, MWR_FACTOR)
    fraction = ice.reshape(blocks).mean((2, 4))[:, None]  # (n, 1, h, w)
    wind_c = wind.reshape(blocks).mean((2, 4))[:, None]
    wide = _blur3(fraction)
    channel = np.arange(len(MWR_CHANNELS))[None, :, None, None]
    f = np.where(channel < _WIDE, wide, fraction)
    atmos = rng.uniform(0, 1, (n, 1, 1, 1))
    t_water = _T_WATER[None, :, None, None] + _WIND_K[None, :, None, None] * wind_c
    t_water = t_water + _ATMOS_K[None, :, None, None] * atmos
    tb = f * _T_ICE[None, :, None, None] + (1 - f) * t_water
    tb = tb + _NOISE_K[None, :, None, None] * rng.standard_normal(tb.shape)
    return sar[:, None], tb, ice


def sea_ice(
    n: int, size: int = 128, seed: int = 0
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``(sar, mwr, labels)`` of ``n`` synthetic sea-ice scenes, deterministic for ``seed``.

    ``sar`` (n, 1, size, size) float32 in [0, 1] (backscatter, dB mapped by (dB + 30) / 30);
    ``mwr`` (n, 14, size / 16, size / 16) float32 brightness temperatures in kelvin, channels
    :data:`MWR_CHANNELS`; ``labels`` (n, size, size) long, 1 = ice, 0 = water. ``size`` is a
    multiple of 16, at least 32. The ice fraction of a scene is uniform in 10%..90%.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"sea_ice: n must be a non-negative int, got {n!r}")
    if isinstance(size, bool) or not isinstance(size, int) or size < 32 or size % MWR_FACTOR:
        raise ValueError(f"sea_ice: size must be an int multiple of 16, >= 32; got {size!r}")
    rng = np.random.default_rng(seed)
    parts = [_scenes(rng, min(_CHUNK, n - start), size) for start in range(0, max(n, 1), _CHUNK)]
    sar, mwr, ice = (np.concatenate(p) for p in zip(*parts, strict=True))
    return (
        torch.from_numpy(sar.astype(np.float32)),
        torch.from_numpy(mwr.astype(np.float32)),
        torch.from_numpy(ice.astype(np.int64)),
    )
