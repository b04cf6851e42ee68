"""Explanation maps drawn over fundus photographs: the CAM and saliency chapters' figures.

:func:`overlay_map` blends a colour-mapped map into the photograph (a plain array, so a test or a
notebook can check pixels); :func:`plot_grade_columns` lays out the paper's Figure 3 (one column
per grade, rows image / CAM / saliency); :func:`plot_map_pair` puts several maps of one image side
by side. Maps must already be at the image's size (``drlib.explain.upsample_maps``).

Two colour maps: :data:`PAPER_CMAP`, the green-yellow-red range of Pratt et al. (2019), to compare
with the paper's figures; :data:`PERCEPTUAL_CMAP` (viridis), perceptually uniform and readable
in grey and by colour-blind readers, for the course's own figures. Figures are returned, never
shown or saved.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import matplotlib as mpl
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import Colormap, LinearSegmentedColormap, Normalize
from numpy.typing import ArrayLike

from drlib.plotting.style import ACCENT

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

PAPER_CMAP: LinearSegmentedColormap = LinearSegmentedColormap.from_list(
    "paper_red_green", ["#00a000", "#ffff00", "#e00000"]
)
"""The paper's red-to-green range: low values green, middle yellow, high red."""

PERCEPTUAL_CMAP = "viridis"
"""A perceptually uniform colour map (by name), for the course's own figures."""


def _colormap(cmap: str | Colormap) -> Colormap:
    return cmap if isinstance(cmap, Colormap) else mpl.colormaps[cmap]


def _image(image: ArrayLike) -> np.ndarray:
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"image must have shape (H, W, 3), got shape {array.shape}")
    return array.astype(np.float64) / 255.0


