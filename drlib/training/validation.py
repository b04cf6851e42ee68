"""Validation in one prediction pass: loss, accuracy, quadratic weighted kappa, recall per grade.

Keras' own validation would run the model once for the loss, and the kappa callback would run
it again for the grades; here one pass over the validation data gives the softmax outputs,
and every number is computed from them with NumPy. The loss is Keras' categorical
cross-entropy on probabilities (clipped to [1e-7, 1 - 1e-7]), so ``val_loss`` means what it
means in any Keras log. Batches are padded to one fixed size so the JAX backend compiles the
prediction step once.
"""

from __future__ import annotations

import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import keras
import numpy as np

from drlib.kappa import confusion_matrix, kappa_from_confusion
from drlib.metrics import per_grade_recall
from drlib.training.data import as_grades, is_array_pair

EPSILON = 1e-7
"""Keras' probability clipping in categorical cross-entropy."""


def _pad(x: np.ndarray, size: int) -> np.ndarray:
    """Pad a batch to ``size`` rows by repeating its last row (predictions are discarded)."""
    if len(x) == size:
        return x
    return np.concatenate([x, np.repeat(x[-1:], size - len(x), axis=0)], axis=0)


def _array_batches(data: tuple[Any, Any], batch_size: int):
    x, y = data
    for start in range(0, len(x), batch_size):
        stop = start + batch_size
        yield np.asarray(x[start:stop], dtype=np.float32), y[start:stop]


def _dataset_batches(data: Any, prefetch: int = 2):
    """Batches of an indexable dataset in order, loaded ``prefetch`` ahead in threads."""
    n = len(data)
    with ThreadPoolExecutor(max_workers=max(1, prefetch)) as pool:
        pending: deque = deque()
        for index in range(n):
            pending.append(pool.submit(data.__getitem__, index))
            if len(pending) > prefetch:
                yield pending.popleft().result()[:2]
        while pending:
            yield pending.popleft().result()[:2]


def predict_probabilities(
    model: keras.Model, data: Any, batch_size: int = 32, n_classes: int = 5
) -> tuple[np.ndarray, np.ndarray]:
    """Softmax outputs (N, K) and true grades (N,) over a whole dataset, in dataset order.

    ``data`` is ``(images, labels)`` arrays or an indexable dataset of ``(x, y)`` batches
    (a PyDataset; it must not shuffle). Every batch is padded to the size of the first one.
    """
    batches = _array_batches(data, batch_size) if is_array_pair(data) else _dataset_batches(data)
    probabilities, grades = [], []
    size = None
    for x, y in batches:
        x = np.asarray(x, dtype=np.float32)
        size = size or len(x)
        p = np.asarray(model.predict_on_batch(_pad(x, size)))[: len(x)]
        probabilities.append(p.astype(np.float64))
        grades.append(as_grades(y, n_classes))
    if not probabilities:
        raise ValueError("validation data is empty")
    return np.concatenate(probabilities), np.concatenate(grades)


def validation_report(
    probabilities: np.ndarray, grades: np.ndarray, n_classes: int = 5
) -> dict[str, Any]:
    """Loss, accuracy, quadratic weighted kappa (argmax grades), recall and confusion.

    Recall of a grade absent from ``grades`` is ``nan`` (undefined, not 0).
    """
    p = np.clip(probabilities, EPSILON, 1.0 - EPSILON)
    p = p / p.sum(axis=1, keepdims=True)
    loss = float(-np.mean(np.log(p[np.arange(len(grades)), grades])))
    predicted = probabilities.argmax(axis=1)
    confusion = confusion_matrix(grades, predicted, n_classes)
    recall = per_grade_recall(grades, predicted, n_classes)
    return {
        "loss": loss,
        "accuracy": float(np.mean(predicted == grades)),
        "kappa": float(kappa_from_confusion(confusion)),
        "recall": [float(r) for r in recall],
        "confusion": confusion.tolist(),
        "n": int(len(grades)),
    }


def evaluate_grades(
    model: keras.Model, data: Any, batch_size: int = 32, n_classes: int = 5
) -> dict[str, Any]:
    """:func:`predict_probabilities` followed by :func:`validation_report`."""
    probabilities, grades = predict_probabilities(model, data, batch_size, n_classes)
    return validation_report(probabilities, grades, n_classes)


class ValidationMetrics(keras.callbacks.Callback):
    """At the end of each epoch, add ``val_loss``, ``val_accuracy``, ``val_kappa``,
    ``val_recall_<grade>`` and ``val_time_s`` to the epoch logs (one pass over ``data``).

    Placed before the callbacks that read these values (CSV log, checkpoints, early stopping);
    Keras' progress bar comes last, so the values show in its epoch line.
    """

    def __init__(self, data: Any, batch_size: int, n_classes: int = 5) -> None:
        super().__init__()
        self.data = data
        self.batch_size = batch_size
        self.n_classes = n_classes
        self.last_report: dict[str, Any] | None = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is None:
            return
        start = time.perf_counter()
        report = evaluate_grades(self.model, self.data, self.batch_size, self.n_classes)
        self.last_report = report
        logs["val_loss"] = report["loss"]
        logs["val_accuracy"] = report["accuracy"]
        logs["val_kappa"] = report["kappa"]
        for grade, recall in enumerate(report["recall"]):
            logs[f"val_recall_{grade}"] = recall
        logs["val_time_s"] = time.perf_counter() - start
