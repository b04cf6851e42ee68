"""Figures of the evaluation chapter: confusion matrix, ROC curve, reliability diagram.

Plot functions draw on a given ``ax`` (or a new one when ``ax`` is None) and return it; they never
call ``plt.show()`` or save, so a notebook decides what to do with the figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import matplotlib.pyplot as plt
import numpy as np
from numpy.typing import ArrayLike

from drlib.core.grades import GRADE_NAMES
from drlib.plotting.style import ACCENT, CMAP, FIGSIZE_SQUARE, GRADE_COLOURS

if TYPE_CHECKING:
    from matplotlib.axes import Axes

    from drlib.metrics.calibration import ReliabilityDiagram
    from drlib.metrics.referable import OperatingPoint


def _axes(ax: Axes | None, figsize: tuple[float, float] = FIGSIZE_SQUARE) -> Axes:
    if ax is not None:
        return ax
    _, new_ax = plt.subplots(figsize=figsize)
    return new_ax


def plot_confusion(
    cm: ArrayLike,
    ax: Axes | None = None,
    normalise: bool = False,
    labels: Sequence[str] = GRADE_NAMES,
    title: str | None = None,
) -> Axes:
    """Seaborn heatmap of a K x K confusion matrix (rows true grade, columns predicted).

    Cells show counts; with ``normalise=True`` each row is divided by its total, so the
    diagonal reads as per-grade recall (rows with no images stay blank).
    """
    import seaborn as sns

    counts = np.asarray(cm)
    if counts.ndim != 2 or counts.shape[0] != counts.shape[1]:
        raise ValueError(f"cm must be a square matrix, got shape {counts.shape}")
    if len(labels) != counts.shape[0]:
        raise ValueError(f"{len(labels)} labels for a {counts.shape[0]}x{counts.shape[0]} matrix")
    ax = _axes(ax)
    if normalise:
        totals = counts.sum(axis=1, keepdims=True).astype(np.float64)
        values = np.where(totals > 0, counts / np.where(totals > 0, totals, 1.0), np.nan)
        fmt, vmax = ".2f", 1.0
    else:
        values = counts
        fmt, vmax = "d", None
    sns.heatmap(
        values,
        ax=ax,
        annot=True,
        fmt=fmt,
        cmap=CMAP,
        vmin=0,
        vmax=vmax,
        cbar=False,
        square=True,
        linewidths=0.5,
        linecolor="white",
        xticklabels=list(labels),
        yticklabels=list(labels),
    )
    ax.set_xlabel("predicted grade")
    ax.set_ylabel("true grade")
    ax.tick_params(axis="x", rotation=30)
    ax.tick_params(axis="y", rotation=0)
    ax.grid(False)
    if title:
        ax.set_title(title)
    return ax


def plot_roc(
    fpr: ArrayLike,
    tpr: ArrayLike,
    points: Sequence[OperatingPoint] = (),
    ax: Axes | None = None,
    auc: float | None = None,
    label: str = "referable DR (grade >= 2)",
    log_fpr: bool = False,
) -> Axes:
    """ROC curve (sensitivity against 1 - specificity) with the chance diagonal and one
    marker per operating point (labelled with its sensitivity and specificity).

    ``log_fpr=True`` draws the false positive rate on a log axis, from half the smallest
    non-zero rate of the curve to 1, so operating points crowded near the left edge (high
    specificity, where screening works) spread out; the chance line stays the diagonal tpr = fpr.
    """
    fpr = np.asarray(fpr, dtype=np.float64)
    tpr = np.asarray(tpr, dtype=np.float64)
    if fpr.shape != tpr.shape or fpr.ndim != 1:
        raise ValueError(f"fpr and tpr must be 1-D of equal length, got {fpr.shape}, {tpr.shape}")
    ax = _axes(ax)
    curve_label = label if auc is None else f"{label}, AUC {auc:.3f}"
    ax.plot(fpr, tpr, color=GRADE_COLOURS[3], lw=2, label=curve_label, drawstyle="default")
    if log_fpr:
        positive = fpr[fpr > 0]
        if positive.size == 0:
            raise ValueError("log_fpr needs a curve with a non-zero false positive rate")
        low = float(positive.min()) / 2.0
        chance = np.geomspace(low, 1.0, 200)
        ax.plot(chance, chance, color=ACCENT, lw=1, ls="--", label="chance")
    else:
        ax.plot([0, 1], [0, 1], color=ACCENT, lw=1, ls="--", label="chance")
    markers = ("o", "s", "D", "^", "v")
    for i, point in enumerate(points):
        ax.plot(
            1.0 - point.specificity,
            point.sensitivity,
            marker=markers[i % len(markers)],
            ls="none",
            color=GRADE_COLOURS[i % 2],
            markeredgecolor="white",
            markersize=8,
            label=(
                f"{point.criterion}: sens {point.sensitivity:.3f}, spec {point.specificity:.3f}"
            ),
        )
    if log_fpr:
        ax.set_xscale("log", nonpositive="mask")
        ax.set_xlim(low, 1.0)
        ax.set_xlabel("1 - specificity (false positive rate, log scale)")
    else:
        ax.set_xlim(-0.01, 1.01)
        ax.set_xlabel("1 - specificity (false positive rate)")
    ax.set_ylim(-0.01, 1.01)
    ax.set_ylabel("sensitivity (true positive rate)")
    ax.legend(loc="lower right")
    return ax


def plot_reliability(diagram: ReliabilityDiagram, ax: Axes | None = None) -> Axes:
    """Reliability diagram: accuracy per confidence bin as bars, mean confidence as a gap
    outline, the diagonal of perfect calibration, and the number of images in each bin written
    above its bar (a bar's area says nothing about how many images it holds); the title gives
    the ECE."""
    ax = _axes(ax)
    width = float(np.diff(diagram.bin_edges).mean())
    filled = diagram.counts > 0
    centres = diagram.bin_centres[filled]
    acc = diagram.accuracy[filled]
    conf = diagram.confidence[filled]
    ax.bar(
        centres,
        acc,
        width=width,
        color=GRADE_COLOURS[0],
        edgecolor="white",
        label="accuracy",
    )
    ax.bar(
        centres,
        conf - acc,
        bottom=acc,
        width=width,
        color="none",
        edgecolor=GRADE_COLOURS[3],
        hatch="//",
        label="gap to confidence",
    )
    ax.plot([0, 1], [0, 1], color=ACCENT, lw=1, ls="--", label="perfect calibration")
    for x, top, count in zip(centres, np.maximum(acc, conf), diagram.counts[filled], strict=True):
        ax.text(x, top + 0.015, f"{count:d}", ha="center", va="bottom", fontsize=8,
                color=ACCENT, rotation=90 if count >= 1000 else 0)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.08)
    ax.set_xlabel("confidence (top-label probability)")
    ax.set_ylabel("accuracy")
    ax.set_title(f"ECE {diagram.ece:.3f} ({len(diagram.counts)} bins; numbers: images per bin)")
    ax.legend(loc="upper left")
    return ax
