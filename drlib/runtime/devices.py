"""Which devices a run uses, and data parallelism over all of them.

Two ways to train on several accelerators, one per backend:

* JAX: Keras 3's distribution API (``keras.distribution.DataParallel``) replicates the
  variables on every device and splits each batch along its first axis.
  :func:`use_data_parallel` sets it up; call it *before* building the model (variables are
  placed when they are created). The global batch size must be a multiple of the number of
  devices (:func:`check_batch_size`, which :func:`drlib.training.train` calls). On another
  backend, or with one device, it says so and returns ``None``.
* TensorFlow: a ``tf.distribute.MirroredStrategy`` (:func:`use_mirrored_strategy`). Build the
  model *and* call :func:`drlib.training.train` inside ``with strategy.scope():`` (Keras takes
  the strategy in effect when the model is created, and ``train`` compiles the model, which
  creates the optimizer's variables). Each batch is split over the replicas and the gradients
  summed; the loss is scaled by the number of replicas, so the same global batch gives the
  same training as on one device.

Both are tested on CPU with two virtual devices (``tests/test_distribute.py``): the loss curve
is the one of a single device within float32 rounding.

Device names come from Keras (``keras.distribution.list_devices``) and, for a human-readable
description, from ``nvidia-smi`` and ``/proc/cpuinfo``; TensorFlow is imported only by
:func:`use_mirrored_strategy`, on the TensorFlow backend.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from typing import Any

import keras


def list_devices() -> list[str]:
    """Devices Keras would compute on, e.g. ``["gpu:0"]`` or ``["cpu:0", "cpu:1"]``.

    Accelerators (GPU/TPU) when there are any, CPU devices otherwise.
    """
    try:
        return [str(d).lower() for d in keras.distribution.list_devices()]
    except (NotImplementedError, AttributeError, RuntimeError):
        return ["cpu:0"]


def has_accelerator() -> bool:
    """True when Keras sees a GPU or TPU."""
    return any(not d.startswith("cpu") for d in list_devices())


def _gpu_names() -> list[str]:
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total", "--format=csv,noheader"],
            capture_output=True, text=True, timeout=10, check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [line.strip() for line in out.splitlines() if line.strip()]


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def describe_devices() -> dict[str, Any]:
    """Backend, Keras devices and a description of the hardware, for logs and manifests."""
    devices = list_devices()
    accelerator = has_accelerator()
    gpus = _gpu_names() if accelerator else []
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:
        cores = os.cpu_count() or 1
    description = ", ".join(gpus) if gpus else f"{_cpu_name()} ({cores} cores)"
    return {
        "backend": keras.backend.backend(),
        "devices": devices,
        "n_devices": len(devices),
        "accelerator": accelerator,
        "description": description,
        "cpu_cores": cores,
        "dtype_policy": keras.config.dtype_policy().name,
    }


def use_data_parallel(
    devices: list[str] | None = None, verbose: bool = True
) -> keras.distribution.DataParallel | None:
    """Replicate the model on all devices and split batches among them (JAX backend only).

    Args:
        devices: Keras device names; all visible devices when ``None``.
        verbose: print what was decided.

    Returns:
        The ``DataParallel`` distribution now in effect, or ``None`` when nothing was
        distributed (not JAX, or a single device).
    """
    backend = keras.backend.backend()
    devices = list(devices) if devices is not None else list_devices()
    if backend != "jax":
        if verbose:
            print(
                f"data parallel: not used on the {backend} backend (Keras distributes on JAX); "
                f"training runs on {devices[0] if devices else 'the default device'}"
            )
        return None
    if len(devices) < 2:
        if verbose:
            print(f"data parallel: one device ({', '.join(devices)}), nothing to distribute")
        return None
    distribution = keras.distribution.DataParallel(devices=devices)
    keras.distribution.set_distribution(distribution)
    if verbose:
        print(f"data parallel over {len(devices)} devices: {', '.join(devices)}")
    return distribution


def use_mirrored_strategy(devices: list[str] | None = None, verbose: bool = True) -> Any:
    """A ``tf.distribute.MirroredStrategy`` over all GPUs (or ``devices``), on TensorFlow.

    Args:
        devices: TensorFlow device names (``"/gpu:0"``...); default: every logical GPU, or
            every logical CPU when there is no GPU and the CPU was split into several (tests).
        verbose: print what was decided.

    Returns:
        The strategy (enter ``strategy.scope()`` to build and train the model), or ``None`` on
        another backend or with fewer than two devices.
    """
    backend = keras.backend.backend()
    if backend != "tensorflow":
        if verbose:
            print(f"mirrored strategy: not used on the {backend} backend "
                  "(use use_data_parallel on JAX)")
        return None
    import tensorflow as tf

    if devices is None:
        found = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        devices = [d.name for d in found]
    if len(devices) < 2:
        if verbose:
            print(f"mirrored strategy: one device ({', '.join(devices)}), nothing to distribute")
        return None
    strategy = tf.distribute.MirroredStrategy(devices=list(devices))
    if verbose:
        print(f"mirrored strategy over {len(devices)} devices: {', '.join(devices)}")
    return strategy


def check_batch_size(batch_size: int, what: str = "batch_size") -> None:
    """Fail clearly if batches of ``batch_size`` rows cannot be split evenly over the devices of
    the active distribution (:func:`use_data_parallel`); without one there is nothing to check.

    Keras splits every batch along its first axis over the distribution's batch devices; a
    batch that does not divide would otherwise fail inside the first step with a sharding
    error (JAX: ``IndivisibleError``). :func:`drlib.training.train` calls this before it
    starts. ``what`` names the batch size in the message.
    """
    distribution = keras.distribution.distribution()
    if distribution is None:
        return
    mesh = distribution.device_mesh
    axis = getattr(distribution, "batch_dim_name", None)
    if axis in mesh.axis_names:
        n = int(mesh.shape[list(mesh.axis_names).index(axis)])
    else:
        n = int(mesh.devices.size)
    if batch_size % n:
        devices = ", ".join(str(d) for d in mesh.devices.ravel())
        raise ValueError(
            f"{what} is {batch_size}, which cannot be split evenly over the {n} devices of the "
            f"data-parallel distribution ({devices}); use a multiple of {n}"
        )
