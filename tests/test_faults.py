"""Faults: training killed with SIGKILL resumes to the same weights; killed writers leave only
debris that the next run removes; an unwritable or full output folder is refused up front.

The kill tests run the real ``drlib.training.train`` in subprocesses on TensorFlow's CPU kernels
and kill them with ``SIGKILL`` (no ``finally``, no ``atexit``: what a power cut or the kernel's
out-of-memory killer does), at moments chosen deterministically from inside the process:

1. during the save of the second epoch's backup: the weights file is half written when the
   process dies (the test's stand-in for a kill in the middle of ``save_weights``);
2. in the middle of the third epoch, after its second step;
3. a third process resumes and finishes, then trains the same run without interruption.

The resumed run must end with exactly the weights (trainable weights and the batch-norm
statistics) and the loss curve of the uninterrupted one: seeded batches, the optimizer state in
the backup and deterministic CPU kernels leave no room for a difference, so the comparison is
bitwise (``np.array_equal``), not within a tolerance.

The model is a dense block in miniature (convolution, batch normalisation, concatenation of the
block's input with its output, global pooling, softmax): DenseNet121's kinds of layer, with
state outside the trainable weights, at a size that trains in seconds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from drlib.runtime.atomic import is_debris
from drlib.runtime.storage import OutputFolderError, check_output_folder, format_bytes

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    """
    import json, os, signal, sys
    import keras
    import numpy as np
    from drlib.training import TrainConfig, seed_everything, train

    mode, run_dir, out = sys.argv[1], sys.argv[2], sys.argv[3]

    def tiny_dense_block():
        seed_everything(1)
        image = keras.Input((16, 16, 3), name="image")
        x = keras.layers.Rescaling(1 / 255, name="scale")(image)
        y = keras.layers.Conv2D(4, 3, padding="same", use_bias=False, name="conv")(x)
        y = keras.layers.BatchNormalization(name="norm")(y)
        y = keras.layers.Activation("relu", name="relu")(y)
        x = keras.layers.Concatenate(name="block")([x, y])
        x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
        return keras.Model(image, keras.layers.Dense(5, activation="softmax", name="grade")(x))

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (48, 16, 16, 3)).astype(np.uint8)
    y = rng.integers(0, 5, 48)
    val = (rng.integers(0, 256, (16, 16, 16, 3)).astype(np.uint8), rng.integers(0, 5, 16))

    def config(folder):
        return TrainConfig(image_size=16, batch_size=8, epochs=4, learning_rate=1e-2,
                           patience=None, restore_best_weights=False, augment=True, seed=3,
                           verbose=0, output_dir=folder)

    def weights(model):
        return {str(i): w for i, w in enumerate(model.get_weights())}

    class KillMidEpoch(keras.callbacks.Callback):
        # SIGKILL after the second step of the third epoch (index 2)
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch
        def on_train_batch_end(self, batch, logs=None):
            if self.epoch == 2 and batch == 1:
                os.kill(os.getpid(), signal.SIGKILL)

    callbacks = []
    if mode == "kill-during-save":
        # the second epoch's backup dies half written: the temporary file is cut in half,
        # as a kill in the middle of writing it would leave it
        save_weights = keras.Model.save_weights
        backups = []
        def dying_save_weights(self, filepath, *args, **kwargs):
            save_weights(self, filepath, *args, **kwargs)
            if os.path.basename(os.path.dirname(str(filepath))) == "backup":
                backups.append(filepath)
            if len(backups) == 2:
                data = open(filepath, "rb").read()
                open(filepath, "wb").write(data[: len(data) // 2])
                os.kill(os.getpid(), signal.SIGKILL)
        keras.Model.save_weights = dying_save_weights
    elif mode == "kill-mid-epoch":
        callbacks.append(KillMidEpoch())

    resumed = tiny_dense_block()
    initial = resumed.get_weights()
    history = train(resumed, (x, y), val, config(run_dir), callbacks=callbacks)
    reference = tiny_dense_block()
    whole = train(reference, (x, y), val, config(out + "/uninterrupted"))
    np.savez(out + "/resumed.npz", **weights(resumed))
    np.savez(out + "/uninterrupted.npz", **weights(reference))
    print(json.dumps({"initial_epoch": history.initial_epoch, "epochs": history.epoch,
                      "loss": history.history["loss"], "val_loss": history.history["val_loss"],
                      "loss_whole": whole.history["loss"],
                      "changed": [not np.array_equal(a, b)
                                  for a, b in zip(initial, reference.get_weights())],
                      "val_loss_whole": whole.history["val_loss"]}))
    """
)


def _run(mode: str, run_dir: Path, out: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "PYTHONHASHSEED": "0",
           "TF_CPP_MIN_LOG_LEVEL": "2", "PYTHONPATH": str(ROOT), "CUDA_VISIBLE_DEVICES": ""}
    return subprocess.run([sys.executable, "-c", SCRIPT, mode, str(run_dir), str(out)],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)


def _backup(run_dir: Path) -> tuple[dict, list[str]]:
    folder = run_dir / "backup"
    metadata = json.loads((folder / "training_metadata.json").read_text())
    return metadata, sorted(p.name for p in folder.iterdir())


def test_training_killed_twice_resumes_to_the_weights_of_an_uninterrupted_run(tmp_path):
    run_dir = tmp_path / "run"

    # 1. killed while the second epoch's backup is being written
    proc = _run("kill-during-save", run_dir, tmp_path)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    metadata, files = _backup(run_dir)
    assert metadata["epoch"] == 1 and metadata["weights"] == "epoch_0001.weights.h5"
    debris = [name for name in files if is_debris(name)]
    assert len(debris) == 1 and debris[0].startswith(".epoch_0002.weights.h5.partial-")
    assert sorted(set(files) - set(debris)) == ["epoch_0001.weights.h5",
                                                "training_metadata.json"]
    rows = (run_dir / "history.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in rows[1:]] == ["0", "1"]  # epoch 2's row is ahead
    with (run_dir / "history.csv").open("a") as f:  # and a row that a kill cut short
        f.write("2,0.5")

    # 2. resumed after epoch 1 (the half-written backup ignored), killed in the third epoch
    proc = _run("kill-mid-epoch", run_dir, tmp_path)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-3000:]
    metadata, files = _backup(run_dir)
    assert metadata["epoch"] == 2
    assert files == ["epoch_0002.weights.h5", "training_metadata.json"]  # debris removed
    rows = (run_dir / "history.csv").read_text().splitlines()
    assert [row.split(",")[0] for row in rows[1:]] == ["0", "1"]  # rerun epoch 2's row, once

    # 3. resumed after epoch 2, finished; then the same run without interruption
    proc = _run("finish", run_dir, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["initial_epoch"] == 2 and result["epochs"] == [0, 1, 2, 3]
    assert not (run_dir / "backup").exists()
    assert result["loss"] == result["loss_whole"]  # the whole curve, bit for bit
    assert result["val_loss"] == result["val_loss_whole"]
    resumed = np.load(tmp_path / "resumed.npz")
    whole = np.load(tmp_path / "uninterrupted.npz")
    assert sorted(resumed.files) == sorted(whole.files) and len(whole.files) == 7
    # conv kernel, 4 batch-norm arrays (2 of them moving statistics), dense kernel and bias
    for key in whole.files:
        assert np.array_equal(resumed[key], whole[key]), key
    # every array changed during the run: not two copies of the same initial state
    assert result["changed"] == [True] * 7


def test_history_rows_after_the_backup_and_a_cut_row_are_dropped(tmp_path):
    from drlib.training.loop import _truncate_history

    path = tmp_path / "history.csv"
    # the last row is "13,..." cut after its first character by a kill
    path.write_text("epoch,loss,val_loss\n0,1.5,1.6\n1,1.25,1.5\n12,0.5,0.75\n1")
    _truncate_history(path, keep_epochs=12)
    assert path.read_text() == "epoch,loss,val_loss\n0,1.5,1.6\n1,1.25,1.5\n"
    _truncate_history(path, keep_epochs=1)
    assert path.read_text() == "epoch,loss,val_loss\n0,1.5,1.6\n"


# --------------------------------------------------------------------------- up-front checks


def test_output_folder_that_cannot_be_created_or_written_is_named(tmp_path, monkeypatch):
    blocker = tmp_path / "a file"
    blocker.write_text("not a folder")
    with pytest.raises(OutputFolderError, match="cannot create the run folder") as info:
        check_output_folder(blocker / "out", what="the run folder")
    assert str(info.value).startswith(f"{blocker / 'out'}: ")

    def refused(*args, **kwargs):  # what a read-only mount answers (root ignores mode bits)
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr("drlib.runtime.storage.tempfile.mkstemp", refused)
    with pytest.raises(OutputFolderError) as info:
        check_output_folder(tmp_path / "ro")
    assert str(info.value) == f"{tmp_path / 'ro'}: the output folder is not writable: " \
                              "Permission denied"


def _disk_with_free_bytes(monkeypatch, free: int) -> None:
    usage = type("Usage", (), {"total": 10 * free + 1, "used": 9 * free, "free": free})
    monkeypatch.setattr("drlib.runtime.storage.shutil.disk_usage", lambda path: usage)


def test_a_disk_too_full_is_refused_with_both_sizes(tmp_path, monkeypatch):
    _disk_with_free_bytes(monkeypatch, 3 << 20)
    assert check_output_folder(tmp_path / "fits", 3 << 20) == tmp_path / "fits"
    with pytest.raises(OutputFolderError) as info:
        check_output_folder(tmp_path / "full", (3 << 20) + 1)
    assert str(info.value) == (f"{tmp_path / 'full'}: not enough free disk space for the output "
                               "folder: the run needs about 3.0 MiB, the disk has 3.0 MiB free")
    assert [format_bytes(n) for n in (0, 1023, 1536, 5 << 30)] == [
        "0 bytes", "1023 bytes", "1.5 KiB", "5.0 GiB"]


def test_train_refuses_a_full_disk_before_writing_anything(tmp_path, monkeypatch):
    import keras

    from drlib.training import TrainConfig, train
    from drlib.training.loop import bytes_needed, checkpoint_bytes

    image = keras.Input((8, 8, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(image)
    model = keras.Model(image, keras.layers.Dense(5, activation="softmax")(pooled))
    config = TrainConfig(image_size=8, batch_size=4, epochs=3, verbose=0,
                         output_dir=str(tmp_path / "run"))
    # 20 float32 weights (3 x 5 kernel, 5 biases) and Adam's two moments of each: 240 bytes;
    # 4 such states at the peak of a save, and 1 MiB for the history and configuration
    assert checkpoint_bytes(model) == 240
    assert bytes_needed(model, config) == 4 * 240 + (1 << 20)
    keep = TrainConfig(**{**config.to_dict(), "keep_epoch_checkpoints": True})
    assert bytes_needed(model, keep) == 7 * 240 + (1 << 20)

    _disk_with_free_bytes(monkeypatch, 1 << 20)
    rng = np.random.default_rng(0)
    data = (rng.integers(0, 256, (8, 8, 8, 3)).astype(np.uint8), rng.integers(0, 5, 8))
    with pytest.raises(OutputFolderError, match="not enough free disk space for the training "
                                                "output folder") as info:
        train(model, data, None, config)
    assert info.value.folder == tmp_path / "run"
    assert list((tmp_path / "run").iterdir()) == []  # nothing trained, nothing written


def test_screening_refuses_a_full_disk_or_a_blocked_folder_before_loading_the_model(
        tmp_path, monkeypatch, capsys):
    from PIL import Image

    from drlib.screening import engine
    from drlib.screening.cli import EXIT_USAGE, main, output_bytes_needed

    def no_model(settings):
        raise AssertionError("the model was loaded before the output folder was checked")

    monkeypatch.setattr(engine, "load_model", no_model)
    photo = tmp_path / "eye.png"
    Image.new("RGB", (64, 64), (170, 80, 40)).save(photo)
    # 1 photograph at the shipped model's 192 px, input and 2 overlays linked: 3 PNGs of at
    # most 192 x 192 x 3 bytes + 1 KiB each, 4 KiB of tables, 1 MiB
    assert output_bytes_needed(1, 192, 2, embed=False) == 3 * (192 * 192 * 3 + 1024) + 4096 \
        + (1 << 20)
    assert output_bytes_needed(2, 192, 0, embed=True) == 2 * int(
        (192 * 192 * 3 + 1024) * (1 + 4 / 3) + 4096) + (1 << 20)

    _disk_with_free_bytes(monkeypatch, 1 << 20)
    out = tmp_path / "out"
    assert main(["explain", str(photo), "--out", str(out), "--quiet"]) == EXIT_USAGE
    err = capsys.readouterr().err
    assert err.startswith(f"drlib: error: {out}: not enough free disk space for the output "
                          "folder: the run needs about 1.3 MiB, the disk has 1.0 MiB free")
    assert list(out.iterdir()) == []

    blocker = tmp_path / "a file"
    blocker.write_text("")
    assert main(["grade", str(photo), "--out", str(blocker / "out"), "--quiet"]) == EXIT_USAGE
    assert capsys.readouterr().err.startswith(
        f"drlib: error: {blocker / 'out'}: cannot create the output folder: Not a directory")
