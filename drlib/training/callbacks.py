"""Callbacks that make a training run resumable, timed and logged.

Keras' ``BackupAndRestore`` brings back the weights, the optimizer state and the epoch number
after an interruption, but ``EarlyStopping``, ``ReduceLROnPlateau`` and ``ModelCheckpoint``
start counting afresh in every ``fit`` call. The ``Resumable*`` versions here replay the
monitored values of the epochs already run (read back from ``history.csv``) so that patience
and the best value carry over: an interrupted and resumed run stops where an uninterrupted one
would.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import keras
import numpy as np


def _improves(value: float, best: float | None, mode: str, min_delta: float) -> bool:
    """Keras' improvement test (``MonitorCallback._is_improvement``) in plain Python."""
    if best is None:
        return True
    if mode == "max":
        return value - abs(min_delta) > best
    return value + abs(min_delta) < best


def replay_early_stopping(
    values: Sequence[float], mode: str, min_delta: float = 0.0
) -> tuple[float | None, int, int]:
    """State of ``EarlyStopping`` after seeing ``values``: (best, best_epoch, wait)."""
    best, best_epoch, wait = None, 0, 0
    for epoch, value in enumerate(values):
        wait += 1
        if _improves(value, best, mode, min_delta):
            best, best_epoch, wait = value, epoch, 0
    return best, best_epoch, wait


def replay_reduce_lr(
    values: Sequence[float], mode: str, patience: int, cooldown: int, min_delta: float
) -> tuple[float | None, int, int]:
    """State of ``ReduceLROnPlateau`` after ``values``: (best, wait, cooldown_counter).

    The learning rate itself needs no replay: it is an optimizer variable, restored by
    ``BackupAndRestore``.
    """
    best, wait, cooldown_counter = None, 0, 0
    for value in values:
        if cooldown_counter > 0:
            cooldown_counter -= 1
            wait = 0
        if _improves(value, best, mode, min_delta):
            best, wait = value, 0
        elif cooldown_counter == 0:
            wait += 1
            if wait >= patience:
                cooldown_counter, wait = cooldown, 0
    return best, wait, cooldown_counter


class ResumableEarlyStopping(keras.callbacks.EarlyStopping):
    """``EarlyStopping`` that starts from the monitored values of earlier epochs.

    Only stops training; restoring the best weights is done by the training loop from the
    best checkpoint, which also covers a best epoch from before an interruption.
    """

    def __init__(self, previous: Sequence[float] = (), **kwargs) -> None:
        kwargs.setdefault("restore_best_weights", False)
        super().__init__(**kwargs)
        self.previous = [float(v) for v in previous]

    def on_train_begin(self, logs: dict | None = None) -> None:
        super().on_train_begin(logs)
        if self.previous:
            self.best, self.best_epoch, self.wait = replay_early_stopping(
                self.previous, self.mode, self.min_delta
            )


class ResumableReduceLROnPlateau(keras.callbacks.ReduceLROnPlateau):
    """``ReduceLROnPlateau`` that starts from the monitored values of earlier epochs."""

    def __init__(self, previous: Sequence[float] = (), **kwargs) -> None:
        super().__init__(**kwargs)
        self.previous = [float(v) for v in previous]

    def on_train_begin(self, logs: dict | None = None) -> None:
        super().on_train_begin(logs)
        if self.previous:
            self.best, self.wait, self.cooldown_counter = replay_reduce_lr(
                self.previous, self.mode, self.patience, self.cooldown, self.min_delta
            )


class EpochSync(keras.callbacks.Callback):
    """Tell datasets with a ``set_epoch`` method which epoch starts (seeded shuffling)."""

    def __init__(self, *datasets: object) -> None:
        super().__init__()
        self.datasets = [d for d in datasets if hasattr(d, "set_epoch")]

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        for dataset in self.datasets:
            dataset.set_epoch(epoch)


class Throughput(keras.callbacks.Callback):
    """Add ``epoch_time_s`` (training part of the epoch) and ``train_images_per_s`` to logs.

    The rate leaves out the epoch's first step, which in the first epoch includes tracing and
    compilation (tens of seconds for DenseNet121): it is images of steps 2..n over the time from
    the end of step 1 to the end of the epoch (all steps when the epoch has only one). Must come
    before the validation callback, so validation time is not counted.
    """

    async_safe = True  # only reads the clock; keeps Keras' asynchronous batch-end dispatch

    def __init__(self, images_per_epoch: int) -> None:
        super().__init__()
        self.images_per_epoch = int(images_per_epoch)
        self._start = 0.0
        self._after_first_step: float | None = None

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._start = time.perf_counter()
        self._after_first_step = None

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self._after_first_step is None:
            self._after_first_step = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is None:
            return
        now = time.perf_counter()
        logs["epoch_time_s"] = now - self._start
        steps = int(self.params.get("steps") or 0) if self.params else 0
        if steps > 1 and self._after_first_step is not None:
            images = self.images_per_epoch * (steps - 1) / steps
            seconds = now - self._after_first_step
        else:
            images, seconds = self.images_per_epoch, now - self._start
        logs["train_images_per_s"] = images / seconds if seconds > 0 else np.nan


class LearningRateLog(keras.callbacks.Callback):
    """Add the learning rate used during the epoch to the logs (``learning_rate``)."""

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None:
            rate = self.model.optimizer.learning_rate
            logs["learning_rate"] = float(keras.ops.convert_to_numpy(rate))


class CompactProgbar(keras.callbacks.ProgbarLogger):
    """Keras' progress bar without the bookkeeping columns (timings, per-grade recall,
    learning rate): those go to ``history.csv``; the bar shows losses, accuracy and kappa."""

    async_safe = True  # only prints; keeps Keras' asynchronous batch-end dispatch
    HIDDEN_PREFIXES = ("val_recall_", "learning_rate")
    HIDDEN_SUFFIXES = ("_time_s", "_images_per_s")

    def _shown(self, logs: dict | None) -> dict:
        return {
            k: v
            for k, v in (logs or {}).items()
            if not k.startswith(self.HIDDEN_PREFIXES) and not k.endswith(self.HIDDEN_SUFFIXES)
        }

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        super().on_train_batch_end(batch, self._shown(logs))

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        super().on_epoch_end(epoch, self._shown(logs))
