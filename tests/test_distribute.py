"""Devices and data parallelism (drlib.runtime.devices).

The data-parallel test runs in a subprocess on the JAX backend with two virtual CPU devices
(``XLA_FLAGS=--xla_force_host_platform_device_count=2``): the same mechanism Keras uses on a
machine with several GPUs, checked without one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import keras
import pytest

from drlib.runtime.devices import (
    check_batch_size,
    describe_devices,
    has_accelerator,
    list_devices,
    use_data_parallel,
    use_mirrored_strategy,
)

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    """
    import json, sys
    import numpy as np
    import drlib
    import jax, keras
    from drlib.runtime.devices import describe_devices, use_data_parallel
    from drlib.training import TrainConfig, seed_everything, train

    def tiny():
        seed_everything(1)
        image = keras.Input((8, 8, 3))
        x = keras.layers.Conv2D(4, 3, activation="relu")(image)
        x = keras.layers.GlobalAveragePooling2D()(x)
        return keras.Model(image, keras.layers.Dense(5, activation="softmax")(x))

    rng = np.random.default_rng(0)
    data = (rng.integers(0, 256, (32, 8, 8, 3)).astype(np.uint8), rng.integers(0, 5, 32))
    val = (data[0][:8], data[1][:8])
    out = sys.argv[1]
    config = dict(image_size=8, batch_size=8, epochs=3, learning_rate=1e-2, verbose=0,
                  patience=None, restore_best_weights=False, seed=0)

    class BatchEndThread(keras.callbacks.Callback):
        async_safe = True
        names = set()
        def on_train_batch_end(self, batch, logs=None):
            import threading
            self.names.add(threading.current_thread().name)

    single = tiny()
    initial = single.get_weights()
    h1 = train(single, data, val, TrainConfig(output_dir=out + "/single", **config),
               callbacks=[BatchEndThread()])

    distribution = use_data_parallel()
    parallel = tiny()
    parallel.set_weights(initial)
    h2 = train(parallel, data, val, TrainConfig(output_dir=out + "/parallel", **config))

    kernel = parallel.weights[0].value
    layout = distribution.get_data_layout((8, 8, 8, 3))
    batch = jax.device_put(np.zeros((8, 8, 8, 3), np.float32), layout.backend_layout)
    print(json.dumps({
        "devices": describe_devices()["devices"],
        "batch_end_threads": sorted(BatchEndThread.names),
        "mesh_devices": int(distribution.device_mesh.devices.size),
        "kernel_devices": len(kernel.sharding.device_set),
        "kernel_replicated": bool(kernel.sharding.is_fully_replicated),
        "batch_shard_shape": list(batch.sharding.shard_shape(batch.shape)),
        "batch_shards": len(batch.addressable_shards),
        "loss_single": h1.history["loss"],
        "loss_parallel": h2.history["loss"],
        "val_loss_single": h1.history["val_loss"],
        "val_loss_parallel": h2.history["val_loss"],
    }))
    """
)


MIRRORED_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]  # two logical CPUs, before TF starts
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    import keras
    import numpy as np
    from drlib.runtime.devices import use_mirrored_strategy
    from drlib.training import TrainConfig, seed_everything, train

    def tiny():
        seed_everything(1)
        image = keras.Input((8, 8, 3))
        x = keras.layers.Conv2D(4, 3, activation="relu")(image)
        x = keras.layers.GlobalAveragePooling2D()(x)
        return keras.Model(image, keras.layers.Dense(5, activation="softmax")(x))

    rng = np.random.default_rng(0)
    data = (rng.integers(0, 256, (32, 8, 8, 3)).astype(np.uint8), rng.integers(0, 5, 32))
    val = (data[0][:8], data[1][:8])
    out = sys.argv[1]
    config = dict(image_size=8, batch_size=8, epochs=3, learning_rate=1e-2, verbose=0,
                  patience=None, restore_best_weights=False, seed=0)
    single = tiny()
    initial = single.get_weights()
    h1 = train(single, data, val, TrainConfig(output_dir=out + "/single", **config))
    strategy = use_mirrored_strategy()
    with strategy.scope():  # the model built and trained inside the scope
        mirrored = tiny()
        mirrored.set_weights(initial)
        h2 = train(mirrored, data, val, TrainConfig(output_dir=out + "/mirrored", **config))
    print(json.dumps({
        "replicas": strategy.num_replicas_in_sync,
        "kernel_copies": [v.device for v in mirrored.weights[0].value.values],
        "loss_single": h1.history["loss"], "loss_mirrored": h2.history["loss"],
        "val_loss_single": h1.history["val_loss"], "val_loss_mirrored": h2.history["val_loss"],
    }))
    """
)


