"""Sanity checks for maps (Adebayo et al. 2018): does the map depend on what the model learned?

**Cascading randomisation** (the model parameter randomisation test): re-initialise the
trainable weights of the model from the top (the class scores) down, cumulatively, and
recompute the map after each step. A map that explains the trained model must change as its
weights are destroyed; one that stays the same (Adebayo et al. found this for Guided
Backpropagation) shows the image's edges, not the model. The change is measured by Spearman's
rank correlation between the trained and the randomised map, per image
(:func:`drlib.metrics.map_regions.rank_correlation`), with and without absolute values, as in
the paper.

Details:

* The caller's model is never modified: the weights are randomised on a clone
  (``keras.models.clone_model`` + ``set_weights``), made once and randomised further at every
  cut point. The clone is a new object, so its compiled gradient functions
  (:mod:`drlib.explain.graph`) are its own, and they read the variables' current values (JAX
  passes them on every call, a TensorFlow ``tf.function`` holds the variables themselves):
  each step sees the weights as randomised so far.
* "Weights" are a layer's trainable variables (kernels, biases, batch-norm gamma and beta; the
  paper's "weights and other trainable variables"); batch-norm moving statistics and the fixed
  input normalisation stay as trained. ``reinit="initializer"`` (default) draws each variable
  from the layer's own initializer (``kernel_initializer``, ``gamma_initializer``, ...: a new
  random kernel, the initial constants for biases, gamma and beta), ``reinit="normal"`` from a
  normal distribution with the trained variable's own mean and standard deviation. Both are
  seeded per layer (by ``seed`` and the layer's position), so a layer gets the same values
  whichever cut point reaches it.
* Cut points, each randomising every weighted layer at or above it (in the model's layer
  order): for DenseNet121 (:data:`DENSENET_CUTS`) the top layer, then down through each dense
  block with the transition below it (``conv5_block1_0_bn``: block 5 and the final batch norm;
  ``conv4_block1_0_bn``: block 4 and transition ``pool4``; ... ``conv1_conv``: the stem); for
  any other model every weighted layer from the top; or the layer names given, or every k-th
  weighted layer from the top (``layers=k``; the bottom one always included).
* The explained class of every image is chosen once, on the trained model, and kept.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import keras
import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from drlib.explain.graph import predict_batched, scores_model
from drlib.explain.targets import as_image_batch, resolve_classes
from drlib.metrics.map_regions import rank_correlation
from drlib.modeling.densenet import SCORES_LAYER

DENSENET_CUTS = (
    "class_scores", "conv5_block1_0_bn", "conv4_block1_0_bn", "conv3_block1_0_bn",
    "conv2_block1_0_bn", "conv1_conv",
)
"""Default cut points of DenseNet121 (the lowest layer randomised at each), top down."""

REINIT_MODES = ("initializer", "normal")

NO_LAYERS = "none"
"""The ``cut`` of step 0: the clone with the trained weights."""

MapFunction = Callable[[keras.Model, np.ndarray, np.ndarray], Any]
"""``map_fn(model, images, classes) -> maps (N, h, w)`` (or an object with ``.maps``)."""


@dataclass(frozen=True)
class CascadingRandomisation:
    """The result of :func:`cascading_randomisation`.

    Attributes:
        table: one row per cut point and image: ``step`` (0 = nothing randomised), ``cut``
            (the lowest layer randomised so far, ``"none"`` at step 0), ``layers_randomised``
            (weighted layers randomised so far), ``image``, ``spearman`` and ``spearman_abs``
            (rank correlation of the trained and randomised maps, and of their absolute
            values).
        trained_maps: the maps of the trained model (N, h, w).
        maps: cut -> maps of the model randomised down to it (N, h, w), ``"none"`` included.
        classes: the explained class per image (N,).
        cuts: the cut points, top down (``"none"`` first).
    """

    table: pd.DataFrame
    trained_maps: np.ndarray
    maps: dict[str, np.ndarray]
    classes: np.ndarray
    cuts: tuple[str, ...]

    def summary(self) -> pd.DataFrame:
        """Mean (and min, max) correlation over images per cut point, in cut order."""
        grouped = self.table.groupby(["step", "cut", "layers_randomised"], sort=True)
        return grouped[["spearman", "spearman_abs"]].agg(["mean", "min", "max"]).reset_index()


def weighted_layers(model: keras.Model) -> list[str]:
    """Names of the layers with trainable variables, in the model's (bottom-up) order."""
    return [layer.name for layer in model.layers if layer.trainable_weights]


