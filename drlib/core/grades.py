"""DR grades: how many there are, their names, the class priors, and grades as labels.

One definition serves the generator, the loaders, the input pipeline, the training loop, the
metrics and the figures: the five grades 0 (no DR) .. 4 (proliferative DR), their display names,
the grade mixes a split can be drawn from (:func:`class_prior`), and the conversions between
integer grades and one-hot rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: DR grades 0 (no DR) .. 4 (proliferative).
N_GRADES = 5

#: Display names of the grades, in grade order.
GRADE_NAMES: tuple[str, ...] = ("No DR", "Mild", "Moderate", "Severe", "Proliferative")

#: Kaggle 2015 training-set grade counts (EyePACS, ICDR labels): 25,810 / 2,443 / 5,292 / 873 / 708.
EYEPACS_COUNTS = (25810, 2443, 5292, 873, 708)
EYEPACS_PRIOR = tuple(c / sum(EYEPACS_COUNTS) for c in EYEPACS_COUNTS)
BALANCED_PRIOR = (0.2, 0.2, 0.2, 0.2, 0.2)


def class_prior(prior: str | tuple[float, ...] | list[float]) -> np.ndarray:
    """The grade distribution: "eyepacs", "balanced", or five probabilities."""
    if isinstance(prior, str):
        table = {"eyepacs": EYEPACS_PRIOR, "balanced": BALANCED_PRIOR}
        if prior not in table:
            raise ValueError(f"unknown class prior {prior!r}; use one of {sorted(table)}")
        p = np.asarray(table[prior], dtype=float)
    else:
        p = np.asarray(prior, dtype=float)
    if p.shape != (5,) or np.any(p < 0) or not np.isclose(p.sum(), 1.0):
        raise ValueError(f"a class prior needs 5 non-negative probabilities summing to 1, got {p}")
    return p


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
