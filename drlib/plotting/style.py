"""The course's one plotting style: grade colours, figure sizes, rcParams.

Every figure in the book calls :func:`apply_style` (once, at the top of a notebook) and takes its
grade colours from :data:`GRADE_COLOURS`, so figures from different chapters look like one book.
The palette is colour-blind safe (Okabe-Ito blues/oranges, Tol's wine) and splits at the
referral line: cool colours for grades 0-1, warm ones for the referable grades 2-4.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import matplotlib as mpl
from cycler import cycler

if TYPE_CHECKING:

    pass


GRADE_COLOURS: tuple[str, ...] = ("#0072B2", "#56B4E9", "#E69F00", "#D55E00", "#882255")
"""One colour per grade 0..4: blue, sky blue, orange, vermilion, wine."""

GRADE_PALETTE: dict[int, str] = dict(enumerate(GRADE_COLOURS))
"""Grade -> colour, for seaborn's ``palette=`` argument."""

ACCENT = "#333333"
"""Neutral colour for reference lines (chance diagonal, perfect calibration)."""

FIGSIZE: tuple[float, float] = (6.0, 4.0)
"""Default figure size in inches (one figure per text column)."""

FIGSIZE_SQUARE: tuple[float, float] = (4.5, 4.5)
"""For confusion matrices, ROC curves and reliability diagrams."""

DPI = 100
"""Screen dpi for notebook output."""

SAVE_DPI = 200
"""Dpi for saved figures."""

CMAP = "Blues"
"""Colour map for count matrices."""

STYLE: dict[str, object] = {
    "figure.figsize": FIGSIZE,
    "figure.dpi": DPI,
    "savefig.dpi": SAVE_DPI,
    "savefig.bbox": "tight",
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.labelsize": 10,
    "legend.fontsize": 9,
    "xtick.labelsize": 9,
    "ytick.labelsize": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.prop_cycle": cycler(color=list(GRADE_COLOURS)),
    "image.cmap": "viridis",
    # Deterministic SVG output (no random ids), so notebook outputs are reproducible.
    "svg.hashsalt": "drlib",
    "svg.fonttype": "none",
}
"""The rcParams :func:`apply_style` sets."""


def apply_style() -> None:
    """Set the course's matplotlib rcParams (:data:`STYLE`). Idempotent."""
    mpl.rcParams.update(STYLE)
