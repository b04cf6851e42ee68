"""Quadratic weighted kappa, written out from its definition.

The Kaggle/EyePACS competition and the paper being reproduced (Pratt et al. 2019: kappa 0.81 on
EyePACS test images with ICDR labels, a published figure not comparable with a synthetic one)
score a grader with Cohen's kappa under quadratic weights. With K grades, a K x K confusion
matrix ``O`` (rows: true grade, columns: predicted grade) and ``N`` graded images:

* expected matrix under independent marginals: ``E = outer(hist_true, hist_pred) / N``;
* disagreement weights: ``w_ij = (i - j)**2 / (K - 1)**2`` (0 on the diagonal, 1 for 0 vs 4);
* ``kappa = 1 - sum(w * O) / sum(w * E)``.

The number of grades is fixed (``n_classes=5`` by default) rather than taken from the labels
that happen to be present, so a test set with no severe cases still uses the 5 x 5 weights.

Degenerate case. ``sum(w * E) == 0`` exactly when the true grades and the predicted grades
are both constant and equal (all images grade g, all predicted g): then ``sum(w * O)`` is 0
too and kappa is 0/0. scikit-learn's ``cohen_kappa_score(weights="quadratic")`` returns
``nan`` there (its ``replace_undefined_by`` default, with an ``UndefinedMetricWarning``), and
so does :func:`quadratic_weighted_kappa` (with an :class:`UndefinedKappaWarning`). Constant
predictions against varied truths are *not* degenerate: kappa is 0 (no agreement beyond
chance). The batched :func:`kappa_from_confusion` never warns; it returns ``undefined``.
"""

from __future__ import annotations

import warnings

import numpy as np
from numpy.typing import ArrayLike

from drlib.core.grades import N_GRADES  # the one definition of "5 grades" (0 no DR .. 4 PDR)

__all__ = [
    "N_GRADES",
    "UndefinedKappaWarning",
    "check_grades",
    "check_pair",
    "confusion_matrix",
    "kappa_from_confusion",
    "quadratic_weighted_kappa",
    "quadratic_weights",
]


class UndefinedKappaWarning(RuntimeWarning):
    """Kappa is 0/0: truth and prediction are one and the same constant grade."""


def check_grades(y: ArrayLike, name: str = "y", n_classes: int = N_GRADES) -> np.ndarray:
    """Return ``y`` as a 1-D int64 array of grades in ``0..n_classes-1``.

    Raises ``ValueError`` naming the argument when ``y`` is empty, not 1-D, not integral or
    out of range, so a caller sees which array is wrong instead of an index error later.
    """
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-D array of grades, got shape {arr.shape}")
    if arr.size == 0:
        raise ValueError(f"{name} is empty: at least one graded image is needed")
    if arr.dtype.kind == "b":
        arr = arr.astype(np.int64)
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            bad = int(np.flatnonzero(~np.isfinite(arr) | (arr != np.round(arr)))[0])
            raise ValueError(f"{name} must hold whole grades; element {bad} is {arr[bad]!r}")
    elif arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must hold integer grades, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    out_of_range = (arr < 0) | (arr >= n_classes)
    if np.any(out_of_range):
        bad = int(np.flatnonzero(out_of_range)[0])
        raise ValueError(
            f"{name} must hold grades 0..{n_classes - 1}; element {bad} is {int(arr[bad])}"
        )
    return arr


def check_pair(
    y_true: ArrayLike, y_pred: ArrayLike, n_classes: int = N_GRADES
) -> tuple[np.ndarray, np.ndarray]:
    """Validate two grade arrays of the same length (see :func:`check_grades`)."""
    t = check_grades(y_true, "y_true", n_classes)
    p = check_grades(y_pred, "y_pred", n_classes)
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} grades but y_pred has {p.size}")
    return t, p


def confusion_matrix(y_true: ArrayLike, y_pred: ArrayLike, n_classes: int = N_GRADES) -> np.ndarray:
    """K x K confusion counts (int64): row = true grade, column = predicted grade.

    The size is fixed by ``n_classes``: a grade absent from both arrays gives an all-zero
    row and column rather than a smaller matrix.
    """
    t, p = check_pair(y_true, y_pred, n_classes)
    return np.bincount(t * n_classes + p, minlength=n_classes * n_classes).reshape(
        n_classes, n_classes
    )


def quadratic_weights(n_classes: int = N_GRADES) -> np.ndarray:
    """Disagreement weights ``w_ij = (i - j)**2 / (K - 1)**2``, shape (K, K)."""
    if n_classes < 2:
        raise ValueError(f"kappa needs at least 2 classes, got n_classes={n_classes}")
    grades = np.arange(n_classes, dtype=np.float64)
    return (grades[:, None] - grades[None, :]) ** 2 / (n_classes - 1) ** 2


def kappa_from_confusion(confusion: ArrayLike, undefined: float = np.nan) -> np.ndarray | float:
    """Quadratic weighted kappa of one (K, K) confusion matrix or a stack (..., K, K).

    Vectorised over leading axes (the bootstrap passes an (R, K, K) stack). Where
    ``sum(w * E) == 0`` (degenerate, see module docstring) the result is ``undefined``.
    Returns a Python float for a single matrix, an array otherwise.
    """
    obs = np.asarray(confusion, dtype=np.float64)
    if obs.ndim < 2 or obs.shape[-1] != obs.shape[-2]:
        raise ValueError(f"confusion must have shape (..., K, K), got {obs.shape}")
    n_classes = obs.shape[-1]
    weights = quadratic_weights(n_classes)
    n = obs.sum(axis=(-2, -1))
    if np.any(n <= 0):
        raise ValueError("confusion matrix has no counts: kappa needs at least one image")
    hist_true = obs.sum(axis=-1)
    hist_pred = obs.sum(axis=-2)
    expected = hist_true[..., :, None] * hist_pred[..., None, :] / n[..., None, None]
    num = (weights * obs).sum(axis=(-2, -1))
    den = (weights * expected).sum(axis=(-2, -1))
    defined = den != 0  # exact: den is a sum of non-negative terms
    kappa = np.where(defined, 1.0 - num / np.where(defined, den, 1.0), undefined)
    if kappa.ndim == 0:
        return float(kappa)
    return kappa


def quadratic_weighted_kappa(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    n_classes: int = N_GRADES,
    undefined: float = np.nan,
) -> float:
    """Cohen's kappa with quadratic weights between true and predicted grades.

    Equals ``sklearn.metrics.cohen_kappa_score(y_true, y_pred, weights="quadratic",
    labels=range(n_classes))`` (tested to 1e-12), including the degenerate case, which
    returns ``undefined`` (default ``nan``) and emits an :class:`UndefinedKappaWarning`.
    """
    confusion = confusion_matrix(y_true, y_pred, n_classes)
    if np.count_nonzero(confusion) == 1 and np.count_nonzero(np.diag(confusion)) == 1:
        warnings.warn(
            "quadratic weighted kappa is undefined (0/0): y_true and y_pred are all the same "
            f"single grade; returning {undefined}",
            UndefinedKappaWarning,
            stacklevel=2,
        )
    return float(kappa_from_confusion(confusion, undefined))
