"""Headline numbers of a 5-grade DR model, and the per-grade rates behind them.

This module gathers what chapter 03 reports in one call, :func:`evaluation_summary`. The
pieces live in their own modules: :mod:`drlib.metrics.kappa` (confusion matrix, quadratic weighted
kappa), :mod:`drlib.metrics.bootstrap` (confidence intervals), :mod:`drlib.metrics.decoding`
(argmax and
validation-fitted thresholds), :mod:`drlib.metrics.referable` (grade >= 2, ROC, operating points)
and :mod:`drlib.metrics.calibration` (ECE).

Per-grade rates, with ``nan`` where they are 0/0 rather than a made-up 0:

* recall of grade g = correct g / true g (``nan`` when no image has true grade g);
* precision of grade g = correct g / predicted g (``nan`` when grade g is never predicted).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from drlib.metrics.bootstrap import bootstrap_kappa
from drlib.metrics.calibration import DEFAULT_BINS, expected_calibration_error
from drlib.metrics.decoding import ThresholdDecoder, check_probs, decode_argmax
from drlib.metrics.kappa import N_GRADES, check_grades, check_pair, confusion_matrix
from drlib.metrics.referable import referable_roc


def per_grade_recall(y_true: ArrayLike, y_pred: ArrayLike, n_classes: int = N_GRADES) -> np.ndarray:
    """Recall (sensitivity) per grade, shape (K,); ``nan`` for a grade absent from y_true."""
    cm = confusion_matrix(y_true, y_pred, n_classes).astype(np.float64)
    support = cm.sum(axis=1)
    return np.where(support > 0, np.diag(cm) / np.where(support > 0, support, 1.0), np.nan)


def per_grade_precision(
    y_true: ArrayLike, y_pred: ArrayLike, n_classes: int = N_GRADES
) -> np.ndarray:
    """Precision per grade, shape (K,); ``nan`` for a grade never predicted."""
    cm = confusion_matrix(y_true, y_pred, n_classes).astype(np.float64)
    predicted = cm.sum(axis=0)
    return np.where(predicted > 0, np.diag(cm) / np.where(predicted > 0, predicted, 1.0), np.nan)


def accuracy(y_true: ArrayLike, y_pred: ArrayLike, n_classes: int = N_GRADES) -> float:
    """Fraction of images whose predicted grade equals the true grade."""
    t, p = check_pair(y_true, y_pred, n_classes)
    return float(np.mean(t == p))


def evaluation_summary(
    y_true: ArrayLike,
    probs: ArrayLike,
    y_val: ArrayLike | None = None,
    probs_val: ArrayLike | None = None,
    seed: int = 0,
    resamples: int = 2000,
    n_bins: int = DEFAULT_BINS,
) -> dict[str, Any]:
    """The headline numbers for a test set, as an ordered flat dict of plain floats/ints.

    Keys: ``n_test``; ``kappa_argmax`` with ``kappa_argmax_ci_low/high`` (percentile
    bootstrap, ``resamples`` draws, ``seed``); ``accuracy``; ``recall_grade_0..4``
    (argmax decoding); ``referable_auc``, ``sens_at_spec90`` / ``sens_at_spec98`` and
    ``spec_at_sens975`` with their ``*_threshold`` on ``P(grade >= 2)``; ``ece``.
    If validation data are given (both ``y_val`` and ``probs_val``), thresholds on the
    expected grade are fitted on them only (:class:`~drlib.metrics.decoding.ThresholdDecoder`) and
    ``kappa_thresholds`` (+ CI, same resamples) and ``threshold_1..4`` are added; the test
    labels never reach the fit. Last, ``bootstrap_resamples`` and ``seed`` say how the
    intervals were drawn. Use :func:`summary_frame` for a two-column table.
    """
    if (y_val is None) != (probs_val is None):
        raise ValueError("give both y_val and probs_val (validation split) or neither")
    p = check_probs(probs)
    y = check_grades(y_true, "y_true")
    if y.size != p.shape[0]:
        raise ValueError(f"y_true has {y.size} grades but probs has {p.shape[0]} rows")
    pred = decode_argmax(p)

    summary: dict[str, Any] = {"n_test": int(y.size)}
    ci = bootstrap_kappa(y, pred, resamples=resamples, seed=seed)
    summary["kappa_argmax"] = ci.estimate
    summary["kappa_argmax_ci_low"] = ci.low
    summary["kappa_argmax_ci_high"] = ci.high

    if y_val is not None:
        decoder = ThresholdDecoder().fit(probs_val, y_val)
        assert decoder.thresholds_ is not None
        ci_t = bootstrap_kappa(y, decoder.predict(p), resamples=resamples, seed=seed)
        summary["kappa_thresholds"] = ci_t.estimate
        summary["kappa_thresholds_ci_low"] = ci_t.low
        summary["kappa_thresholds_ci_high"] = ci_t.high
        for i, cut in enumerate(decoder.thresholds_, start=1):
            summary[f"threshold_{i}"] = float(cut)

    summary["accuracy"] = accuracy(y, pred)
    for grade, recall in enumerate(per_grade_recall(y, pred)):
        summary[f"recall_grade_{grade}"] = float(recall)

    roc = referable_roc(y, p, specificity_targets=(0.90, 0.98), sensitivity_targets=(0.975,))
    summary["referable_auc"] = roc.auc
    names = ("sens_at_spec90", "sens_at_spec98", "spec_at_sens975")
    for name, point in zip(names, roc.points, strict=True):
        value = point.sensitivity if name.startswith("sens") else point.specificity
        summary[name] = value
        summary[f"{name}_threshold"] = point.threshold

    summary["ece"] = expected_calibration_error(y, p, n_bins=n_bins)
    summary["bootstrap_resamples"] = int(resamples)
    summary["seed"] = int(seed)
    return summary


def summary_frame(summary: dict[str, Any]) -> pd.DataFrame:
    """The summary as a two-column table (``metric``, ``value``), in the dict's order."""
    return pd.DataFrame({"metric": list(summary), "value": list(summary.values())})
