"""Grad-CAM (Selvaraju et al. 2017): CAM for any network, from gradients.

Grad-CAM weighs the channels of a convolutional layer by the average gradient of the score:

    alpha_k^c = mean_xy dS_c / df_k(x, y),    GradCAM_c = ReLU(sum_k alpha_k^c f_k).

For the course's grader (global average pooling, then one linear layer) the gradient is a
constant, dS_c/df_k(x, y) = w_k^c / (h w), so Grad-CAM is the CAM divided by the number of grid
cells, with negative values cut off: ``GradCAM_c = ReLU(CAM_c) / (h w)``. The chapter shows it
numerically; Grad-CAM earns its place on networks without that head, and as the method peer
libraries (tf-keras-vis ``Gradcam``) implement.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import keras
import numpy as np

from drlib.explain.cam import _CHUNK_VALUES  # feature values converted to float64 at a time
from drlib.explain.graph import (
    features_and_scores_model,
    gradients_batched,
    head_gradient_function,
    predict_batched,
)
from drlib.explain.targets import as_image_batch, resolve_classes
from drlib.modeling.densenet import LAST_CONV_LAYER, SCORES_LAYER


def _weighted_channel_sum(features: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """sum_k alpha[n, k] f[n, y, x, k]: (N, h, w, K) x (N, K) -> (N, h, w), in float64.

    One BLAS product per chunk of images (np.einsum, without BLAS, on all the features converted
    at once took 4x as long at (256, 7, 7, 1024)).
    """
    n, h, w, k = features.shape
    out = np.empty((n, h * w, 1), dtype=np.float64)
    weights = alpha.astype(np.float64)[:, :, None]
    step = max(1, _CHUNK_VALUES // max(h * w * k, 1))
    for start in range(0, n, step):
        stop = start + step
        np.matmul(features[start:stop].reshape(-1, h * w, k).astype(np.float64),
                  weights[start:stop], out=out[start:stop])
    return out.reshape(n, h, w)


@dataclass(frozen=True)
class GradCam:
    """Grad-CAMs of a batch: ``maps`` (N, h, w), channel weights ``alpha`` (N, K), ``classes``
    (N,), ``scores`` (N, C)."""

    maps: np.ndarray
    alpha: np.ndarray
    classes: np.ndarray
    scores: np.ndarray


def grad_cam(
    model: keras.Model,
    images: Any,
    classes: Any = None,
    *,
    relu: bool = True,
    batch_size: int = 16,
    layer: str = LAST_CONV_LAYER,
    scores_layer: str = SCORES_LAYER,
) -> GradCam:
    """Grad-CAM of ``images`` (N, H, W, 3) RGB in [0, 255] at ``layer``, batched.

    One forward pass gives f and S; the gradient dS_c/df comes from the head model (``layer`` ->
    ``scores_layer``) through :func:`drlib.runtime.backend.gradient_function`. ``relu=False``
    keeps the negative part (tf-keras-vis' ``activation_modifier=None``).
    """
    x = as_image_batch(images)
    features, scores = predict_batched(
        features_and_scores_model(model, layer, scores_layer), x, batch_size)
    chosen = resolve_classes(classes, scores)
    _, grads = gradients_batched(head_gradient_function(model, layer, scores_layer),
                                 features, chosen, batch_size)
    alpha = grads.mean(axis=(1, 2))
    maps = _weighted_channel_sum(features, alpha)
    if relu:
        maps = np.maximum(maps, 0.0)
    return GradCam(maps=maps.astype(np.float32), alpha=alpha.astype(np.float32),
                   classes=chosen, scores=scores.astype(np.float32))
