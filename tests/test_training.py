"""Training loop (drlib.training): validation metrics, seeded batches, checkpoints, resumption.

A tiny convolutional net on 16 x 16 images stands in for DenseNet121: the loop does not care
which model it trains, and these tests must run in seconds on two CPU cores.
"""

from __future__ import annotations

import json
import math
import time
import warnings

import keras
import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from drlib.modeling.inference import predict_probabilities
from drlib.modeling.manifest import load_inference_weights
from drlib.runtime.devices import has_accelerator
from drlib.training import (
    ArrayBatches,
    TrainConfig,
    backup_epoch,
    balanced_class_weight,
    configure_precision,
    read_history_csv,
    resolve_precision,
    seed_everything,
    train,
    validation_report,
)
from drlib.training.callbacks import Deadline, replay_early_stopping, replay_reduce_lr

SIZE = 16


def tiny_model(seed: int = 1) -> keras.Model:
    seed_everything(seed)
    image = keras.Input((SIZE, SIZE, 3))
    x = keras.layers.Rescaling(1 / 255)(image)
    x = keras.layers.Conv2D(4, 3, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    out = keras.layers.Dense(5, activation="softmax")(x)
    return keras.Model(image, out)


def weights_of(model: keras.Model) -> list[np.ndarray]:
    return [w.numpy().copy() for w in model.weights]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (40, SIZE, SIZE, 3)).astype(np.uint8)
    y = rng.integers(0, 5, 40)
    xv = rng.integers(0, 256, (13, SIZE, SIZE, 3)).astype(np.uint8)
    yv = rng.integers(0, 5, 13)
    return (x, y), (xv, yv)


def config(tmp_path, **kwargs) -> TrainConfig:
    settings = dict(
        image_size=SIZE, batch_size=8, epochs=3, learning_rate=1e-2, patience=None,
        restore_best_weights=False, verbose=0, output_dir=str(tmp_path), seed=3,
    )
    settings.update(kwargs)
    return TrainConfig(**settings)


class InterruptAtEpoch(keras.callbacks.Callback):
    """Simulates a crash when ``epoch`` is about to start (i.e. after epoch-1 has ended)."""

    def __init__(self, epoch: int) -> None:
        super().__init__()
        self.epoch = epoch
        self.weights_at_interruption: list[np.ndarray] | None = None

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.epoch:
            self.weights_at_interruption = weights_of(self.model)
            raise KeyboardInterrupt("simulated interruption")


class WeightsAtEpochEnd(keras.callbacks.Callback):
    """The weights at the end of every epoch: what the validation of that epoch saw."""

    def __init__(self) -> None:
        super().__init__()
        self.weights: list[list[np.ndarray]] = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(weights_of(self.model))


def reference_validation(weights: list[np.ndarray], xv: np.ndarray, yv: np.ndarray) -> dict:
    """Validation numbers recomputed outside the training loop: a fresh model with ``weights``,
    Keras' own predict, scikit-learn's kappa and Keras' categorical cross-entropy."""
    model = tiny_model()
    model.set_weights(weights)
    probabilities = np.asarray(model.predict(xv.astype(np.float32), verbose=0))
    predicted = probabilities.argmax(axis=1)
    loss = keras.losses.CategoricalCrossentropy()(
        np.eye(5, dtype=np.float32)[yv], probabilities.astype(np.float32)
    )
    return {
        "kappa": cohen_kappa_score(yv, predicted, weights="quadratic", labels=range(5)),
        "loss": float(loss),
        "accuracy": float(np.mean(predicted == yv)),
        "recall_4": float(np.mean(predicted[yv == 4] == 4)),
    }


class WeightsAtBatchStart(keras.callbacks.Callback):
    """The weights each training step starts from."""

    def __init__(self) -> None:
        super().__init__()
        self.weights: list[list[np.ndarray]] = []

    def on_train_batch_begin(self, batch, logs=None):
        self.weights.append(weights_of(self.model))


def reference_train_loss(model: keras.Model, weights: list[list[np.ndarray]], batches) -> float:
    """An epoch's training loss as Keras reports it, recomputed: the mean over its (equal-sized)
    batches of the cross-entropy of each batch under the weights its step started from."""
    losses = []
    for start_weights, (xb, yb) in zip(weights, batches, strict=True):
        model.set_weights(start_weights)
        probabilities = np.asarray(model(xb, training=False), dtype=np.float32)
        losses.append(float(keras.losses.CategoricalCrossentropy()(yb, probabilities)))
    return float(np.mean(losses))


