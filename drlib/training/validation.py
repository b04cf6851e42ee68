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
from typing import Any

import keras
import numpy as np

from drlib.metrics.kappa import confusion_matrix, kappa_from_confusion
from drlib.metrics.summary import per_grade_recall
from drlib.modeling.inference import predict_probabilities

EPSILON = 1e-7
"""Keras' probability clipping in categorical cross-entropy."""


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