def overlay_map(
    image: ArrayLike,
    heat: ArrayLike,
    cmap: str | Colormap = PAPER_CMAP,
    alpha: float = 0.5,
    mask: ArrayLike | None = None,
    vmin: float | None = None,
    vmax: float | None = None,
) -> np.ndarray:
    """The photograph with ``heat`` blended in: float RGB (H, W, 3) in [0, 1].

    ``image`` is uint8 or float (H, W, 3) in [0, 255]; ``heat`` (H, W) at the image's size. The
    heat is normalised to [vmin, vmax] (default: its own minimum and maximum inside ``mask``, or
    over the whole map), clipped, coloured with ``cmap`` and blended as
    ``(1 - alpha) * image / 255 + alpha * colour``. Where ``mask`` (bool (H, W)) is False, or the
    heat is NaN, the photograph is shown unblended. A constant heat is coloured as the low end.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    picture = _image(image)
    values = np.asarray(heat, dtype=np.float64)
    if values.shape != picture.shape[:2]:
        raise ValueError(
            f"heat must have the image's height and width: heat shape {values.shape}, image "
            f"shape {picture.shape}; upsample it first (drlib.explain.upsample_maps)"
        )
    show = np.isfinite(values)
    if mask is not None:
        region = np.asarray(mask)
        if region.shape != values.shape:
            raise ValueError(
                f"mask must have shape {values.shape} (the heat's), got shape {region.shape}"
            )
        show &= region.astype(bool)
    if not show.any():
        return picture
    low = float(values[show].min()) if vmin is None else float(vmin)
    high = float(values[show].max()) if vmax is None else float(vmax)
    span = high - low
    scaled = (values - low) / span if span > 0 else np.zeros_like(values)
    colour = _colormap(cmap)(np.clip(np.nan_to_num(scaled), 0.0, 1.0))[..., :3]
    blended = (1.0 - alpha) * picture + alpha * colour
    return np.where(show[..., None], blended, picture)


def _show(ax: Axes, pixels: np.ndarray) -> None:
    ax.imshow(np.clip(pixels, 0.0, 1.0), interpolation="nearest")
    ax.set_axis_off()


def _colorbar(fig: Figure, axes: Sequence[Axes], cmap: str | Colormap) -> None:
    mappable = mpl.cm.ScalarMappable(norm=Normalize(0.0, 1.0), cmap=_colormap(cmap))
    bar = fig.colorbar(mappable, ax=list(axes), fraction=0.03, pad=0.02, ticks=[0.0, 1.0])
    bar.ax.set_yticklabels(["low", "high"])
    bar.outline.set_edgecolor(ACCENT)


def plot_grade_columns(
    columns: Sequence[Mapping[str, Any]],
    rows: Sequence[str] = ("image", "cam", "saliency"),
    row_titles: Sequence[str] | None = None,
    cmap: str | Colormap = PAPER_CMAP,
    alpha: float = 0.5,
    figsize_per_cell: float = 2.0,
    *,
    colorbar: bool = False,
) -> Figure:
    """The paper's Figure 3: one column per entry of ``columns``, one row per key of ``rows``.

    Each column is a mapping with ``"title"`` (the column title, e.g. the grade), ``"image"``
    ((H, W, 3) in [0, 255]), one (H, W) map per map row (every row key but ``"image"``) and an
    optional ``"mask"`` (bool (H, W), e.g. the field of view). The row ``"image"`` shows the
    photograph; every other row the :func:`overlay_map` of that map (normalised to its own range
    inside the mask). Row labels (``row_titles``, default the row keys) are written left of the
    first column; axes are off. ``colorbar=True`` adds one low-high colour bar for the map rows.
    """
    if not columns:
        raise ValueError("columns must hold at least one column")
    if not rows:
        raise ValueError("rows must hold at least one row key")
    titles = list(rows if row_titles is None else row_titles)
    if len(titles) != len(rows):
        raise ValueError(f"{len(titles)} row_titles for {len(rows)} rows {tuple(rows)}")
    for j, column in enumerate(columns):
        missing = [key for key in ("title", "image", *rows) if key not in column]
        if missing:
            raise ValueError(f"columns[{j}] lacks the keys {missing}")
    n_rows, n_cols = len(rows), len(columns)
    fig, grid = plt.subplots(
        n_rows, n_cols, squeeze=False,
        figsize=(figsize_per_cell * n_cols + (0.6 if colorbar else 0.0), figsize_per_cell * n_rows),
    )
    for j, column in enumerate(columns):
        for i, key in enumerate(rows):
            ax = grid[i, j]
            if key == "image":
                pixels = _image(column["image"])
            else:
                pixels = overlay_map(column["image"], column[key], cmap=cmap, alpha=alpha,
                                     mask=column.get("mask"))
            _show(ax, pixels)
            if i == 0:
                ax.set_title(str(column["title"]))
    for i, title in enumerate(titles):
        grid[i, 0].text(-0.06, 0.5, str(title), transform=grid[i, 0].transAxes, rotation=90,
                        ha="right", va="center", fontsize=mpl.rcParams["axes.titlesize"])
    map_axes = [ax for i, key in enumerate(rows) if key != "image" for ax in grid[i]]
    if colorbar and map_axes:
        _colorbar(fig, map_axes, cmap)
    return fig


def plot_map_pair(
    image: ArrayLike,
    maps: Mapping[str, ArrayLike],
    cmap: str | Colormap = PERCEPTUAL_CMAP,
    mask: ArrayLike | None = None,
    alpha: float = 0.5,
    figsize_per_cell: float = 2.5,
    image_title: str = "image",
    colorbar: bool = False,
) -> Figure:
    """One row: the photograph (titled ``image_title``), then each of ``maps`` ((H, W) at the
    image's size) as an :func:`overlay_map`, titled by its key. Axes off; ``colorbar=True`` adds
    a low-high colour bar for the overlays."""
    if not maps:
        raise ValueError("maps must hold at least one named map")
    n_cols = 1 + len(maps)
    fig, grid = plt.subplots(
        1, n_cols, squeeze=False,
        figsize=(figsize_per_cell * n_cols + (0.6 if colorbar else 0.0), figsize_per_cell),
    )
    axes = list(grid[0])
    _show(axes[0], _image(image))
    axes[0].set_title(image_title)
    for ax, (name, heat) in zip(axes[1:], maps.items(), strict=True):
        _show(ax, overlay_map(image, heat, cmap=cmap, alpha=alpha, mask=mask))
        ax.set_title(str(name))
    if colorbar:
        _colorbar(fig, axes[1:], cmap)
    return fig
