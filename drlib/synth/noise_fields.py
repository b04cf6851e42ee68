"""Fixed random fields for textures and sensor noise, made once per size and reused.

A periodic field (Gaussian-filtered white noise made in the Fourier domain, so it wraps around
without seams) is cached; each photograph takes a random window of it, which is a view and costs
nothing. This is what keeps the generator fast: no per-image full-size random numbers.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=16)
def periodic_field(size: int, sigma: float, seed: int) -> np.ndarray:
    """A (size, size) float32 field, unit variance, correlation length ``sigma`` px, periodic."""
    rng = np.random.default_rng(seed)
    white = rng.normal(size=(size, size))
    if sigma > 0:
        f = np.fft.fftfreq(size)
        k2 = f[:, None] ** 2 + f[None, :] ** 2
        field = np.fft.ifft2(np.fft.fft2(white) * np.exp(-2 * (np.pi * sigma) ** 2 * k2)).real
    else:
        field = white
    field = ((field - field.mean()) / (field.std() + 1e-12)).astype(np.float32)
    field.setflags(write=False)
    return field


def random_window(field: np.ndarray, rng: np.random.Generator, size: int) -> np.ndarray:
    """A random ``size`` x ``size`` window of ``field``, randomly flipped (a read-only view)."""
    n = field.shape[0]
    y, x = rng.integers(0, n - size + 1, size=2)
    win = field[y:y + size, x:x + size]
    if rng.random() < 0.5:
        win = win[::-1]
    if rng.random() < 0.5:
        win = win[:, ::-1]
    return win
