"""The course's grader: DenseNet121, global average pooling, one dense layer, softmax.

Pratt et al. (2019) graded retinopathy with "a DenseNet" in Keras, initialised from ImageNet, with
a class activation map (CAM) head; the paper does not name the variant. The course uses
DenseNet121, the smallest DenseNet Keras ships. CAM needs exactly this shape after the last
convolution:

    f_k(x, y)   activation of channel k of the last convolutional block (``LAST_CONV_LAYER``)
    F_k         = mean over (x, y) of f_k           (``GlobalAveragePooling2D``, layer "gap")
    S_c         = sum_k w_k^c F_k + b_c             (``Dense(5)``, linear, "class_scores")
    P_c         = softmax(S)_c                      ("probabilities")

so that ``mean_xy CAM_c(x, y) + b_c = S_c`` with ``CAM_c = sum_k w_k^c f_k(x, y)``. The tests
pin that identity; the CAM and saliency chapters rely on the layer names defined here.

The whole network is one flat functional graph (DenseNet121 is built *into* it through
``input_tensor``, not nested as a sub-model), so every layer, including ``LAST_CONV_LAYER``, can
be reached with ``model.get_layer(name)`` and used as an output of a new ``keras.Model``.

Input convention (see the course design notes): float32 RGB in [0, 255], shape (N, H, W, 3).
The model normalises internally with the ImageNet mean and standard deviation (DenseNet's
"torch" preprocessing: ``(x / 255 - mean) / std``), so callers never preprocess by hand.
The head (pooling, dense, softmax) computes in float32 even under a mixed-precision policy, so
class scores, CAMs and saliency gradients keep full precision.
"""

from __future__ import annotations

import os

import keras
import numpy as np

from drlib.core.grades import N_GRADES
from drlib.modeling.init_weights import WeightsChoice, resolve_weights

IMAGENET_MEAN = (0.485, 0.456, 0.406)
"""Per-channel mean of ImageNet RGB in [0, 1] (torchvision / DenseNet "torch" mode)."""
IMAGENET_STD = (0.229, 0.224, 0.225)
"""Per-channel standard deviation of ImageNet RGB in [0, 1]."""

INPUT_LAYER = "image"
NORMALISATION_LAYER = "imagenet_normalisation"
LAST_CONV_LAYER = "relu"
"""DenseNet121's final activation (after the last BatchNorm): the f_k(x, y) of CAM.

Keras names it plainly ``"relu"``; its output is (N, H/32, W/32, 1024)."""
GAP_LAYER = "gap"
SCORES_LAYER = "class_scores"
"""Dense layer whose (linear) outputs are the class scores S_c, before softmax."""
PROBABILITIES_LAYER = "probabilities"


def imagenet_normalisation(name: str = NORMALISATION_LAYER) -> keras.layers.Layer:
    """A fixed (non-trainable, weight-free) layer mapping RGB [0, 255] to ImageNet z-scores."""
    mean = [255.0 * m for m in IMAGENET_MEAN]
    variance = [(255.0 * s) ** 2 for s in IMAGENET_STD]
    return keras.layers.Normalization(
        axis=-1, mean=mean, variance=variance, name=name, dtype="float32"
    )


def build_densenet(
    input_size: int = 224,
    n_classes: int = N_GRADES,
    weights: str | os.PathLike[str] | WeightsChoice | None = None,
    *,
    fallback: str | None = None,
    allow_download: bool = False,
    name: str = "densenet121_dr",
) -> keras.Model:
    """Build the course's DenseNet121 grader as one flat functional model.

    Args:
        input_size: side of the square RGB input in pixels (DenseNet needs at least 32).
        n_classes: number of grades (5).
        weights: starting weights of the convolutional base: ``None``/``"scratch"``,
            ``"imagenet"``, a path to a weights file or folder, or a :class:`WeightsChoice`
            from :func:`drlib.modeling.init_weights.resolve_weights` (see that module for the
            policy).
        fallback, allow_download: passed to :func:`~drlib.modeling.init_weights.resolve_weights`.
        name: model name.

    Returns:
        An uncompiled ``keras.Model`` with input ``"image"`` and output ``"probabilities"``;
        ``model.initialisation`` says where its base weights came from.

    Raises:
        drlib.modeling.init_weights.WeightsUnavailableError: weights requested but not available and
            no fallback chosen (raised before any layer is built).
        ValueError: ``input_size`` below 32, or a weights file that does not fit DenseNet121.
    """
    if input_size < 32:
        raise ValueError(f"DenseNet121 needs input_size >= 32, got {input_size}")
    choice = (
        weights
        if isinstance(weights, WeightsChoice)
        else resolve_weights(weights, fallback=fallback, allow_download=allow_download)
    )
    image = keras.Input(shape=(input_size, input_size, 3), name=INPUT_LAYER, dtype="float32")
    x = imagenet_normalisation()(image)
    base = keras.applications.DenseNet121(include_top=False, weights=None, input_tensor=x)
    if choice.path is not None:
        _load_base_weights(base, choice.path)
    features = base.get_layer(LAST_CONV_LAYER).output
    pooled = keras.layers.GlobalAveragePooling2D(name=GAP_LAYER, dtype="float32")(features)
    scores = keras.layers.Dense(n_classes, name=SCORES_LAYER, dtype="float32")(pooled)
    probabilities = keras.layers.Activation("softmax", name=PROBABILITIES_LAYER, dtype="float32")(
        scores
    )
    model = keras.Model(image, probabilities, name=name)
    model.initialisation = choice.describe()
    return model


