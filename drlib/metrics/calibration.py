"""Calibration: does a 90% confident grade come true 90% of the time?

Top-label calibration (Guo et al. 2017): for each image take the predicted grade (argmax)
and its probability, the *confidence*. Split confidences into ``n_bins`` equal-width bins
on [0, 1] (bin ``b`` is ``(b/M, (b+1)/M]``, the first one also takes 0). In each bin compare
the mean confidence with the accuracy (fraction of predicted grades that are right). The
expected calibration error weights the gaps by how many images fall in the bin::

    ECE = sum_b (n_b / N) * |accuracy_b - confidence_b|

With 5 grades the confidence is at least 0.2, so the lowest bins are always empty; empty
bins have ``nan`` accuracy and confidence in the reliability diagram and weight 0 in ECE.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from drlib.metrics.decoding import check_probs
from drlib.metrics.kappa import check_grades

DEFAULT_BINS = 15


@dataclass(frozen=True)
class ReliabilityDiagram:
    """Per-bin calibration data (arrays of length ``n_bins``; edges ``n_bins + 1``)."""

    bin_edges: np.ndarray
    bin_centres: np.ndarray
    accuracy: np.ndarray
    confidence: np.ndarray
    counts: np.ndarray
    ece: float


def top_label_confidence(probs: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """(confidence, predicted grade): the largest probability per image and its argmax."""
    arr = check_probs(probs)
    predicted = np.argmax(arr, axis=1).astype(np.int64)
    return arr[np.arange(arr.shape[0]), predicted], predicted


def reliability_diagram(
    y_true: ArrayLike, probs: ArrayLike, n_bins: int = DEFAULT_BINS
) -> ReliabilityDiagram:
    """Bin centres, accuracy, mean confidence and counts per equal-width bin, plus the ECE."""
    if n_bins < 1:
        raise ValueError(f"n_bins must be at least 1, got {n_bins}")
    arr = check_probs(probs)
    y = check_grades(y_true, "y_true", arr.shape[1])
    if y.size != arr.shape[0]:
        raise ValueError(f"y_true has {y.size} grades but probs has {arr.shape[0]} rows")
    confidence, predicted = top_label_confidence(arr)
    correct = (predicted == y).astype(np.float64)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # Right-closed bins (b/M, (b+1)/M]; confidence 0 joins bin 0, and values a hair over 1
    # (float rounding of a softmax) join the last bin.
    bins = np.clip(np.searchsorted(edges[1:-1], confidence, side="left"), 0, n_bins - 1)
    counts = np.bincount(bins, minlength=n_bins)
    sum_conf = np.bincount(bins, weights=confidence, minlength=n_bins)
    sum_correct = np.bincount(bins, weights=correct, minlength=n_bins)
    filled = counts > 0
    safe = np.where(filled, counts, 1)
    accuracy = np.where(filled, sum_correct / safe, np.nan)
    mean_conf = np.where(filled, sum_conf / safe, np.nan)
    gaps = np.abs(sum_correct - sum_conf)  # = n_b * |acc_b - conf_b|
    ece = float(gaps.sum() / y.size)
    return ReliabilityDiagram(
        bin_edges=edges,
        bin_centres=(edges[:-1] + edges[1:]) / 2.0,
        accuracy=accuracy,
        confidence=mean_conf,
        counts=counts.astype(np.int64),
        ece=ece,
    )


def expected_calibration_error(
    y_true: ArrayLike, probs: ArrayLike, n_bins: int = DEFAULT_BINS
) -> float:
    """Top-label ECE with ``n_bins`` equal-width bins (default 15)."""
    return reliability_diagram(y_true, probs, n_bins).ece
