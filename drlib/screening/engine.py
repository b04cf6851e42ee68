"""The grader behind a screening run: its manifest, its weights, and batched grading and maps.

:func:`model_settings` reads what a run needs from a model's manifest, after
:func:`drlib.modeling.manifest.verify_manifest` has checked the weights' SHA-256: the input size,
the preprocessing and the label scale, read from the same manifest entries as
:func:`drlib.evaluation.splits.validation_split_from_manifest` (``config.image_size`` or
``extra.settings.image_size``, ``extra.preprocess`` (default ``"plain"``), ``extra.label_scale``).
Anything wrong with the model (manifest missing, not JSON, weights missing or altered, weights
that do not fit the architecture) is a :class:`ModelError` naming the file.

:func:`run_batch` grades one batch and, when asked, computes its maps, with the batch functions
of :mod:`drlib.explain` (padded to one batch size, so a compiled step is traced once): class
scores S (one forward pass, or the CAM's forward pass, which yields the scores too), the
probabilities ``softmax(S)`` (what the network's last layer computes), and for each image the CAM
and the saliency map ``max_c |dS_k/dI|`` of its predicted grade k.

Keras is imported only inside the functions, so ``drlib --help`` does not start TensorFlow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from drlib.core.grades import N_GRADES
from drlib.runtime.paths import models_dir

DEFAULT_MODEL = "densenet121_cpu"
"""The shipped grader (``models/densenet121_cpu.manifest.json``)."""

MANIFEST_SUFFIX = ".manifest.json"

METHODS = ("cam", "saliency")
"""Maps ``drlib explain`` can draw: class activation map and gradient saliency."""


class ModelError(RuntimeError):
    """The model cannot be used; the message names the manifest or weights file and the problem."""


@dataclass(frozen=True)
class ModelSettings:
    """What a screening run takes from a model's manifest.

    Attributes:
        manifest_path: the manifest file.
        name: the model's name (``<name>.manifest.json``).
        weights_file: the weights file's name, beside the manifest.
        weights_sha256: their SHA-256, checked against the file.
        image_size: side of the square input the model was trained on.
        preprocess: the preprocessing recipe of training (``"plain"`` or ``"graham"``).
        label_scale: the scale of the training labels (``"icdr"`` or ``"table1"``).
        n_classes: number of grades the model outputs.
        backend: the Keras backend the model was trained with (as the manifest records).
    """

    manifest_path: Path
    name: str
    weights_file: str
    weights_sha256: str
    image_size: int
    preprocess: str
    label_scale: str
    n_classes: int
    backend: str | None = None

    @property
    def scale_name(self) -> str:
        """The label scale in words (``drlib.synth.SCALE_NAMES``), or its code if unknown."""
        from drlib.synth.grading import SCALE_NAMES

        return SCALE_NAMES.get(self.label_scale, self.label_scale)


def resolve_manifest(model: str | Path | None) -> Path:
    """The manifest file of ``model``: a path to a manifest, or a model name in
    :func:`drlib.runtime.paths.models_dir` (default :data:`DEFAULT_MODEL`)."""
    if model is None:
        return models_dir() / f"{DEFAULT_MODEL}{MANIFEST_SUFFIX}"
    path = Path(model)
    if path.suffix == ".json" or path.exists() or len(path.parts) > 1:
        return path
    return models_dir() / f"{model}{MANIFEST_SUFFIX}"


def model_settings(manifest_path: str | Path) -> ModelSettings:
    """Verify the manifest (and its weights' SHA-256) and read a run's settings from it.

    Raises:
        ModelError: the manifest is missing or not JSON, the weights are missing or do not match,
            or the manifest lacks the input size, or names an unknown preprocessing.
    """
    from drlib.data.preprocess import PREPROCESSORS
    from drlib.evaluation.splits import first_recorded  # loads Keras: only when a model is used
    from drlib.modeling.manifest import ManifestError, verify_manifest

    path = Path(manifest_path)
    try:
        manifest = verify_manifest(path)
    except ManifestError as err:
        raise ModelError(str(err)) from None
    except OSError as err:
        raise ModelError(f"manifest {path} cannot be read: {err}") from None
    image_size = first_recorded(manifest, ("config.image_size", "extra.settings.image_size"))
    shape = first_recorded(manifest, ("model.input_shape",))
    if image_size is None and shape is not None and len(shape) >= 2:
        image_size = shape[1]
    if image_size is None:
        raise ModelError(f"manifest {path} records no input size (config.image_size, "
                         "extra.settings.image_size or model.input_shape)")
    if shape is not None and len(shape) >= 2 and shape[1] is not None \
            and int(shape[1]) != int(image_size):
        raise ModelError(f"manifest {path}: image size {image_size} but the model's input is "
                         f"{shape[1]} px")
    preprocess = str(first_recorded(manifest, ("extra.preprocess",)) or "plain")
    if preprocess not in PREPROCESSORS:
        raise ModelError(f"manifest {path} names the preprocessing {preprocess!r}; this drlib "
                         f"knows {sorted(PREPROCESSORS)}")
    n_classes = int((first_recorded(manifest, ("model.output_shape",)) or [None, N_GRADES])[-1])
    return ModelSettings(
        manifest_path=path,
        name=str(manifest.get("name") or path.name.removesuffix(MANIFEST_SUFFIX)),
        weights_file=str(manifest["weights_file"]),
        weights_sha256=str(manifest["weights_sha256"]),
        image_size=int(image_size),
        preprocess=preprocess,
        label_scale=str(first_recorded(
            manifest, ("extra.label_scale", "extra.settings.label_scale")) or "icdr"),
        n_classes=n_classes,
        backend=first_recorded(manifest, ("environment.backend",)),
    )


def load_model(settings: ModelSettings) -> Any:
    """The grader with its weights (:func:`drlib.modeling.manifest.load_densenet`).

    Raises:
        ModelError: the weights do not match the manifest or do not load into the architecture.
    """
    from drlib.modeling.manifest import ManifestError, load_densenet

    try:
        return load_densenet(settings.manifest_path)
    except ManifestError as err:
        raise ModelError(str(err)) from None
    except (OSError, ValueError, KeyError) as err:
        weights = settings.manifest_path.parent / settings.weights_file
        raise ModelError(f"weights {weights} (manifest {settings.manifest_path}) do not load "
                         f"into the grader: {err}") from None


def softmax(scores: np.ndarray) -> np.ndarray:
    """Probabilities (N, C) from class scores (N, C), in float64, as the network's last layer."""
    scores = np.asarray(scores, dtype=np.float64)
    shifted = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)


