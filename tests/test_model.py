"""The paper's DenseNet121 grader (drlib.modeling.densenet) and where its weights come from
(init_weights)."""

from __future__ import annotations

import collections
import re
import time
import warnings

import h5py
import keras
import numpy as np
import pytest

from drlib.modeling import init_weights
from drlib.modeling.densenet import (
    LAST_CONV_LAYER,
    NORMALISATION_LAYER,
    PROBABILITIES_LAYER,
    SCORES_LAYER,
    build_densenet,
    class_score_weights,
    feature_model,
    set_batchnorm_momentum,
    short_summary,
)
from drlib.modeling.init_weights import (
    DENSENET121_NOTOP_FILE,
    DENSENET121_NOTOP_URL,
    WeightsUnavailableError,
    resolve_weights,
)

SIZE = 64
DENSENET121_HEAD5_PARAMS = 7_042_629  # 7.04 M: DenseNet121 without top + Dense(1024 -> 5)


@pytest.fixture(scope="module")
def model() -> keras.Model:
    keras.utils.set_random_seed(0)
    net = build_densenet(SIZE)
    # A non-zero bias, so the CAM identity checks the bias term too.
    kernel, bias = net.get_layer(SCORES_LAYER).get_weights()
    net.get_layer(SCORES_LAYER).set_weights([kernel, np.linspace(-0.5, 0.5, bias.size)])
    return net


@pytest.fixture(scope="module")
def images() -> np.ndarray:
    return np.random.default_rng(1).uniform(0, 255, (3, SIZE, SIZE, 3)).astype(np.float32)


def test_last_conv_layer_is_densenet121_final_relu(model):
    assert LAST_CONV_LAYER == "relu"
    layer = model.get_layer(LAST_CONV_LAYER)
    assert isinstance(layer, keras.layers.Activation)
    assert tuple(layer.output.shape) == (None, SIZE // 32, SIZE // 32, 1024)
    # It feeds the global average pooling directly: nothing between f_k and F_k.
    assert model.get_layer("gap").input is layer.output


def test_graph_is_flat(model):
    nested = [layer.name for layer in model.layers if isinstance(layer, keras.Model)]
    assert nested == []
    # DenseNet121 (Huang et al. 2017), counted from its architecture: 58 dense-block conv blocks
    # (blocks of 6, 12, 24, 16) of 7 layers each (BN, ReLU, 1x1 conv, BN, ReLU, 3x3 conv,
    # concatenate), 3 transitions of 4 (BN, ReLU, 1x1 conv, average pooling), the stem's 6
    # (zero padding, 7x7 conv, BN, ReLU, zero padding, max pooling) and the final BN and ReLU:
    # 426 layers, keras.applications.DenseNet121(include_top=False) plus its InputLayer (427).
    # The course adds the input "image", the ImageNet normalisation and the head (GAP, Dense,
    # softmax): 431, each DenseNet layer once, flat.
    blocks = 6 + 12 + 24 + 16
    densenet = 7 * blocks + 4 * 3 + 6 + 2
    assert len(model.layers) == 2 + densenet + 3 == 431
    kinds = collections.Counter(type(layer).__name__ for layer in model.layers)
    assert kinds == {
        "Conv2D": 1 + 2 * blocks + 3,  # stem, two per conv block, one per transition
        "BatchNormalization": 1 + 2 * blocks + 3 + 1,  # ... and the final one
        "Activation": 1 + 2 * blocks + 3 + 1 + 1,  # a ReLU after every BN, and the softmax
        "Concatenate": blocks,
        "AveragePooling2D": 3, "ZeroPadding2D": 2, "MaxPooling2D": 1, "InputLayer": 1,
        "Normalization": 1, "GlobalAveragePooling2D": 1, "Dense": 1,
    }
    assert [layer.name for layer in model.layers[:2]] == ["image", NORMALISATION_LAYER]
    assert model.layers[-1].name == PROBABILITIES_LAYER


def test_cam_identity_mean_of_cam_plus_bias_is_class_score(model, images):
    features, scores, probabilities = (np.asarray(a) for a in feature_model(model)(images))
    w, b = class_score_weights(model)
    assert w.shape == (1024, 5) and b.shape == (5,)
    cam = np.einsum("nhwk,kc->nhwc", features.astype(np.float64), w.astype(np.float64))
    np.testing.assert_allclose(cam.mean(axis=(1, 2)) + b, scores, atol=1e-4)
    np.testing.assert_allclose(probabilities, np.asarray(model(images)), atol=1e-6)


def test_probabilities_are_softmax_of_class_scores(model, images):
    outputs = feature_model(model)(images)
    _, scores, probabilities = (np.asarray(a, dtype=np.float64) for a in outputs)
    expected = np.exp(scores - scores.max(axis=1, keepdims=True))
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(probabilities, expected, atol=1e-6)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-6)


