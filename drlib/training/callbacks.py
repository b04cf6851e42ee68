"""Callbacks that make a training run resumable, timed and logged.

:class:`TrainingBackup` saves the weights, the optimizer state and the epoch number at the end
of every epoch so that a killed run can resume (:func:`restore_backup`), but
``EarlyStopping`` and ``ReduceLROnPlateau`` start counting afresh in every ``fit`` call. The
``Resumable*`` versions here replay the monitored values of the epochs already run (read back
from ``history.csv``) so that patience and the best value carry over: an interrupted and
resumed run stops where an uninterrupted one would.

Every file a later run trusts is written through :mod:`drlib.runtime.atomic` (a temporary name
in the same folder, then :func:`os.replace`): Keras' own ``ModelCheckpoint`` and
``BackupAndRestore`` write in place, so a run killed during a save leaves a truncated file that
the next run would load. :class:`AtomicCheckpoint` and :class:`TrainingBackup` replace them. The
backup writes the weights under a name that carries the epoch, then the small JSON file that
points to them: a kill at any moment leaves either the previous consistent pair or the new one.
"""

from __future__ import annotations

import json
import math
import shutil
import time
import warnings
from collections.abc import Sequence
from pathlib import Path

import keras
import numpy as np

from drlib.modeling.manifest import inference_view, sha256sum
from drlib.runtime.atomic import atomic_path, atomic_write_text, remove_debris

BACKUP_METADATA = "training_metadata.json"
"""The backup's pointer file: ``{"epoch": n, "weights": file name, "sha256": ...}``."""


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

    The learning rate itself needs no replay: it is an optimizer variable, restored with the
    weights by :func:`restore_backup`.
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


class AtomicCheckpoint(keras.callbacks.Callback):
    """Keras' ``ModelCheckpoint`` (per epoch) written atomically: whole or not at all.

    Args:
        filepath: target file; ``{epoch}`` (1-based, as Keras) and log keys are formatted in,
            e.g. ``"epoch_{epoch:03d}.keras"``. ``.keras`` for a whole model, ``.weights.h5``
            with ``save_weights_only``.
        monitor, mode: the quantity and direction that ``save_best_only`` watches.
        save_best_only: save only when ``monitor`` improves on the best value so far.
        save_weights_only: ``model.save_weights`` instead of ``model.save``.
        include_optimizer: with ``save_weights_only``, also the optimizer state (what
            ``save_weights`` of a compiled model writes); ``False`` writes the layer weights
            only (:func:`drlib.modeling.manifest.save_inference_weights`' format, a third of the
            size for Adam; load it with :func:`~drlib.modeling.manifest.load_inference_weights`).
        initial_value_threshold: best value before the first epoch (a resumed run passes the
            best of its earlier epochs, so it does not overwrite a better checkpoint).
    """

    async_safe = True  # saves at epoch end only; keeps Keras' asynchronous batch-end dispatch

    def __init__(self, filepath: str | Path, monitor: str = "val_loss", mode: str = "min",
                 save_best_only: bool = False, save_weights_only: bool = False,
                 include_optimizer: bool = True,
                 initial_value_threshold: float | None = None) -> None:
        super().__init__()
        if mode not in ("min", "max"):
            raise ValueError(f"mode must be 'min' or 'max', got {mode!r}")
        self.filepath = str(filepath)
        self.monitor = monitor
        self.mode = mode
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.include_optimizer = include_optimizer
        self.best = initial_value_threshold

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        logs = logs or {}
        if self.save_best_only:
            value = logs.get(self.monitor)
            if value is None or math.isnan(float(value)):
                warnings.warn(f"cannot save the best checkpoint {self.filepath}: {self.monitor!r} "
                              f"is not available (logs have {sorted(logs)})", stacklevel=2)
                return
            if not _improves(float(value), self.best, self.mode, 0.0):
                return
            self.best = float(value)
        path = Path(self.filepath.format(epoch=epoch + 1, **logs))
        with atomic_path(path) as tmp:
            if self.save_weights_only:
                saved = self.model if self.include_optimizer else inference_view(self.model)
                saved.save_weights(str(tmp))
            else:
                self.model.save(str(tmp))


