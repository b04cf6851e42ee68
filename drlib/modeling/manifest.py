"""A trained model on disk: float32 inference weights plus a JSON manifest that vouches for them.

``models/<name>.weights.h5`` holds the weights only (no optimizer state: a DenseNet121 file is
about 28 MB instead of 85 MB); ``models/<name>.manifest.json`` beside it says how they were
made (configuration, seeds, data fingerprint, backend, device, versions, epochs, wall time,
throughput, validation kappa and recall per grade) and holds the weights' SHA-256.
:func:`verify_manifest` recomputes the hash, so a later chapter that loads the weights knows
they are the ones the manifest describes (and not a half-copied or different file). Both files
are written to a temporary name and renamed (:mod:`drlib.runtime.atomic`): a save killed midway
leaves the previous pair, never a truncated file.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import platform
import sys
from pathlib import Path
from typing import Any

import keras
import numpy as np

from drlib.runtime.atomic import atomic_path, atomic_write_text
from drlib.runtime.devices import describe_devices
from drlib.runtime.paths import find_checkout

MANIFEST_FORMAT = 1
WEIGHTS_SUFFIX = ".weights.h5"
MANIFEST_SUFFIX = ".manifest.json"


class ManifestError(ValueError):
    """A manifest or the weights it describes is missing, unreadable or does not match."""


def sha256sum(path: str | Path) -> str:
    """SHA-256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def inference_view(model: keras.Model) -> keras.Model:
    """An uncompiled functional model sharing ``model``'s layers (and so its weights).

    A compiled model's ``save_weights`` also writes the optimizer variables (about three times
    the size of the weights, for Adam) and its ``load_weights`` expects them; the view saves and
    loads the layer weights only, under the same layer names.
    """
    return keras.Model(model.inputs, model.outputs, name=model.name)


def save_inference_weights(model: keras.Model, path: str | Path) -> Path:
    """Save the model's weights without optimizer state (``.weights.h5``), atomically.

    The file loads into a freshly built model of the same architecture, or into a compiled one
    with :func:`load_inference_weights`.
    """
    path = Path(path)
    if not path.name.endswith(WEIGHTS_SUFFIX):
        raise ValueError(f"weights file name must end in {WEIGHTS_SUFFIX}: {path}")
    with atomic_path(path) as tmp:  # a killed save never leaves a half-written weights file
        inference_view(model).save_weights(str(tmp))
    return path


def load_inference_weights(model: keras.Model, path: str | Path) -> None:
    """Load a file of :func:`save_inference_weights` into ``model``, compiled or not; its
    optimizer state is left as it is."""
    inference_view(model).load_weights(str(path))


def _version(distribution: str) -> str | None:
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def environment() -> dict[str, Any]:
    """Backend and library versions of this process."""
    backend = keras.backend.backend()
    module = sys.modules.get(backend)
    backend_version = getattr(module, "__version__", None)
    if backend_version is None:
        candidates = {"tensorflow": ("tensorflow", "tensorflow-cpu"), "jax": ("jax",)}
        for name in candidates.get(backend, (backend,)):
            backend_version = backend_version or _version(name)
    return {
        "backend": backend,
        "backend_version": backend_version,
        "keras_version": keras.__version__,
        "numpy_version": np.__version__,
        "python_version": platform.python_version(),
        "drlib_version": _version("drlib"),
        "dtype_policy": keras.config.dtype_policy().name,
    }


def portable_path(value: str | Path) -> str:
    """A path as a manifest records it: relative to the course checkout when inside it, else only
    its last part. A manifest never holds an absolute path of the machine that wrote it."""
    path = Path(value)
    if not path.is_absolute():
        return path.as_posix()
    root = find_checkout()
    if root is not None and path.resolve().is_relative_to(root):
        return path.resolve().relative_to(root).as_posix()
    return path.name


