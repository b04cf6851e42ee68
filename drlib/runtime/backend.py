"""The Keras backend policy of the course, kept in one place.

TensorFlow is the default backend, so a reader with a plain CPU install gets the same numbers as
the book; ``KERAS_BACKEND=jax`` (the GPU path) and ``KERAS_BACKEND=torch`` must work too.
Keras reads ``KERAS_BACKEND`` once, when it is first imported, so :func:`ensure` has to run before
``import keras``; ``drlib/__init__.py`` calls it, so ``import drlib`` first is enough.

Anything that differs per backend (today: the gradient of a class score with respect to the
input, which saliency maps need) is dispatched here and nowhere else. Backend libraries are
imported lazily inside the functions that need them: importing this module never imports
TensorFlow, JAX or PyTorch.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np

DEFAULT_BACKEND = "tensorflow"
"""Backend used when ``KERAS_BACKEND`` is unset or empty."""

SUPPORTED_BACKENDS = ("tensorflow", "jax", "torch")
"""Backends drlib dispatches for (Keras also knows ``numpy`` and ``openvino``: no gradients)."""

_KNOWN_KERAS_BACKENDS = (*SUPPORTED_BACKENDS, "numpy", "openvino")


def ensure() -> str:
    """Set ``KERAS_BACKEND`` to the course default if unset, and return the backend name.

    Must run before Keras is imported. If Keras is already imported, its backend is fixed and
    the environment is left alone; the name Keras actually uses is returned.

    Raises:
        ValueError: ``KERAS_BACKEND`` names a backend Keras does not know.
    """
    if "keras" in sys.modules:
        return name()
    requested = os.environ.get("KERAS_BACKEND", "").strip()
    if not requested:
        os.environ["KERAS_BACKEND"] = DEFAULT_BACKEND
        return DEFAULT_BACKEND
    if requested not in _KNOWN_KERAS_BACKENDS:
        raise ValueError(
            f"KERAS_BACKEND={requested!r} is not a Keras backend; "
            f"use one of {', '.join(_KNOWN_KERAS_BACKENDS)} (default {DEFAULT_BACKEND!r})"
        )
    return requested


def name() -> str:
    """Return the active Keras backend name.

    Once Keras is imported that is ``keras.backend.backend()`` (fixed for the process); before,
    it is what Keras will pick up from ``KERAS_BACKEND``, with the course default when unset.
    Does not import Keras.
    """
    keras = sys.modules.get("keras")
    if keras is not None and hasattr(keras, "backend"):
        return str(keras.backend.backend())
    return os.environ.get("KERAS_BACKEND", "").strip() or DEFAULT_BACKEND


def _check_output(shape: tuple[Any, ...], output_index: int) -> None:
    """Fail clearly unless the model output is (N, C) and ``output_index`` is in ``0..C-1``."""
    if len(shape) != 2:
        raise ValueError(
            f"input_gradient needs a model whose output has shape (N, C); got shape {shape}"
        )
    n_outputs = shape[1]
    if n_outputs is not None and not 0 <= output_index < n_outputs:
        raise IndexError(
            f"output_index={output_index} is out of range for a model with {n_outputs} outputs"
        )


def input_gradient(model: Any, x: Any, output_index: int) -> np.ndarray:
    """Gradient of ``model(x)[:, output_index]``, summed over the batch, with respect to ``x``.

    For a class score ``S_c`` (the model output *before* softmax, as in Simonyan et al. 2013),
    this is the saliency gradient ``dS_c/dI`` of every image in the batch at once: images do not
    interact in inference mode, so the gradient of the batch sum is, row by row, the gradient of
    each image's own score. Pass a model whose outputs are the scores you want differentiated.

    Args:
        model: a built Keras 3 model (called with ``training=False``).
        x: input batch, array-like of shape (N, ...), converted to float32.
        output_index: which output column (class) to differentiate.

    Returns:
        float32 numpy array with the shape of ``x``.

    Raises:
        ValueError: the model output is not 2-D, or the backend has no gradients here.
        IndexError: ``output_index`` is not a valid output column.
    """
    output_index = int(output_index)
    x = np.asarray(x, dtype=np.float32)
    backend = name()
    if backend == "tensorflow":
        grad = _input_gradient_tensorflow(model, x, output_index)
    elif backend == "jax":
        grad = _input_gradient_jax(model, x, output_index)
    elif backend == "torch":
        grad = _input_gradient_torch(model, x, output_index)
    else:
        raise ValueError(
            f"input_gradient is not available on the Keras backend {backend!r}; "
            f"use one of {', '.join(SUPPORTED_BACKENDS)}"
        )
    return np.asarray(grad, dtype=np.float32)


def _input_gradient_tensorflow(model: Any, x: np.ndarray, output_index: int) -> np.ndarray:
    import tensorflow as tf

    xt = tf.convert_to_tensor(x, dtype=tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(xt)
        y = model(xt, training=False)
        _check_output(tuple(y.shape), output_index)
        score = tf.reduce_sum(y[:, output_index])
    return tape.gradient(score, xt).numpy()


def _input_gradient_jax(model: Any, x: np.ndarray, output_index: int) -> np.ndarray:
    import jax
    import jax.numpy as jnp

    if not model.built:
        model(x[:1], training=False)
    trainable = [v.value for v in model.trainable_variables]
    non_trainable = [v.value for v in model.non_trainable_variables]

    def score(xx: Any) -> Any:
        y, _ = model.stateless_call(trainable, non_trainable, xx, training=False)
        _check_output(tuple(y.shape), output_index)
        return jnp.sum(y[:, output_index])

    return np.asarray(jax.grad(score)(jnp.asarray(x)))


def _input_gradient_torch(model: Any, x: np.ndarray, output_index: int) -> np.ndarray:
    import keras
    import torch

    xt = keras.ops.convert_to_tensor(x, dtype="float32").detach().requires_grad_(True)
    y = model(xt, training=False)
    _check_output(tuple(y.shape), output_index)
    (grad,) = torch.autograd.grad(y[:, output_index].sum(), xt)
    return grad.detach().cpu().numpy()
