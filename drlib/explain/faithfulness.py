"""Is a map faithful? Deletion and insertion curves.

A map ranks the pixels. If the ranking is faithful to the grader, removing the pixels the map
ranks highest should lower the class score S_c faster than removing them in any other order
(the **deletion** curve, Samek et al. 2017's "most relevant first"; Petsiuk et al. 2018), and
putting them back first into an image with everything removed should raise it faster (the
**insertion** curve). Each curve samples S_c (before softmax, and its softmax probability) at
fractions 0 = nothing removed, ..., 1 = every pixel (inside ``within``) removed, and the area
under it (trapezoidal rule over the fractions) sums it up: for deletion lower is better, for
insertion higher. A map is only informative where it beats a **random order**
(:func:`random_baseline`, seeded), the comparison the chapter makes.

How a pixel is removed matters as much as the order (:mod:`drlib.explain.imputation`):
``fill="road"`` (default) is ROAD's noisy linear imputation (Rong et al. 2022), which removes a
pixel's information without leaving a hole whose shape gives the map away; ``"blur"``,
``"black"`` and ``"mean"`` are the plain baselines ROAD argues against.

Conventions:

- ``maps`` (N, H, W) at the images' size (upsample a CAM first); NaN counts as lowest.
- The removal order is highest first; ties, and the whole order for ``maps=None``, are broken
  at random with a seeded generator (as ROAD's tiny random offset does).
- At fraction f the first ``k = floor(f n + 1/2)`` pixels of the order are removed (deletion)
  or kept (insertion), ``n`` the number of pixels inside ``within`` (all by default). Pixels
  outside ``within`` (e.g. the camera's black surround) are never removed and always shown.
- Every (image, fraction) variant goes through the scores sub-model
  (:func:`drlib.explain.graph.scores_model`) in batches padded to one size, so a compiled step
  sees one shape; the variants are built batch by batch, never all at once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import keras
import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from drlib.explain.graph import explained_classes
from drlib.explain.graph import scores_model as _scores_model
from drlib.explain.imputation import (
    BLUR_SIGMA,
    ROAD_NOISE_STD,
    blur_fill,
    constant_fill,
    noisy_linear_impute,
)
from drlib.explain.targets import as_image_batch, pad_rows
from drlib.modeling.densenet import SCORES_LAYER

FILLS = ("road", "blur", "black", "mean")
"""How :func:`deletion_curve` and :func:`insertion_curve` remove pixels: ROAD's noisy linear
imputation, a blurred copy (sigma :data:`~drlib.explain.imputation.BLUR_SIGMA`), 0, or the
image's per-channel mean."""

KINDS = ("deletion", "insertion")

DEFAULT_FRACTIONS = np.linspace(0.0, 1.0, 11)
"""0, 0.1, ..., 1: the fractions of pixels removed (deletion) or shown (insertion)."""

Fill = Callable[[np.ndarray, np.ndarray, np.random.Generator], np.ndarray]
"""A custom fill: ``fill(images (n, H, W, C), remove (n, H, W) bool, rng) -> images``."""


