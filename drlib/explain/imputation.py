"""Removing pixels from an image: ROAD's noisy linear imputation and the plain baselines.

A deletion or insertion curve (:mod:`drlib.explain.faithfulness`) needs pixels *removed*, and
how they are removed decides what the curve measures. Filling them with black, the image mean
or a blurred copy (:func:`constant_fill`, :func:`blur_fill`) leaves a sharp-edged hole whose
*shape* tells the network which pixels the map ranked first: the score can then fall because of
the hole and not because the information is gone ("class information leakage", Rong et al.
2022), and a blurred copy even keeps much of the removed information.

**Noisy linear imputation** (ROAD: Rong, Leemann, Borisov, Kasneci and Kasneci 2022, "A
Consistent and Efficient Evaluation Strategy for Attribution Methods", ICML) fills every removed
pixel with the weighted mean of its 8 neighbours,

    x_p = sum_q w_q x_q / sum_q w_q,    w = 1/6 (the 4 direct neighbours), 1/12 (the diagonals),

where a neighbour may itself be removed: all removed pixels of one image are solved together as
one sparse linear system (kept pixels are fixed boundary values), one right-hand side per
colour channel, and Gaussian noise is added to the solution. The fill is smooth, so it has no
edges to leak the mask, and it carries no information of the removed pixels beyond what their
neighbours hold. Details, as in the authors' reference implementation
(``road/imputations.py`` of github.com/tleemann/road_evaluation):

* the weights are the reference's (1/6 direct, 1/12 diagonal: 4/6 + 4/12 = 1);
* neighbours outside the image are dropped and the mean taken over the rest (so on the image
  border the fill is one-sided: it reproduces a plane exactly only off the border);
* the noise is added to the removed pixels only, with ``noise=0.01`` on images in [0, 1] (the
  reference imputes before the normalising transform): here :data:`ROAD_NOISE_STD` = 0.01 *
  255 on the course's [0, 255] images; the result is not clipped;
* the system is solved with ``scipy.sparse.linalg.spsolve`` (SuperLU with its default
  COLAMD column ordering). Cost grows with the size of the largest hole: a 192 x 192 image
  with nearly every pixel removed takes about a second on one CPU core. (The minimum-degree
  ordering of A^T + A is no faster on contiguous holes and pathological on scattered ones: a
  random 90% of a 192 x 192 field of view took minutes instead of half a second.)

One case the reference leaves singular: with *every* pixel of an image removed there is no
boundary value, and any constant solves the system. Here that image is filled with its own
per-channel mean (ROAD's "fixed" imputation; the limit of an infinitely wide blur), plus the
noise. Whenever at least one pixel is kept the system has one solution (every group of
removed pixels touches a kept one).

NumPy and SciPy only: no deep-learning framework.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from scipy import ndimage, sparse
from scipy.sparse.linalg import spsolve

ROAD_NOISE_STD = 0.01 * 255.0
"""ROAD's noise, 0.01 on [0, 1] images, on the course's [0, 255] scale (2.55 grey levels)."""

NEIGHBOUR_WEIGHTS = (
    ((-1, 0), 1 / 6), ((1, 0), 1 / 6), ((0, -1), 1 / 6), ((0, 1), 1 / 6),
    ((-1, -1), 1 / 12), ((-1, 1), 1 / 12), ((1, -1), 1 / 12), ((1, 1), 1 / 12),
)
"""``((dy, dx), weight)`` of the 8 neighbours in ROAD's linear imputation (reference weights)."""

BLUR_SIGMA = 5.0
"""Default Gaussian sigma (pixels) of :func:`blur_fill`: RISE's insertion baseline (Petsiuk et
al. 2018: an 11-pixel kernel with sigma 5)."""


