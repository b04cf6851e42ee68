"""Does an explanation map point at the lesions? Localisation scores of maps against
ground-truth masks, chance and ceiling baselines, and a table with bootstrap intervals.

The synthetic eyes carry a mask of every lesion type, so a CAM or saliency map can be scored
against the truth. Four scores, each per image:

- :func:`pointing_game` (Zhang et al. 2018): is the map's hottest pixel on (or near) a lesion?
- :func:`relevance_mass_accuracy` (Arras et al. 2022): what share of the positive map mass lies
  on the lesions?
- :func:`relevance_rank_accuracy` (Arras et al. 2022): of the K hottest pixels, K the lesion
  area, what share lies on the lesions?
- :func:`pixel_auc`: how well do the map's values separate lesion pixels from the rest (ROC AUC,
  threshold-free)?

A score means little without its chance and ceiling levels: :func:`random_maps` (noise: chance),
:func:`centre_bias_maps` (a Gaussian blob in the middle of the image: "the network looks at the
middle"); callers add the vessel mask as a map ("anatomy only") and the lesion mask itself as a
map (the ceiling: 1 on every score). :func:`localisation_table` puts the lot in one table.

Conventions (as :mod:`drlib.metrics.map_regions`):

- ``maps`` are float arrays (N, H, W), one map per image, at the image's size (upsample first).
- ``masks`` are boolean (N, H, W), or (H, W) meaning the same mask in every image; 0/1 integer
  masks are accepted as booleans.
- ``within`` (optional, bool (N, H, W) or (H, W)) restricts everything to those pixels, e.g. the
  camera's field of view: the mask is taken as ``masks & within``, and the maximum, the mass,
  the ranks and the AUC are taken over the pixels inside ``within`` only.
- Results are per image, shape (N,), NaN where the score is undefined (an empty mask inside
  ``within`` above all), so a mean over images leaves those images out explicitly.

References:

- J. Zhang, S. A. Bargal, Z. Lin, J. Brandt, X. Shen, S. Sclaroff (2018). Top-down neural
  attention by excitation backprop. International Journal of Computer Vision 126, 1084-1102.
- L. Arras, A. Osman, W. Samek (2022). CLEVR-XAI: a benchmark dataset for the ground truth
  evaluation of neural network explanations. Information Fusion 81, 14-40.
- J. A. Hanley, B. J. McNeil (1982). The meaning and use of the area under a receiver operating
  characteristic (ROC) curve. Radiology 143, 29-36 (AUC = Mann-Whitney U / (n1 n0)).

Pure NumPy (pandas for the table): no deep-learning framework, no scipy needed at run time.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from drlib.metrics.map_regions import (
    _as_maps,
    _as_mask,
    _average_ranks,
    _divide,
    _within,
    mean_interval,
)

REFERENCE_TOLERANCE_PX = 15.0
"""Zhang et al. (2018)'s pointing-game tolerance, in pixels of a ``REFERENCE_SIZE`` input."""

REFERENCE_SIZE = 224
"""The input side (pixels) at which :data:`REFERENCE_TOLERANCE_PX` was defined."""

SCORES = ("pointing", "pointing_tol", "mass", "rank", "auc")
"""The scores of :func:`localisation_table`, in column order."""

TABLE_COLUMNS = (
    "method", "group", "n",
    *(f"{score}{suffix}" for score in SCORES for suffix in ("", "_low", "_high")),
)
"""The columns of :func:`localisation_table`."""


# --- validation ---------------------------------------------------------------------------------


