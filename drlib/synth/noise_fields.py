"""Random fields for fundus texture and sensor noise, drawn fresh for every photograph.

Texture is white noise on a coarse grid, upsampled with cubic interpolation: a smooth field whose
correlation length is the grid spacing, cheap at any image size (a 512 px photograph with a 4 px
correlation length draws 128 x 128 numbers). Sensor noise is one random byte per pixel mapped to
zero mean and unit variance (uniform, not Gaussian: at 1-3 grey levels the shape does not show).
"""

from __future__ import annotations

import cv2
import numpy as np

_UNIFORM_STD = float(np.sqrt((256**2 - 1) / 12.0))  # standard deviation of a uniform byte


def smooth_noise(rng: np.random.Generator, size: int, correlation_px: float) -> np.ndarray:
    """A (size, size) float32 field with zero mean, unit variance and correlation length about
    ``correlation_px`` pixels, new for every call."""
    n = max(4, int(np.ceil(size / max(correlation_px, 1.0))) + 1)
    coarse = rng.standard_normal((n, n), dtype=np.float32)
    field = cv2.resize(coarse, (size, size), interpolation=cv2.INTER_CUBIC)
    mean, std = cv2.meanStdDev(field)
    field -= np.float32(mean[0, 0])
    field *= np.float32(1.0 / max(float(std[0, 0]), 1e-6))
    return field


def pixel_noise(rng: np.random.Generator, size: int) -> np.ndarray:
    """Independent per-pixel noise, (size, size) float32, zero mean, unit variance."""
    raw = rng.integers(0, 256, size=(size, size), dtype=np.uint8).astype(np.float32)
    raw -= np.float32(127.5)
    raw *= np.float32(1.0 / _UNIFORM_STD)
    return raw


def scaled_pixel_noise(rng: np.random.Generator, size: int, sigma: float) -> np.ndarray:
    """``np.float32(sigma) * pixel_noise(rng, size)``, bit for bit (the same draws and the same
    float32 steps), through a 256-entry table: each pixel's value depends on its byte only."""
    raw = rng.integers(0, 256, size=(size, size), dtype=np.uint8)
    table = np.arange(256, dtype=np.uint8).astype(np.float32)
    table -= np.float32(127.5)
    table *= np.float32(1.0 / _UNIFORM_STD)
    table = np.float32(sigma) * table
    return cv2.LUT(raw, table.reshape(1, 256))  # table[raw], float32