def set_batchnorm_momentum(model: keras.Model, momentum: float) -> int:
    """Set the momentum of every batch-normalisation layer of ``model``; returns how many.

    A layer keeps moving averages of its batch statistics for inference:
    ``moving = momentum * moving + (1 - momentum) * batch``, a memory of about
    ``1 / (1 - momentum)`` steps (Keras' default 0.99: about 100). Validation runs in inference
    mode, so while the weights still change quickly it sees averages of statistics the current
    weights no longer produce. Only training changes: the weights and what inference computes
    from given averages stay as they are. Set it before the model is compiled and trained.

    Raises:
        ValueError: ``momentum`` outside [0, 1).
    """
    if not 0.0 <= float(momentum) < 1.0:
        raise ValueError(f"batch-normalisation momentum must be in [0, 1), got {momentum!r}")
    layers = [layer for layer in model.layers
              if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in layers:
        layer.momentum = float(momentum)
    return len(layers)


def _load_base_weights(base: keras.Model, path: os.PathLike[str]) -> None:
    """Load DenseNet121 "notop" weights into the convolutional base, naming the file on error."""
    try:
        base.load_weights(str(path))
    except Exception as err:  # h5py/Keras raise ValueError, KeyError, OSError for bad files
        raise ValueError(
            f"could not load {path} into DenseNet121 without its top "
            f"({type(err).__name__}: {err})"
        ) from err


def feature_model(model: keras.Model) -> keras.Model:
    """A model with outputs ``[last conv activation f, class scores S, probabilities P]``.

    Shares layers (and so weights) with ``model``; one forward pass gives everything CAM needs.
    """
    return keras.Model(
        model.input,
        [
            model.get_layer(LAST_CONV_LAYER).output,
            model.get_layer(SCORES_LAYER).output,
            model.get_layer(PROBABILITIES_LAYER).output,
        ],
        name=f"{model.name}_features",
    )


def class_score_weights(model: keras.Model) -> tuple[np.ndarray, np.ndarray]:
    """The CAM weights: ``w`` of shape (channels, classes) and bias ``b`` of shape (classes,)."""
    kernel, bias = model.get_layer(SCORES_LAYER).get_weights()
    return np.asarray(kernel), np.asarray(bias)


def count_parameters(model: keras.Model) -> dict[str, int]:
    """Trainable, non-trainable and total parameter counts."""
    trainable = int(sum(np.prod(v.shape) for v in model.trainable_weights))
    frozen = int(sum(np.prod(v.shape) for v in model.non_trainable_weights))
    return {"trainable": trainable, "non_trainable": frozen, "total": trainable + frozen}


def short_summary(model: keras.Model, last: int = 5) -> str:
    """A few lines instead of ``model.summary()``'s 400: sizes and the last ``last`` layers."""
    counts = count_parameters(model)
    lines = [
        f"{model.name}: {len(model.layers)} layers, input {tuple(model.input_shape)}",
        f"parameters: {counts['total']:,} ({counts['trainable']:,} trainable, "
        f"{counts['non_trainable']:,} non-trainable, BatchNorm statistics)",
        f"last {last} layers:",
    ]
    for layer in model.layers[-last:]:
        shape = tuple(layer.output.shape)
        n = int(sum(np.prod(v.shape) for v in layer.weights))
        lines.append(f"  {layer.name:<16} {type(layer).__name__:<24} {str(shape):<22} {n:>9,}")
    return "\n".join(lines)
