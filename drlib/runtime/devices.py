"""Which devices a run uses, and data parallelism over all of them on the JAX backend.

Keras 3's distribution API (``keras.distribution.DataParallel``) replicates the variables on
every device and splits each batch along its first axis; it is implemented for the JAX
backend. On TensorFlow (the CPU default of the course) or with one device there is nothing to
distribute, and :func:`use_data_parallel` says so and returns ``None``.

Call :func:`use_data_parallel` *before* building the model: variables are placed when they are
created. The global batch size must be a multiple of the number of devices.

Device names come from Keras (``keras.distribution.list_devices``) and, for a human-readable
description, from ``nvidia-smi`` and ``/proc/cpuinfo``, so this module never imports a
backend library itself.
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