def _maps_masks_within(
    maps: ArrayLike, masks: ArrayLike, within: ArrayLike | None, maps_name: str = "maps"
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(maps (N, H, W) float64, mask & within (N, H, W) bool, within (N, H, W) bool)."""
    values = _as_maps(maps, maps_name)
    inside = _within(within, values.shape)
    target = _as_mask(masks, "masks", values.shape) & inside
    return values, target, inside


def _check_tolerance(tolerance_px: float) -> float:
    tolerance = float(tolerance_px)
    if not (math.isfinite(tolerance) and tolerance >= 0.0):
        raise ValueError(f"tolerance_px must be a finite number >= 0, got {tolerance_px!r}")
    return tolerance


def _check_shape(shape: tuple[int, ...]) -> tuple[int, int, int]:
    dims = tuple(int(s) for s in shape)
    if len(dims) != 3 or min(dims) < 1:
        raise ValueError(f"shape must be (N, H, W) with positive sizes, got {tuple(shape)}")
    return dims  # type: ignore[return-value]


# --- pointing game ------------------------------------------------------------------------------


def scaled_tolerance(
    image_size: float,
    reference_px: float = REFERENCE_TOLERANCE_PX,
    reference_size: float = REFERENCE_SIZE,
) -> float:
    """The pointing-game tolerance for images of side ``image_size``:
    ``reference_px * image_size / reference_size``, i.e. Zhang et al. (2018)'s 15 pixels at a
    224-pixel input kept as the same fraction of the image (15 at 224, 30 at 448, 34.29 at 512).
    """
    for name, value in (("image_size", image_size), ("reference_size", reference_size)):
        if not (math.isfinite(float(value)) and float(value) > 0):
            raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    if not (math.isfinite(float(reference_px)) and float(reference_px) >= 0):
        raise ValueError(f"reference_px must be a finite number >= 0, got {reference_px!r}")
    return float(reference_px) * float(image_size) / float(reference_size)


def pointing_game(
    maps: ArrayLike,
    masks: ArrayLike,
    tolerance_px: float = 0.0,
    within: ArrayLike | None = None,
) -> np.ndarray:
    """The pointing game (Zhang et al. 2018), per image (N,): 1.0 a hit, 0.0 a miss.

    The map's maximum inside ``within`` is a hit if the Euclidean distance from that pixel to
    the nearest mask pixel (inside ``within``; pixel centres, in pixels) is at most
    ``tolerance_px``: 0 asks for the maximum to lie on the mask itself, Zhang et al. use 15 px at
    a 224 px input (:func:`scaled_tolerance` for other sizes). Ties for the maximum go to the
    first pixel in row-major order; NaN map values count as lowest.

    NaN for an image whose mask is empty inside ``within``, or whose map has no non-NaN value
    there.
    """
    tolerance = _check_tolerance(tolerance_px)
    values, target, inside = _maps_masks_within(maps, masks, within)
    width = values.shape[2]
    out = np.full(values.shape[0], np.nan)
    for i in range(values.shape[0]):
        pixels = np.flatnonzero(inside[i])  # row-major
        scores = values[i].ravel()[pixels]
        if not target[i].any() or np.isnan(scores).all():
            continue
        top = pixels[np.argmax(np.nan_to_num(scores, nan=-np.inf))]  # first of the ties
        row, col = divmod(int(top), width)
        rows, cols = np.nonzero(target[i])
        nearest = np.min((rows - row) ** 2 + (cols - col) ** 2)  # exact, integers
        out[i] = float(nearest <= tolerance * tolerance)
    return out


# --- mass and rank accuracy ---------------------------------------------------------------------


def relevance_mass_accuracy(
    maps: ArrayLike, masks: ArrayLike, within: ArrayLike | None = None
) -> np.ndarray:
    """Relevance mass accuracy (Arras et al. 2022), per image (N,): the share of the map's
    positive mass inside ``within`` that lies in the mask,
    ``sum_{mask} max(map, 0) / sum_{within} max(map, 0)``.

    1 when all the positive mass is on the mask; a map of noise scores about the mask's area
    share. NaN for an image whose mask is empty inside ``within``, or whose map has no positive
    mass there.
    """
    values, target, inside = _maps_masks_within(maps, masks, within)
    mass = np.where(inside, np.clip(values, 0.0, None), 0.0)
    share = _divide(np.where(target, mass, 0.0).sum(axis=(1, 2)), mass.sum(axis=(1, 2)))
    share[~target.any(axis=(1, 2))] = np.nan
    return share


def relevance_rank_accuracy(
    maps: ArrayLike, masks: ArrayLike, within: ArrayLike | None = None
) -> np.ndarray:
    """Relevance rank accuracy (Arras et al. 2022), per image (N,): with ``K`` the number of
    mask pixels inside ``within``, the share of the ``K`` highest-valued pixels of the map
    (inside ``within``) that lie in the mask, ``|top_K(map) & mask| / K``.

    The map's values are ranked as they are (no clipping). Ties at the cut go to the earlier
    pixel in row-major order (as :func:`drlib.metrics.map_regions.top_overlap`); NaN values
    count as lowest. 1 when the K hottest pixels are the mask; a map of noise scores about the
    mask's area share. NaN for an image whose mask is empty inside ``within``.
    """
    values, target, inside = _maps_masks_within(maps, masks, within)
    out = np.full(values.shape[0], np.nan)
    for i in range(values.shape[0]):
        scores = np.nan_to_num(values[i][inside[i]], nan=-np.inf)
        hits = target[i][inside[i]]
        k = int(np.count_nonzero(hits))
        if k == 0:
            continue
        top = np.argsort(-scores, kind="stable")[:k]
        out[i] = np.count_nonzero(hits[top]) / k
    return out


# --- pixel AUC ----------------------------------------------------------------------------------


def pixel_auc(
    maps: ArrayLike, masks: ArrayLike, within: ArrayLike | None = None
) -> np.ndarray:
    """Pixel-level ROC AUC, per image (N,): the map's values inside ``within`` as a score for
    "this pixel is in the mask".

    Computed as the Mann-Whitney statistic: with average ranks ``r`` of all pixels inside
    ``within`` (ties get their average rank), ``n1`` mask pixels and ``n0`` others,
    ``AUC = (sum_{mask} r - n1 (n1 + 1) / 2) / (n1 n0)`` (Hanley & McNeil 1982): the probability
    that a random mask pixel scores above a random other pixel, ties counting one half; equal
    to ``sklearn.metrics.roc_auc_score(mask, map)``. 1 = every mask pixel above every other,
    0.5 = chance (or a constant map), 0 = the reverse.

    NaN for an image whose mask is empty or covers all pixels inside ``within``, or whose map
    has a NaN value there.
    """
    values, target, inside = _maps_masks_within(maps, masks, within)
    out = np.full(values.shape[0], np.nan)
    for i in range(values.shape[0]):
        scores = values[i][inside[i]]
        positive = target[i][inside[i]]
        n1 = int(np.count_nonzero(positive))
        n0 = positive.size - n1
        if n1 == 0 or n0 == 0 or np.isnan(scores).any():
            continue
        u = _average_ranks(scores)[positive].sum() - n1 * (n1 + 1) / 2.0
        out[i] = u / (n1 * n0)
    return out


# --- baseline maps ------------------------------------------------------------------------------


def random_maps(shape: tuple[int, int, int], seed: int = 0) -> np.ndarray:
    """Uniform noise on [0, 1), float64 (N, H, W), from ``numpy.random.default_rng(seed)``: the
    chance level of every score (no ties almost surely, so ranks and maxima are well defined)."""
    dims = _check_shape(shape)
    return np.random.default_rng(seed).random(dims)


def centre_bias_maps(
    shape: tuple[int, int, int],
    sigma_fraction: float = 0.25,
    centres: ArrayLike | None = None,
) -> np.ndarray:
    """Isotropic Gaussian blobs, float64 (N, H, W), 1 at the centre:
    ``exp(-((x - cx)^2 + (y - cy)^2) / (2 sigma^2))`` with ``x`` the column and ``y`` the row of
    a pixel, ``sigma = sigma_fraction * min(H, W)``.

    The centre is the image's centre, ``((W - 1) / 2, (H - 1) / 2)``, or per image the
    ``centres`` given as an (N, 2) array of ``(cx, cy)`` (column, row; e.g. the centre of each
    eye's field of view). The baseline "the network looks at the middle of the picture".
    """
    n, h, w = _check_shape(shape)
    fraction = float(sigma_fraction)
    if not (math.isfinite(fraction) and fraction > 0):
        raise ValueError(f"sigma_fraction must be a finite number > 0, got {sigma_fraction!r}")
    if centres is None:
        where = np.tile([(w - 1) / 2.0, (h - 1) / 2.0], (n, 1))
    else:
        where = np.asarray(centres, dtype=np.float64)
        if where.shape != (n, 2):
            raise ValueError(
                f"centres must have shape ({n}, 2), one (cx, cy) per image of shape {(n, h, w)}, "
                f"got shape {where.shape}"
            )
    sigma = fraction * min(h, w)
    dx2 = (np.arange(w)[None, :] - where[:, :1]) ** 2  # (N, W)
    dy2 = (np.arange(h)[None, :] - where[:, 1:]) ** 2  # (N, H)
    return np.exp(-(dy2[:, :, None] + dx2[:, None, :]) / (2.0 * sigma * sigma))


# --- table --------------------------------------------------------------------------------------


def localisation_scores(
    maps: ArrayLike,
    masks: ArrayLike,
    within: ArrayLike | None = None,
    tolerance_px: float = 0.0,
) -> dict[str, np.ndarray]:
    """All five per-image scores (N,) of one method's maps, keyed as :data:`SCORES`:
    ``pointing`` (:func:`pointing_game`, no tolerance), ``pointing_tol`` (with ``tolerance_px``),
    ``mass`` (:func:`relevance_mass_accuracy`), ``rank`` (:func:`relevance_rank_accuracy`),
    ``auc`` (:func:`pixel_auc`)."""
    return {
        "pointing": pointing_game(maps, masks, 0.0, within),
        "pointing_tol": pointing_game(maps, masks, tolerance_px, within),
        "mass": relevance_mass_accuracy(maps, masks, within),
        "rank": relevance_rank_accuracy(maps, masks, within),
        "auc": pixel_auc(maps, masks, within),
    }


def localisation_table(
    maps_by_method: Mapping[str, ArrayLike],
    masks: ArrayLike,
    groups: ArrayLike | None = None,
    within: ArrayLike | None = None,
    tolerance_px: float = 0.0,
    resamples: int = 2000,
    seed: int = 0,
) -> pd.DataFrame:
    """One row per (method, group): the mean of each localisation score over the group's
    images, with its percentile bootstrap interval.

    ``maps_by_method`` maps a method's name (e.g. ``"CAM"``, ``"saliency"``, ``"random"``,
    ``"centre"``, ``"vessels"``, ``"lesion mask"``) to its maps (N, H, W); every method is scored
    against the same ``masks`` (and ``within``). ``groups`` (optional, one label per image, e.g.
    the grade or the lesion type) splits the images; without it there is one group, ``"all"``.

    Columns (:data:`TABLE_COLUMNS`): ``method``; ``group``; ``n`` (images of the group whose mask
    is non-empty inside ``within``); then for each score of :data:`SCORES` (``pointing``: the
    pointing game without tolerance; ``pointing_tol``: with ``tolerance_px``; ``mass``: relevance
    mass accuracy; ``rank``: relevance rank accuracy; ``auc``: pixel AUC; see
    :func:`localisation_scores`) its mean over the images where it is defined and
    ``<score>_low``/``<score>_high``, the interval of
    :func:`drlib.metrics.map_regions.mean_interval` (``resamples``, ``seed``, 95%). Rows: methods
    in the order given, within a method the groups sorted.
    """
    if not maps_by_method:
        raise ValueError("maps_by_method must name at least one method, got none")
    scored = {}
    shape: tuple[int, int, int] | None = None
    for method, maps in maps_by_method.items():
        values = _as_maps(maps, f"maps_by_method[{method!r}]")
        if shape is not None and values.shape != shape:
            raise ValueError(
                f"maps_by_method[{method!r}] must have the shape of the other methods' maps, "
                f"{shape}, got shape {values.shape}"
            )
        shape = values.shape
        scored[method] = localisation_scores(values, masks, within, tolerance_px)
    assert shape is not None
    target = _as_mask(masks, "masks", shape) & _within(within, shape)
    has_mask = target.any(axis=(1, 2))
    if groups is None:
        labels = np.full(shape[0], "all", dtype=object)
    else:
        labels = np.asarray(groups)
        if labels.shape != shape[:1]:
            raise ValueError(
                f"groups must have one label per image, shape {shape[:1]}, got shape "
                f"{labels.shape} (maps {shape})"
            )
    rows = []
    for method, scores in scored.items():
        for group in np.unique(labels):
            of_group = labels == group
            row = {
                "method": method,
                "group": group.item() if hasattr(group, "item") else group,
                "n": int(np.count_nonzero(has_mask & of_group)),
            }
            for score in SCORES:
                mean, low, high = mean_interval(scores[score][of_group], resamples, seed)
                row.update({score: mean, f"{score}_low": low, f"{score}_high": high})
            rows.append(row)
    return pd.DataFrame(rows, columns=list(TABLE_COLUMNS))
