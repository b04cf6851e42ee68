"""The tables chapter 03 prints: this run's numbers beside the published ones.

Every table that puts a synthetic number beside a published figure says so in a column of its
own (the figure's data set and grading scale), so the caveat travels with the number.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from drlib.core.grades import GRADE_NAMES
from drlib.evaluation.published import (
    CAVEAT,
    DE_WIT_RECALL,
    GULSHAN_OPERATING_POINTS,
    PUBLISHED_KAPPAS,
    PublishedKappa,
)
from drlib.metrics.bootstrap import KappaInterval
from drlib.metrics.kappa import N_GRADES, check_grades
from drlib.metrics.referable import ReferableROC, referable_labels, referable_score
from drlib.metrics.summary import per_grade_precision, per_grade_recall

#: Column names of published figures: each says it is published, on EyePACS, not comparable.
KAGGLE_4TH_RECALL = f"Kaggle 4th recall ({CAVEAT})"
GULSHAN_SENSITIVITY = f"Gulshan sensitivity ({CAVEAT}; referable incl. macular oedema)"
GULSHAN_SPECIFICITY = f"Gulshan specificity ({CAVEAT}; referable incl. macular oedema)"


def per_grade_table(y_true: ArrayLike, y_pred: ArrayLike) -> pd.DataFrame:
    """Support, predicted count, recall and precision per grade, beside de Wit's recall.

    Index: grade names. ``nan`` recall (precision) for a grade absent from the truth
    (never predicted).
    """
    y = check_grades(y_true, "y_true")
    p = check_grades(y_pred, "y_pred")
    return pd.DataFrame(
        {
            "images": np.bincount(y, minlength=N_GRADES),
            "predicted": np.bincount(p, minlength=N_GRADES),
            "recall": per_grade_recall(y, p),
            "precision": per_grade_precision(y, p),
            KAGGLE_4TH_RECALL: np.asarray(DE_WIT_RECALL),
        },
        index=pd.Index(list(GRADE_NAMES), name="grade"),
    )


@dataclass(frozen=True)
class Rates:
    """Sensitivity and specificity of "refer when P(grade >= 2) >= threshold"."""

    threshold: float
    sensitivity: float
    specificity: float


def rates_at_threshold(y_true: ArrayLike, probs: ArrayLike, threshold: float) -> Rates:
    """Sensitivity and specificity for referable DR at a fixed score threshold.

    For carrying an operating point chosen on the validation split over to the test split,
    where it earns whatever it earns (unlike points read off the test ROC curve itself).
    """
    y = referable_labels(y_true)
    score = referable_score(probs)
    if score.shape != y.shape:
        raise ValueError(f"y_true has {y.size} grades but probs has {score.size} rows")
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("need referable and non-referable images for sensitivity/specificity")
    referred = score >= threshold
    return Rates(
        threshold=float(threshold),
        sensitivity=float(np.count_nonzero(referred & y) / n_pos),
        specificity=float(np.count_nonzero(~referred & ~y) / n_neg),
    )


def referable_table(
    test_roc: ReferableROC,
    carried: Sequence[Rates] | None = None,
) -> pd.DataFrame:
    """Operating points of referable DR: read off the test ROC, carried over from the
    validation split (optional, same order as ``test_roc.points``), and Gulshan et al.'s.

    One row per operating point; Gulshan's points are matched by criterion (specificity
    targets to his high-specificity point, sensitivity targets to his high-sensitivity one).
    """
    rows = []
    for i, point in enumerate(test_roc.points):
        by_spec = point.criterion.startswith("specificity")
        published = GULSHAN_OPERATING_POINTS[0 if by_spec else 1]
        row: dict[str, Any] = {
            "operating point": point.criterion.replace(">=", " >= "),
            "threshold (test)": point.threshold,
            "sensitivity (test)": point.sensitivity,
            "specificity (test)": point.specificity,
        }
        if carried is not None:
            rates = carried[i]
            row["threshold (val)"] = rates.threshold
            row["sensitivity (val thr. on test)"] = rates.sensitivity
            row["specificity (val thr. on test)"] = rates.specificity
        row[GULSHAN_SENSITIVITY] = published.sensitivity
        row[GULSHAN_SPECIFICITY] = published.specificity
        rows.append(row)
    return pd.DataFrame(rows).set_index("operating point")


def _format_kappa(value: float | None, low: float | None, high: float | None) -> tuple[str, str]:
    if value is None:
        return (f"{low:.2f}-{high:.2f}" if low is not None and high is not None else "", "")
    interval = f"{low:.3f} to {high:.3f}" if low is not None and high is not None else ""
    return f"{value:.3f}", interval


def comparison_table(
    ours: Mapping[str, KappaInterval],
    data: str,
    scale: str,
    published: Sequence[PublishedKappa] = PUBLISHED_KAPPAS,
) -> pd.DataFrame:
    """Our kappas (with their bootstrap intervals) beside the published kappas, as strings.

    ``ours`` maps a label (e.g. ``"this course, argmax"``) to a :class:`KappaInterval`; one row
    each, all measured on ``data`` with labels on the grading scale ``scale`` (e.g. "ICDR").
    Columns: grader, data, labels (the grading scale), kappa, 95% interval, comparable (the
    caveat of a published row: "published, EyePACS, not comparable"), source (with
    "(recollection)" where the figure was not re-checked). Formatted for printing: the values
    are not for computing.
    """
    if not ours:
        raise ValueError("comparison_table needs at least one kappa of ours")
    levels = {round(100 * ci.level) for ci in ours.values()}
    if len(levels) != 1:
        raise ValueError(f"our intervals have different levels: {sorted(levels)}")
    interval_column = f"{levels.pop()}% interval"
    rows = []
    for grader, ci in ours.items():
        kappa, interval = _format_kappa(ci.estimate, ci.low, ci.high)
        rows.append({
            "grader": grader, "data": data, "labels": scale, "kappa": kappa,
            interval_column: interval, "comparable": "this course (synthetic)",
            "source": f"this chapter ({ci.resamples} bootstrap resamples)",
        })
    for item in published:
        kappa = _format_kappa(item.kappa, item.low, item.high)[0] if item.kappa is None else (
            f"{item.kappa:.3f}"
        )
        rows.append({
            "grader": item.grader, "data": item.data, "labels": item.scale, "kappa": kappa,
            interval_column: "", "comparable": item.caveat,
            "source": item.source + (" (recollection)" if item.recollection else ""),
        })
    return pd.DataFrame(rows)