def test_normalisation_is_densenet_torch_preprocessing(model, images):
    normalised = np.asarray(model.get_layer(NORMALISATION_LAYER)(images))
    expected = keras.applications.densenet.preprocess_input(images.copy())
    np.testing.assert_allclose(normalised, expected, atol=1e-4)


def test_parameter_count_and_short_summary(model):
    assert model.count_params() == DENSENET121_HEAD5_PARAMS
    text = short_summary(model, last=3)
    assert f"{DENSENET121_HEAD5_PARAMS:,}" in text
    assert len(text.splitlines()) == 6
    assert SCORES_LAYER in text and PROBABILITIES_LAYER in text


def test_head_stays_float32_under_mixed_precision():
    previous = keras.config.dtype_policy()
    try:
        keras.config.set_dtype_policy("mixed_bfloat16")
        net = build_densenet(32)
    finally:
        keras.config.set_dtype_policy(previous)
    assert net.get_layer("conv1_conv").compute_dtype == "bfloat16"
    for name in ("gap", SCORES_LAYER, PROBABILITIES_LAYER, NORMALISATION_LAYER):
        assert net.get_layer(name).compute_dtype == "float32", name
    out = net(np.zeros((1, 32, 32, 3), np.float32))
    assert keras.backend.standardize_dtype(out.dtype) == "float32"


def test_too_small_input_is_refused():
    with pytest.raises(ValueError, match="input_size >= 32"):
        build_densenet(16)


# --------------------------------------------------------------------------- initialisation


