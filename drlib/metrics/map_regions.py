"""Where an explanation map puts its weight: shares of a map's mass on image regions, and how
much two maps agree.

A CAM or saliency map says *where* a network looked; these functions turn that into numbers a
chapter can put a confidence interval on. The questions are region questions (what share of the
map lies on the lesions, the optic disc, the vessels, outside the field of view?) and agreement
questions (do two maps rank the pixels alike, do they pick the same hottest pixels?).

Conventions (every function):

- ``maps`` are float arrays (N, H, W), one map per image, at the image's size (upsample first).
- Regions are boolean arrays (N, H, W), or (H, W) meaning the same region in every image; 0/1
  integer masks are accepted as booleans.
- ``within`` (optional, bool (N, H, W) or (H, W)) restricts everything to those pixels, e.g. the
  camera's field of view: mass, areas, ranks and top pixels are taken inside it only.
- Results are per image, shape (N,), NaN where the quantity is undefined (no mass, an empty
  region, too few pixels), so a mean over images can ignore them explicitly.

Pure NumPy (pandas for the table): no deep-learning framework, no scipy needed at run time.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from drlib.metrics.bootstrap import bootstrap_indices

MASS_MODES = ("positive", "absolute")
"""How a map becomes non-negative mass: ``clip(map, 0)`` or ``|map|``."""

TABLE_COLUMNS = (
    "grade", "region", "n", "energy_share", "low", "high", "area_share", "enrichment",
)
"""The columns of :func:`region_share_table`."""


# --- validation ---------------------------------------------------------------------------------


def _as_maps(maps: ArrayLike, name: str = "maps") -> np.ndarray:
    array = np.asarray(maps, dtype=np.float64)
    if array.ndim != 3:
        raise ValueError(f"{name} must have shape (N, H, W), got shape {array.shape}")
    return array


def _as_mask(mask: ArrayLike, name: str, shape: tuple[int, int, int]) -> np.ndarray:
    """A boolean (N, H, W) view of ``mask`` ((N, H, W) or (H, W)) for maps of ``shape``."""
    array = np.asarray(mask)
    if array.dtype != bool:
        if array.size and not np.isin(array, (0, 1)).all():
            raise ValueError(
                f"{name} must be a boolean mask (or 0/1), got dtype {array.dtype} with other values"
            )
        array = array.astype(bool)
    if array.shape == shape[1:]:
        return np.broadcast_to(array, shape)
    if array.shape != shape:
        raise ValueError(
            f"{name} must have shape {shape} (or {shape[1:]} for every image) to match the maps, "
            f"got shape {array.shape}"
        )
    return array


def _within(within: ArrayLike | None, shape: tuple[int, int, int]) -> np.ndarray:
    if within is None:
        return np.ones(shape, dtype=bool)
    return _as_mask(within, "within", shape)


def _pair(a: ArrayLike, b: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    first, second = _as_maps(a, "a"), _as_maps(b, "b")
    if first.shape != second.shape:
        raise ValueError(
            f"a and b must have the same shape, got a {first.shape} and b {second.shape}"
        )
    return first, second


def _divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """numerator / denominator, NaN where the denominator is 0 (no warnings)."""
    numerator = np.asarray(numerator, dtype=np.float64)
    denominator = np.asarray(denominator, dtype=np.float64)
    out = np.full(np.broadcast(numerator, denominator).shape, np.nan)
    np.divide(numerator, denominator, out=out, where=denominator != 0)
    return out


# --- shares -------------------------------------------------------------------------------------


def map_mass(maps: ArrayLike, mode: str = "positive") -> np.ndarray:
    """The non-negative mass of ``maps`` (any shape), float64: ``mode="positive"`` keeps the
    positive part (``clip(map, 0)``: evidence *for* the class), ``"absolute"`` takes ``|map|``."""
    if mode not in MASS_MODES:
        raise ValueError(f"mode must be one of {MASS_MODES}, got {mode!r}")
    values = np.asarray(maps, dtype=np.float64)
    return np.clip(values, 0.0, None) if mode == "positive" else np.abs(values)


def energy_shares(
    maps: ArrayLike,
    regions: Mapping[str, ArrayLike],
    within: ArrayLike | None = None,
    mode: str = "positive",
) -> dict[str, np.ndarray]:
    """Per region, the share (N,) of each map's mass inside ``within`` that lies in the region.

    NaN for an image whose map has no mass inside ``within``. Regions need not be disjoint, so
    the shares of several regions need not add up to 1.
    """
    values = _as_maps(maps)
    inside = _within(within, values.shape)
    mass = np.where(inside, map_mass(values, mode), 0.0)
    total = mass.sum(axis=(1, 2))
    return {
        name: _divide(np.where(_as_mask(region, f"regions[{name!r}]", values.shape), mass, 0.0)
                      .sum(axis=(1, 2)), total)
        for name, region in regions.items()
    }


def _area_shares(
    regions: Mapping[str, ArrayLike], inside: np.ndarray
) -> dict[str, np.ndarray]:
    pixels = inside.sum(axis=(1, 2))
    return {
        name: _divide((_as_mask(region, f"regions[{name!r}]", inside.shape) & inside)
                      .sum(axis=(1, 2)), pixels)
        for name, region in regions.items()
    }


def area_shares(
    regions: Mapping[str, ArrayLike], within: ArrayLike | None = None
) -> dict[str, np.ndarray]:
    """Per region, the share (N,) of the pixels inside ``within`` that lie in the region.

    N is the number of images of the (N, H, W) regions or ``within``; when every region and
    ``within`` is (H, W), the result has shape (1,). NaN for an image with no pixel in ``within``.
    """
    arrays = {name: np.asarray(region) for name, region in regions.items()}
    shapes = [a.shape for a in arrays.values()]
    if within is not None:
        shapes.append(np.asarray(within).shape)
    if not shapes:
        return {}
    for name, shape in zip([*arrays, "within"], shapes, strict=False):
        if len(shape) not in (2, 3):
            raise ValueError(
                f"{name if name == 'within' else f'regions[{name!r}]'} must have shape (N, H, W) "
                f"or (H, W), got shape {shape}"
            )
    full = next((s for s in shapes if len(s) == 3), (1, *shapes[0]))
    inside = _within(within, full)
    return _area_shares(arrays, inside)


def energy_enrichment(
    maps: ArrayLike,
    regions: Mapping[str, ArrayLike],
    within: ArrayLike | None = None,
    mode: str = "positive",
) -> dict[str, np.ndarray]:
    """Per region, energy share / area share (N,): 1 means the map is as dense on the region
    as on the average pixel inside ``within``, 2 twice as dense. NaN where the region is empty
    (inside ``within``) or the map has no mass."""
    values = _as_maps(maps)
    inside = _within(within, values.shape)
    energy = energy_shares(values, regions, inside, mode)
    area = _area_shares(regions, inside)
    return {name: _divide(energy[name], area[name]) for name in regions}


# --- agreement of two maps ----------------------------------------------------------------------


def _average_ranks(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n of a 1-D array, ties given their average rank (as scipy's ``rankdata``)."""
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    starts = np.concatenate(([True], ordered[1:] != ordered[:-1]))
    group = np.cumsum(starts) - 1
    bounds = np.concatenate((np.flatnonzero(starts), [values.size]))
    ranks = np.empty(values.size, dtype=np.float64)
    # a tie group at sorted positions [lo, hi) has ranks lo+1 .. hi, average (lo + hi + 1) / 2
    ranks[order] = 0.5 * (bounds[group] + bounds[group + 1] + 1)
    return ranks


