"""Referable diabetic retinopathy: a yes/no question asked of a 5-grade model.

Screening programmes care less about the exact grade than about whom to send to an
ophthalmologist. Here an eye is *referable* at grade 2 (moderate) or worse. Gulshan et al. (JAMA
2016) call an eye referable at moderate or worse DR *and/or* referable diabetic macular oedema;
the course models no macular oedema, so its referable question is the DR half of theirs. The
model's referable score is ``P(grade >= 2) = p_2 + p_3 + p_4``.

Everything here is numpy; scikit-learn is used only in the tests, which check that
:func:`roc_curve` and :func:`roc_auc` agree with ``sklearn.metrics.roc_curve`` /
``roc_auc_score``.

ROC convention (as scikit-learn): an image is called referable when ``score >= threshold``.
The curve has one point per distinct score (tied scores move together, giving a diagonal
segment, which is how ties earn half credit in the AUC) plus a first point at threshold
``+inf`` (nobody referred: sensitivity 0, specificity 1).

Operating points are read off that curve *conservatively*: "sensitivity at 90%
specificity" is the highest sensitivity among the points whose specificity is at least 0.90
(never an interpolation that the model cannot actually deliver), and "specificity at 97.5%
sensitivity" is the highest specificity among points with sensitivity at least 0.975. A tie
on the optimised rate goes to the point that is better on the other rate. The threshold
achieving it is returned, so it can be carried to new data.

When ``y_true`` has no referable image, or no non-referable one, sensitivity or specificity
is 0/0 and the ROC curve does not exist: every function here raises ``ValueError`` saying
which class is missing (scikit-learn warns and returns nan instead).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

from drlib.metrics.decoding import check_probs
from drlib.metrics.kappa import N_GRADES, check_grades

REFERABLE_GRADE = 2
"""Lowest referable grade (moderate non-proliferative DR)."""

_TARGET_TOLERANCE = 1e-12


@dataclass(frozen=True)
class OperatingPoint:
    """One threshold on the referable score and what it achieves.

    ``criterion`` reads e.g. ``"specificity>=0.9"``; ``target`` is that 0.9.
    """

    criterion: str
    target: float
    threshold: float
    sensitivity: float
    specificity: float


@dataclass(frozen=True)
class ReferableROC:
    """ROC curve of the referable score, its AUC and the chosen operating points."""

    fpr: np.ndarray
    tpr: np.ndarray
    thresholds: np.ndarray
    auc: float
    n_referable: int
    n_non_referable: int
    points: list[OperatingPoint] = field(default_factory=list)


def referable_labels(y_true: ArrayLike) -> np.ndarray:
    """Boolean array: True where the grade is 2 or more."""
    return check_grades(y_true, "y_true", N_GRADES) >= REFERABLE_GRADE


def referable_score(probs: ArrayLike) -> np.ndarray:
    """``P(grade >= 2)`` per image: ``probs[:, 2:].sum(axis=1)``."""
    return check_probs(probs)[:, REFERABLE_GRADE:].sum(axis=1)


def _check_binary(y_binary: ArrayLike, score: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y_binary)
    s = np.asarray(score, dtype=np.float64)
    if y.ndim != 1 or s.ndim != 1 or y.shape != s.shape:
        raise ValueError(
            f"y_binary and score must be 1-D of equal length, got {y.shape} and {s.shape}"
        )
    if y.dtype.kind != "b":
        if not np.all(np.isin(y, (0, 1))):
            raise ValueError("y_binary must be boolean or 0/1 (1 = referable)")
        y = y.astype(bool)
    if not np.all(np.isfinite(s)):
        raise ValueError("score has non-finite values")
    n_pos = int(np.count_nonzero(y))
    if n_pos == 0:
        raise ValueError(
            "no referable (positive) case in y_true: sensitivity and the ROC curve are "
            "undefined; evaluate on a set that contains grades >= 2"
        )
    if n_pos == y.size:
        raise ValueError(
            "no non-referable (negative) case in y_true: specificity and the ROC curve are "
            "undefined; evaluate on a set that contains grades 0-1"
        )
    return y, s


def _counts(y_binary: ArrayLike, score: ArrayLike) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """False and true positive counts at each distinct score (descending), and the scores."""
    y, s = _check_binary(y_binary, score)
    order = np.argsort(-s, kind="stable")
    s_sorted = s[order]
    y_sorted = y[order]
    last_of_tie = np.r_[np.flatnonzero(np.diff(s_sorted)), s_sorted.size - 1]
    tps = np.cumsum(y_sorted)[last_of_tie].astype(np.float64)
    fps = (last_of_tie + 1 - tps).astype(np.float64)
    return fps, tps, s_sorted[last_of_tie]


def roc_curve(
    y_binary: ArrayLike, score: ArrayLike, drop_intermediate: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds), thresholds decreasing from ``+inf``.

    Same arrays as ``sklearn.metrics.roc_curve(..., drop_intermediate=...)``. The default
    keeps every distinct threshold (``drop_intermediate=False``) so operating points can be
    chosen exactly; ``True`` drops collinear points as scikit-learn does, for plotting.
    """
    fps, tps, thresholds = _counts(y_binary, score)
    if drop_intermediate and fps.size > 2:
        keep = np.r_[True, np.logical_or(np.diff(fps, 2), np.diff(tps, 2)), True]
        fps, tps, thresholds = fps[keep], tps[keep], thresholds[keep]
    fps = np.r_[0.0, fps]
    tps = np.r_[0.0, tps]
    thresholds = np.r_[np.inf, thresholds]
    return fps / fps[-1], tps / tps[-1], thresholds