class Deadline(keras.callbacks.Callback):
    """Stop training after the epoch that leaves too little time for another before a deadline.

    ``deadline`` is a :func:`time.monotonic` value. At the end of every epoch, if one more epoch
    as long as this one would end after it, training stops there, as an early stop does: the run
    ends normally, so the loop restores the best epoch's weights and the caller can save them.
    An epoch's length is measured from the end of its first training step (so the compilation
    that the first step of the first epoch pays, often minutes on a GPU, does not count as if
    every epoch paid it) to the end of its validation. ``stopped_epoch`` is the (0-based) epoch
    it stopped after; ``None`` while it has stopped nothing. Leave room after the deadline for
    whatever comes after training.
    """

    async_safe = True

    def __init__(self, deadline: float, clock=time.monotonic) -> None:
        super().__init__()
        self.deadline = float(deadline)
        self.clock = clock
        self.stopped_epoch: int | None = None
        self._mark: float | None = None
        self._first_step = False

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.stopped_epoch = None

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._mark = self.clock()
        self._first_step = True

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self._first_step:
            self._mark = self.clock()
            self._first_step = False

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        now = self.clock()
        epoch_s = now - (self._mark if self._mark is not None else now)
        if now + epoch_s > self.deadline:
            self.stopped_epoch = epoch
            self.model.stop_training = True


class TrainingBackup(keras.callbacks.Callback):
    """The state of a run at the end of every epoch, for :func:`restore_backup` after a kill.

    In ``backup_dir``: ``epoch_NNNN.weights.h5`` (the weights with the optimizer state: Adam's
    moments, its step count and learning rate) and :data:`BACKUP_METADATA`, which names that
    file, its SHA-256 and the number of completed epochs. The weights are written first, then
    the metadata, each atomically; older weights files are removed after. The folder is removed
    when ``fit`` completes (as Keras' ``BackupAndRestore`` does); an exception or a kill leaves
    it for the next run. Put it last among the callbacks, so that an epoch's backup comes after
    its history row and checkpoints.
    """

    async_safe = True

    def __init__(self, backup_dir: str | Path) -> None:
        super().__init__()
        self.backup_dir = Path(backup_dir)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.backup_dir.mkdir(parents=True, exist_ok=True)
        name = f"epoch_{epoch + 1:04d}.weights.h5"
        with atomic_path(self.backup_dir / name) as tmp:
            self.model.save_weights(str(tmp))
        metadata = {"epoch": epoch + 1, "weights": name,
                    "sha256": sha256sum(self.backup_dir / name)}
        atomic_write_text(self.backup_dir / BACKUP_METADATA, json.dumps(metadata) + "\n")
        for old in self.backup_dir.glob("epoch_*.weights.h5"):
            if old.name != name:
                old.unlink()

    def on_train_end(self, logs: dict | None = None) -> None:
        shutil.rmtree(self.backup_dir, ignore_errors=True)


class BackupError(ValueError):
    """A training backup cannot be used; the message names the file and the problem."""


def read_backup(backup_dir: str | Path) -> dict | None:
    """The metadata of the backup in ``backup_dir`` (``None`` when there is none), after
    removing the debris of a save that was killed midway.

    Also reads the layout of Keras' ``BackupAndRestore`` (``latest.weights.h5``), which
    earlier versions of the course wrote.

    Raises:
        BackupError: the metadata is not valid JSON, or the weights it names are missing or do
            not match their SHA-256 (the message names the file).
    """
    backup_dir = Path(backup_dir)
    remove_debris(backup_dir)
    meta = backup_dir / BACKUP_METADATA
    if not meta.is_file():
        return None
    try:
        metadata = json.loads(meta.read_text())
        metadata["epoch"] = int(metadata["epoch"])
    except (ValueError, KeyError, TypeError) as err:
        raise BackupError(f"unreadable training backup {meta}: {err}") from None
    metadata.setdefault("weights", "latest.weights.h5")
    weights = backup_dir / metadata["weights"]
    if not weights.is_file():
        raise BackupError(f"training backup {meta} names {weights}, which does not exist; "
                          f"delete {backup_dir} to start the run again")
    if "sha256" in metadata and sha256sum(weights) != metadata["sha256"]:
        raise BackupError(f"training backup weights {weights} do not match their SHA-256 in "
                          f"{meta}; delete {backup_dir} to start the run again")
    metadata["weights_path"] = weights
    return metadata


def restore_backup(model: keras.Model, backup_dir: str | Path) -> int | None:
    """Load the state saved by :class:`TrainingBackup` into a compiled ``model``; return the
    number of epochs it had completed (the ``initial_epoch`` to resume at), or ``None``."""
    metadata = read_backup(backup_dir)
    if metadata is None:
        return None
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    model.load_weights(str(metadata["weights_path"]))
    return metadata["epoch"]
