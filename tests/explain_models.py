"""Models, images and a float64 reference shared by the explanation-map tests (test_explain_*).

``tiny_model`` is a flat functional CNN with the grader's layer names (``image`` ->
``imagenet_normalisation`` -> ``conv`` -> ``bn`` -> ``relu`` -> ``gap`` -> ``class_scores`` ->
``probabilities``), small enough (8 x 8 x 3 input, 6 x 6 x 4 grid, 3 classes) to trace in a
second on any backend. The layer called ``relu`` applies a chosen activation: ``tanh`` or
``softplus`` make the score smooth in the pixels (finite differences apply), ``linear`` makes it
affine (integrated gradients are then exact). Its weights come from a NumPy generator, not from
Keras' initialisers, so every backend builds the very same model.

``reference_scores`` recomputes the tiny model in float64 NumPy, independently of Keras and of
drlib; ``reference_gradient`` differentiates it by central finite differences. The tests check
first that the reference reproduces the Keras model's scores, so the finite differences are of the
function the library differentiates.

This module is imported by the test files and, through ``sys.path``, by the JAX subprocesses.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator

import numpy as np

TINY_SIZE = 8
TINY_KERNEL = 3
TINY_CHANNELS = 4
TINY_CLASSES = 3
BN_EPSILON = 1e-3  # Keras' BatchNormalization default
KERAS_EPSILON = 1e-7  # keras.backend.epsilon(), the floor of Normalization's sqrt(variance)
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406]) * 255.0
IMAGENET_STD = np.array([0.229, 0.224, 0.225]) * 255.0

ACTIVATIONS = {
    "tanh": np.tanh,
    "softplus": lambda z: np.logaddexp(0.0, z),
    "linear": lambda z: z,
}


def tiny_weights(seed: int = 0) -> dict[str, np.ndarray]:
    """The tiny model's weights (float32), drawn from ``numpy.random.default_rng(seed)``."""
    rng = np.random.default_rng(seed)
    k, c = TINY_CHANNELS, TINY_CLASSES

    def f32(a):
        return np.asarray(a, dtype=np.float32)

    return {
        "conv_kernel": f32(rng.normal(0.0, 0.6, (TINY_KERNEL, TINY_KERNEL, 3, k))),
        "conv_bias": f32(rng.normal(0.0, 0.2, k)),
        "bn_gamma": f32(rng.uniform(0.5, 1.5, k)),
        "bn_beta": f32(rng.normal(0.0, 0.3, k)),
        "bn_mean": f32(rng.normal(0.0, 0.3, k)),
        "bn_variance": f32(rng.uniform(0.5, 2.0, k)),
        "dense_kernel": f32(rng.normal(0.0, 1.0, (k, c))),
        "dense_bias": f32(rng.normal(0.0, 0.5, c)),
    }


def tiny_model(activation: str = "tanh", seed: int = 0, size: int = TINY_SIZE):
    """The tiny grader-shaped CNN (see the module docstring), float32, weights of ``seed``."""
    import keras

    from drlib.modeling.densenet import imagenet_normalisation

    w = tiny_weights(seed)
    image = keras.Input(shape=(size, size, 3), name="image", dtype="float32")
    x = imagenet_normalisation()(image)
    conv = keras.layers.Conv2D(TINY_CHANNELS, TINY_KERNEL, padding="valid", name="conv")
    bn = keras.layers.BatchNormalization(epsilon=BN_EPSILON, name="bn")
    x = keras.layers.Activation(activation, name="relu")(bn(conv(x)))
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    dense = keras.layers.Dense(TINY_CLASSES, name="class_scores")
    scores = dense(x)
    out = keras.layers.Activation("softmax", name="probabilities")(scores)
    model = keras.Model(image, out, name=f"tiny_{activation}")
    conv.set_weights([w["conv_kernel"], w["conv_bias"]])
    bn.set_weights([w["bn_gamma"], w["bn_beta"], w["bn_mean"], w["bn_variance"]])
    dense.set_weights([w["dense_kernel"], w["dense_bias"]])
    return model


