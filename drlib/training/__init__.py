"""Training the grader: configuration, data wrapping, callbacks and the ``train`` loop.

Typical use (the order matters: precision and seeds before the model is built)::

    from drlib.training import TrainConfig, configure_precision, seed_everything, train
    config = TrainConfig(image_size=224, batch_size=32, epochs=30, output_dir="runs/a")
    configure_precision(config.mixed_precision)
    seed_everything(config.seed)
    model = drlib.modeling.densenet.build_densenet(config.image_size)
    history = train(model, train_data, val_data, config)
"""

from drlib.training.config import TrainConfig, TrainingHistory
from drlib.training.data import ArrayBatches, balanced_class_weight, one_hot
from drlib.training.finished import history_from_manifest, matching_finished_run
from drlib.training.loop import backup_epoch, read_history_csv, train
from drlib.training.setup import configure_precision, resolve_precision, seed_everything
from drlib.training.throughput import RandomBatches, measure_fit_throughput
from drlib.training.validation import evaluate_grades, validation_report

__all__ = [
    "ArrayBatches",
    "RandomBatches",
    "TrainConfig",
    "TrainingHistory",
    "backup_epoch",
    "balanced_class_weight",
    "configure_precision",
    "evaluate_grades",
    "history_from_manifest",
    "matching_finished_run",
    "measure_fit_throughput",
    "one_hot",
    "read_history_csv",
    "resolve_precision",
    "seed_everything",
    "train",
    "validation_report",
]
