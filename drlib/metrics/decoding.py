"""From softmax probabilities to one grade per image.

The network outputs five probabilities per image. Two ways to turn them into a grade:

* :func:`decode_argmax` -- the most probable grade. Simple, but it ignores that the grades
  are ordered: an image split 45/55 between grades 0 and 4 is not "almost grade 4".
* :func:`expected_grade` ``sum_k p_k * k``, a number in [0, 4], cut into grades by four
  thresholds ``t1 < t2 < t3 < t4`` (:func:`decode_thresholds`). Kaggle teams tuned the cuts
  (team o_O started from 0.5/1.5/2.5/3.5) because kappa rewards getting the order right.

Tuning the cuts on the test labels would report an optimistic kappa (leakage). The
:class:`ThresholdDecoder` makes the honest order the only one the API offers: ``fit`` takes
validation probabilities *and* labels, ``predict`` takes probabilities only, so test labels
can never reach the thresholds.

:func:`fit_thresholds` optimises kappa by exact coordinate descent: kappa is piecewise
constant in each threshold (it changes only when a threshold crosses a data point), so for
one threshold with the others fixed every distinct split of the data between its
neighbours is scored at once (cumulative counts, one batched kappa), the best one is kept
(the threshold put midway between the two data points it separates), and the four
thresholds are swept in turn until none moves. A move is made only on a strict improvement
and ties go to the candidate nearest the current value, so the result is deterministic,
starts from and stays near ``[0.5, 1.5, 2.5, 3.5]`` when that is already optimal, and the
thresholds stay strictly increasing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

from drlib.metrics.kappa import N_GRADES, check_grades, kappa_from_confusion

DEFAULT_THRESHOLDS: tuple[float, ...] = (0.5, 1.5, 2.5, 3.5)
"""Rounding cuts for the expected grade: the starting point of the threshold search."""

PROBS_SUM_TOLERANCE = 1e-3
"""How far a row of probabilities may sum from 1 (float32 softmax rounding is ~1e-6)."""

_IMPROVEMENT_TOLERANCE = 1e-12


def check_probs(probs: ArrayLike, name: str = "probs", n_classes: int = N_GRADES) -> np.ndarray:
    """Return ``probs`` as an (N, n_classes) float64 array of per-image probabilities.

    Raises ``ValueError`` naming the argument for a wrong shape, an empty array, non-finite
    or negative entries, or rows that do not sum to 1 (within ``PROBS_SUM_TOLERANCE``).
    """
    arr = np.asarray(probs, dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != n_classes:
        raise ValueError(f"{name} must have shape (N, {n_classes}), got {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError(f"{name} is empty: at least one image is needed")
    bad_rows = ~np.all(np.isfinite(arr), axis=1) | np.any(arr < 0, axis=1)
    if np.any(bad_rows):
        row = int(np.flatnonzero(bad_rows)[0])
        raise ValueError(f"{name} row {row} has a negative or non-finite entry: {arr[row]}")
    sums = arr.sum(axis=1)
    off = np.abs(sums - 1.0) > PROBS_SUM_TOLERANCE
    if np.any(off):
        row = int(np.flatnonzero(off)[0])
        raise ValueError(
            f"{name} rows must sum to 1 (softmax output); row {row} sums to {sums[row]:.6f}"
        )
    return arr


def decode_argmax(probs: ArrayLike) -> np.ndarray:
    """Most probable grade per image (ties go to the lower grade, as ``np.argmax``)."""
    return np.argmax(check_probs(probs), axis=1).astype(np.int64)


def expected_grade(probs: ArrayLike) -> np.ndarray:
    """Expected grade ``sum_k p_k * k`` per image, a float in [0, K-1]."""
    arr = check_probs(probs)
    return arr @ np.arange(arr.shape[1], dtype=np.float64)


def check_thresholds(thresholds: ArrayLike, n_classes: int = N_GRADES) -> np.ndarray:
    """Return ``thresholds`` as K-1 finite, strictly increasing floats, or raise ValueError."""
    arr = np.asarray(thresholds, dtype=np.float64)
    if arr.shape != (n_classes - 1,):
        raise ValueError(f"thresholds must be {n_classes - 1} cuts, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or np.any(np.diff(arr) <= 0):
        raise ValueError(f"thresholds must be finite and strictly increasing, got {arr.tolist()}")
    return arr


def decode_thresholds(
    expected: ArrayLike, thresholds: Sequence[float] | np.ndarray = DEFAULT_THRESHOLDS
) -> np.ndarray:
    """Cut a continuous score into grades: grade g where ``t_g <= x < t_{g+1}``.

    ``x < t1`` is grade 0 and ``x >= t4`` grade 4 (a value exactly on a cut goes up).
    """
    t = check_thresholds(thresholds, len(np.atleast_1d(thresholds)) + 1)
    x = np.asarray(expected, dtype=np.float64)
    if x.ndim != 1 or not np.all(np.isfinite(x)):
        raise ValueError(f"expected must be a 1-D array of finite scores, got shape {x.shape}")
    return np.searchsorted(t, x, side="right").astype(np.int64)


def _best_cut(
    x: np.ndarray,
    y: np.ndarray,
    thresholds: np.ndarray,
    k: int,
    n_classes: int,
) -> tuple[float, float, float]:
    """Best position of threshold ``k`` (0-based) with the others fixed.

    Returns (new value, kappa at new value, kappa at current value).
    """
    lo = thresholds[k - 1] if k > 0 else -np.inf
    hi = thresholds[k + 1] if k < len(thresholds) - 1 else np.inf
    current = thresholds[k]
    # Images outside [lo, hi) keep their grade whatever t_k does.
    pred = np.searchsorted(thresholds, x, side="right")
    inside = (x >= lo) & (x < hi)
    base = np.bincount(
        y[~inside] * n_classes + pred[~inside], minlength=n_classes * n_classes
    ).reshape(n_classes, n_classes)
    xs = x[inside]
    order = np.argsort(xs, kind="stable")
    xs = xs[order]
    ys = y[inside][order]
    # Candidate cuts: midpoints between consecutive distinct values of the bounds and the data.
    points = np.unique(xs)
    if np.isfinite(lo):
        points = np.unique(np.concatenate([[lo], points]))
    elif points.size:
        points = np.concatenate([[points[0] - 1.0], points])
    if np.isfinite(hi):
        points = np.unique(np.concatenate([points, [hi]]))
    elif points.size:
        points = np.concatenate([points, [points[-1] + 1.0]])
    candidates = (points[:-1] + points[1:]) / 2.0
    candidates = candidates[(candidates > lo) & (candidates < hi)]
    candidates = np.unique(np.concatenate([candidates, [current]]))
    # below[c] = number of inside images (in sorted order) under candidate c -> grade k.
    below = np.searchsorted(xs, candidates, side="left")
    onehot = np.zeros((xs.size + 1, n_classes), dtype=np.int64)
    if xs.size:
        onehot[1:] = np.cumsum(np.eye(n_classes, dtype=np.int64)[ys], axis=0)
    total = onehot[-1]
    confusion = np.broadcast_to(base, (candidates.size, n_classes, n_classes)).copy()
    confusion[:, :, k] += onehot[below]
    confusion[:, :, k + 1] += total[None, :] - onehot[below]
    kappas = np.asarray(kappa_from_confusion(confusion, undefined=-np.inf), dtype=np.float64)
    at_current = float(kappas[np.searchsorted(candidates, current)])
    best = float(kappas.max())
    if best <= at_current + _IMPROVEMENT_TOLERANCE:
        return float(current), at_current, at_current
    ties = np.flatnonzero(kappas >= best - _IMPROVEMENT_TOLERANCE)
    pick = ties[np.argmin(np.abs(candidates[ties] - current))]
    return float(candidates[pick]), float(kappas[pick]), at_current


def fit_thresholds(
    expected_val: ArrayLike,
    y_val: ArrayLike,
    initial: Sequence[float] | np.ndarray = DEFAULT_THRESHOLDS,
    max_sweeps: int = 50,
) -> np.ndarray:
    """Thresholds ``t1 < ... < t4`` maximising kappa of :func:`decode_thresholds` on the
    *validation* split (exact coordinate descent, see module docstring).

    Only the two arrays given are used. Returns a new float64 array of K-1 cuts.
    """
    t = check_thresholds(initial).copy()
    n_classes = t.size + 1
    y = check_grades(y_val, "y_val", n_classes)
    x = np.asarray(expected_val, dtype=np.float64)
    if x.shape != y.shape or not np.all(np.isfinite(x)):
        raise ValueError(
            f"expected_val must be finite with one score per label: shapes {x.shape}, {y.shape}"
        )
    if max_sweeps < 1:
        raise ValueError(f"max_sweeps must be at least 1, got {max_sweeps}")
    for _ in range(max_sweeps):
        moved = False
        for k in range(t.size):
            new, _, _ = _best_cut(x, y, t, k, n_classes)
            if new != t[k]:
                t[k] = new
                moved = True
        if not moved:
            break
    return check_thresholds(t, n_classes)


class ThresholdDecoder:
    """Expected-grade decoder whose thresholds are fitted on validation data only.

    >>> decoder = ThresholdDecoder().fit(val_probs, val_y)   # doctest: +SKIP
    >>> test_grades = decoder.predict(test_probs)            # no test labels anywhere

    ``predict`` has no label argument, so tuning on the test set cannot happen by mistake.
    """

    def __init__(
        self, initial: Sequence[float] | np.ndarray = DEFAULT_THRESHOLDS, max_sweeps: int = 50
    ) -> None:
        self.initial = check_thresholds(initial)
        self.max_sweeps = max_sweeps
        self.thresholds_: np.ndarray | None = None

    def fit(self, val_probs: ArrayLike, val_y: ArrayLike) -> ThresholdDecoder:
        """Fit the cuts on validation probabilities and validation grades; returns self."""
        expected = expected_grade(check_probs(val_probs, "val_probs"))
        y = check_grades(val_y, "val_y", self.initial.size + 1)
        if y.size != expected.size:
            raise ValueError(f"val_y has {y.size} grades but val_probs has {expected.size} rows")
        self.thresholds_ = fit_thresholds(expected, y, self.initial, self.max_sweeps)
        return self

    def predict(self, probs: ArrayLike) -> np.ndarray:
        """Grades for ``probs`` using the fitted cuts (raises if ``fit`` was not called)."""
        if self.thresholds_ is None:
            raise RuntimeError("ThresholdDecoder.predict called before fit(val_probs, val_y)")
        return decode_thresholds(expected_grade(probs), self.thresholds_)

    def __repr__(self) -> str:
        cuts = None if self.thresholds_ is None else np.round(self.thresholds_, 4).tolist()
        return f"ThresholdDecoder(thresholds_={cuts})"
