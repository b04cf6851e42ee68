"""The Keras backend policy of the course, kept in one place.

TensorFlow is the default backend, so a reader with a plain CPU install gets the same numbers as
the book; ``KERAS_BACKEND=jax`` (the GPU path) and ``KERAS_BACKEND=torch`` must work too.
Keras reads ``KERAS_BACKEND`` once, when it is first imported, so :func:`ensure` has to run before
``import keras``; ``drlib/__init__.py`` calls it, so ``import drlib`` first is enough.

Anything that differs per backend (the gradient of chosen outputs with respect to the input,
which saliency, Grad-CAM and integrated gradients need: :func:`gradient_function`) is dispatched
here and nowhere else. Backend libraries are imported lazily inside the functions that need them:
importing this module never imports TensorFlow, JAX or PyTorch.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

DEFAULT_BACKEND = "tensorflow"
"""Backend used when ``KERAS_BACKEND`` is unset or empty."""

SUPPORTED_BACKENDS = ("tensorflow", "jax", "torch")
"""Backends drlib dispatches for (Keras also knows ``numpy`` and ``openvino``: no gradients)."""

_KNOWN_KERAS_BACKENDS = (*SUPPORTED_BACKENDS, "numpy", "openvino")


TF_CPU_ALLOCATOR_VARIABLE = "TF_CPU_ALLOCATOR_USE_BFC"
"""TensorFlow reads it when it first allocates: ``true`` pools CPU memory (see :func:`ensure`)."""

TF_ONEDNN_VARIABLE = "TF_ENABLE_ONEDNN_OPTS"
"""TensorFlow reads it when it loads: ``0`` keeps its own CPU kernels (see :func:`ensure`)."""


def ensure() -> str:
    """Set ``KERAS_BACKEND`` to the course default if unset, and return the backend name.

    Also asks TensorFlow for its pooling CPU allocator (``TF_CPU_ALLOCATOR_USE_BFC=true``) and
    for its own CPU kernels rather than oneDNN's (``TF_ENABLE_ONEDNN_OPTS=0``), unless those
    variables are set.

    Must run before Keras is imported. If Keras is already imported, its backend is fixed and
    the environment is left alone; the name Keras actually uses is returned.

    Raises:
        ValueError: ``KERAS_BACKEND`` names a backend Keras does not know.
    """
    if "keras" in sys.modules:
        return name()
    # TensorFlow's CPU allocator hands every large tensor back to the system after each op, so a
    # training step page-faults its activations in again: with batches served by a PyDataset
    # (tf.data's from_generator) 7 of every 9 seconds of a 192 px DenseNet step went to the
    # kernel on 2 cores. Its BFC allocator keeps a pool instead. Set before TensorFlow loads;
    # an explicit setting is kept.
    os.environ.setdefault(TF_CPU_ALLOCATOR_VARIABLE, "true")
    # TensorFlow switches to oneDNN's kernels by itself on some x86 processors (those with
    # AVX-512 among them) and not on others, and the two sum in different orders: the same
    # notebook then prints other digits on another machine of the same kind (a CAM identity
    # check at 2.9e-06 instead of 9.5e-07, saliency shares in the third decimal, a training
    # loss 1.5e-5 off). The book's outputs are pinned, so every machine uses TensorFlow's own
    # kernels; an explicit setting is kept.
    os.environ.setdefault(TF_ONEDNN_VARIABLE, "0")
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
    n_outputs = shape[-1]
    if n_outputs is not None and not 0 <= output_index < n_outputs:
        raise IndexError(
            f"output_index={output_index} is out of range for a model with {n_outputs} outputs"
        )


def gradient_function(model: Any, *, compiled: bool = True) -> Callable[..., tuple]:
    """The gradient of chosen output columns with respect to the input, for a whole batch.

    Returns ``fn(x, columns) -> (outputs, gradient)``: ``x`` is a float32 batch (N, ...),
    ``columns`` an int array (N,) naming, per row, the output to differentiate; ``outputs`` is
    ``model(x)`` (N, C) and ``gradient`` is ``d/dx sum_i model(x)[i, columns[i]]``, which is,
    row by row, the gradient of each row's own output (rows do not interact in inference mode).
    Both come back as float32 numpy arrays, from one forward and one backward pass.

    This is the one place that differs per Keras backend: TensorFlow records a
    ``GradientTape`` (inside a ``tf.function`` when ``compiled``), JAX differentiates
    ``model.stateless_call`` (under ``jax.jit`` when ``compiled``; the weights are passed on
    every call, so a changed model is seen), PyTorch runs autograd. Pass a model whose output is
    what you want differentiated: class scores *before* softmax for saliency
    (Simonyan et al. 2013), or a head model that starts at an inner layer for Grad-CAM.
    A compiled JAX function is traced once per input shape: keep batches one size.

    Raises:
        ValueError: the backend has no gradients here, or the model output is not (N, C).
        IndexError: a column outside ``0..C-1``.
    """
    backend = name()
    if backend == "tensorflow":
        step = _gradient_step_tensorflow(model, compiled)
    elif backend == "jax":
        step = _gradient_step_jax(model, compiled)
    elif backend == "torch":
        step = _gradient_step_torch(model)
    else:
        raise ValueError(
            f"gradients are not available on the Keras backend {backend!r}; "
            f"use one of {', '.join(SUPPORTED_BACKENDS)}"
        )
    output_shape = tuple(model.output.shape) if hasattr(model, "output") else (None, None)

    def fn(x: Any, columns: Any) -> tuple[np.ndarray, np.ndarray]:
        x = np.asarray(x, dtype=np.float32)
        columns = np.broadcast_to(np.asarray(columns, dtype=np.int32), (len(x),)).copy()
        if len(output_shape) != 2:
            _check_output(output_shape, 0)
        for column in np.unique(columns):
            _check_output(output_shape, int(column))
        outputs, grad = step(x, columns)
        return np.asarray(outputs, dtype=np.float32), np.asarray(grad, dtype=np.float32)

    return fn


def input_gradient(model: Any, x: Any, output_index: int) -> np.ndarray:
    """Gradient of ``model(x)[:, output_index]``, summed over the batch, with respect to ``x``.

    For a class score ``S_c`` (the model output *before* softmax, as in Simonyan et al. 2013),
    this is the saliency gradient ``dS_c/dI`` of every image in the batch at once: images do not
    interact in inference mode, so the gradient of the batch sum is, row by row, the gradient of
    each image's own score. Pass a model whose outputs are the scores you want differentiated.
    One-off and uncompiled; :func:`gradient_function` is the compiled, per-row version.

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
    x = np.asarray(x, dtype=np.float32)
    _, grad = gradient_function(model, compiled=False)(x, int(output_index))
    return grad


