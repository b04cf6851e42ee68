"""The parts of the grader the maps need, built once per model and kept while it lives.

The grader is one flat functional graph (:mod:`drlib.modeling.densenet`), so any layer can be
an output, or an input, of a new ``keras.Model`` that shares its weights:

* ``features_and_scores``: image -> (last convolutional activation f, class scores S);
* ``scores``: image -> S (the pre-softmax output saliency differentiates);
* ``head``: f -> S (global average pooling and the dense layer; Grad-CAM differentiates it).

Building a sub-model walks ~430 layers and, on JAX, compiles a new step, so each is cached per
model (weakly: the cache goes with the model). The compiled gradient functions come from the one
backend dispatch, :func:`drlib.runtime.backend.gradient_function`.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import keras
import numpy as np

from drlib.explain.targets import pad_rows, padded_batches, padded_size, resolve_classes
from drlib.modeling.densenet import LAST_CONV_LAYER, SCORES_LAYER
from drlib.runtime.backend import gradient_function

_CACHE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _cached(model: keras.Model, key: tuple, build: Callable[[], Any]) -> Any:
    per_model = _CACHE.setdefault(model, {})
    if key not in per_model:
        per_model[key] = build()
    return per_model[key]


def _layer_output(model: keras.Model, name: str) -> Any:
    try:
        return model.get_layer(name).output
    except ValueError as err:
        raise ValueError(
            f"model {model.name!r} has no layer named {name!r}; the maps need the grader of "
            "drlib.modeling.build_densenet (or a model with the same layer names)"
        ) from err


def features_and_scores_model(model: keras.Model, layer: str = LAST_CONV_LAYER,
                              scores_layer: str = SCORES_LAYER) -> keras.Model:
    """image -> [f (N, h, w, K) at ``layer``, S (N, C) at ``scores_layer``]."""
    return _cached(model, ("features", layer, scores_layer), lambda: keras.Model(
        model.input, [_layer_output(model, layer), _layer_output(model, scores_layer)],
        name=f"{model.name}_features_scores"))


def scores_model(model: keras.Model, scores_layer: str = SCORES_LAYER) -> keras.Model:
    """image -> class scores S (N, C), before softmax."""
    return _cached(model, ("scores", scores_layer), lambda: keras.Model(
        model.input, _layer_output(model, scores_layer), name=f"{model.name}_scores"))


def head_model(model: keras.Model, layer: str = LAST_CONV_LAYER,
               scores_layer: str = SCORES_LAYER) -> keras.Model:
    """f (N, h, w, K) at ``layer`` -> S (N, C): everything after the last convolution."""
    return _cached(model, ("head", layer, scores_layer), lambda: keras.Model(
        _layer_output(model, layer), _layer_output(model, scores_layer),
        name=f"{model.name}_head"))


def score_gradient_function(model: keras.Model, scores_layer: str = SCORES_LAYER) -> Callable:
    """Compiled ``fn(x, classes) -> (S, dS_c/dx)`` of the scores model (cached per model)."""
    return _cached(model, ("score_gradient", scores_layer),
                   lambda: gradient_function(scores_model(model, scores_layer)))


def head_gradient_function(model: keras.Model, layer: str = LAST_CONV_LAYER,
                           scores_layer: str = SCORES_LAYER) -> Callable:
    """Compiled ``fn(f, classes) -> (S, dS_c/df)`` of the head (cached per model)."""
    return _cached(model, ("head_gradient", layer, scores_layer),
                   lambda: gradient_function(head_model(model, layer, scores_layer)))


def predict_batched(sub: keras.Model, x: np.ndarray, batch_size: int,
                    each: Callable[[list[np.ndarray]], list[np.ndarray]] | None = None,
                    ) -> list[np.ndarray]:
    """Run ``sub`` over ``x`` in batches padded to one size; outputs as float32 arrays.

    A call shorter than ``batch_size`` is padded to a power of two (:func:`padded_size`), so
    calls of many lengths reuse a few compiled shapes; the padded rows are dropped. ``each``,
    when given, turns every batch's outputs into what is kept of them, before the batches are
    put together (so that a large output need not be held for the whole call).
    """
    chunks: list[list[np.ndarray]] = []
    size = padded_size(len(x), batch_size)
    for start, stop in padded_batches(len(x), size):
        out = sub.predict_on_batch(pad_rows(x[start:stop], size))
        out = out if isinstance(out, (list, tuple)) else [out]
        out = [np.asarray(o, dtype=np.float32)[: stop - start] for o in out]
        chunks.append(out if each is None else each(out))
    return [np.concatenate(parts) for parts in zip(*chunks, strict=True)]


def gradients_batched(fn: Callable, x: np.ndarray, classes: np.ndarray,
                      batch_size: int) -> tuple[np.ndarray, np.ndarray]:
    """``fn`` (a gradient function) over ``x`` in padded batches: (outputs, gradients).

    Padded as :func:`predict_batched` pads (:func:`padded_size`); the padded rows are dropped.
    """
    outputs, grads = [], []
    size = padded_size(len(x), batch_size)
    for start, stop in padded_batches(len(x), size):
        y, g = fn(pad_rows(x[start:stop], size), pad_rows(classes[start:stop], size))
        outputs.append(y[: stop - start])
        grads.append(g[: stop - start])
    return np.concatenate(outputs), np.concatenate(grads)


def explained_classes(model: keras.Model, x: np.ndarray, classes: Any, batch_size: int,
                      scores_layer: str = SCORES_LAYER) -> np.ndarray:
    """Per-image classes (N,) to explain: ``None``/``"predicted"`` runs a forward pass for the
    argmax of the scores; an int or a per-image array is checked against the number of classes
    (no forward pass)."""
    if classes is None or isinstance(classes, str):
        scores = predict_batched(scores_model(model, scores_layer), x, batch_size)[0]
        return resolve_classes(classes, scores)
    n_classes = int(model.get_layer(scores_layer).output.shape[-1])
    return resolve_classes(classes, np.zeros((len(x), n_classes), np.float32))