def roc_auc(y_binary: ArrayLike, score: ArrayLike) -> float:
    """Area under the ROC curve (trapezoids; a tie between a positive and a negative counts
    one half, i.e. the Mann-Whitney statistic)."""
    fpr, tpr, _ = roc_curve(y_binary, score)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0))


def sensitivity_at_specificity(
    y_binary: ArrayLike, score: ArrayLike, specificity: float = 0.90
) -> OperatingPoint:
    """Highest sensitivity with specificity >= ``specificity`` on the ROC curve."""
    if not 0.0 <= specificity <= 1.0:
        raise ValueError(f"specificity target must be in [0, 1], got {specificity}")
    fpr, tpr, thr = roc_curve(y_binary, score)
    spec = 1.0 - fpr
    ok = np.flatnonzero(spec >= specificity - _TARGET_TOLERANCE)  # never empty: spec[0] == 1
    # tpr and spec are monotone along the curve: the last admissible point has the highest
    # tpr; among equal tpr the first of them has the highest specificity.
    best_tpr = tpr[ok].max()
    i = int(ok[np.flatnonzero(tpr[ok] == best_tpr)[0]])
    return OperatingPoint(
        criterion=f"specificity>={specificity:g}",
        target=float(specificity),
        threshold=float(thr[i]),
        sensitivity=float(tpr[i]),
        specificity=float(spec[i]),
    )


def specificity_at_sensitivity(
    y_binary: ArrayLike, score: ArrayLike, sensitivity: float = 0.975
) -> OperatingPoint:
    """Highest specificity with sensitivity >= ``sensitivity`` on the ROC curve."""
    if not 0.0 <= sensitivity <= 1.0:
        raise ValueError(f"sensitivity target must be in [0, 1], got {sensitivity}")
    fpr, tpr, thr = roc_curve(y_binary, score)
    spec = 1.0 - fpr
    ok = np.flatnonzero(tpr >= sensitivity - _TARGET_TOLERANCE)  # never empty: tpr[-1] == 1
    best_spec = spec[ok].max()
    i = int(ok[np.flatnonzero(spec[ok] == best_spec)[-1]])
    return OperatingPoint(
        criterion=f"sensitivity>={sensitivity:g}",
        target=float(sensitivity),
        threshold=float(thr[i]),
        sensitivity=float(tpr[i]),
        specificity=float(spec[i]),
    )


def referable_roc(
    y_true: ArrayLike,
    probs: ArrayLike,
    specificity_targets: tuple[float, ...] = (0.90, 0.98),
    sensitivity_targets: tuple[float, ...] = (0.975,),
) -> ReferableROC:
    """Referable-DR analysis from 5-grade labels and 5-class probabilities.

    Returns the full ROC curve of ``P(grade >= 2)``, its AUC, and one operating point per
    target (sensitivity at each specificity target, then specificity at each sensitivity
    target; Gulshan et al. report 90.3% at 98.1% specificity and 97.5% at 93.4% on EyePACS-1,
    for referable DR including macular oedema: published, EyePACS, not comparable).
    Raises ``ValueError`` when either class is absent from ``y_true``.
    """
    y = referable_labels(y_true)
    score = referable_score(probs)
    if score.shape != y.shape:
        raise ValueError(f"y_true has {y.size} grades but probs has {score.size} rows")
    fpr, tpr, thr = roc_curve(y, score)
    points = [sensitivity_at_specificity(y, score, s) for s in specificity_targets]
    points += [specificity_at_sensitivity(y, score, s) for s in sensitivity_targets]
    return ReferableROC(
        fpr=fpr,
        tpr=tpr,
        thresholds=thr,
        auc=float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2.0)),
        n_referable=int(np.count_nonzero(y)),
        n_non_referable=int(np.count_nonzero(~y)),
        points=points,
    )