class EpochRecorder(keras.callbacks.Callback):
    """Which epochs a fit call runs, and the weights it starts each epoch with."""

    def __init__(self) -> None:
        super().__init__()
        self.epochs: list[int] = []
        self.start_weights: dict[int, list[np.ndarray]] = {}

    def on_epoch_begin(self, epoch, logs=None):
        self.epochs.append(epoch)
        self.start_weights[epoch] = weights_of(self.model)


# ----------------------------------------------------------------------------- validation


def test_validation_report_matches_sklearn_and_keras():
    rng = np.random.default_rng(5)
    probabilities = rng.dirichlet(np.ones(5), size=50)
    grades = rng.integers(0, 5, 50)
    report = validation_report(probabilities, grades)
    predicted = probabilities.argmax(axis=1)
    assert report["kappa"] == pytest.approx(
        cohen_kappa_score(grades, predicted, weights="quadratic", labels=range(5)), abs=1e-12
    )
    keras_loss = keras.losses.CategoricalCrossentropy()(
        np.eye(5)[grades].astype(np.float32), probabilities.astype(np.float32)
    )
    assert report["loss"] == pytest.approx(float(keras_loss), rel=1e-5)
    assert report["accuracy"] == pytest.approx(np.mean(predicted == grades))
    for g in range(5):
        assert report["recall"][g] == pytest.approx(np.mean(predicted[grades == g] == g))
    assert np.sum(report["confusion"]) == 50


def test_recall_of_an_absent_grade_is_nan_not_zero():
    probabilities = np.eye(5)[[0, 0, 1]]
    report = validation_report(probabilities, np.array([0, 1, 1]))
    assert report["recall"][:2] == [1.0, 0.5]
    assert all(np.isnan(report["recall"][2:]))