def _pearson(x: np.ndarray, y: np.ndarray) -> float:
    dx, dy = x - x.mean(), y - y.mean()
    denominator = np.sqrt(np.dot(dx, dx) * np.dot(dy, dy))
    if denominator == 0:
        return float("nan")
    return float(np.clip(np.dot(dx, dy) / denominator, -1.0, 1.0))


def rank_correlation(
    a: ArrayLike, b: ArrayLike, within: ArrayLike | None = None
) -> np.ndarray:
    """Spearman's rank correlation (N,) between maps ``a`` and ``b``, image by image, over the
    pixels inside ``within`` (ties get average ranks, as ``scipy.stats.spearmanr``).

    NaN for an image with fewer than 2 pixels inside ``within``, with a constant map there, or
    with a non-finite value there.
    """
    first, second = _pair(a, b)
    inside = _within(within, first.shape)
    out = np.full(first.shape[0], np.nan)
    for i in range(first.shape[0]):
        x, y = first[i][inside[i]], second[i][inside[i]]
        if x.size < 2 or not (np.isfinite(x).all() and np.isfinite(y).all()):
            continue
        out[i] = _pearson(_average_ranks(x), _average_ranks(y))
    return out


def _top_mask(values: np.ndarray, k: int) -> np.ndarray:
    """Boolean mask of the ``k`` largest of ``values`` (1-D); ties broken by position, the
    earlier pixel first, so identical maps pick identical pixels."""
    order = np.argsort(-values, kind="stable")
    top = np.zeros(values.size, dtype=bool)
    top[order[:k]] = True
    return top


