"""The grader behind a screening run: its manifest, its weights, and batched grading and maps.

:func:`model_settings` reads what a run needs from a model's manifest, after
:func:`drlib.modeling.manifest.verify_manifest` has checked the weights' SHA-256: the input size,
the preprocessing and the label scale, read from the same manifest entries as
:func:`drlib.evaluation.splits.validation_split_from_manifest` (``config.image_size`` or
``extra.settings.image_size``, ``extra.preprocess`` (default ``"plain"``), ``extra.label_scale``),
and the model's validation as its training recorded it (``validation.recall_per_grade``,
``validation.confusion``, ``validation.n_images``: the report states it as a known limitation).
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
        recall_per_grade: recall of every grade on the model's (synthetic) validation split,
            ``validation.recall_per_grade`` of the manifest, or None if not recorded.
        validation_confusion: that split's confusion matrix (rows: true grade, columns:
            predicted), ``validation.confusion``, or None.
        validation_images: photographs in that split, ``validation.n_images``, or None.
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
    recall_per_grade: tuple[float, ...] | None = None
    validation_confusion: tuple[tuple[int, ...], ...] | None = None
    validation_images: int | None = None

    @property
    def scale_name(self) -> str:
        """The label scale in words (``drlib.synth.SCALE_NAMES``), or its code if unknown."""
        from drlib.synth.grading import SCALE_NAMES

        return SCALE_NAMES.get(self.label_scale, self.label_scale)


def resolve_manifest(model: str | Path | None) -> Path:
    """The manifest file of ``model`` (default :data:`DEFAULT_MODEL`).

    ``model`` is a path to a manifest, or a model name in
    :func:`drlib.runtime.paths.models_dir`, with its subfolder if it has one
    (``gpu/densenet121_gpu`` is ``<models>/gpu/densenet121_gpu.manifest.json``). A file that
    exists as given is taken as given; a relative name ending in ``.json`` that does not exist
    is looked for in the models folder too; any other name without ``.json`` is a model name.
    """
    if model is None:
        return models_dir() / f"{DEFAULT_MODEL}{MANIFEST_SUFFIX}"
    path = Path(model)
    if path.is_file() or path.is_absolute():
        return path
    if path.suffix != ".json":
        return models_dir() / f"{path.as_posix()}{MANIFEST_SUFFIX}"
    in_models = models_dir() / path
    return in_models if in_models.is_file() else path


def missing_model_help(manifest_path: str | Path) -> str | None:
    """How to get a model whose manifest or weights file is missing, or None if both exist.

    Names the files to copy from the course repository's ``models/`` folder (with the model's
    subfolder there) and the models folder this installation reads
    (:func:`drlib.runtime.paths.models_dir`), and the two other ways: ``DRLIB_MODELS`` and
    ``--model PATH``.
    """
    from drlib.modeling.manifest import WEIGHTS_SUFFIX, ManifestError, weights_path

    path = Path(manifest_path)
    weights = f"{path.name.removesuffix(MANIFEST_SUFFIX)}{WEIGHTS_SUFFIX}"
    if path.is_file():
        try:
            named = weights_path(path)
        except (ManifestError, OSError, TypeError):
            return None  # the manifest is there but unreadable: the error says so
        if named.is_file():
            return None
        weights = named.relative_to(path.parent).as_posix()
    folder = models_dir()
    try:
        subfolder = path.parent.resolve().relative_to(folder.resolve())
    except (OSError, ValueError):
        subfolder = Path()
    target = folder / subfolder
    prefix = "" if subfolder == Path() else f"{subfolder.as_posix()}/"
    where = (f"the models folder {folder}/" if not prefix
             else f"{target}/ (in the models folder {folder}/)")
    return (f"to get the model: the course repository's models/ folder holds it; copy "
            f"models/{prefix}{path.name} and models/{prefix}{weights} from there into {where}, "
            "or set DRLIB_MODELS to a folder that holds them, or pass "
            "--model PATH/TO/<name>.manifest.json with its weights file beside it")


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
        **_validation(manifest),
    )


def _validation(manifest: dict[str, Any]) -> dict[str, Any]:
    """The recorded validation (recall per grade, confusion, size); None where absent or not
    numbers (a manifest's validation is informative: it never stops a run)."""
    from drlib.evaluation.splits import first_recorded

    found: dict[str, Any] = {"recall_per_grade": None, "validation_confusion": None,
                             "validation_images": None}
    try:
        confusion = first_recorded(manifest, ("validation.confusion",))
        if confusion is not None:
            found["validation_confusion"] = tuple(tuple(int(n) for n in row)
                                                  for row in confusion)
        recall = first_recorded(manifest, ("validation.recall_per_grade",))
        if recall is not None:
            found["recall_per_grade"] = tuple(float(r) for r in recall)
        n_images = first_recorded(manifest, ("validation.n_images",))
        if n_images is not None:
            found["validation_images"] = int(n_images)
    except (TypeError, ValueError):
        pass
    return found


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