def _jsonable(value: Any) -> Any:
    """Plain JSON types (NumPy scalars and arrays, tuples converted; paths made portable)."""
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path) or (isinstance(value, str) and os.path.isabs(value)):
        return portable_path(value)
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def as_recorded(value: Any) -> Any:
    """``value`` as a manifest records it (JSON types, portable paths): compare a run's settings
    with a manifest's by comparing ``as_recorded(settings)`` with what the manifest holds."""
    return json.loads(json.dumps(_jsonable(value), sort_keys=True))


def write_manifest(
    model: keras.Model,
    models_dir: str | Path,
    name: str,
    *,
    config: dict[str, Any] | None = None,
    seeds: dict[str, int] | None = None,
    dataset_fingerprint: dict[str, Any] | str | None = None,
    history: Any = None,
    validation: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> tuple[Path, Path]:
    """Save ``models_dir/<name>.weights.h5`` and its manifest ``<name>.manifest.json``.

    Args:
        model: the trained model (its current weights are saved).
        models_dir: output folder (created if needed).
        name: base name of both files.
        config: training configuration (e.g. ``TrainConfig.to_dict()``).
        seeds: every seed used, by role (``{"data": 1, "training": 0}``).
        dataset_fingerprint: what identifies the data (e.g. a synthetic split's manifest
            fingerprint), passed through as given.
        history: a :class:`drlib.training.TrainingHistory` (epochs, wall time, throughput).
        validation: a report from :func:`drlib.training.evaluate_grades` (kappa, recall...).
        extra: anything else worth keeping.

    Returns:
        ``(weights_path, manifest_path)``.
    """
    models_dir = Path(models_dir)
    weights_path = save_inference_weights(model, models_dir / f"{name}{WEIGHTS_SUFFIX}")
    training: dict[str, Any] = {}
    if history is not None:
        training = {
            "epochs_run": history.epochs_run,
            "best_epoch": history.best_epoch,
            "stopped_early": history.stopped_early,
            "stopped_by_deadline": history.stopped_by_deadline,
            "weights_from_best_epoch": history.weights_restored_from_best,
            "wall_time_s": history.wall_time_s,
            "train_images_per_s": history.train_images_per_s,
            "history": history.history,
        }
    validation_summary: dict[str, Any] = {}
    if validation is not None:
        validation_summary = {
            "kappa": validation.get("kappa"),
            "recall_per_grade": validation.get("recall"),
            "accuracy": validation.get("accuracy"),
            "loss": validation.get("loss"),
            "n_images": validation.get("n"),
            "confusion": validation.get("confusion"),
        }
    manifest = {
        "format": MANIFEST_FORMAT,
        "name": name,
        "weights_file": weights_path.name,
        "weights_sha256": sha256sum(weights_path),
        "weights_bytes": weights_path.stat().st_size,
        "model": {
            "name": model.name,
            "input_shape": list(model.input_shape),
            "output_shape": list(model.output_shape),
            "n_parameters": int(model.count_params()),
            "initialisation": getattr(model, "initialisation", None),
        },
        "config": config or {},
        "seeds": seeds or {},
        "dataset_fingerprint": dataset_fingerprint,
        "environment": environment(),
        "device": describe_devices(),
        "training": training,
        "validation": validation_summary,
        "extra": extra or {},
    }
    manifest_path = models_dir / f"{name}{MANIFEST_SUFFIX}"
    atomic_write_text(manifest_path, json.dumps(_jsonable(manifest), indent=2, sort_keys=True)
                      + "\n")
    return weights_path, manifest_path


def read_manifest(path: str | Path) -> dict[str, Any]:
    """Load a manifest, failing with the file's name if it is missing or not valid JSON."""
    path = Path(path)
    if not path.is_file():
        raise ManifestError(f"manifest {path} does not exist")
    try:
        manifest = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ManifestError(f"manifest {path} is not valid JSON: {err}") from err
    for key in ("weights_file", "weights_sha256"):
        if key not in manifest:
            raise ManifestError(f"manifest {path} has no {key!r} entry")
    return manifest


def verify_manifest(path: str | Path) -> dict[str, Any]:
    """Check that the weights file beside the manifest has the recorded SHA-256.

    Returns the manifest. Raises :class:`ManifestError` naming the file that is missing or
    does not match.
    """
    path = Path(path)
    manifest = read_manifest(path)
    weights = path.parent / manifest["weights_file"]
    if not weights.is_file():
        raise ManifestError(f"weights file {weights} named by manifest {path} does not exist")
    digest = sha256sum(weights)
    if digest != manifest["weights_sha256"]:
        raise ManifestError(
            f"weights file {weights} does not match manifest {path}: sha256 {digest}, "
            f"manifest says {manifest['weights_sha256']} (file modified or incompletely copied)"
        )
    return manifest


def weights_path(manifest_path: str | Path) -> Path:
    """The weights file a manifest describes."""
    manifest_path = Path(manifest_path)
    return manifest_path.parent / read_manifest(manifest_path)["weights_file"]


def continues(manifest: dict[str, Any], start: str | Path, models_root: str | Path) -> bool:
    """Whether the run a manifest records started from the finished run ``start``.

    Chapter 2 records such a start as ``extra.init``, the starting manifest's path relative to
    the models folder (``densenet121_cpu.manifest.json``, ``gpu/densenet121_gpu.manifest.json``),
    so the two are compared as files under ``models_root``, not by name: a model in a subfolder
    of another name is not the start, and the same file reached through another path is.
    """
    init = (manifest.get("extra") or {}).get("init")
    if not isinstance(init, str) or not init.endswith(MANIFEST_SUFFIX):
        return False  # started from "scratch", "imagenet" or a bare weights file
    return (Path(models_root) / init).resolve() == Path(start).resolve()


def load_densenet(manifest_path: str | Path, input_size: int | None = None) -> keras.Model:
    """Verify a manifest and return a freshly built DenseNet grader with its weights.

    ``input_size`` builds the network for another input side than the one it was trained at
    (``None``: the manifest's). A DenseNet ends in global average pooling, so its weights do not
    depend on the input size; what the network learned at one size is only a starting point at
    another (see :func:`continue_densenet`).
    """
    from drlib.modeling.densenet import build_densenet

    manifest = verify_manifest(manifest_path)
    input_shape = manifest["model"]["input_shape"]
    size = int(input_shape[1]) if input_size is None else int(input_size)
    model = build_densenet(size, int(manifest["model"]["output_shape"][-1]))
    model.load_weights(str(weights_path(manifest_path)))
    return model


def continue_densenet(manifest_path: str | Path, input_size: int,
                      resize: bool = False) -> keras.Model:
    """The model a manifest describes, as the starting point of a further training run.

    The weights are verified against the manifest (by :func:`load_densenet`).
    ``model.initialisation`` names the run it continues (its name, the manifest file, the first
    12 hex digits of the weights' SHA-256 and its number of epochs, and the input sizes when
    they differ), so the new manifest records where training started.

    ``resize=True`` lets a run at another input size start from the weights (fine-tuning at a
    new resolution: the same filters then see every structure at another scale in pixels).

    Raises:
        ManifestError: the weights do not match the manifest (see :func:`verify_manifest`).
        ValueError: the manifest's model was trained at another input size than ``input_size``
            and ``resize`` is false.
    """
    manifest_path = Path(manifest_path)
    manifest = read_manifest(manifest_path)
    trained_at, input_size = int(manifest["model"]["input_shape"][1]), int(input_size)
    if trained_at != input_size and not resize:
        raise ValueError(
            f"{manifest_path} describes a model with {trained_at} px input; a run at "
            f"{input_size} px cannot continue from it (resize=True fine-tunes it at the new size)"
        )
    model = load_densenet(manifest_path, input_size)  # verifies the weights
    epochs = manifest.get("training", {}).get("epochs_run")
    resized = f", input {trained_at} px -> {input_size} px" if trained_at != input_size else ""
    model.initialisation = (
        f"continued from {manifest['name']} ({manifest_path.name}; weights sha256 "
        f"{manifest['weights_sha256'][:12]}..., {epochs} epoch(s){resized})"
    )
    return model
