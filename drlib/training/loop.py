"""``train``: fit the grader with checkpoints, resumption, validation kappa and a CSV history.

Layout of ``config.output_dir``::

    train_config.json          the TrainConfig of the run (checked again on resumption)
    history.csv                one row per epoch, appended to when a run resumes
    history.json               the whole history and summary, written when ``train`` returns
    checkpoints/last.keras     the full model (with optimizer) at the end of the latest epoch
    checkpoints/best.weights.h5  weights of the best epoch so far (``config.monitor``), without
                               the optimizer state (a third of the size; a stopped run's
                               best weights travel light)
    checkpoints/epoch_NNN.keras  every epoch, if ``config.keep_epoch_checkpoints``
    backup/                    the state of the latest epoch (:class:`TrainingBackup`); removed
                               when a run completes

Resumption: if ``backup/`` holds the state of an interrupted run, calling ``train`` again with
the same ``output_dir`` (and the same config, ``epochs`` and ``verbose`` aside) restores the
weights, the optimizer state and the epoch counter, drops any history row written after the
backup, and trains only the remaining epochs. If ``backup/`` is absent the run starts at
epoch 0 and the history files are overwritten.

Faults: every file here except ``history.csv`` is written to a temporary name and renamed
(:mod:`drlib.runtime.atomic`), so a run killed at any moment (``SIGKILL``, power loss) leaves
complete files and ``*.partial-*`` debris, which the next call removes. ``history.csv`` is
appended to one row per epoch; rows after the backup's epoch, and a half-written last row, are
dropped on resumption. Before anything is written, ``train`` checks that ``output_dir`` can be
written and has room for the checkpoints (:func:`drlib.runtime.storage.check_output_folder`).
Seeded data (:class:`~drlib.training.data.ArrayBatches`) and the restored optimizer state make
the resumed run end with the weights of an uninterrupted one (bit for bit on TensorFlow's CPU
kernels, tested in ``tests/test_faults.py``).
"""

from __future__ import annotations

import csv
import io
import json
import math
import warnings
from pathlib import Path
from typing import Any

import keras
import numpy as np

from drlib.modeling.manifest import load_inference_weights
from drlib.runtime.atomic import atomic_write_text, remove_debris
from drlib.runtime.devices import check_batch_size
from drlib.runtime.storage import check_output_folder
from drlib.training.callbacks import (
    AtomicCheckpoint,
    CompactProgbar,
    Deadline,
    EpochSync,
    LearningRateLog,
    ResumableEarlyStopping,
    ResumableReduceLROnPlateau,
    Throughput,
    TrainingBackup,
    read_backup,
    restore_backup,
)
from drlib.training.config import TrainConfig, TrainingHistory
from drlib.training.data import (
    ArrayBatches,
    balanced_class_weight,
    dataset_grades,
    images_per_epoch,
    is_array_pair,
)
from drlib.training.setup import resolve_precision, seed_everything
from drlib.training.validation import ValidationMetrics

BACKUP_DIR = "backup"
CHECKPOINT_DIR = "checkpoints"
HISTORY_CSV = "history.csv"
HISTORY_JSON = "history.json"
CONFIG_JSON = "train_config.json"


def backup_epoch(output_dir: str | Path) -> int | None:
    """Number of completed epochs saved by an interrupted run, or ``None`` if none is pending.

    Raises:
        BackupError (a ValueError): the backup's metadata is unreadable or its weights are
            missing or do not match their SHA-256.
    """
    metadata = read_backup(Path(output_dir) / BACKUP_DIR)
    return None if metadata is None else metadata["epoch"]


def checkpoint_bytes(model: keras.Model) -> int:
    """Bytes of one saved training state: the weights plus Adam's two moments per trainable
    weight (a ``.keras`` file or a compiled model's ``.weights.h5``), before file overhead."""
    total = sum(int(np.prod(w.shape)) * np.dtype(w.dtype).itemsize for w in model.weights)
    trainable = sum(int(np.prod(w.shape)) * 4 for w in model.trainable_weights)
    return int(total + 2 * trainable)