def top_overlap(
    a: ArrayLike, b: ArrayLike, fraction: float = 0.1, within: ArrayLike | None = None
) -> np.ndarray:
    """Intersection over union (N,) of the top ``fraction`` of pixels of ``a`` and of ``b``.

    The top set of a map is its ``k = max(1, round(fraction * n))`` highest pixels among the
    ``n`` inside ``within`` (ties at the cut broken by pixel position, row-major). 1 = the same
    pixels, 0 = disjoint. NaN for an image with no pixel inside ``within``; NaN values count as
    lowest.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"fraction must be in (0, 1], got {fraction}")
    first, second = _pair(a, b)
    inside = _within(within, first.shape)
    out = np.full(first.shape[0], np.nan)
    for i in range(first.shape[0]):
        x = np.nan_to_num(first[i][inside[i]], nan=-np.inf)
        y = np.nan_to_num(second[i][inside[i]], nan=-np.inf)
        if x.size == 0:
            continue
        k = max(1, int(np.floor(fraction * x.size + 0.5)))
        top_x, top_y = _top_mask(x, k), _top_mask(y, k)
        out[i] = np.count_nonzero(top_x & top_y) / np.count_nonzero(top_x | top_y)
    return out


# --- summaries with intervals -------------------------------------------------------------------


def mean_interval(
    values: ArrayLike, resamples: int = 2000, seed: int = 0, level: float = 0.95
) -> tuple[float, float, float]:
    """(mean, low, high): the mean of a 1-D sample, NaNs left out, with its percentile bootstrap
    interval at ``level`` (the defined values resampled with
    :func:`drlib.metrics.bootstrap.bootstrap_indices`; numpy's linear percentiles).

    (nan, nan, nan) when no value is defined.
    """
    sample = np.asarray(values, dtype=np.float64)
    if sample.ndim != 1:
        raise ValueError(f"values must be 1-D, got shape {sample.shape}")
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    sample = sample[~np.isnan(sample)]
    if sample.size == 0:
        return (float("nan"), float("nan"), float("nan"))
    means = sample[bootstrap_indices(sample.size, resamples, seed)].mean(axis=1)
    tail = 100.0 * (1.0 - level) / 2.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return (float(sample.mean()), float(low), float(high))


def region_share_table(
    maps: ArrayLike,
    regions: Mapping[str, ArrayLike],
    grades: ArrayLike,
    within: ArrayLike | None = None,
    mode: str = "positive",
    resamples: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per (grade, region): how much of the maps of that grade's images lies in the
    region.

    Columns: ``grade``; ``region``; ``n`` (images of the grade with a defined energy share, i.e.
    with map mass inside ``within``); ``energy_share`` with ``low``/``high`` (mean of the per-image
    energy shares and its percentile bootstrap interval, :func:`mean_interval` with ``resamples``
    and ``seed``); ``area_share`` (mean per-image area share over the same images);
    ``enrichment`` = energy_share / area_share. Rows sorted by grade, then regions in the order
    of ``regions``.
    """
    values = _as_maps(maps)
    labels = np.asarray(grades)
    if labels.shape != values.shape[:1]:
        raise ValueError(
            f"grades must have one label per map, shape {values.shape[:1]}, got shape "
            f"{labels.shape} (maps {values.shape})"
        )
    inside = _within(within, values.shape)
    energy = energy_shares(values, regions, inside, mode)
    area = _area_shares(regions, inside)
    rows = []
    for grade in np.unique(labels):
        of_grade = labels == grade
        for name in regions:
            shares = energy[name][of_grade]
            defined = ~np.isnan(shares)
            mean, low, high = mean_interval(shares, resamples, seed)
            areas = area[name][of_grade][defined]
            area_mean = float(np.nanmean(areas)) if np.any(~np.isnan(areas)) else float("nan")
            rows.append({
                "grade": grade.item(),
                "region": name,
                "n": int(np.count_nonzero(defined)),
                "energy_share": mean,
                "low": low,
                "high": high,
                "area_share": area_mean,
                "enrichment": float(_divide(mean, area_mean)),
            })
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
