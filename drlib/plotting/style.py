"""The course's one plotting style: grade colours, figure sizes, rcParams.

Every figure in the book calls :func:`apply_style` (once, at the top of a notebook) and takes its
grade colours from :data:`GRADE_COLOURS`, so figures from different chapters look like one book.
The palette is colour-blind safe (Okabe-Ito blues/oranges, Tol's wine) and splits at the
referral line: cool colours for grades 0-1, warm ones for the referable grades 2-4.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import matplotlib as mpl
import matplotlib.colors as mcolors
from cycler import cycler
from matplotlib import patheffects
from matplotlib.lines import Line2D

if TYPE_CHECKING:
    from matplotlib.axes import Axes


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

BOOK_WIDTH = 7.0
"""Width in inches of a figure as wide as the book's text column: at :data:`DPI` its PNG is about
as many pixels wide as the page shows (~700 px), so its fonts appear at their nominal size."""

LIGHT_LUMINANCE = 0.6
"""Relative luminance above which a line colour is light (white, pale grey, yellow, cyan) and
gets a dark edge in legends, see :func:`line_handle`."""

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


def relative_luminance(colour: object) -> float:
    """WCAG relative luminance (0 black .. 1 white) of any matplotlib colour."""
    rgb = mcolors.to_rgb(colour)
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in rgb]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def line_handle(colour: object, label: str, linewidth: float = 2.0) -> Line2D:
    """A legend entry for an outline drawn in ``colour``. On the white legend background a light
    colour (luminance above :data:`LIGHT_LUMINANCE`: white, pale grey, yellow) would vanish, so
    it gets a dark edge, the way the outline shows against a photograph."""
    handle = Line2D([], [], color=colour, linewidth=linewidth, label=label)
    if relative_luminance(colour) > LIGHT_LUMINANCE:
        handle.set_path_effects([patheffects.Stroke(linewidth=linewidth + 2.0,
                                                    foreground=ACCENT), patheffects.Normal()])
    return handle


def add_scale_bar(ax: Axes, length: float, label: str, loc: str = "lower left",
                  colour: str = "white", fontsize: float = 8.0) -> None:
    """A scale bar ``length`` data units long (pixels, for an image shown with ``imshow``) with
    ``label`` under it, on a dark translucent box so that it reads on bright and dark fundus
    alike. ``length`` must be positive."""
    from mpl_toolkits.axes_grid1.anchored_artists import AnchoredSizeBar

    if not length > 0:
        raise ValueError(f"scale bar length must be positive, got {length!r}")
    bar = AnchoredSizeBar(ax.transData, length, label, loc, pad=0.25, borderpad=0.3, sep=2,
                          color=colour, frameon=True, size_vertical=0,
                          fontproperties={"size": fontsize})
    bar.patch.set(facecolor="black", alpha=0.45, edgecolor="none")
    bar.size_bar.get_children()[0].set_linewidth(2.0)
    ax.add_artist(bar)


def image_axes(ax: Axes) -> None:
    """Axes for a picture: no ticks, no spines, no grid, but (unlike ``ax.axis("off")``) the
    title and axis labels stay, so a row label can sit in ``set_ylabel`` and a layout engine
    makes room for it."""
    ax.set_xticks([])
    ax.set_yticks([])
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(False)
