"""Tests for drlib.explain.sanity: Adebayo et al.'s cascading randomisation on a small conv
model (the grader's layer names ``relu``, ``gap``, ``class_scores``, ``probabilities``), and the
main explain paths on the JAX backend."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest
from scipy import stats

# Weights come from NumPy, so the "trained" model is the same on every backend.
CONV_MODEL = textwrap.dedent(
    """
    import numpy as np
    import keras

    SIDE = 16

    def conv_model(seed=0):
        inputs = keras.Input((SIDE, SIDE, 3), name="image")
        x = keras.layers.Rescaling(1 / 255.0, offset=-0.5, name="scale")(inputs)
        x = keras.layers.Conv2D(6, 3, padding="same", activation="tanh", name="conv1")(x)
        x = keras.layers.BatchNormalization(name="bn1")(x)
        x = keras.layers.Conv2D(8, 3, padding="same", name="conv2")(x)
        x = keras.layers.Activation("relu", name="relu")(x)
        x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
        scores = keras.layers.Dense(3, name="class_scores")(x)
        probabilities = keras.layers.Activation("softmax", name="probabilities")(scores)
        model = keras.Model(inputs, probabilities, name="tiny_grader")
        rng = np.random.default_rng(seed)
        weights = []
        for w in model.get_weights():
            if w.ndim > 1:  # kernels: He-scaled normal
                value = rng.normal(0.0, np.sqrt(2.0 / np.prod(w.shape[:-1])), w.shape)
            else:  # biases, gamma, beta, moving mean and variance: "trained" values near 1
                value = 1.0 + 0.3 * rng.standard_normal(w.shape)
            weights.append(value.astype("float32"))
        model.set_weights(weights)
        return model

    def conv_images(n=3, seed=1):
        rng = np.random.default_rng(seed)
        return rng.uniform(0.0, 255.0, (n, SIDE, SIDE, 3)).astype("float32")

    def saliency_maps(model, images, classes):
        import drlib.explain
        return drlib.explain.saliency(model, images, classes, batch_size=4).maps
    """
)
_NS: dict = {}


@pytest.fixture(scope="module")
def tiny():
    import drlib  # noqa: F401 - sets the Keras backend first

    if not _NS:
        exec(CONV_MODEL, _NS)  # noqa: S102 - the same source runs in the JAX subprocess
    return _NS


def _weights(model) -> list[np.ndarray]:
    return [np.array(w, copy=True) for w in model.get_weights()]


def test_cascade_starts_at_one_and_falls_once_layers_are_randomised(tiny) -> None:
    from drlib.explain.sanity import cascading_randomisation

    model, images = tiny["conv_model"](), tiny["conv_images"]()
    before = _weights(model)
    trained = tiny["saliency_maps"](model, images, None)
    result = cascading_randomisation(model, images, tiny["saliency_maps"])
    assert result.cuts == ("none", "class_scores", "conv2", "bn1", "conv1")
    table = result.table
    assert len(table) == 5 * 3
    assert list(table.groupby("step")["layers_randomised"].first()) == [0, 1, 2, 3, 4]
    first = table[table.step == 0]
    np.testing.assert_allclose(first.spearman, 1.0, atol=1e-6)
    np.testing.assert_allclose(first.spearman_abs, 1.0, atol=1e-6)
    later = table[table.step > 0]
    assert (later.spearman < 0.9).all(), table
    assert (table[table.step == 4].spearman < 0.5).all(), table  # everything randomised
    np.testing.assert_allclose(result.trained_maps, trained, rtol=1e-5, atol=1e-7)
    # the caller's model is untouched: every weight, and its maps
    after = _weights(model)
    assert len(after) == len(before)
    for a, b in zip(before, after, strict=True):
        np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(tiny["saliency_maps"](model, images, None), trained, rtol=1e-5,
                               atol=1e-7)
    summary = result.summary()
    assert len(summary) == 5
    # every row is SciPy's Spearman correlation of the trained map and the map after that step,
    # of the image it names (and of their absolute values)
    expected = []
    for step, cut in enumerate(result.cuts):
        for i in range(len(images)):
            trained_map, randomised = result.trained_maps[i].ravel(), result.maps[cut][i].ravel()
            expected.append({
                "step": step, "cut": cut, "layers_randomised": step, "image": i,
                "spearman": stats.spearmanr(trained_map, randomised).statistic,
                "spearman_abs": stats.spearmanr(np.abs(trained_map),
                                                np.abs(randomised)).statistic,
            })
    expected = pd.DataFrame(expected)
    pd.testing.assert_frame_equal(table, expected, check_dtype=False, rtol=0, atol=1e-9)
    # the summary: mean, min and max over the images of each step, in cascade order
    by_step = expected.groupby("step")
    assert list(summary["cut"]) == list(result.cuts)
    assert list(summary["layers_randomised"]) == [0, 1, 2, 3, 4]
    for column in ("spearman", "spearman_abs"):
        for statistic in ("mean", "min", "max"):
            np.testing.assert_allclose(summary[(column, statistic)],
                                       by_step[column].agg(statistic), rtol=0, atol=1e-9)


def test_each_step_matches_a_fresh_clone_randomised_the_same_way(tiny) -> None:
    # the clone is randomised in place between steps: its compiled gradient function must see
    # the new weights, as a new model with those weights would
    import keras

    from drlib.explain.sanity import cascading_randomisation, cut_points, randomise_layers

    model, images = tiny["conv_model"](), tiny["conv_images"](2)
    result = cascading_randomisation(model, images, tiny["saliency_maps"], classes=[0, 2],
                                     seed=5)
    assert list(result.classes) == [0, 2]
    cascade = cut_points(model)
    done: list[str] = []
    for cut, new in cascade[:2]:
        done += new
        fresh = keras.models.clone_model(model)
        fresh.set_weights(model.get_weights())
        randomise_layers(fresh, done, seed=5)
        np.testing.assert_allclose(result.maps[cut],
                                   tiny["saliency_maps"](fresh, images, result.classes),
                                   rtol=1e-4, atol=1e-7)


def test_randomise_layers_is_seeded_and_touches_only_the_named_trainable_weights(tiny) -> None:
    import keras

    from drlib.explain.sanity import randomise_layers

    model = tiny["conv_model"]()
    copies = []
    for _ in range(2):
        copy = keras.models.clone_model(model)
        copy.set_weights(model.get_weights())
        randomise_layers(copy, ["conv2", "bn1"], seed=3)
        copies.append(copy)
    for name in ("conv2", "bn1", "conv1", "class_scores"):
        a, b = copies[0].get_layer(name), copies[1].get_layer(name)
        trained = model.get_layer(name)
        for va, vb, vt in zip(a.weights, b.weights, trained.weights, strict=True):
            np.testing.assert_array_equal(np.asarray(va), np.asarray(vb))  # seeded
            changed = not np.array_equal(np.asarray(va), np.asarray(vt))
            assert changed == (name in ("conv2", "bn1") and vt.trainable), (name, vt.path)
    # the initializers': Glorot kernel, zero bias, gamma 1, beta 0
    assert np.allclose(np.asarray(copies[0].get_layer("bn1").gamma), 1.0)
    assert np.allclose(np.asarray(copies[0].get_layer("conv2").bias), 0.0)
    normal = keras.models.clone_model(model)
    normal.set_weights(model.get_weights())
    randomise_layers(normal, ["conv2"], seed=3, reinit="normal")
    kernel = np.asarray(normal.get_layer("conv2").kernel)
    trained = np.asarray(model.get_layer("conv2").kernel)
    assert kernel.std() == pytest.approx(trained.std(), rel=0.15)
    assert not np.allclose(kernel, trained)


def test_cut_points(tiny) -> None:
    import keras

    from drlib.explain.sanity import DENSENET_CUTS, cut_points, weighted_layers

    model = tiny["conv_model"]()
    assert weighted_layers(model) == ["conv1", "bn1", "conv2", "class_scores"]
    assert cut_points(model, 2) == [("class_scores", ["class_scores"]),
                                    ("bn1", ["conv2", "bn1"]), ("conv1", ["conv1"])]
    assert cut_points(model, ["conv2", "class_scores"]) == [
        ("class_scores", ["class_scores"]), ("conv2", ["conv2"])]
    with pytest.raises(ValueError, match="not weighted layers"):
        cut_points(model, ["gap"])
    # DenseNet121 names: each cut takes a dense block with the transition below it
    inputs = keras.Input((8, 8, 3))
    x = inputs
    names = ["conv1_conv", "conv2_block1_0_bn", "conv2_block6_2_conv", "pool2_conv",
             "conv3_block1_0_bn", "pool3_conv", "conv4_block1_0_bn", "pool4_conv",
             "conv5_block1_0_bn", "conv5_block16_2_conv", "bn"]
    for name in names:
        layer = (keras.layers.BatchNormalization(name=name) if name.endswith("bn")
                 else keras.layers.Conv2D(3, 1, name=name))
        x = layer(x)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    stub = keras.Model(inputs, keras.layers.Dense(2, name="class_scores")(x))
    cascade = dict(cut_points(stub))
    assert tuple(cascade) == DENSENET_CUTS
    assert cascade["conv5_block1_0_bn"] == ["bn", "conv5_block16_2_conv", "conv5_block1_0_bn"]
    assert cascade["conv4_block1_0_bn"] == ["pool4_conv", "conv4_block1_0_bn"]
    assert cascade["conv2_block1_0_bn"] == ["pool2_conv", "conv2_block6_2_conv",
                                            "conv2_block1_0_bn"]
    assert cascade["conv1_conv"] == ["conv1_conv"]


def test_main_paths_on_the_jax_backend(tiny) -> None:
    # deletion / insertion curves (ROAD) agree with TensorFlow's, and the cascade works on JAX
    # (where the compiled gradient step gets the randomised weights passed on every call)
    from drlib.explain.faithfulness import deletion_curve, insertion_curve

    model, images = tiny["conv_model"](), tiny["conv_images"](2)
    maps = tiny["saliency_maps"](model, images, None)
    expected = {
        "deletion": deletion_curve(model, images, maps, None, batch_size=8).scores.tolist(),
        "insertion": insertion_curve(model, images, maps, None, fill="blur",
                                     batch_size=8).scores.tolist(),
        "maps": maps.tolist(),
    }
    # the curves use TensorFlow's maps, so both backends remove pixels in the same order
    code = CONV_MODEL + f"\nTF_MAPS = np.array({json.dumps(expected['maps'])})\n" + textwrap.dedent(
        """
        import json
        import drlib
        from drlib.explain.faithfulness import deletion_curve, insertion_curve
        from drlib.explain.sanity import cascading_randomisation
        model, images = conv_model(), conv_images(2)
        before = [w.copy() for w in model.get_weights()]
        maps = saliency_maps(model, images, None)
        result = cascading_randomisation(model, images, saliency_maps)
        table = result.table
        print(json.dumps({
            "backend": keras.backend.backend(),
            "maps": maps.tolist(),
            "deletion": deletion_curve(model, images, TF_MAPS, None,
                                       batch_size=8).scores.tolist(),
            "insertion": insertion_curve(model, images, TF_MAPS, None, fill="blur",
                                         batch_size=8).scores.tolist(),
            "first": table[table.step == 0].spearman.tolist(),
            "later": table[table.step > 0].spearman.tolist(),
            "last": table[table.step == 4].spearman.tolist(),
            "unchanged": all(np.array_equal(a, b)
                             for a, b in zip(before, model.get_weights(), strict=True)),
        }))
        """
    )
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    # (Keras' get_config, which clone_model calls, imports TensorFlow where it is installed)
    assert report["backend"] == "jax"
    np.testing.assert_allclose(report["maps"], expected["maps"], rtol=1e-3, atol=1e-6)
    for kind in ("deletion", "insertion"):
        np.testing.assert_allclose(report[kind], expected[kind], rtol=1e-3, atol=1e-4)
    np.testing.assert_allclose(report["first"], 1.0, atol=1e-6)
    assert max(report["later"]) < 0.9 and max(report["last"]) < 0.5
    assert report["unchanged"]
