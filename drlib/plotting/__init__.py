"""The course's one figure style and the figures more than one chapter draws."""

from drlib.plotting.figures import plot_confusion, plot_reliability, plot_roc
from drlib.plotting.overlays import (
    PAPER_CMAP,
    PERCEPTUAL_CMAP,
    overlay_map,
    plot_grade_columns,
    plot_map_pair,
)
from drlib.plotting.style import (
    ACCENT,
    BOOK_WIDTH,
    GRADE_COLOURS,
    GRADE_PALETTE,
    add_scale_bar,
    apply_style,
    image_axes,
    line_handle,
)

__all__ = [
    "ACCENT", "BOOK_WIDTH", "GRADE_COLOURS", "GRADE_PALETTE", "add_scale_bar", "apply_style",
    "image_axes", "line_handle", "plot_confusion",
    "plot_reliability", "plot_roc",
    "PAPER_CMAP", "PERCEPTUAL_CMAP", "overlay_map", "plot_grade_columns", "plot_map_pair",
]