@dataclass(frozen=True)
class FaithfulnessCurve:
    """Deletion or insertion curves of a batch of images.

    Attributes:
        kind: ``"deletion"`` or ``"insertion"``.
        fill: how pixels were removed (:data:`FILLS`, or ``"custom"``).
        order: ``"map"`` (the map's order) or ``"random"``.
        fractions: (F,) fractions of the pixels inside ``within`` removed (deletion) or shown
            (insertion), increasing.
        scores: S_c (N, F), the explained class' score before softmax, per image and fraction.
        probabilities: softmax(S)_c (N, F).
        classes: the explained class per image (N,).
        pixels: (N, F) how many pixels were removed (deletion) or shown (insertion).
        repeats: how many random orders were averaged (1 for a map's order).
    """

    kind: str
    fill: str
    order: str
    fractions: np.ndarray
    scores: np.ndarray
    probabilities: np.ndarray
    classes: np.ndarray
    pixels: np.ndarray
    repeats: int = 1

    @property
    def auc(self) -> np.ndarray:
        """Area under S_c over the fractions (trapezoidal rule), per image (N,)."""
        return np.trapezoid(self.scores.astype(np.float64), self.fractions, axis=1)

    @property
    def probability_auc(self) -> np.ndarray:
        """Area under softmax(S)_c over the fractions, per image (N,)."""
        return np.trapezoid(self.probabilities.astype(np.float64), self.fractions, axis=1)

    def to_frame(self) -> pd.DataFrame:
        """One row per image and fraction: kind, fill, order, image, class, fraction, pixels,
        score, probability (long format, for plotting)."""
        n, f = self.scores.shape
        return pd.DataFrame({
            "kind": self.kind, "fill": self.fill, "order": self.order,
            "image": np.repeat(np.arange(n), f), "class": np.repeat(self.classes, f),
            "fraction": np.tile(self.fractions, n), "pixels": self.pixels.ravel(),
            "score": self.scores.ravel(), "probability": self.probabilities.ravel(),
        })


# --- the order ----------------------------------------------------------------------------------


def _inside(within: ArrayLike | None, shape: tuple[int, int, int]) -> np.ndarray:
    if within is None:
        return np.ones(shape, dtype=bool)
    mask = np.asarray(within)
    if mask.dtype != bool:
        if mask.size and not np.isin(mask, (0, 1)).all():
            raise ValueError(f"within must be a boolean mask (or 0/1); got dtype {mask.dtype}")
        mask = mask.astype(bool)
    if mask.shape == shape[1:]:
        mask = np.broadcast_to(mask, shape)
    if mask.shape != shape:
        raise ValueError(f"within must have shape {shape} (or {shape[1:]}); got {mask.shape}")
    return mask


def removal_order(maps: ArrayLike | None, within: ArrayLike | None = None, seed: Any = None, *,
                  shape: tuple[int, int, int] | None = None) -> np.ndarray:
    """The rank of every pixel in the removal order, highest map value first: int (N, H, W).

    Rank 0 is removed first; the pixels to remove at fraction f are ``ranks < k``. Pixels
    outside ``within`` get rank ``H * W`` (never removed).

    Args:
        maps: (N, H, W) (or one map (H, W)); NaN counts as lowest. ``None``: a random order
            (then ``shape`` (N, H, W) or ``within`` (N, H, W) gives the shape).
        within: bool (N, H, W) or (H, W): the pixels that take part (all by default).
        seed: ``None`` breaks ties by position (row-major, earlier first) and, for
            ``maps=None``, draws an unseeded random order; otherwise ties (or the whole random
            order) are drawn from ``numpy.random.default_rng(seed)``.
    """
    if maps is None:
        if shape is None:
            if within is None or np.ndim(within) != 3:
                raise ValueError("a random order (maps=None) needs shape=(N, H, W) or a "
                                 "within mask of shape (N, H, W)")
            shape = np.shape(within)
        values = np.zeros(shape, dtype=np.float64)
        if seed is None:
            seed = np.random.SeedSequence()
    else:
        values = np.asarray(maps, dtype=np.float64)
        if values.ndim == 2:
            values = values[None]
        if values.ndim != 3:
            raise ValueError(f"maps must have shape (N, H, W) or (H, W); got {values.shape}")
        if shape is not None and values.shape != tuple(shape):
            raise ValueError(f"maps have shape {values.shape}; the images need {tuple(shape)} "
                             "(upsample the maps to the image size first)")
    n, height, width = values.shape
    inside = _inside(within, values.shape).reshape(n, -1)
    keys = np.nan_to_num(values.reshape(n, -1), nan=-np.inf)
    rng = None if seed is None else np.random.default_rng(seed)
    ranks = np.full((n, height * width), height * width, dtype=np.int64)
    for i in range(n):
        tiebreak = (np.arange(height * width) if rng is None
                    else rng.permutation(height * width))
        # lexsort: last key first: inside pixels first, then highest value, then the tie-break
        order = np.lexsort((tiebreak, -keys[i], ~inside[i]))
        count = int(inside[i].sum())
        ranks[i, order[:count]] = np.arange(count)
    return ranks.reshape(n, height, width)