def _as_pair(images: ArrayLike, remove: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    x = np.asarray(images, dtype=np.float32)
    if x.ndim != 4:
        raise ValueError(f"images must have shape (N, H, W, C); got {x.shape}")
    mask = np.asarray(remove)
    if mask.dtype != bool:
        if mask.size and not np.isin(mask, (0, 1)).all():
            raise ValueError(f"remove must be a boolean mask (or 0/1); got dtype {mask.dtype}")
        mask = mask.astype(bool)
    if mask.shape == x.shape[1:3]:
        mask = np.broadcast_to(mask, x.shape[:3])
    if mask.shape != x.shape[:3]:
        raise ValueError(
            f"remove must have shape {x.shape[:3]} (or {x.shape[1:3]}) to match images "
            f"{x.shape}; got {mask.shape}"
        )
    return x, mask


def linear_system(remove: np.ndarray,
                  weights: tuple = NEIGHBOUR_WEIGHTS) -> tuple[sparse.csc_matrix, np.ndarray]:
    """ROAD's system for one mask (H, W): ``A`` (n, n) and the neighbour matrix ``B`` (n, H W).

    For the ``n`` removed pixels (row-major order), ``A x = B I`` holds when every removed
    pixel equals the weighted mean of its in-image neighbours, kept ones taken from the image
    ``I`` (flattened, one column per channel). ``A`` has the neighbour-weight total on its
    diagonal and ``-w`` for removed neighbours; ``B`` holds ``w`` for kept neighbours.
    """
    height, width = remove.shape
    flat = remove.ravel()
    removed = np.flatnonzero(flat)
    n = removed.size
    unknown = np.full(flat.size, -1, dtype=np.int64)
    unknown[removed] = np.arange(n)
    rows_y, rows_x = np.divmod(removed, width)
    diagonal = np.zeros(n)
    a_rows, a_cols, a_vals, b_rows, b_cols, b_vals = [], [], [], [], [], []
    for (dy, dx), w in weights:
        y, x = rows_y + dy, rows_x + dx
        inside = (y >= 0) & (y < height) & (x >= 0) & (x < width)
        eq = np.flatnonzero(inside)
        neighbour = y[inside] * width + x[inside]
        diagonal[eq] += w
        is_unknown = flat[neighbour]
        a_rows.append(eq[is_unknown])
        a_cols.append(unknown[neighbour[is_unknown]])
        a_vals.append(np.full(int(is_unknown.sum()), -w))
        b_rows.append(eq[~is_unknown])
        b_cols.append(neighbour[~is_unknown])
        b_vals.append(np.full(int((~is_unknown).sum()), w))
    a = sparse.coo_matrix(
        (np.concatenate([diagonal, *a_vals]),
         (np.concatenate([np.arange(n), *a_rows]), np.concatenate([np.arange(n), *a_cols]))),
        shape=(n, n)).tocsc()
    b = sparse.coo_matrix(
        (np.concatenate(b_vals), (np.concatenate(b_rows), np.concatenate(b_cols))),
        shape=(n, flat.size)).tocsr()
    return a, b


def noisy_linear_impute(
    images: ArrayLike,
    remove: ArrayLike,
    noise_std: float = ROAD_NOISE_STD,
    seed: Any = 0,
) -> np.ndarray:
    """ROAD's noisy linear imputation of the ``remove`` pixels of every image.

    Args:
        images: float (N, H, W, C), e.g. RGB in [0, 255].
        remove: bool (N, H, W) (or (H, W) for every image): True where a pixel is removed.
        noise_std: standard deviation of the Gaussian noise added to the imputed pixels
            (default :data:`ROAD_NOISE_STD`; 0 for the plain linear fill).
        seed: seed of the noise (anything ``numpy.random.default_rng`` takes, or a Generator).

    Returns:
        float32 (N, H, W, C): the kept pixels exactly as in ``images``; every removed pixel the
        joint solution of "equal to the weighted mean of its 8 neighbours" (see the module
        docstring), plus noise. An image with every pixel removed gets its per-channel mean.
    """
    x, mask = _as_pair(images, remove)
    if noise_std < 0:
        raise ValueError(f"noise_std must be non-negative, got {noise_std}")
    rng = np.random.default_rng(seed)
    out = x.copy()
    for i in range(len(x)):
        if not mask[i].any():
            continue
        channels = x[i].reshape(-1, x.shape[-1]).astype(np.float64)
        if mask[i].all():
            values = np.broadcast_to(channels.mean(axis=0), channels.shape).copy()
        else:
            a, b = linear_system(mask[i])
            rhs = np.asarray(b @ channels)
            values = np.asarray(spsolve(a, rhs, permc_spec="COLAMD")).reshape(rhs.shape)
        if noise_std > 0:
            values = values + noise_std * rng.standard_normal(values.shape)
        out[i][mask[i]] = values.astype(np.float32)
    return out


def blur_fill(images: ArrayLike, remove: ArrayLike, sigma: float = BLUR_SIGMA) -> np.ndarray:
    """Replace the removed pixels by a Gaussian blur (``sigma`` pixels) of the whole image.

    The plain insertion baseline (RISE, Petsiuk et al. 2018): the blur is of the *original*
    image, so it keeps the removed pixels' coarse content, which ROAD argues against.
    """
    x, mask = _as_pair(images, remove)
    if sigma <= 0:
        raise ValueError(f"sigma must be positive, got {sigma}")
    blurred = ndimage.gaussian_filter(x, sigma=(0, sigma, sigma, 0), mode="reflect")
    return np.where(mask[..., None], blurred, x).astype(np.float32)


def constant_fill(images: ArrayLike, remove: ArrayLike,
                  value: float | ArrayLike | str = 0.0) -> np.ndarray:
    """Replace the removed pixels by a constant: a number (0 = black), one value per channel,
    or ``"mean"``: each image's own per-channel mean over all its pixels (ROAD's "fixed"
    imputation)."""
    x, mask = _as_pair(images, remove)
    if isinstance(value, str):
        if value != "mean":
            raise ValueError(f"value must be a number, one per channel, or 'mean'; got {value!r}")
        fill = x.mean(axis=(1, 2), keepdims=True, dtype=np.float64)
    else:
        fill = np.asarray(value, dtype=np.float64)
        if fill.ndim > 1 or (fill.ndim == 1 and fill.size != x.shape[-1]):
            raise ValueError(f"value must be a number or one per channel ({x.shape[-1]},); "
                             f"got shape {fill.shape}")
    return np.where(mask[..., None], fill, x).astype(np.float32)