BATCH_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import numpy as np
    import keras
    from drlib.runtime.devices import use_data_parallel
    from drlib.training import TrainConfig, train

    use_data_parallel(verbose=False)
    image = keras.Input((8, 8, 3))
    pooled = keras.layers.GlobalAveragePooling2D()(image)
    model = keras.Model(image, keras.layers.Dense(5, activation="softmax")(pooled))
    rng = np.random.default_rng(0)
    data = (rng.integers(0, 256, (12, 8, 8, 3)).astype(np.uint8), rng.integers(0, 5, 12))
    out = Path(sys.argv[1])
    cases = {  # batch size 7 for training; 4 divides, but 3 validation images make a batch of 3
        "train": (7, data),
        "val": (4, (data[0][:3], data[1][:3])),
    }
    errors = {}
    for name, (batch_size, val) in cases.items():
        config = TrainConfig(image_size=8, batch_size=batch_size, epochs=1, verbose=0,
                             output_dir=str(out / name))
        try:
            train(model, data, val, config)
            errors[name] = None
        except ValueError as err:
            errors[name] = str(err)
    print(json.dumps({"errors": errors, "written": sorted(p.name for p in out.iterdir())}))
    """
)


def _run_on_two_virtual_jax_devices(script: str, tmp_path: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env.update(
        KERAS_BACKEND="jax",
        XLA_FLAGS="--xla_force_host_platform_device_count=2",
        JAX_PLATFORMS="cpu",
        PYTHONPATH=str(ROOT),
    )
    return subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=300,
    )


def test_describe_devices_on_this_machine():
    info = describe_devices()
    assert info["backend"] == keras.backend.backend()
    assert info["devices"] == list_devices() and info["n_devices"] == len(info["devices"])
    assert info["accelerator"] == has_accelerator()
    assert info["description"]
    assert info["cpu_cores"] == len(os.sched_getaffinity(0))
    assert info["dtype_policy"] == keras.config.dtype_policy().name
    if not info["accelerator"]:
        assert info["description"].endswith(f" ({info['cpu_cores']} cores)")


def test_describe_devices_names_the_gpus_or_the_cpu(monkeypatch):
    import drlib.runtime.devices as devices

    # the cores this process may run on (a container's share), not the machine's count
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 5, 7})
    cores = 3
    monkeypatch.setattr(devices, "_cpu_name", lambda: "Test CPU 9000")
    monkeypatch.setattr(devices, "_gpu_names", lambda: ["NVIDIA H200", "NVIDIA H200"])
    monkeypatch.setattr(devices, "list_devices", lambda: ["gpu:0", "gpu:1"])
    info = describe_devices()
    assert (info["devices"], info["n_devices"], info["accelerator"]) == (["gpu:0", "gpu:1"], 2,
                                                                         True)
    assert info["description"] == "NVIDIA H200, NVIDIA H200"
    assert info["cpu_cores"] == cores
    # nvidia-smi lists no GPU although Keras sees one: the CPU is described instead
    monkeypatch.setattr(devices, "_gpu_names", lambda: [])
    assert describe_devices()["description"] == f"Test CPU 9000 ({cores} cores)"
    # no accelerator: nvidia-smi is not even asked
    monkeypatch.setattr(devices, "list_devices", lambda: ["cpu:0"])
    monkeypatch.setattr(devices, "_gpu_names", lambda: pytest.fail("nvidia-smi asked"))
    info = describe_devices()
    assert (info["accelerator"], info["n_devices"]) == (False, 1)
    assert info["description"] == f"Test CPU 9000 ({cores} cores)"


@pytest.mark.skipif(keras.backend.backend() == "jax", reason="checks the non-JAX message")
def test_data_parallel_is_a_no_op_off_jax(capsys):
    assert use_data_parallel() is None
    assert "not used" in capsys.readouterr().out
    assert keras.distribution.distribution() is None


def test_data_parallel_on_two_virtual_jax_devices(tmp_path):
    proc = _run_on_two_virtual_jax_devices(SCRIPT, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["devices"] == ["cpu:0", "cpu:1"]
    # No callback of train() forces a device sync after every step: batch ends run async.
    assert result["batch_end_threads"] and "MainThread" not in result["batch_end_threads"]
    assert result["mesh_devices"] == 2
    assert result["kernel_devices"] == 2 and result["kernel_replicated"]
    assert result["batch_shard_shape"] == [4, 8, 8, 3] and result["batch_shards"] == 2
    # The loss curve (3 epochs of 4 steps, the same seeded global batches of 8) equals one
    # device's within float32 rounding: each device reduces its 4 rows and the two halves are
    # added, the same float32 additions in another order. Measured with 2 virtual CPU devices:
    # training losses equal to the last bit, validation losses within 1e-7 relative; rel=1e-5
    # leaves room for other XLA builds.
    assert len(result["loss_single"]) == len(result["loss_parallel"]) == 3
    assert result["loss_parallel"] == pytest.approx(result["loss_single"], rel=1e-5)
    assert result["val_loss_parallel"] == pytest.approx(result["val_loss_single"], rel=1e-5)
    assert result["loss_single"][2] < result["loss_single"][0]  # the curve goes somewhere


def test_mirrored_strategy_on_two_logical_tensorflow_cpus(tmp_path):
    env = {**os.environ, "KERAS_BACKEND": "tensorflow", "TF_CPP_MIN_LOG_LEVEL": "2",
           "CUDA_VISIBLE_DEVICES": "", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", MIRRORED_SCRIPT, str(tmp_path)],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["replicas"] == 2
    assert [d.rsplit("/", 1)[-1] for d in result["kernel_copies"]] == [
        "device:CPU:0", "device:CPU:1"]  # one copy of every variable per replica
    # Same global batch, same seed: one device's curve within float32 rounding (measured on
    # two logical CPUs: 1e-7 relative at most, the replicas' gradients being added in another
    # order); rel=1e-5 leaves room for other builds.
    assert len(result["loss_mirrored"]) == 3
    assert result["loss_mirrored"] == pytest.approx(result["loss_single"], rel=1e-5)
    assert result["val_loss_mirrored"] == pytest.approx(result["val_loss_single"], rel=1e-5)


def test_mirrored_strategy_is_not_used_off_tensorflow(capsys):
    if keras.backend.backend() == "tensorflow":
        assert use_mirrored_strategy(devices=["/cpu:0"]) is None
        assert "one device (/cpu:0), nothing to distribute" in capsys.readouterr().out
    else:
        assert use_mirrored_strategy() is None
        assert "not used on the" in capsys.readouterr().out


def test_batch_size_check_is_a_no_op_without_a_distribution():
    assert keras.distribution.distribution() is None
    for size in (1, 2, 3, 7, 16, 33):
        assert check_batch_size(size) is None  # nothing to split over
        assert check_batch_size(size, "the validation batch size") is None


def test_batch_size_check_passes_any_size_on_one_device():
    # a DataParallel over one device (a configuration object on any backend): every size splits
    distribution = keras.distribution.DataParallel(devices=list_devices()[:1])
    keras.distribution.set_distribution(distribution)
    try:
        for size in (1, 3, 7, 16):
            assert check_batch_size(size) is None
    finally:
        keras.distribution.set_distribution(None)
    assert keras.distribution.distribution() is None


def test_train_refuses_a_batch_that_does_not_split_over_two_devices(tmp_path):
    proc = _run_on_two_virtual_jax_devices(BATCH_SCRIPT, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    train_error, val_error = result["errors"]["train"], result["errors"]["val"]
    assert train_error == (
        "batch_size is 7, which cannot be split evenly over the 2 devices of the data-parallel "
        "distribution (cpu:0, cpu:1); use a multiple of 2"
    )
    assert val_error is not None and val_error.startswith(
        "the validation batch size (3 validation images: fewer than batch_size=4) is 3, which "
        "cannot be split evenly over the 2 devices"
    )
    assert result["written"] == []  # refused before train() wrote anything