def pixel_counts(fractions: ArrayLike, within_counts: ArrayLike) -> np.ndarray:
    """``k = floor(f n + 1/2)`` (N, F): pixels removed/shown at each fraction, per image."""
    f = np.asarray(fractions, dtype=np.float64)
    n = np.asarray(within_counts, dtype=np.float64)
    return np.floor(f[None, :] * n[:, None] + 0.5).astype(np.int64)


# --- the variants -------------------------------------------------------------------------------


def _seed_sequence(seed: Any) -> np.random.SeedSequence:
    """A SeedSequence from an int, a sequence of ints, None (fresh entropy) or a SeedSequence."""
    if isinstance(seed, np.random.SeedSequence):  # a copy: spawning would change the caller's
        return np.random.SeedSequence(seed.entropy, spawn_key=seed.spawn_key,
                                      pool_size=seed.pool_size)
    if isinstance(seed, np.random.Generator):
        return np.random.SeedSequence(int(seed.integers(2**63)))
    return np.random.SeedSequence(seed)


def _fill_function(fill: str | Fill, noise_std: float, blur_sigma: float) -> tuple[str, Fill]:
    if callable(fill):
        return "custom", fill
    if fill == "road":
        return fill, lambda x, m, rng: noisy_linear_impute(x, m, noise_std=noise_std, seed=rng)
    if fill == "blur":
        return fill, lambda x, m, rng: blur_fill(x, m, sigma=blur_sigma)
    if fill == "black":
        return fill, lambda x, m, rng: constant_fill(x, m, 0.0)
    if fill == "mean":
        return fill, lambda x, m, rng: constant_fill(x, m, "mean")
    raise ValueError(f"fill must be one of {FILLS} or a callable; got {fill!r}")


def _check_fractions(fractions: ArrayLike) -> np.ndarray:
    f = np.asarray(fractions, dtype=np.float64).ravel()
    if f.size == 0 or (f < 0).any() or (f > 1).any() or (np.diff(f) <= 0).any():
        raise ValueError(f"fractions must increase within [0, 1]; got {f}")
    return f


class _Variants:
    """The (image, fraction) variants of a curve, built on demand."""

    def __init__(self, x: np.ndarray, maps: ArrayLike | None, kind: str, fractions: ArrayLike,
                 fill: str | Fill, within: ArrayLike | None, seed: Any, noise_std: float,
                 blur_sigma: float):
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}; got {kind!r}")
        self.x, self.kind = x, kind
        self.fractions = _check_fractions(fractions)
        self.fill_name, self.fill = _fill_function(fill, noise_std, blur_sigma)
        self.inside = _inside(within, x.shape[:3])
        order_seed, noise_seed = _seed_sequence(seed).spawn(2)
        self.ranks = removal_order(maps, self.inside, order_seed, shape=x.shape[:3])
        self.pixels = pixel_counts(self.fractions, self.inside.sum(axis=(1, 2)))
        self.noise = noise_seed.spawn(len(x) * len(self.fractions))

    def __len__(self) -> int:
        return len(self.x) * len(self.fractions)

    def image_of(self, rows: np.ndarray) -> np.ndarray:
        return rows // len(self.fractions)

    def build(self, rows: np.ndarray) -> np.ndarray:
        """The filled images of variants ``rows`` (variant = image * F + fraction index)."""
        out = np.empty((len(rows), *self.x.shape[1:]), dtype=np.float32)
        for slot, row in enumerate(rows):
            i, j = divmod(int(row), len(self.fractions))
            first = self.ranks[i] < self.pixels[i, j]
            remove = first if self.kind == "deletion" else self.inside[i] & ~first
            if not remove.any():
                out[slot] = self.x[i]
                continue
            rng = np.random.default_rng(self.noise[row])
            out[slot] = self.fill(self.x[i:i + 1], remove[None], rng)[0]
        return out