def bytes_needed(model: keras.Model, config: TrainConfig) -> int:
    """Free disk space ``train`` asks for before it starts (an upper bound): at the peak of a
    save, ``last.keras``, ``best.weights.h5`` and the backup exist while a new copy of one of
    them is written (4 training states), plus one ``.keras`` per epoch with
    ``keep_epoch_checkpoints``, plus 1 MiB for the history and configuration files."""
    states = 4 + (config.epochs if config.keep_epoch_checkpoints else 0)
    return states * checkpoint_bytes(model) + (1 << 20)


def read_history_csv(path: str | Path) -> dict[str, list[float]]:
    """Columns of a Keras CSVLogger file as float lists (empty dict if there is no file)."""
    path = Path(path)
    if not path.is_file() or path.stat().st_size == 0:
        return {}
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    columns: dict[str, list[float]] = {}
    for row in rows:
        for key, value in row.items():
            # CSVLogger writes "NA" for a metric an epoch did not have (no validation data)
            number = float(value) if value not in ("", None, "NA") else math.nan
            columns.setdefault(key, []).append(number)
    return columns


def _epoch_of_row(row: list[str], width: int) -> int | None:
    """The epoch of a complete CSVLogger row, or ``None`` for a half-written one."""
    if len(row) != width:
        return None
    try:
        return int(float(row[0]))
    except ValueError:
        return None


def _truncate_history(path: Path, keep_epochs: int) -> None:
    """Keep the header and the complete rows of epochs ``0..keep_epochs-1`` of a CSVLogger
    file (a row cut short by a kill has fewer cells than the header and is dropped)."""
    if not path.is_file():
        return
    with path.open(newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        return
    header, body = rows[0], rows[1:]
    kept = []
    for row in body:
        epoch = _epoch_of_row(row, len(header))
        if epoch is not None and epoch < keep_epochs:
            kept.append(row)
    buffer = io.StringIO()
    csv.writer(buffer).writerows([header, *kept])  # "\r\n", as Keras' CSVLogger writes
    atomic_write_text(path, buffer.getvalue())


def _check_config(config: TrainConfig, output_dir: Path) -> None:
    saved_path = output_dir / CONFIG_JSON
    if not saved_path.is_file():
        return
    differences = config.differences(json.loads(saved_path.read_text()))
    if differences:
        listed = ", ".join(f"{k}: saved {a!r}, now {b!r}" for k, (a, b) in differences.items())
        raise ValueError(
            f"cannot resume the interrupted run in {output_dir} with a different configuration "
            f"({listed}); use another output_dir or delete {output_dir / BACKUP_DIR}"
        )


def _prepare(data: Any, config: TrainConfig, training: bool) -> Any:
    if is_array_pair(data):
        images, labels = data
        if training:
            return ArrayBatches(
                images,
                labels,
                config.batch_size,
                shuffle=config.shuffle,
                augment=config.augment,
                seed=config.seed,
                n_classes=config.n_classes,
            )
        return (images, labels)
    if not (hasattr(data, "__len__") and hasattr(data, "__getitem__")):
        raise TypeError(
            "data must be (images, labels) arrays or a keras.utils.PyDataset of (x, y) batches, "
            f"got {type(data).__name__}"
        )
    return data


def _class_weight(train_data: Any, config: TrainConfig) -> dict[int, float] | None:
    if config.class_weight is None:
        return None
    grades = dataset_grades(train_data, config.n_classes)
    if grades is None:
        raise ValueError(
            "class_weight='balanced' needs the training grades: pass arrays, or a dataset with "
            "a .grades attribute"
        )
    return balanced_class_weight(grades, config.n_classes)


def _compile(model: keras.Model, config: TrainConfig) -> None:
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=config.learning_rate),
        loss=keras.losses.CategoricalCrossentropy(),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
    )