class Batches(keras.utils.PyDataset):
    """A bare PyDataset of (x, one_hot) batches, without grades or set_epoch."""

    def __init__(self, x, y, batch_size):
        super().__init__()
        self.x, self.y, self.batch_size = x, np.eye(5, dtype=np.float32)[y], batch_size

    def __len__(self):
        return -(-len(self.x) // self.batch_size)

    def __getitem__(self, i):
        rows = slice(i * self.batch_size, (i + 1) * self.batch_size)
        return self.x[rows].astype(np.float32), self.y[rows]


def test_predictions_cover_every_image_in_order_with_padded_batches(data):
    _, (xv, yv) = data
    model = tiny_model()
    expected = np.asarray(model.predict(xv.astype(np.float32), verbose=0))
    for source in ((xv, yv), Batches(xv, yv, 5)):  # 13 images: last batch of 3 (or 5) padded
        probabilities, grades = predict_probabilities(model, source, batch_size=5)
        np.testing.assert_array_equal(grades, yv)
        np.testing.assert_allclose(probabilities, expected, atol=1e-6)


# ----------------------------------------------------------------------------- data


def test_array_batches_are_a_function_of_seed_and_epoch(data):
    (x, y), _ = data
    a = ArrayBatches(x, y, 8, shuffle=True, augment=True, seed=4)
    b = ArrayBatches(x, y, 8, shuffle=True, augment=True, seed=4)
    assert len(a) == 5
    b.set_epoch(1)
    b.set_epoch(0)  # back to epoch 0: same batches as a fresh dataset
    for i in range(len(a)):
        np.testing.assert_array_equal(a[i][0], b[i][0])
        np.testing.assert_array_equal(a[i][1], b[i][1])
        assert a[i][0].shape == (8, SIZE, SIZE, 3) and a[i][0].dtype == np.float32
    a.set_epoch(1)
    assert not np.array_equal(a[0][1], b[0][1]) or not np.array_equal(a[0][0], b[0][0])
    # Without augmentation, an epoch is a permutation of the images: every image once at most.
    plain = ArrayBatches(x, y, 8, shuffle=True, seed=4)
    seen = np.concatenate([plain[i][0] for i in range(len(plain))]).reshape(40, -1)
    assert len(np.unique(seen, axis=0)) == 40


def test_balanced_class_weights():
    weights = balanced_class_weight(np.array([0, 0, 0, 1, 2, 2]))
    assert weights[0] == pytest.approx(6 / (5 * 3))
    assert weights[1] == pytest.approx(6 / 5)
    assert weights[3] == 1.0 and weights[4] == 1.0  # absent grades


def test_precision_policy():
    expected = "mixed_bfloat16" if has_accelerator() else "float32"
    assert resolve_precision("auto") == expected
    assert resolve_precision("on") == "mixed_bfloat16"
    assert resolve_precision("off") == "float32"
    with pytest.raises(ValueError, match="mixed_precision"):
        TrainConfig(mixed_precision="yes")


# ----------------------------------------------------------------------------- training


def test_train_writes_history_checkpoints_and_kappa(data, tmp_path):
    _, (xv, yv) = data
    model = tiny_model()
    at_epoch_end = WeightsAtEpochEnd()
    history = train(model, *data, config(tmp_path, epochs=3, class_weight="balanced",
                                         augment=True, restore_best_weights=True),
                    callbacks=[at_epoch_end])
    assert history.epoch == [0, 1, 2]
    for key in ("loss", "val_loss", "val_kappa", "val_recall_4", "train_images_per_s"):
        assert len(history.history[key]) == 3, key
    # every epoch's validation numbers, recomputed from that epoch's weights with scikit-learn
    # and Keras, equal the logged ones (and the CSV holds the same values)
    reference = [reference_validation(w, xv, yv) for w in at_epoch_end.weights]
    assert history.history["val_kappa"] == pytest.approx([r["kappa"] for r in reference],
                                                         abs=1e-12)
    assert history.history["val_loss"] == pytest.approx([r["loss"] for r in reference], rel=1e-5)
    assert history.history["val_accuracy"] == [r["accuracy"] for r in reference]
    assert history.history["val_recall_4"] == [r["recall_4"] for r in reference]
    csv_columns = read_history_csv(tmp_path / "history.csv")
    assert csv_columns["val_kappa"] == pytest.approx(history.history["val_kappa"], abs=1e-12)
    # the best epoch is the one with the lowest validation loss (config.monitor)
    assert history.best_epoch == int(np.argmin([r["loss"] for r in reference]))
    assert history.history["learning_rate"] == pytest.approx([1e-2, 1e-2, 1e-2])
    for name in ("history.csv", "history.json", "train_config.json",
                 "checkpoints/last.keras", "checkpoints/best.weights.h5"):
        assert (tmp_path / name).is_file(), name
    assert not (tmp_path / "backup").exists()  # removed once the run completed
    saved = json.loads((tmp_path / "history.json").read_text())
    assert saved["epoch"] == [0, 1, 2] and saved["best_epoch"] == history.best_epoch
    # restore_best_weights: the model ends with the best checkpoint's weights, which are the
    # weights at the end of the best epoch.
    best = tiny_model()
    best.load_weights(str(tmp_path / "checkpoints" / "best.weights.h5"))
    for a, b, c in zip(weights_of(model), weights_of(best),
                       at_epoch_end.weights[history.best_epoch], strict=True):
        np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(a, c)
    # timings: the summaries are the documented functions of the per-epoch columns
    columns = history.history
    assert history.wall_time_s == pytest.approx(
        sum(columns["epoch_time_s"]) + sum(columns["val_time_s"]), rel=1e-12)
    assert history.train_images_per_s == sorted(columns["train_images_per_s"][1:])[1]
    assert saved["train_images_per_s"] == history.train_images_per_s
    assert min(columns["epoch_time_s"]) > 0 and min(columns["val_time_s"]) > 0


def test_train_accepts_pydatasets(data, tmp_path):
    (x, y), (xv, yv) = data
    model = tiny_model()
    steps = WeightsAtBatchStart()
    history = train(model, Batches(x, y, 8), Batches(xv, yv, 8), config(tmp_path, epochs=1),
                    callbacks=[steps])
    assert history.epoch == [0]
    # the validation numbers are those of the trained model on the PyDataset's images
    reference = reference_validation(weights_of(model), xv, yv)
    assert history.history["val_loss"][0] == pytest.approx(reference["loss"], rel=1e-5)
    assert history.history["val_kappa"][0] == pytest.approx(reference["kappa"], abs=1e-12)
    # the training loss is the mean loss of the five batches, in the dataset's order
    batches = Batches(x, y, 8)
    expected = reference_train_loss(tiny_model(), steps.weights, [batches[i] for i in range(5)])
    assert history.history["loss"][0] == pytest.approx(expected, rel=1e-5)
    with pytest.raises(ValueError, match="grades"):
        train(tiny_model(), Batches(x, y, 8), Batches(xv, yv, 8),
              config(tmp_path, epochs=1, class_weight="balanced"))


def test_resume_after_interruption_loses_and_repeats_no_epoch(data, tmp_path):
    # Reference: three epochs in one go.
    reference = tiny_model()
    train(reference, *data, config(tmp_path / "whole"))

    # The same run, interrupted after epoch 2 (index 1) ...
    run_dir = tmp_path / "interrupted"
    first = tiny_model()
    crash = InterruptAtEpoch(2)
    with pytest.raises(KeyboardInterrupt):
        train(first, *data, config(run_dir), callbacks=[crash])
    assert backup_epoch(run_dir) == 2
    assert read_history_csv(run_dir / "history.csv")["epoch"] == [0.0, 1.0]

    # ... and resumed in a "new process": a freshly built model, same output folder.
    second = tiny_model()
    recorder = EpochRecorder()
    history = train(second, *data, config(run_dir), callbacks=[recorder])
    assert recorder.epochs == [2]  # only the remaining epoch ran
    assert history.epoch == [0, 1, 2] and history.initial_epoch == 2
    assert len(history.history["loss"]) == 3
    # It started from the weights saved at the interruption, not from the fresh ones ...
    for a, b in zip(recorder.start_weights[2], crash.weights_at_interruption, strict=True):
        np.testing.assert_array_equal(a, b)
    # ... and ends where the uninterrupted run ended (same batches, same optimizer state).
    for a, b in zip(weights_of(second), weights_of(reference), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    whole = read_history_csv(tmp_path / "whole" / "history.csv")
    np.testing.assert_allclose(history.history["loss"], whole["loss"], rtol=1e-5)
    assert backup_epoch(run_dir) is None


def test_resume_refuses_a_changed_configuration(data, tmp_path):
    with pytest.raises(KeyboardInterrupt):
        train(tiny_model(), *data, config(tmp_path), callbacks=[InterruptAtEpoch(1)])
    with pytest.raises(ValueError, match="learning_rate"):
        train(tiny_model(), *data, config(tmp_path, learning_rate=1e-3))


def test_a_completed_run_is_not_resumed_but_restarted(data, tmp_path):
    train(tiny_model(), *data, config(tmp_path, epochs=2))
    history = train(tiny_model(), *data, config(tmp_path, epochs=1))
    assert history.epoch == [0]
    assert read_history_csv(tmp_path / "history.csv")["epoch"] == [0.0]


# ----------------------------------------------------------------------------- plateau state


def _keras_state(callback, values):
    model = tiny_model()
    model.compile(keras.optimizers.Adam(1e-3), "categorical_crossentropy")
    callback.set_model(model)
    callback.on_train_begin()
    for epoch, value in enumerate(values):
        callback.on_epoch_end(epoch, {"val_loss": value})
    return callback


@pytest.mark.parametrize(
    "values",
    [[1.0, 0.9, 0.95, 0.97, 0.85, 0.9], [1.0, 1.0, 1.0], [0.5, 0.6, 0.7, 0.4, 0.41]],
)
def test_replayed_plateau_state_matches_keras(values):
    stopper = _keras_state(keras.callbacks.EarlyStopping(patience=100, mode="min"), values)
    assert replay_early_stopping(values, "min") == (stopper.best, stopper.best_epoch, stopper.wait)
    reducer = _keras_state(
        keras.callbacks.ReduceLROnPlateau(patience=2, cooldown=1, mode="min"), values
    )
    assert replay_reduce_lr(values, "min", 2, 1, reducer.min_delta) == (
        reducer.best, reducer.wait, reducer.cooldown_counter
    )


def test_mixed_precision_run_and_policy_mismatch_warning(data, tmp_path):
    previous = keras.config.dtype_policy()
    try:
        configure_precision("on")
        model = tiny_model()
    finally:
        keras.config.set_dtype_policy(previous)
    assert model.dtype_policy.name == "mixed_bfloat16"
    (x, y), (xv, yv) = data
    steps = WeightsAtBatchStart()
    history = train(model, *data, config(tmp_path / "mixed", epochs=1, mixed_precision="on"),
                    callbacks=[steps])
    # val_loss: Keras' cross-entropy of the trained (bfloat16) model's own predictions
    probabilities = np.asarray(model.predict(xv.astype(np.float32), verbose=0), np.float32)
    val_loss = keras.losses.CategoricalCrossentropy()(np.eye(5, dtype=np.float32)[yv],
                                                      probabilities)
    assert history.history["val_loss"][0] == pytest.approx(float(val_loss), rel=1e-4)
    # loss: the mean over the epoch's seeded batches (shuffle seed 3, epoch 0) of each batch's
    # cross-entropy under the weights its step started from
    batches = ArrayBatches(x, y, 8, shuffle=True, seed=3)
    batches.set_epoch(0)
    expected = reference_train_loss(model, steps.weights, [batches[i] for i in range(5)])
    assert history.history["loss"][0] == pytest.approx(expected, rel=1e-5)
    with pytest.warns(UserWarning, match="configure_precision"):
        train(tiny_model(), *data, config(tmp_path / "mismatch", epochs=1, mixed_precision="on"))


def test_history_csv_reads_keras_na_cells_as_nan(tmp_path):
    """CSVLogger writes "NA" for a metric an epoch lacks (training without validation data)."""
    path = tmp_path / "history.csv"
    path.write_text("epoch,loss,val_loss\n0,1.5,NA\n1,1.25,0.75\n")
    columns = read_history_csv(path)
    assert columns["loss"] == [1.5, 1.25]
    assert math.isnan(columns["val_loss"][0]) and columns["val_loss"][1] == 0.75


def test_the_best_checkpoint_holds_the_layer_weights_without_the_optimizer(data, tmp_path):
    # A run stopped on a lent machine brings back its best weights: without Adam's two moments
    # per weight they are a third of the size. The backup keeps the optimizer (to resume).
    import h5py

    model = tiny_model()
    train(model, *data, config(tmp_path, epochs=2, restore_best_weights=True))
    with h5py.File(tmp_path / "checkpoints" / "best.weights.h5") as best:
        assert sorted(best.keys()) == ["layers", "vars"]
    restored = tiny_model()
    restored.compile(optimizer="adam", loss="categorical_crossentropy")  # as the loop's model
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a compiled model loads it without complaint
        load_inference_weights(restored, tmp_path / "checkpoints" / "best.weights.h5")
    for a, b in zip(weights_of(model), weights_of(restored), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_deadline_stops_after_the_epoch_that_leaves_no_time_for_another(data, tmp_path):
    model = tiny_model()
    history = train(model, *data, config(tmp_path, epochs=4, restore_best_weights=True),
                    deadline=time.monotonic())  # already passed: the first epoch is the last
    assert history.epoch == [0]
    assert history.stopped_by_deadline and not history.stopped_early
    assert history.weights_restored_from_best
    assert json.loads((tmp_path / "history.json").read_text())["stopped_by_deadline"] is True
    assert not (tmp_path / "backup").exists()  # it ended as a finished run does

    unhurried = train(tiny_model(), *data, config(tmp_path / "b", epochs=2),
                      deadline=time.monotonic() + 3600)
    assert unhurried.epoch == [0, 1] and not unhurried.stopped_by_deadline


class _Clock:
    def __init__(self, times):
        self.times = list(times)

    def __call__(self):
        return self.times.pop(0)


class _Stoppable:
    stop_training = False


@pytest.mark.parametrize(("times", "stopped"), [
    # per epoch: begin, end of the first step, end; deadline 55. Epoch 0 compiles for 30 s,
    # then runs 10 s: the projection is 10 s (40 + 10 <= 55), not 40. Epoch 1 (41 to 50, 9 s
    # after its first step): 50 + 9 > 55, so the run stops after it.
    ([0, 30, 40, 40, 41, 50], 1),
    # epochs of 4 s after their first step: epochs 0-4 leave room for another (the fifth ends
    # at 44, 44 + 4 <= 55); epoch 5 ends at 55, and another of its 5 s would not fit
    ([0, 20, 24, 24, 25, 29, 29, 30, 34, 34, 35, 39, 39, 40, 44, 44, 50, 55], 5),
])
def test_deadline_projects_the_last_epoch_without_its_first_step(times, stopped):
    clock = _Clock(times)
    callback = Deadline(55.0, clock=clock)
    callback.set_model(_Stoppable())
    callback.on_train_begin()
    epoch = 0
    while clock.times and not callback.model.stop_training:
        callback.on_epoch_begin(epoch)
        callback.on_train_batch_end(0)
        callback.on_train_batch_end(1)  # later steps do not move the mark
        callback.on_epoch_end(epoch)
        epoch += 1
    assert callback.stopped_epoch == stopped
