"""Gradient maps: saliency (the paper's section 2.4), SmoothGrad and integrated gradients.

**Saliency** (Simonyan et al. 2013). Near an image I0 the class score is almost linear in the
pixels (first-order Taylor expansion):

    S_c(I) ~ S_c(I0) + w^T (I - I0),    w = dS_c / dI at I0.

So |w| at a pixel says how much a small change there moves the score, and its sign which way:
a positive entry raises the score when the pixel gets brighter. The map reduces the colour
channels: ``"max_abs"`` (Simonyan's max_c |w|, the paper's and tf-keras-vis' map),
``"signed_max"`` (that channel's signed value: the paper's "positive gradient raises the score"),
``"sum"`` (the derivative for a pixel brightening in every channel at once) or ``"none"``.
S_c is the score before softmax: a softmax output can rise because the other classes fall.

**SmoothGrad** (Smilkov et al. 2017) averages the gradient over n noisy copies
I + N(0, sigma^2), sigma = noise_level (max I - min I), which removes the gradient's
pixel-scale noise; by default the magnitude |w| is averaged (tf-keras-vis' default).

**Integrated gradients** (Sundararajan et al. 2017) integrate the gradient along the straight
path from a baseline I' (black by default) to I:

    IG_i = (I_i - I'_i) * int_0^1 dS_c/dI_i (I' + a (I - I')) da,

here with the trapezoidal rule on ``steps`` intervals. They satisfy *completeness*:
sum_i IG_i = S_c(I) - S_c(I'), up to the quadrature error, which
:attr:`IntegratedGradients.completeness_error` reports.

Every gradient comes from :func:`drlib.runtime.backend.gradient_function` (compiled, batched, one
implementation per backend); there is no Python loop over pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from drlib.explain.graph import (
    explained_classes,
    gradients_batched,
    predict_batched,
    score_gradient_function,
)
from drlib.explain.graph import scores_model as _scores_model
from drlib.explain.targets import as_image_batch, pad_rows, resolve_classes
from drlib.modeling.densenet import SCORES_LAYER

REDUCTIONS = ("max_abs", "signed_max", "sum", "none")
"""How :func:`reduce_channels` turns (N, H, W, 3) gradients into (N, H, W) maps."""

_BLOCK_PIXELS = 1 << 16
"""Pixels :func:`reduce_channels` reduces at a time (768 KiB of RGB float32: in cache)."""


def _reduce_block(block: np.ndarray, how: str, out: np.ndarray) -> None:
    """Reduce the channels of ``block`` (M, C) into ``out`` (M,), channel by channel."""
    planes = [block[:, i] for i in range(block.shape[1])]
    if how == "sum":
        np.add(planes[0], np.float32(0.0), out=out)  # from +0.0, as np.sum: -0.0 + 0.0 = +0.0
        for plane in planes[1:]:
            np.add(out, plane, out=out)
    elif how == "max_abs":
        np.abs(planes[0], out=out)
        for plane in planes[1:]:
            np.maximum(out, np.abs(plane), out=out)
    else:  # signed_max: the entry of largest magnitude, the first of equal ones, NaN where one is
        sizes = [np.abs(plane) for plane in planes]
        largest = sizes[0].copy()
        for size in sizes[1:]:
            np.maximum(largest, size, out=largest)
        out[:] = planes[-1]
        for plane, size in zip(planes[-2::-1], sizes[-2::-1], strict=True):
            np.copyto(out, plane, where=size == largest)
        np.copyto(out, largest, where=np.isnan(largest))


def reduce_channels(grads: np.ndarray, how: str = "max_abs") -> np.ndarray:
    """Reduce the colour axis (last) of gradients: see :data:`REDUCTIONS`."""
    if how not in REDUCTIONS:
        raise ValueError(f"reduce must be one of {REDUCTIONS}, got {how!r}")
    grads = np.asarray(grads, dtype=np.float32)
    if how == "none":
        return grads
    if not 1 <= grads.shape[-1] <= 4:  # NumPy's reductions along the last axis
        if how == "max_abs":
            return np.abs(grads).max(axis=-1)
        if how == "sum":
            return grads.sum(axis=-1)
        index = np.abs(grads).argmax(axis=-1)[..., None]
        return np.take_along_axis(grads, index, axis=-1)[..., 0]
    # 1-4 channels: element-wise over the channel planes, block by block, the same numbers as
    # those reductions (channels in order, the first of equal magnitudes, NaN propagated), which,
    # along so short an axis, took 2-18x as long (0.61 s against 0.035 s for max_abs on
    # (256, 224, 224, 3), 2 CPU cores).
    pixels = grads.reshape(-1, grads.shape[-1])
    out = np.empty(len(pixels), dtype=np.float32)
    for start in range(0, len(pixels), _BLOCK_PIXELS):
        stop = start + _BLOCK_PIXELS
        _reduce_block(pixels[start:stop], how, out[start:stop])
    return out.reshape(grads.shape[:-1])


@dataclass(frozen=True)
class SaliencyMaps:
    """Gradient maps of a batch: ``maps`` (N, H, W) (or (N, H, W, 3) for ``"none"``),
    ``gradients`` dS_c/dI (N, H, W, 3), ``classes`` (N,), ``scores`` S (N, C)."""

    maps: np.ndarray
    gradients: np.ndarray
    classes: np.ndarray
    scores: np.ndarray


def class_scores(model: keras.Model, images: Any, *, batch_size: int = 16,
                 scores_layer: str = SCORES_LAYER) -> np.ndarray:
    """Class scores S (N, C) before softmax, batched."""
    x = as_image_batch(images)
    return predict_batched(_scores_model(model, scores_layer), x, batch_size)[0]


def saliency(
    model: keras.Model,
    images: Any,
    classes: Any = None,
    *,
    reduce: str = "max_abs",
    batch_size: int = 16,
    scores_layer: str = SCORES_LAYER,
) -> SaliencyMaps:
    """Saliency maps dS_c/dI of ``images`` (N, H, W, 3) RGB in [0, 255], batched and compiled.

    ``classes``: ``None``/``"predicted"`` (the highest score, found by a forward pass first),
    an int, or one class per image. ``reduce``: see :data:`REDUCTIONS`.
    """
    x = as_image_batch(images)
    if reduce not in REDUCTIONS:
        raise ValueError(f"reduce must be one of {REDUCTIONS}, got {reduce!r}")
    chosen = explained_classes(model, x, classes, batch_size, scores_layer)
    scores, grads = gradients_batched(score_gradient_function(model, scores_layer), x, chosen,
                                      batch_size)
    return SaliencyMaps(maps=reduce_channels(grads, reduce), gradients=grads, classes=chosen,
                        scores=scores)


def smoothgrad_noise(images: np.ndarray, samples: int, noise_level: float,
                     seed: int = 0) -> np.ndarray:
    """Gaussian noise (samples, N, H, W, C) with sigma = noise_level (max - min) per image."""
    x = as_image_batch(images)
    spread = x.max(axis=(1, 2, 3)) - x.min(axis=(1, 2, 3))
    sigma = (noise_level * spread).astype(np.float32)[None, :, None, None, None]
    rng = np.random.default_rng(seed)
    return rng.standard_normal((samples, *x.shape), dtype=np.float32) * sigma


def smoothgrad(
    model: keras.Model,
    images: Any,
    classes: Any = None,
    *,
    samples: int = 16,
    noise_level: float = 0.2,
    seed: int = 0,
    noise: np.ndarray | None = None,
    magnitude: bool = True,
    reduce: str = "max_abs",
    batch_size: int = 16,
    scores_layer: str = SCORES_LAYER,
) -> SaliencyMaps:
    """SmoothGrad: the gradient averaged over ``samples`` noisy copies of every image.

    Args:
        samples, noise_level, seed: n copies with sigma = noise_level (max - min) per image,
            drawn by :func:`smoothgrad_noise`.
        noise: explicit noise (samples, N, H, W, C) instead (e.g. to match another library's).
        magnitude: average |dS_c/dI| (True, tf-keras-vis' default) or the signed gradient.
        reduce: channel reduction of the averaged gradient (:data:`REDUCTIONS`).

    The explained class is chosen on the clean image. ``gradients`` holds the average.
    """
    x = as_image_batch(images)
    if reduce not in REDUCTIONS:
        raise ValueError(f"reduce must be one of {REDUCTIONS}, got {reduce!r}")
    if noise is None:
        noise = smoothgrad_noise(x, samples, noise_level, seed)
    noise = np.asarray(noise, dtype=np.float32)
    if noise.ndim != 5 or noise.shape[1:] != x.shape:
        raise ValueError(f"noise must have shape (samples, *{x.shape}); got {noise.shape}")
    clean = class_scores(model, x, batch_size=batch_size, scores_layer=scores_layer)
    chosen = resolve_classes(classes, clean)
    fn = score_gradient_function(model, scores_layer)
    total = np.zeros_like(x)
    for copy in noise:
        _, g = gradients_batched(fn, x + copy, chosen, batch_size)
        total += np.abs(g) if magnitude else g
    mean = total / len(noise)
    return SaliencyMaps(maps=reduce_channels(mean, reduce), gradients=mean, classes=chosen,
                        scores=clean)


@dataclass(frozen=True)
class IntegratedGradients:
    """Integrated gradients of a batch.

    Attributes:
        attributions: IG per pixel and channel (N, H, W, 3).
        maps: attributions summed over channels (N, H, W).
        classes: explained class per image (N,).
        scores: S_c(I) per image (N,); baseline_scores: S_c(I') (N,).
    """

    attributions: np.ndarray
    maps: np.ndarray
    classes: np.ndarray
    scores: np.ndarray
    baseline_scores: np.ndarray

    @property
    def completeness_gap(self) -> np.ndarray:
        """sum IG - (S_c(I) - S_c(I')) per image (N,)."""
        total = self.attributions.sum(axis=(1, 2, 3), dtype=np.float64)
        return total - (self.scores.astype(np.float64) - self.baseline_scores)

    @property
    def completeness_error(self) -> np.ndarray:
        """|completeness gap| relative to |S_c(I) - S_c(I')| per image (N,)."""
        change = np.abs(self.scores.astype(np.float64) - self.baseline_scores)
        return np.abs(self.completeness_gap) / np.maximum(change, 1e-12)


def integrated_gradients(
    model: keras.Model,
    images: Any,
    classes: Any = None,
    *,
    baseline: float | np.ndarray = 0.0,
    steps: int = 32,
    batch_size: int = 16,
    scores_layer: str = SCORES_LAYER,
) -> IntegratedGradients:
    """Integrated gradients from ``baseline`` (a value or an image batch; 0 = black) to ``images``.

    The path is sampled at ``steps + 1`` points a = 0, 1/steps, ..., 1 and integrated with the
    trapezoidal rule; all (image, point) pairs go through the model in batches of
    ``batch_size``. The class is chosen on the image itself. Check
    :attr:`IntegratedGradients.completeness_error`: when the score swings along the path (a black
    baseline is far from any photograph) the quadrature needs more steps, or a baseline closer to
    the image (a blurred copy, as chapter 5 uses) needs fewer.
    """
    if steps < 1:
        raise ValueError(f"steps must be positive, got {steps}")
    x = as_image_batch(images)
    base = np.broadcast_to(np.asarray(baseline, dtype=np.float32), x.shape)
    chosen = explained_classes(model, x, classes, batch_size, scores_layer)
    alphas = np.linspace(0.0, 1.0, steps + 1, dtype=np.float32)
    weights = np.full(steps + 1, 1.0 / steps, dtype=np.float64)
    weights[[0, -1]] *= 0.5
    image_of = np.repeat(np.arange(len(x)), steps + 1)
    alpha_of = np.tile(alphas, len(x))
    fn = score_gradient_function(model, scores_layer)
    average = np.zeros(x.shape, dtype=np.float64)
    end_scores = np.zeros((len(x), 2), dtype=np.float64)
    for start in range(0, len(image_of), batch_size):
        rows = image_of[start:start + batch_size]
        a = alpha_of[start:start + batch_size]
        path = base[rows] + a[:, None, None, None] * (x[rows] - base[rows])
        s, g = fn(pad_rows(path, batch_size), pad_rows(chosen[rows], batch_size))
        s, g = s[: len(rows)], g[: len(rows)]
        w = weights[np.round(a * steps).astype(int)]
        weighted = g * w[:, None, None, None].astype(np.float32)
        # rows are sorted: sum each image's consecutive path points at once
        starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        average[rows[starts]] += np.add.reduceat(weighted, starts, axis=0, dtype=np.float64)
        picked = s[np.arange(len(rows)), chosen[rows]]
        for end, at in ((0, a == 0.0), (1, a == 1.0)):
            end_scores[rows[at], end] = picked[at]
    attributions = ((x - base) * average).astype(np.float32)
    return IntegratedGradients(
        attributions=attributions, maps=attributions.sum(axis=-1), classes=chosen,
        scores=end_scores[:, 1].astype(np.float32), baseline_scores=end_scores[:, 0],
    )