def reference_features(x: np.ndarray, activation: str = "tanh", seed: int = 0) -> np.ndarray:
    """The tiny model's ``relu`` output f (N, h, w, K) in float64 NumPy."""
    w = {k: v.astype(np.float64) for k, v in tiny_weights(seed).items()}
    z = (np.asarray(x, np.float64) - IMAGENET_MEAN) / np.maximum(IMAGENET_STD, KERAS_EPSILON)
    windows = np.lib.stride_tricks.sliding_window_view(z, (TINY_KERNEL, TINY_KERNEL), axis=(1, 2))
    # windows: (N, h, w, 3, kh, kw); Keras' kernel: (kh, kw, 3, K); cross-correlation.
    h = np.einsum("nijcab,abck->nijk", windows, w["conv_kernel"]) + w["conv_bias"]
    h = (h - w["bn_mean"]) / np.sqrt(w["bn_variance"] + BN_EPSILON) * w["bn_gamma"] + w["bn_beta"]
    return ACTIVATIONS[activation](h)


def reference_scores(x: np.ndarray, activation: str = "tanh", seed: int = 0) -> np.ndarray:
    """Class scores S (N, C) of the tiny model in float64 NumPy."""
    w = tiny_weights(seed)
    pooled = reference_features(x, activation, seed).mean(axis=(1, 2))
    return pooled @ w["dense_kernel"].astype(np.float64) + w["dense_bias"].astype(np.float64)


def reference_gradient(x: np.ndarray, classes, activation: str = "tanh", seed: int = 0,
                       eps: float = 1e-2) -> np.ndarray:
    """dS_c/dI (N, H, W, 3) of the tiny model by central differences, every pixel and channel.

    In float64 the central difference's error is eps^2/6 |S'''| (truncation; the score is a tanh
    of an affine function of I / 58, so S''' ~ 58^-3 and the error is ~1e-11) plus
    ~1e-16 |S| / eps (rounding, ~1e-14): far below the float32 error of the gradient under test.
    """
    x = np.asarray(x, np.float64)
    n, height, width, channels = x.shape
    classes = np.broadcast_to(np.asarray(classes), (n,))
    grad = np.zeros_like(x)
    for i in range(n):
        steps = np.eye(height * width * channels).reshape(-1, height, width, channels) * eps
        plus = reference_scores(x[i] + steps, activation, seed)[:, classes[i]]
        minus = reference_scores(x[i] - steps, activation, seed)[:, classes[i]]
        grad[i] = ((plus - minus) / (2.0 * eps)).reshape(height, width, channels)
    return grad


def random_images(n: int, size: int = TINY_SIZE, seed: int = 0) -> np.ndarray:
    """float32 (n, size, size, 3) RGB images, uniform in [0, 255]."""
    return np.random.default_rng(seed).uniform(0.0, 255.0, (n, size, size, 3)).astype(np.float32)


@functools.cache
def densenet64():
    """``build_densenet(64)`` with seeded random weights (Keras seed 3) and a head that matters.

    The dense layer's initial bias is zero and its scores tiny; the kernel is scaled up and a
    non-zero bias set, so that a map which drops the bias, or the scale, is caught. Cached: one
    model per test process (building DenseNet121 costs seconds, tracing its gradient more).
    """
    import keras

    from drlib.modeling import build_densenet

    keras.utils.set_random_seed(3)
    model = build_densenet(64, weights=None)
    dense = model.get_layer("class_scores")
    kernel, _ = dense.get_weights()
    dense.set_weights([kernel * 20.0, np.array([0.5, -0.75, 0.25, 1.0, -0.4], np.float32)])
    return model


@contextlib.contextmanager
def full_float32() -> Iterator[None]:
    """TensorFlow's TF32 off while maps are compared at float32 tolerances, restored after.

    On NVIDIA GPUs since Ampere, TensorFlow runs float32 convolutions and matrix products with
    10-bit mantissas by default (~1e-3 relative error), which no 1e-5 comparison survives. On a
    CPU, or another backend, this changes nothing.
    """
    from drlib.runtime import backend

    if backend.name() != "tensorflow":
        yield
        return
    import tensorflow as tf

    before = tf.config.experimental.tensor_float_32_execution_enabled()
    tf.config.experimental.enable_tensor_float_32_execution(False)
    try:
        yield
    finally:
        tf.config.experimental.enable_tensor_float_32_execution(before)


def rel_error(actual: np.ndarray, expected: np.ndarray) -> float:
    """max |actual - expected| / max |expected|: an error relative to the map's own scale."""
    actual = np.asarray(actual, np.float64)
    expected = np.asarray(expected, np.float64)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    return float(np.abs(actual - expected).max() / np.abs(expected).max())