def cut_points(model: keras.Model, layers: Sequence[str] | int | None = None
               ) -> list[tuple[str, list[str]]]:
    """The cascade: ``[(cut, layers newly randomised at this cut), ...]``, top down.

    ``layers``: ``None`` (:data:`DENSENET_CUTS` when the model has those layers, else every
    weighted layer), a sequence of layer names, or an int k (every k-th weighted layer from
    the top, and the bottom one).
    """
    names = [layer.name for layer in model.layers]
    weighted = weighted_layers(model)
    if not weighted:
        raise ValueError(f"model {model.name!r} has no trainable weights to randomise")
    top_down = weighted[::-1]
    if layers is None:
        cuts = list(DENSENET_CUTS) if set(DENSENET_CUTS) <= set(names) else top_down
    elif isinstance(layers, (int, np.integer)) and not isinstance(layers, bool):
        if layers < 1:
            raise ValueError(f"layers must be a positive step, got {layers}")
        cuts = top_down[::int(layers)]
        if cuts[-1] != top_down[-1]:
            cuts.append(top_down[-1])
    else:
        cuts = list(layers)
        unknown = [c for c in cuts if c not in weighted]
        if unknown:
            raise ValueError(f"cut layers {unknown} are not weighted layers of {model.name!r}")
        cuts.sort(key=names.index, reverse=True)
    position = {name: names.index(name) for name in weighted}
    cascade, done = [], set()
    for cut in cuts:
        new = [w for w in top_down if position[w] >= names.index(cut) and w not in done]
        done.update(new)
        cascade.append((cut, new))
    return cascade


def _layer_seed(seed: int, index: int) -> int:
    """A seed in [0, 2**30) for the layer at ``index`` (Keras backends want a small int)."""
    return int(np.random.SeedSequence([int(seed), index]).generate_state(1)[0] % 2**30)


def _initializer(layer: keras.layers.Layer, variable: Any) -> Any:
    name = variable.name.split("/")[-1]
    candidates = [f"{name}_initializer"]
    if name == "kernel":
        candidates.append("depthwise_initializer")
    for attribute in candidates:
        init = getattr(layer, attribute, None)
        if init is not None:
            return init
    return None


def _reseeded(init: Any, seed: int) -> Any:
    config = init.get_config()
    if "seed" not in config:
        return init
    config["seed"] = seed
    return init.__class__.from_config(config)


def randomise_layers(model: keras.Model, names: Sequence[str], seed: int = 0,
                     reinit: str = "initializer") -> None:
    """Re-initialise, in place, the trainable variables of the named layers of ``model``.

    Meant for a clone (:func:`cascading_randomisation` never touches the caller's model).
    Deterministic: a layer's new values depend only on ``seed``, its position in the model and
    ``reinit`` (see the module docstring).
    """
    if reinit not in REINIT_MODES:
        raise ValueError(f"reinit must be one of {REINIT_MODES}, got {reinit!r}")
    index = {layer.name: i for i, layer in enumerate(model.layers)}
    for name in names:
        layer = model.get_layer(name)
        layer_seed = _layer_seed(seed, index[name])
        rng = np.random.default_rng(layer_seed)
        for k, variable in enumerate(layer.trainable_weights):
            shape, dtype = tuple(variable.shape), variable.dtype
            init = _initializer(layer, variable) if reinit == "initializer" else None
            if init is not None:
                value = keras.ops.convert_to_numpy(
                    _reseeded(init, layer_seed + k)(shape, dtype=dtype))
            else:
                trained = keras.ops.convert_to_numpy(variable.value).astype(np.float64)
                value = rng.normal(trained.mean(), trained.std(), size=shape)
            variable.assign(np.asarray(value, dtype=np.dtype(dtype)))


