"""Class activation maps (Zhou et al. 2016), the paper's equation (1).

After the last convolution the grader averages each channel over space and weighs the averages:

    F_k = mean_xy f_k(x, y),    S_c = sum_k w_k^c F_k + b_c.

Averaging is linear, so the weighted sum can be taken before it:

    CAM_c(x, y) = sum_k w_k^c f_k(x, y),    mean_xy CAM_c + b_c = S_c.

That identity is what makes a CAM an explanation of the score and not only a picture: the class
score is the map's average plus a constant. It holds only because the head is global average
pooling followed by one linear layer (no hidden layer, no max pooling). The map lives on the
network's grid (input side / 32); :mod:`drlib.explain.upsampling` brings it to pixels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from drlib.explain.graph import features_and_scores_model, predict_batched
from drlib.explain.targets import as_image_batch, resolve_classes
from drlib.modeling.densenet import LAST_CONV_LAYER, SCORES_LAYER


@dataclass(frozen=True)
class ClassActivationMaps:
    """CAMs of a batch of images.

    Attributes:
        maps: CAM of each image's explained class, (N, h, w) on the network's grid.
        classes: the explained class of each image (N,).
        scores: class scores S (N, C), before softmax.
        bias: the dense layer's bias b (C,).
        all_maps: CAM of every class (N, C, h, w), when asked for (``all_classes=True``).
    """

    maps: np.ndarray
    classes: np.ndarray
    scores: np.ndarray
    bias: np.ndarray
    all_maps: np.ndarray | None = None

    @property
    def grid(self) -> tuple[int, int]:
        """(h, w): the CAM's resolution (input side / 32 for DenseNet121)."""
        return int(self.maps.shape[1]), int(self.maps.shape[2])

    def identity_error(self) -> float:
        """max |mean_xy CAM_c + b_c - S_c| over images (and classes, when all are kept)."""
        if self.all_maps is not None:
            lhs = self.all_maps.mean(axis=(2, 3)) + self.bias[None, :]
            return float(np.abs(lhs - self.scores).max())
        rows = np.arange(len(self.classes))
        lhs = self.maps.mean(axis=(1, 2)) + self.bias[self.classes]
        return float(np.abs(lhs - self.scores[rows, self.classes]).max())


_CHUNK_VALUES = 1 << 16
"""Feature values converted to float64 at a time in :func:`cam_from_features` (512 KiB): they stay
in cache between the conversion and the matrix product, and a product this small runs on one
BLAS thread (OpenBLAS' threads, spinning on cores that other work holds, made larger chunks up to
15x slower on 2 busy cores)."""


def cam_from_features(features: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """CAM_c(x, y) = sum_k w_k^c f_k(x, y) for every class: (N, h, w, K) x (K, C) -> (N, C, h, w).

    Computed in float64 and returned as float32.
    """
    features = np.asarray(features)
    weights = np.asarray(weights, dtype=np.float64)
    if features.ndim != 4 or weights.ndim != 2 or features.shape[-1] != weights.shape[0]:
        raise ValueError(
            f"features (N, h, w, K) and weights (K, C) do not fit: {features.shape}, "
            f"{weights.shape}"
        )
    n, h, w, k = features.shape
    # One matrix product (N h w, K) x (K, C) (BLAS), in float64 chunks of rows: converting all the
    # features at once and np.einsum (no BLAS) took 5-7x as long at (256, 7, 7, 1024) x (1024, 5).
    rows = features.reshape(-1, k)
    out = np.empty((len(rows), weights.shape[1]), dtype=np.float64)
    step = max(1, _CHUNK_VALUES // max(k, 1))
    for start in range(0, len(rows), step):
        np.matmul(rows[start:start + step].astype(np.float64), weights,
                  out=out[start:start + step])
    return np.ascontiguousarray(out.reshape(n, h, w, -1).transpose(0, 3, 1, 2), dtype=np.float32)


def class_activation_maps(
    model: keras.Model,
    images: Any,
    classes: Any = None,
    *,
    all_classes: bool = False,
    batch_size: int = 16,
    layer: str = LAST_CONV_LAYER,
    scores_layer: str = SCORES_LAYER,
) -> ClassActivationMaps:
    """CAMs of ``images`` (N, H, W, 3) RGB in [0, 255], from one forward pass per batch.

    Args:
        model: the grader (:func:`drlib.modeling.build_densenet`): global average pooling after
            ``layer`` and a linear ``scores_layer``.
        images: a batch, or one image.
        classes: ``None``/``"predicted"`` (the highest score), an int, or one class per image.
        all_classes: also return the CAM of every class (``all_maps``).
        batch_size: images per forward pass (the last batch is padded to this size; a call
            of fewer images to the next power of two, :func:`drlib.explain.targets.padded_size`).

    Returns:
        :class:`ClassActivationMaps` on the network's grid (upsample with
        :func:`drlib.explain.upsample_maps`).
    """
    x = as_image_batch(images)
    kernel, bias = model.get_layer(scores_layer).get_weights()
    # each batch's features become maps at once: the (N, h, w, K) features of all the images
    # (50 MB for 256 at 224 px) are never put together, nor read again
    every, scores = predict_batched(
        features_and_scores_model(model, layer, scores_layer), x, batch_size,
        each=lambda out: [cam_from_features(out[0], kernel), out[1]])
    chosen = resolve_classes(classes, scores)
    maps = every[np.arange(len(x)), chosen]
    return ClassActivationMaps(
        maps=maps, classes=chosen, scores=scores.astype(np.float32),
        bias=np.asarray(bias, dtype=np.float32), all_maps=every if all_classes else None,
    )