def _batch_sizes(train_data: Any, val_data: Any, config: TrainConfig) -> dict[str, int]:
    """Rows per batch the model will be given, by pass: what a data-parallel run must split.

    Arrays are batched by ``config.batch_size`` (fewer rows when the arrays hold fewer); a
    PyDataset by its own ``batch_size``, when it has one.
    """
    sizes = {}
    for role, data in (("training", train_data), ("validation", val_data)):
        if data is None:
            continue
        if is_array_pair(data):
            size = min(config.batch_size, len(data[0]))
            what = "batch_size" if size == config.batch_size else (
                f"the {role} batch size ({len(data[0])} {role} images: fewer than "
                f"batch_size={config.batch_size})"
            )
        else:
            size = getattr(data, "batch_size", None)
            what = f"the {role} batch size ({type(data).__name__}.batch_size)"
        if size:
            sizes[what] = int(size)
    return sizes


def train(
    model: keras.Model,
    train_data: Any,
    val_data: Any,
    config: TrainConfig,
    *,
    callbacks: list[keras.callbacks.Callback] | None = None,
    deadline: float | None = None,
) -> TrainingHistory:
    """Train ``model`` (compiled here: Adam, categorical cross-entropy) and return its history.

    Args:
        model: a built, uncompiled or compiled Keras model with softmax outputs (N, K).
        train_data: ``(images, labels)`` arrays or a PyDataset of ``(x, one_hot)`` batches.
        val_data: same forms, or ``None`` (then ``config.monitor`` falls back to ``"loss"``).
            A validation PyDataset must not shuffle.
        config: the run's settings; ``config.output_dir`` receives everything (module doc).
        callbacks: extra Keras callbacks, run after the built-in ones and before the backup.
        deadline: a :func:`time.monotonic` value by which training should end: after the epoch
            that leaves too little time for another, the run stops as an early stop does (best
            weights restored, ``stopped_by_deadline`` set; :class:`Deadline`). It ends as a
            finished run (no backup is left to resume from), and it is not part of the config:
            the time a machine was lent for does not decide which finished run matches.

    Returns:
        A :class:`TrainingHistory` with one entry per epoch of the whole run, including
        epochs trained before an interruption.
    """
    # A data-parallel distribution splits every batch over its devices: refuse a batch size
    # that does not divide now, before anything is written, not in the first training step.
    for what, size in _batch_sizes(train_data, val_data, config).items():
        check_batch_size(size, what)

    output_dir = Path(config.output_dir)
    # Before anything is written or trained: the folder can be written and has room.
    check_output_folder(output_dir, bytes_needed(model, config), "the training output folder")
    checkpoints = output_dir / CHECKPOINT_DIR
    checkpoints.mkdir(parents=True, exist_ok=True)
    history_csv = output_dir / HISTORY_CSV
    remove_debris(output_dir)  # what a killed save left behind is never read

    expected_policy = resolve_precision(config.mixed_precision)
    if model.dtype_policy.name != expected_policy:
        warnings.warn(
            f"config.mixed_precision={config.mixed_precision!r} means {expected_policy!r} here, "
            f"but the model was built under {model.dtype_policy.name!r}; call "
            "drlib.training.configure_precision before building the model",
            stacklevel=2,
        )

    resume_epoch = backup_epoch(output_dir)
    if resume_epoch is not None:
        _check_config(config, output_dir)
        _truncate_history(history_csv, resume_epoch)
        if config.verbose:
            print(f"resuming the interrupted run in {output_dir} after epoch {resume_epoch}")
    else:
        stale_files = [history_csv, output_dir / HISTORY_JSON, *checkpoints.glob("*")]
        for stale in stale_files:
            if stale.is_file():
                stale.unlink()
    atomic_write_text(output_dir / CONFIG_JSON, json.dumps(config.to_dict(), indent=2) + "\n")
    previous = read_history_csv(history_csv)

    seed_everything(config.seed)
    train_ds = _prepare(train_data, config, training=True)
    val_ds = _prepare(val_data, config, training=False) if val_data is not None else None
    monitor = config.monitor if val_ds is not None else config.monitor.removeprefix("val_")
    mode = config.monitor_mode
    prior_values = [v for v in previous.get(monitor, []) if not math.isnan(v)]
    prior_best = (max if mode == "max" else min)(prior_values) if prior_values else None

    _compile(model, config)
    if hasattr(model, "_initial_epoch"):
        model._initial_epoch = None  # Keras keeps the epoch of an earlier restore otherwise
    if resume_epoch is not None:
        restore_backup(model, output_dir / BACKUP_DIR)  # weights and optimizer state

    run_callbacks: list[keras.callbacks.Callback] = [
        EpochSync(train_ds),
        Throughput(images_per_epoch(train_ds, config.batch_size)),
    ]
    validation = None
    if val_ds is not None:
        validation = ValidationMetrics(val_ds, config.batch_size, config.n_classes)
        run_callbacks.append(validation)
    run_callbacks += [
        LearningRateLog(),
        keras.callbacks.CSVLogger(str(history_csv), append=resume_epoch is not None),
        AtomicCheckpoint(checkpoints / "last.keras"),
        AtomicCheckpoint(
            checkpoints / "best.weights.h5",
            monitor=monitor,
            mode=mode,
            save_best_only=True,
            save_weights_only=True,
            include_optimizer=False,
            initial_value_threshold=prior_best,
        ),
    ]
    if config.keep_epoch_checkpoints:
        run_callbacks.append(AtomicCheckpoint(checkpoints / "epoch_{epoch:03d}.keras"))
    early_stopping = None
    if config.patience is not None:
        early_stopping = ResumableEarlyStopping(
            previous=prior_values, monitor=monitor, mode=mode, patience=config.patience
        )
        run_callbacks.append(early_stopping)
    if config.reduce_lr_patience is not None:
        run_callbacks.append(
            ResumableReduceLROnPlateau(
                previous=prior_values,
                monitor=monitor,
                mode=mode,
                patience=config.reduce_lr_patience,
                factor=config.reduce_lr_factor,
                min_lr=config.min_lr,
                verbose=1 if config.verbose else 0,
            )
        )
    stop_at = Deadline(deadline) if deadline is not None else None
    if stop_at is not None:
        run_callbacks.append(stop_at)
    run_callbacks += list(callbacks or [])
    if config.verbose:
        run_callbacks.append(CompactProgbar())
    # Last, so that the backup of an epoch is written after its history row and checkpoints.
    run_callbacks.append(TrainingBackup(output_dir / BACKUP_DIR))

    model.fit(
        train_ds,
        epochs=config.epochs,
        initial_epoch=resume_epoch or 0,
        callbacks=run_callbacks,
        class_weight=_class_weight(train_data, config),
        shuffle=False,  # datasets shuffle themselves, seeded by epoch (Keras would use `random`)
        verbose=config.verbose,
    )

    columns = read_history_csv(history_csv)
    epochs = [int(e) for e in columns.pop("epoch", [])]
    values = columns.get(monitor, [])
    best_epoch = None
    finite = [(v, i) for i, v in enumerate(values) if not math.isnan(v)]
    if finite:
        best_epoch = (max if mode == "max" else min)(finite)[1]
    restored = False
    best_weights = checkpoints / "best.weights.h5"
    if config.restore_best_weights and best_weights.is_file():
        load_inference_weights(model, best_weights)
        restored = True
    history = TrainingHistory(
        epoch=epochs,
        history=columns,
        output_dir=output_dir,
        initial_epoch=resume_epoch or 0,
        best_epoch=best_epoch,
        stopped_early=bool(early_stopping is not None and early_stopping.stopped_epoch > 0),
        stopped_by_deadline=bool(stop_at is not None and stop_at.stopped_epoch is not None
                                 and stop_at.stopped_epoch + 1 < config.epochs),
        weights_restored_from_best=restored,
        extra={"monitor": monitor, "config": config.to_dict()},
    )
    history.save_json(output_dir / HISTORY_JSON)
    return history