def perturbed_images(
    images: Any,
    maps: ArrayLike | None,
    *,
    kind: str = "deletion",
    fractions: ArrayLike = DEFAULT_FRACTIONS,
    fill: str | Fill = "road",
    within: ArrayLike | None = None,
    seed: Any = 0,
    noise_std: float = ROAD_NOISE_STD,
    blur_sigma: float = BLUR_SIGMA,
) -> np.ndarray:
    """The images a curve shows the model: float32 (N, F, H, W, C), for figures.

    Same arguments (and, for the same ``seed``, the same images, noise included) as
    :func:`deletion_curve` / :func:`insertion_curve`. Holds all N F images in memory.
    """
    x = as_image_batch(images)
    variants = _Variants(x, maps, kind, fractions, fill, within, seed, noise_std, blur_sigma)
    built = variants.build(np.arange(len(variants)))
    return built.reshape(len(x), len(variants.fractions), *x.shape[1:])


# --- the curves ---------------------------------------------------------------------------------


def _softmax(scores: np.ndarray) -> np.ndarray:
    z = scores.astype(np.float64)
    z = np.exp(z - z.max(axis=1, keepdims=True))
    return z / z.sum(axis=1, keepdims=True)


def faithfulness_curve(
    model: keras.Model,
    images: Any,
    maps: ArrayLike | None,
    classes: Any = None,
    *,
    kind: str = "deletion",
    fractions: ArrayLike = DEFAULT_FRACTIONS,
    fill: str | Fill = "road",
    within: ArrayLike | None = None,
    batch_size: int = 16,
    seed: Any = 0,
    noise_std: float = ROAD_NOISE_STD,
    blur_sigma: float = BLUR_SIGMA,
    scores_layer: str = SCORES_LAYER,
) -> FaithfulnessCurve:
    """A deletion or insertion curve (``kind``); see :func:`deletion_curve`."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    x = as_image_batch(images)
    variants = _Variants(x, maps, kind, fractions, fill, within, seed, noise_std, blur_sigma)
    chosen = explained_classes(model, x, classes, batch_size, scores_layer)
    sub = _scores_model(model, scores_layer)
    size = min(batch_size, len(variants))
    picked = np.empty(len(variants), dtype=np.float32)
    probability = np.empty(len(variants), dtype=np.float64)
    for start in range(0, len(variants), size):
        rows = np.arange(start, min(start + size, len(variants)))
        out = sub.predict_on_batch(pad_rows(variants.build(rows), size))
        s = np.asarray(out, dtype=np.float32)[: len(rows)]
        columns = chosen[variants.image_of(rows)]
        picked[rows] = s[np.arange(len(rows)), columns]
        probability[rows] = _softmax(s)[np.arange(len(rows)), columns]
    shape = (len(x), len(variants.fractions))
    return FaithfulnessCurve(
        kind=kind, fill=variants.fill_name, order="random" if maps is None else "map",
        fractions=variants.fractions, scores=picked.reshape(shape),
        probabilities=probability.reshape(shape).astype(np.float32), classes=chosen,
        pixels=variants.pixels,
    )


def deletion_curve(
    model: keras.Model,
    images: Any,
    maps: ArrayLike | None,
    classes: Any = None,
    *,
    fractions: ArrayLike = DEFAULT_FRACTIONS,
    fill: str | Fill = "road",
    within: ArrayLike | None = None,
    batch_size: int = 16,
    seed: Any = 0,
    noise_std: float = ROAD_NOISE_STD,
    blur_sigma: float = BLUR_SIGMA,
    scores_layer: str = SCORES_LAYER,
) -> FaithfulnessCurve:
    """S_c after removing the top ``fraction`` of pixels in the map's order (MoRF).

    Args:
        model: the grader (or any model with a ``scores_layer`` (N, C) before softmax).
        images: RGB (N, H, W, 3) in [0, 255], or one image.
        maps: (N, H, W) at the image size, highest = most important; ``None``: random order.
        classes: ``None``/``"predicted"`` (the highest score on the original image), an int,
            or one class per image. The same class is followed along the whole curve.
        fractions: increasing fractions in [0, 1] (default 0, 0.1, ..., 1).
        fill: ``"road"`` (default), ``"blur"``, ``"black"``, ``"mean"`` (:data:`FILLS`) or a
            callable ``fill(images, remove, rng)``.
        within: bool (N, H, W) or (H, W): only these pixels are ranked and removed.
        batch_size: variants per forward pass (the last batch is padded).
        seed: seeds the tie-breaking (or random) order and ROAD's noise; the noise of each
            (image, fraction) is its own stream, so results do not depend on ``batch_size``.
        noise_std: ROAD's noise (default :data:`~drlib.explain.imputation.ROAD_NOISE_STD`).
        blur_sigma: the blur of ``fill="blur"``.

    Returns:
        :class:`FaithfulnessCurve`; fraction 0 is the original image's score, fraction 1 the
        score with every pixel inside ``within`` filled. Lower :attr:`~FaithfulnessCurve.auc`
        = a map whose top pixels matter more.
    """
    return faithfulness_curve(
        model, images, maps, classes, kind="deletion", fractions=fractions, fill=fill,
        within=within, batch_size=batch_size, seed=seed, noise_std=noise_std,
        blur_sigma=blur_sigma, scores_layer=scores_layer)


def insertion_curve(
    model: keras.Model,
    images: Any,
    maps: ArrayLike | None,
    classes: Any = None,
    *,
    fractions: ArrayLike = DEFAULT_FRACTIONS,
    fill: str | Fill = "road",
    within: ArrayLike | None = None,
    batch_size: int = 16,
    seed: Any = 0,
    noise_std: float = ROAD_NOISE_STD,
    blur_sigma: float = BLUR_SIGMA,
    scores_layer: str = SCORES_LAYER,
) -> FaithfulnessCurve:
    """S_c of the fully-removed image with the top ``fraction`` of pixels put back in the map's
    order (the other pixels inside ``within`` filled). Fraction 0 = everything inside
    ``within`` filled, fraction 1 = the original image. Higher
    :attr:`~FaithfulnessCurve.auc` = a map whose top pixels carry the score. Arguments as
    :func:`deletion_curve`.
    """
    return faithfulness_curve(
        model, images, maps, classes, kind="insertion", fractions=fractions, fill=fill,
        within=within, batch_size=batch_size, seed=seed, noise_std=noise_std,
        blur_sigma=blur_sigma, scores_layer=scores_layer)


def random_baseline(
    model: keras.Model,
    images: Any,
    classes: Any = None,
    *,
    kind: str = "deletion",
    repeats: int = 1,
    seed: Any = 0,
    **kwargs: Any,
) -> FaithfulnessCurve:
    """The same curve with the pixels in a random order, averaged over ``repeats`` orders.

    Order ``r`` uses ``SeedSequence(seed).spawn(repeats)[r]``, so the baseline is reproducible;
    the scores, probabilities and hence AUCs are the means over the orders. Keyword arguments
    as :func:`deletion_curve` (``fractions``, ``fill``, ``within``, ``batch_size``, ...).
    """
    if repeats < 1:
        raise ValueError(f"repeats must be positive, got {repeats}")
    curves = [faithfulness_curve(model, images, None, classes, kind=kind, seed=child, **kwargs)
              for child in _seed_sequence(seed).spawn(repeats)]
    return replace(
        curves[0],
        scores=np.mean([c.scores for c in curves], axis=0, dtype=np.float64).astype(np.float32),
        probabilities=np.mean([c.probabilities for c in curves], axis=0,
                              dtype=np.float64).astype(np.float32),
        repeats=repeats,
    )


def compare_orders(curves: Sequence[FaithfulnessCurve] | dict[str, FaithfulnessCurve]
                   ) -> pd.DataFrame:
    """AUC per image of several curves side by side: one row per image, one column per curve
    (named by the dict key, or ``"<kind>/<fill>/<order>"``)."""
    named = curves if isinstance(curves, dict) else {
        f"{c.kind}/{c.fill}/{c.order}": c for c in curves}
    return pd.DataFrame({name: c.auc for name, c in named.items()})