@dataclass(frozen=True)
class BatchResult:
    """Grades and maps of a batch of N images.

    Attributes:
        scores: class scores S (N, C) before softmax.
        probabilities: softmax(S) (N, C), float64.
        classes: predicted grade per image (N,) (argmax of S): the class the maps explain.
        cam: CAM of the predicted grade at pixel resolution (N, S, S), or None.
        saliency: saliency max_c |dS_k/dI| of the predicted grade (N, S, S), or None.
    """

    scores: np.ndarray
    probabilities: np.ndarray
    classes: np.ndarray
    cam: np.ndarray | None = None
    saliency: np.ndarray | None = None


def run_batch(model: Any, images: np.ndarray, batch_size: int,
              methods: Sequence[str] = ()) -> BatchResult:
    """Grade ``images`` (N <= batch_size, S, S, 3) RGB in [0, 255] and compute ``methods``' maps.

    The batch is padded to ``batch_size`` rows (repeating the last image; rows do not interact
    in inference, and the padded rows are dropped), so every call has the same shape.
    """
    from drlib.explain import class_activation_maps, class_scores, saliency, upsample_maps
    from drlib.explain.targets import pad_rows

    unknown = sorted(set(methods) - set(METHODS))
    if unknown:
        raise ValueError(f"unknown map method(s) {unknown}; use {', '.join(METHODS)}")
    x = np.asarray(images, dtype=np.float32)
    n = len(x)
    if n == 0 or n > batch_size:
        raise ValueError(f"run_batch needs 1..{batch_size} images, got {n}")
    x = pad_rows(x, batch_size)
    cam = sal = None
    if "cam" in methods:
        cams = class_activation_maps(model, x, None, batch_size=batch_size)
        scores = cams.scores
        cam = upsample_maps(cams.maps, x.shape[1:3])[:n]
    else:
        scores = class_scores(model, x, batch_size=batch_size)
    classes = np.argmax(scores, axis=1).astype(np.int32)
    if "saliency" in methods:
        sal = saliency(model, x, classes, batch_size=batch_size).maps[:n]
    scores = np.asarray(scores[:n], dtype=np.float32)
    return BatchResult(scores=scores, probabilities=softmax(scores), classes=classes[:n],
                       cam=cam, saliency=sal)
