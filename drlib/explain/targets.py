"""Which class a map explains, and the fixed-size batches every map is computed in."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

PREDICTED = "predicted"
"""``classes=None`` or ``"predicted"``: explain, per image, the class with the highest score."""


def resolve_classes(classes: Any, scores: np.ndarray) -> np.ndarray:
    """Per-image class indices (N,) from ``None``/``"predicted"``, one int, or an array.

    Args:
        classes: ``None`` or ``"predicted"`` (argmax of ``scores``), an int for every image,
            or a sequence with one class per image.
        scores: class scores (N, C) of the images.

    Raises:
        ValueError: a sequence whose length is not N, or a class outside ``0..C-1``.
    """
    n, n_classes = scores.shape
    if classes is None or (isinstance(classes, str) and classes == PREDICTED):
        return np.argmax(scores, axis=1).astype(np.int32)
    if isinstance(classes, str):
        raise ValueError(
            f"classes must be None, {PREDICTED!r}, an int or an array; got {classes!r}"
        )
    out = np.asarray(classes)
    if out.ndim == 0:
        out = np.full(n, int(out))
    out = out.astype(np.int32)
    if out.shape != (n,):
        raise ValueError(f"classes has shape {out.shape}; expected one class per image ({n},)")
    if out.size and (out.min() < 0 or out.max() >= n_classes):
        raise ValueError(f"classes must lie in 0..{n_classes - 1}; got {sorted(set(out.tolist()))}")
    return out


def as_image_batch(images: Any) -> np.ndarray:
    """float32 (N, H, W, C) from one image (H, W, C) or a batch; RGB in [0, 255] as the model."""
    x = np.asarray(images, dtype=np.float32)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4:
        raise ValueError(f"images must have shape (N, H, W, C) or (H, W, C); got {x.shape}")
    if len(x) == 0:
        raise ValueError("no images to explain")
    return x


def padded_batches(n: int, batch_size: int) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` of consecutive batches of ``range(n)``."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    for start in range(0, n, batch_size):
        yield start, min(start + batch_size, n)


def padded_size(n: int, batch_size: int) -> int:
    """The rows each batch of a call with ``n`` images is padded to.

    ``batch_size`` when the call fills a batch; a shorter call is padded to the next power of two
    (at most ``batch_size``), so calls of every length together compile at most
    ``ceil(log2(batch_size)) + 1`` shapes (a graph under TensorFlow, a jit under JAX), not one per
    length. A ``batch_size`` below 1 is returned as it is, for :func:`padded_batches` to refuse.
    """
    if n >= batch_size:
        return batch_size
    return min(batch_size, 1 << max(n - 1, 0).bit_length())


def pad_rows(x: np.ndarray, size: int) -> np.ndarray:
    """Pad a batch to ``size`` rows by repeating its last row, so a compiled step sees one shape.

    Rows do not interact in inference mode, so the padding changes no real row's result; the
    caller drops the padded rows.
    """
    if len(x) >= size:
        return x
    return np.concatenate([x, np.repeat(x[-1:], size - len(x), axis=0)], axis=0)