def _as_maps(result: Any, n: int) -> np.ndarray:
    maps = np.asarray(getattr(result, "maps", result), dtype=np.float32)
    if maps.ndim != 3 or len(maps) != n:
        raise ValueError(f"map_fn must return maps (N, h, w) for N={n} images (or an object "
                         f"with .maps); got shape {maps.shape}")
    return maps


def cascading_randomisation(
    model: keras.Model,
    images: Any,
    map_fn: MapFunction,
    classes: Any = None,
    *,
    layers: Sequence[str] | int | None = None,
    seed: int = 0,
    within: ArrayLike | None = None,
    reinit: str = "initializer",
    batch_size: int = 16,
    scores_layer: str = SCORES_LAYER,
) -> CascadingRandomisation:
    """Adebayo et al.'s cascading randomisation test of a map method.

    Args:
        model: the trained grader (left unchanged).
        images: RGB (N, H, W, 3) in [0, 255], or one image.
        map_fn: ``map_fn(model, images, classes) -> maps (N, h, w)`` (or a result with
            ``.maps``), e.g. ``lambda m, x, c: drlib.explain.saliency(m, x, c).maps``.
        classes: ``None``/``"predicted"`` (chosen on the trained model), an int, or one per
            image; the same classes are explained at every step.
        layers: the cut points (:func:`cut_points`).
        seed: seeds the re-initialisation.
        within: bool (N, h, w) or (h, w): correlate only these map pixels.
        reinit: ``"initializer"`` or ``"normal"`` (module docstring).

    Returns:
        :class:`CascadingRandomisation`: step 0 (``"none"``) is the clone before any
        randomisation (correlation 1 unless the clone differs), then one step per cut point.
    """
    if reinit not in REINIT_MODES:
        raise ValueError(f"reinit must be one of {REINIT_MODES}, got {reinit!r}")
    x = as_image_batch(images)
    if classes is None or isinstance(classes, str):
        scores = predict_batched(scores_model(model, scores_layer), x, batch_size)[0]
    else:
        n_classes = int(model.get_layer(scores_layer).output.shape[-1])
        scores = np.zeros((len(x), n_classes), np.float32)
    chosen = resolve_classes(classes, scores)
    cascade = cut_points(model, layers)
    trained = _as_maps(map_fn(model, x, chosen), len(x))

    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    steps = [(NO_LAYERS, [])] + cascade
    maps: dict[str, np.ndarray] = {}
    rows = []
    randomised = 0
    for step, (cut, new) in enumerate(steps):
        randomise_layers(copy, new, seed=seed, reinit=reinit)
        randomised += len(new)
        maps[cut] = _as_maps(map_fn(copy, x, chosen), len(x))
        if maps[cut].shape != trained.shape:
            raise ValueError(f"map_fn gave maps of shape {maps[cut].shape} after randomising "
                             f"down to {cut!r}, {trained.shape} for the trained model")
        plain = rank_correlation(trained, maps[cut], within)
        absolute = rank_correlation(np.abs(trained), np.abs(maps[cut]), within)
        for i in range(len(x)):
            rows.append({"step": step, "cut": cut, "layers_randomised": randomised,
                         "image": i, "spearman": plain[i], "spearman_abs": absolute[i]})
    return CascadingRandomisation(
        table=pd.DataFrame(rows), trained_maps=trained, maps=maps, classes=chosen,
        cuts=tuple(cut for cut, _ in steps),
    )