@pytest.fixture()
def keras_home(tmp_path, monkeypatch):
    """An empty Keras cache: what an offline machine without the weights looks like."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras_home"))
    return tmp_path / "keras_home"


def test_imagenet_offline_fails_at_once_saying_where_to_put_the_file(keras_home):
    start = time.perf_counter()
    with pytest.raises(WeightsUnavailableError) as info:
        build_densenet(SIZE, weights="imagenet")
    assert time.perf_counter() - start < 2.0  # no download attempt, no timeout
    message = str(info.value)
    assert str(keras_home / "models" / DENSENET121_NOTOP_FILE) in message
    assert DENSENET121_NOTOP_URL in message
    assert "fallback='scratch'" in message


def test_imagenet_offline_with_scratch_fallback_warns(keras_home):
    with pytest.warns(UserWarning, match="Continuing from scratch"):
        choice = resolve_weights("imagenet", fallback="scratch")
    assert choice.source == "scratch" and choice.path is None
    assert "fallback" in choice.describe()


def test_download_failure_is_reported_with_the_url(keras_home, monkeypatch):
    def offline(*args, **kwargs):
        raise OSError("network unreachable")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    with pytest.raises(WeightsUnavailableError, match="network unreachable") as info:
        resolve_weights("imagenet", allow_download=True, download_timeout_s=0.1)
    assert DENSENET121_NOTOP_URL in str(info.value)


def test_scratch_and_bad_requests():
    assert resolve_weights(None).source == "scratch"
    assert resolve_weights("scratch").source == "scratch"
    with pytest.raises(ValueError, match="neither None"):
        resolve_weights("imagenett")
    with pytest.raises(ValueError, match="fallback"):
        resolve_weights(None, fallback="random")


def test_missing_weights_file_is_named(tmp_path):
    missing = tmp_path / "nowhere" / DENSENET121_NOTOP_FILE
    with pytest.raises(WeightsUnavailableError, match=re.escape(str(missing))):
        resolve_weights(str(missing))
    with pytest.warns(UserWarning, match=re.escape(str(missing))):
        assert resolve_weights(missing, fallback="scratch").source == "scratch"


@pytest.fixture(scope="module")
def notop_file(tmp_path_factory):
    """A weights file in the legacy Keras "notop" HDF5 format of the ImageNet file."""
    from keras.src.legacy.saving import legacy_h5_format

    keras.utils.set_random_seed(7)
    base = keras.applications.DenseNet121(include_top=False, weights=None, input_shape=(32, 32, 3))
    folder = tmp_path_factory.mktemp("weights")
    path = folder / DENSENET121_NOTOP_FILE
    with h5py.File(path, "w") as f, warnings.catch_warnings():
        # Keras' legacy writer converts variables with np.array(copy=False): NumPy 2 warns.
        warnings.simplefilter("ignore", DeprecationWarning)
        legacy_h5_format.save_weights_to_hdf5_group(f, base)
    return path, {w.path: w.numpy() for w in base.weights}


def test_local_weights_file_is_loaded_into_the_base(notop_file):
    path, expected = notop_file
    net = build_densenet(32, weights=path)
    assert net.initialisation.startswith("file")
    loaded = {w.path: w.numpy() for w in net.weights}
    for name, value in expected.items():
        np.testing.assert_array_equal(loaded[name], value, err_msg=name)


def test_weights_folder_and_keras_cache_are_searched(notop_file, tmp_path, monkeypatch):
    path, _ = notop_file
    assert resolve_weights(path.parent).path == path  # a folder holding the file
    cache = tmp_path / "home" / "models"
    cache.mkdir(parents=True)
    (cache / DENSENET121_NOTOP_FILE).write_bytes(path.read_bytes())
    assert resolve_weights(tmp_path / "home").path == cache / DENSENET121_NOTOP_FILE
    # In the Keras cache the file must be the real ImageNet file (md5 checked) ...
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "home"))
    assert init_weights.imagenet_weights_path() == cache / DENSENET121_NOTOP_FILE
    with pytest.raises(WeightsUnavailableError, match="md5"):
        resolve_weights("imagenet")
    # ... unless its md5 is the expected one.
    monkeypatch.setattr(init_weights, "DENSENET121_NOTOP_MD5", init_weights.md5sum(path))
    choice = resolve_weights("imagenet")
    assert choice.source == "imagenet" and choice.path == cache / DENSENET121_NOTOP_FILE


def test_unloadable_weights_file_names_the_file(tmp_path):
    bad = tmp_path / "bad.h5"
    with h5py.File(bad, "w") as f:
        f.create_dataset("x", data=np.zeros(3))
    with pytest.raises(ValueError, match=re.escape(str(bad))):
        build_densenet(32, weights=bad)


def test_batchnorm_momentum_sets_how_fast_the_moving_mean_follows_a_batch():
    # one training-mode call from fresh averages (moving mean 0): the first layer's moving mean
    # becomes (1 - momentum) x the batch mean of its input, channel by channel
    keras.utils.set_random_seed(0)
    net = build_densenet(32)
    assert {layer.momentum for layer in net.layers
            if isinstance(layer, keras.layers.BatchNormalization)} == {0.99}  # Keras' default
    assert set_batchnorm_momentum(net, 0.75) == 121  # every one of DenseNet121's
    bn = net.get_layer("conv1_bn")
    x = np.random.default_rng(3).uniform(0, 255, (4, 32, 32, 3)).astype(np.float32)
    before = keras.Model(net.input, bn.input)(x, training=False)
    batch_mean = keras.ops.convert_to_numpy(before).mean(axis=(0, 1, 2))
    net(x, training=True)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(bn.moving_mean), 0.25 * batch_mean,
                               rtol=1e-4, atol=1e-4)
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        set_batchnorm_momentum(net, 1.0)
