"""Maps from the network's grid to pixels: upsampling and per-map normalisation.

A DenseNet121 CAM has one value per 32 x 32 input pixels: 4 x 4 at 128 px, 6 x 6 at 192 px,
7 x 7 at 224 px. ``mode="cell"`` treats each value as the centre of its cell (bilinear with
half-pixel centres, OpenCV's ``INTER_LINEAR``), which is where the receptive field's centre
lies; ``mode="corners"`` stretches the grid so its corner values land on the corner pixels
(``scipy.ndimage.zoom(order=1)``), as tf-keras-vis does.
"""

from __future__ import annotations

import cv2
import numpy as np
from scipy import ndimage

UPSAMPLING_MODES = ("cell", "corners")

EPSILON = 1e-7
"""Added to the range in :func:`normalise_maps` (Keras' ``epsilon()``, as tf-keras-vis)."""


def _hw(size: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(size, (int, np.integer)):
        return int(size), int(size)
    h, w = size
    return int(h), int(w)


def upsample_maps(maps: np.ndarray, size: int | tuple[int, int], mode: str = "cell") -> np.ndarray:
    """Bilinear upsampling of maps (N, h, w) or one map (h, w) to ``size`` (side or (H, W)).

    Returns float32 maps with the same leading shape. ``mode`` is ``"cell"`` (default, values
    at cell centres) or ``"corners"`` (tf-keras-vis' ``zoom(order=1)``).
    """
    if mode not in UPSAMPLING_MODES:
        raise ValueError(f"mode must be one of {UPSAMPLING_MODES}, got {mode!r}")
    maps = np.asarray(maps, dtype=np.float32)
    single = maps.ndim == 2
    stack = maps[None] if single else maps
    if stack.ndim != 3:
        raise ValueError(f"maps must have shape (N, h, w) or (h, w); got {maps.shape}")
    height, width = _hw(size)
    if mode == "corners":
        factors = (1.0, height / stack.shape[1], width / stack.shape[2])
        out = ndimage.zoom(stack, factors, order=1).astype(np.float32)
    else:
        out = np.stack([cv2.resize(m, (width, height), interpolation=cv2.INTER_LINEAR)
                        for m in stack]).astype(np.float32)
    return out[0] if single else out


def normalise_maps(maps: np.ndarray) -> np.ndarray:
    """Scale every map (N, ...) to [0, 1] by its own minimum and maximum (for display)."""
    maps = np.asarray(maps, dtype=np.float32)
    axes = tuple(range(1, maps.ndim))
    low = maps.min(axis=axes, keepdims=True)
    high = maps.max(axis=axes, keepdims=True)
    return (maps - low) / (high - low + EPSILON)
