"""What a training run is asked to do (:class:`TrainConfig`) and what it did (history)."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from drlib.runtime.atomic import atomic_write_text

PRECISION_MODES = ("auto", "on", "off")
CLASS_WEIGHT_MODES = (None, "balanced")

RESUMABLE_CHANGES = frozenset({"epochs", "verbose"})
"""Config fields that may differ between an interrupted run and its resumption."""


@dataclass
class TrainConfig:
    """Settings of one training run; saved as ``train_config.json`` in ``output_dir``.

    The defaults follow the paper where it says something: Adam with learning rate 3e-4,
    categorical cross-entropy. The paper trained until the loss plateaued on its *test* data;
    the course stops on a separate validation split instead (early stopping after ``patience``
    epochs without improvement of the validation loss, keeping the best weights), so its test
    split never chooses anything.

    Attributes:
        image_size: side of the square input images in pixels.
        batch_size: images per training step (and per validation step).
        epochs: maximum number of epochs.
        learning_rate: Adam learning rate (paper: 0.0003).
        patience: epochs without improvement of ``monitor`` before stopping; ``None`` = never.
        reduce_lr_patience: epochs without improvement before multiplying the learning rate by
            ``reduce_lr_factor``; ``None`` = constant learning rate (as the paper).
        reduce_lr_factor, min_lr: ReduceLROnPlateau settings.
        monitor: quantity watched for plateaus and for the best checkpoint.
        restore_best_weights: end with the weights of the best epoch, not the last one.
        class_weight: ``"balanced"`` (weight n / (K n_k) per grade) or ``None``.
        augment: random flips of in-memory arrays (a PyDataset augments by itself).
        shuffle: reshuffle in-memory arrays every epoch (seeded by ``seed`` and the epoch).
        seed: seed for Python, NumPy and the Keras backend.
        mixed_precision: ``"auto"`` (bfloat16 mixed precision on a GPU, float32 on a CPU),
            ``"on"`` or ``"off"``. Applied by :func:`drlib.training.configure_precision`,
            which must run before the model is built.
        output_dir: folder for checkpoints, backups and history.
        verbose: Keras progress output: 1 progress bars (interactive), 2 one line per epoch.
        keep_epoch_checkpoints: also keep ``checkpoints/epoch_NNN.keras`` for every epoch
            (``checkpoints/last.keras`` is always rewritten at the end of every epoch).
        n_classes: number of grades.
    """

    image_size: int = 224
    batch_size: int = 32
    epochs: int = 30
    learning_rate: float = 3e-4
    patience: int | None = 5
    reduce_lr_patience: int | None = None
    reduce_lr_factor: float = 0.2
    min_lr: float = 1e-6
    monitor: str = "val_loss"
    restore_best_weights: bool = True
    class_weight: str | None = None
    augment: bool = False
    shuffle: bool = True
    seed: int = 0
    mixed_precision: str = "auto"
    output_dir: str = "runs/densenet121"
    verbose: int = 1
    keep_epoch_checkpoints: bool = False
    n_classes: int = 5

    def __post_init__(self) -> None:
        if self.mixed_precision not in PRECISION_MODES:
            raise ValueError(
                f"mixed_precision must be one of {PRECISION_MODES}, got {self.mixed_precision!r}"
            )
        if self.class_weight not in CLASS_WEIGHT_MODES:
            raise ValueError(
                f"class_weight must be one of {CLASS_WEIGHT_MODES}, got {self.class_weight!r}"
            )
        for name in ("image_size", "batch_size", "epochs", "n_classes"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be a positive integer, got {getattr(self, name)}")
        if self.learning_rate <= 0:
            raise ValueError(f"learning_rate must be positive, got {self.learning_rate}")
        self.output_dir = str(self.output_dir)

    @property
    def monitor_mode(self) -> str:
        """``"max"`` for kappa and accuracy, ``"min"`` for losses."""
        return "max" if ("kappa" in self.monitor or "accuracy" in self.monitor) else "min"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def differences(self, other: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
        """Fields whose value differs from a saved config (saved value, this value)."""
        mine = self.to_dict()
        return {
            key: (other.get(key), value)
            for key, value in mine.items()
            if key not in RESUMABLE_CHANGES and other.get(key) != value
        }


@dataclass
class TrainingHistory:
    """Everything a run logged, across interruptions: one row per epoch, epochs 0..n-1.

    Looks like ``keras.callbacks.History`` (``.epoch``, ``.history``) but covers the whole
    run, including epochs trained before an interruption, read back from ``history.csv``.
    """

    epoch: list[int]
    history: dict[str, list[float]]
    output_dir: Path
    initial_epoch: int = 0
    """First epoch trained by the last call (0 unless it resumed)."""
    best_epoch: int | None = None
    stopped_early: bool = False
    stopped_by_deadline: bool = False
    """The run stopped before its last epoch because another would have passed its deadline."""
    weights_restored_from_best: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def epochs_run(self) -> int:
        return len(self.epoch)

    @property
    def wall_time_s(self) -> float:
        """Seconds spent in training and validation over all epochs (all calls together)."""
        train_s = sum(self.history.get("epoch_time_s", []))
        val_s = sum(self.history.get("val_time_s", []))
        return float(train_s + val_s)

    @property
    def train_images_per_s(self) -> float | None:
        """Training images/s: median over epochs (each leaves out its first step, see
        :class:`~drlib.training.callbacks.Throughput`; the first epoch too, when there are more).
        """
        rates = self.history.get("train_images_per_s", [])
        if not rates:
            return None
        rates = rates[1:] if len(rates) > 1 else rates
        return float(sorted(rates)[len(rates) // 2])

    def best(self, key: str) -> float | None:
        """Value of ``key`` at the best epoch (or the last epoch if none is marked)."""
        values = self.history.get(key)
        if not values:
            return None
        index = self.best_epoch if self.best_epoch is not None else len(values) - 1
        return float(values[index])

    def to_dict(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "history": self.history,
            "initial_epoch": self.initial_epoch,
            "best_epoch": self.best_epoch,
            "stopped_early": self.stopped_early,
            "stopped_by_deadline": self.stopped_by_deadline,
            "weights_restored_from_best": self.weights_restored_from_best,
            "wall_time_s": self.wall_time_s,
            "train_images_per_s": self.train_images_per_s,
            **self.extra,
        }

    def save_json(self, path: str | Path) -> Path:
        """Write the history as JSON, atomically (a killed write leaves the old file)."""
        path = Path(path)
        atomic_write_text(path, json.dumps(self.to_dict(), indent=2, sort_keys=True) + "\n")
        return path
