"""drlib.explain against a peer library: tf-keras-vis 0.8.7 (TensorFlow only; skipped otherwise).

Same model (a seeded random DenseNet121 at 64 px, non-zero head bias), same images, same classes:

* ``saliency(reduce="max_abs")`` == tf-keras-vis ``Saliency(...)(CategoricalScore, x,
  normalize_map=False)`` with ``ReplaceToLinear`` (the score before softmax);
* ``smoothgrad(noise=...)`` == ``Saliency(..., smooth_samples=k)`` when given the very noise
  tf-keras-vis draws: ``np.random.normal(0., sigma, X.shape)`` for X the (k, N, H, W, C) tiled
  batch, sigma = smooth_noise (max - min) per copy and image, after ``np.random.seed``;
* ``grad_cam`` == ``Gradcam(...)(score, x, penultimate_layer="relu",
  seek_penultimate_conv_layer=False, expand_cam=False, normalize_cam=False)`` (with and without
  the ReLU); expanded and normalised == ``normalise_maps(upsample_maps(maps, 64, "corners"))``.
  ``seek_penultimate_conv_layer=False`` is required: by default tf-keras-vis walks back from
  ``relu`` (an Activation) to the last *Conv2D* layer (``conv5_block16_2_conv``, 32 channels),
  which is a different map.

Tolerance: max |ours - theirs| <= 1e-5 max |theirs| (1e-5 absolute for maps normalised to
[0, 1]); both sides are float32 TensorFlow computations of the same graph, so they agree to
float32 rounding (observed: bitwise for the saliency maps, ~1e-7 for Grad-CAM).

tf-keras-vis' ``ReplaceToLinear`` mutates the model it is given: it gets a clone
(``keras.models.clone_model`` + the same weights), made once and shared by both visualisers
(``clone=False``: one clone of DenseNet121 instead of two).
"""

from __future__ import annotations

import numpy as np
import pytest

from drlib.runtime import backend

if backend.name() != "tensorflow":
    pytest.skip("tf-keras-vis runs on the TensorFlow backend only", allow_module_level=True)

pytest.importorskip("tf_keras_vis")

import keras  # noqa: E402
from tf_keras_vis.gradcam import Gradcam  # noqa: E402
from tf_keras_vis.saliency import Saliency  # noqa: E402
from tf_keras_vis.utils.model_modifiers import ReplaceToLinear  # noqa: E402
from tf_keras_vis.utils.scores import CategoricalScore  # noqa: E402

from drlib.explain import (  # noqa: E402
    grad_cam,
    normalise_maps,
    saliency,
    smoothgrad,
    upsample_maps,
)

try:
    from explain_models import densenet64, full_float32, random_images, rel_error
except ImportError:  # tests/ imported as a package
    from tests.explain_models import densenet64, full_float32, random_images, rel_error

REL = 1e-5
CLASSES = [1, 3, 0]
BATCH = 2  # 3 images: one full batch and one padded


@pytest.fixture(scope="module", autouse=True)
def _full_float32():
    with full_float32():
        yield


@pytest.fixture(scope="module")
def setup():
    model = densenet64()
    peer = keras.models.clone_model(model)
    peer.set_weights(model.get_weights())
    x = random_images(3, 64, seed=31)
    return model, peer, x


@pytest.fixture(scope="module")
def peer_saliency(setup):
    _, peer, _ = setup
    return Saliency(peer, model_modifier=ReplaceToLinear(), clone=False)


def test_saliency_equals_tf_keras_vis(setup, peer_saliency):
    model, _, x = setup
    theirs = peer_saliency(CategoricalScore(CLASSES), x, normalize_map=False)
    ours = saliency(model, x, CLASSES, reduce="max_abs", batch_size=BATCH)
    assert theirs.shape == ours.maps.shape == (3, 64, 64)
    assert np.abs(theirs).max() > 0
    assert rel_error(ours.maps, theirs) <= REL
    # ReplaceToLinear made the clone output the class scores, and left the grader alone
    peer_scores = np.asarray(peer_saliency.model(x, training=False))
    assert rel_error(ours.scores, peer_scores) <= REL
    assert model.get_layer("probabilities").activation is keras.activations.softmax


def _tf_keras_vis_noise(x: np.ndarray, samples: int, smooth_noise: float) -> np.ndarray:
    """The draw of ``Saliency.__call__(smooth_samples=samples)``, from the current global state."""
    tiled = np.tile(x, (samples, 1, 1, 1)).reshape(samples, *x.shape)
    axes = tuple(range(2, tiled.ndim))
    spread = tiled.max(axis=axes, keepdims=True) - tiled.min(axis=axes, keepdims=True)
    sigma = np.float32(smooth_noise) * spread
    return np.random.normal(0.0, sigma, tiled.shape)


def test_smoothgrad_equals_tf_keras_vis_with_the_same_noise(setup, peer_saliency):
    model, _, x = setup
    samples, level = 2, 0.2
    np.random.seed(1234)
    theirs = peer_saliency(CategoricalScore(CLASSES), x, smooth_samples=samples,
                           smooth_noise=level, normalize_map=False)
    np.random.seed(1234)
    noise = _tf_keras_vis_noise(x, samples, level)
    ours = smoothgrad(model, x, CLASSES, noise=noise, batch_size=BATCH)
    assert rel_error(ours.maps, theirs) <= REL
    # the noise matters: without it the map is another one
    plain = saliency(model, x, CLASSES, batch_size=BATCH).maps
    assert rel_error(plain, theirs) > 1e-2


@pytest.fixture(scope="module")
def peer_gradcam(setup):
    _, peer, _ = setup
    return Gradcam(peer, model_modifier=ReplaceToLinear(), clone=False)


def test_grad_cam_equals_tf_keras_vis(setup, peer_gradcam):
    model, _, x = setup
    score = CategoricalScore(CLASSES)
    kwargs = {"penultimate_layer": "relu", "seek_penultimate_conv_layer": False}
    ours = grad_cam(model, x, CLASSES, batch_size=BATCH)
    theirs = np.asarray(peer_gradcam(score, x, expand_cam=False, normalize_cam=False, **kwargs))
    assert theirs.shape == ours.maps.shape == (3, 2, 2)
    assert rel_error(ours.maps, theirs) <= REL
    signed = np.asarray(peer_gradcam(score, x, activation_modifier=None, expand_cam=False,
                                     normalize_cam=False, **kwargs))
    assert signed.min() < 0  # the ReLU above cut something
    assert rel_error(grad_cam(model, x, CLASSES, relu=False, batch_size=BATCH).maps,
                     signed) <= REL
    shown = peer_gradcam(score, x, **kwargs)  # expanded to 64 x 64 and normalised
    ours_shown = normalise_maps(upsample_maps(ours.maps, 64, mode="corners"))
    assert shown.shape == ours_shown.shape == (3, 64, 64)
    np.testing.assert_allclose(ours_shown, shown, rtol=0, atol=1e-5)
