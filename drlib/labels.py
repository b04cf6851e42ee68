"""Grades as labels: the number of grades, and the conversions between grades and one-hot rows.

One definition serves the loaders, the input pipeline, the training loop and the metrics.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: DR grades 0 (no DR) .. 4 (proliferative).
N_GRADES = 5


def as_grades(labels: Any, n_classes: int = N_GRADES) -> np.ndarray:
    """Integer grades (N,) from grades (N,) or one-hot / probability rows (N, K)."""
    arr = np.asarray(labels)
    if arr.ndim == 2:
        if arr.shape[1] != n_classes:
            raise ValueError(f"one-hot labels must have {n_classes} columns, got {arr.shape}")
        return arr.argmax(axis=1).astype(np.int64)
    if arr.ndim != 1:
        raise ValueError(f"labels must be grades (N,) or one-hot (N, {n_classes}), got {arr.shape}")
    grades = arr.astype(np.int64)
    if np.any(grades != arr) or np.any((grades < 0) | (grades >= n_classes)):
        raise ValueError(f"grades must be whole numbers in 0..{n_classes - 1}, "
                         f"got {sorted(set(arr.tolist()))[:10]}")
    return grades


def one_hot(labels: Any, n_classes: int = N_GRADES) -> np.ndarray:
    """float32 one-hot rows (N, K) from grades or one-hot labels."""
    return np.eye(n_classes, dtype=np.float32)[as_grades(labels, n_classes)]
