"""The course's one figure style and the figures more than one chapter draws."""

from drlib.plotting.figures import plot_confusion, plot_reliability, plot_roc
from drlib.plotting.overlays import (
    PAPER_CMAP,
    PERCEPTUAL_CMAP,
    overlay_map,
    plot_grade_columns,
    plot_map_pair,
)
from drlib.plotting.style import ACCENT, GRADE_COLOURS, GRADE_PALETTE, apply_style

__all__ = [
    "ACCENT", "GRADE_COLOURS", "GRADE_PALETTE", "apply_style", "plot_confusion",
    "plot_reliability", "plot_roc",
    "PAPER_CMAP", "PERCEPTUAL_CMAP", "overlay_map", "plot_grade_columns", "plot_map_pair",
]