def _gradient_step_tensorflow(model: Any, compiled: bool) -> Callable[..., tuple]:
    import tensorflow as tf

    def step(x: Any, columns: Any) -> tuple[Any, Any]:
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = model(x, training=False)
            total = tf.reduce_sum(tf.gather(y, columns, axis=1, batch_dims=1))
        return y, tape.gradient(total, x)

    if compiled:
        step = tf.function(step, reduce_retracing=True, autograph=False)  # no tensor-dependent
        # Python control flow to convert; AutoGraph would only warn that it cannot read the closure

    def run(x: np.ndarray, columns: np.ndarray) -> tuple[Any, Any]:
        y, grad = step(tf.convert_to_tensor(x), tf.convert_to_tensor(columns))
        return y.numpy(), grad.numpy()

    return run


def _gradient_step_jax(model: Any, compiled: bool) -> Callable[..., tuple]:
    import jax
    import jax.numpy as jnp

    def total(trainable: Any, non_trainable: Any, x: Any, columns: Any) -> tuple[Any, Any]:
        y, _ = model.stateless_call(trainable, non_trainable, x, training=False)
        picked = jnp.take_along_axis(y, columns[:, None], axis=1)
        return jnp.sum(picked), y

    grad = jax.grad(total, argnums=2, has_aux=True)
    if compiled:
        grad = jax.jit(grad)

    def run(x: np.ndarray, columns: np.ndarray) -> tuple[Any, Any]:
        if not model.built:
            model(x[:1], training=False)
        trainable = [v.value for v in model.trainable_variables]
        non_trainable = [v.value for v in model.non_trainable_variables]
        g, y = grad(trainable, non_trainable, jnp.asarray(x), jnp.asarray(columns))
        return np.asarray(y), np.asarray(g)

    return run


def _gradient_step_torch(model: Any) -> Callable[..., tuple]:
    import keras
    import torch

    def run(x: np.ndarray, columns: np.ndarray) -> tuple[Any, Any]:
        xt = keras.ops.convert_to_tensor(x, dtype="float32").detach().requires_grad_(True)
        y = model(xt, training=False)
        index = torch.as_tensor(columns, dtype=torch.long, device=y.device)[:, None]
        (g,) = torch.autograd.grad(torch.gather(y, 1, index).sum(), xt)
        return y.detach().cpu().numpy(), g.detach().cpu().numpy()

    return run
