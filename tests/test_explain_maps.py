"""drlib.explain on the default backend: the mathematics each map promises, pinned exactly.

* CAM: ``mean_xy CAM_c + b_c = S_c`` for every class and image (random DenseNet121, the shipped
  model on rendered eyes), ``cam_from_features`` against a loop, per-image class selection;
* Grad-CAM on the GAP head is ``ReLU(CAM) / (h w)``;
* saliency against central finite differences of a float64 NumPy re-implementation of a small
  smooth model, every pixel and channel, every class; the channel reductions on known numbers;
* integrated gradients: exact on an affine model, the trapezoid of the saliency gradients,
  endpoints equal to forward passes, completeness error shrinking as 1 / steps^2;
* SmoothGrad: the mean of |gradient| over the very noise given; the noise's sigma per image;
* batches: every map computed in batches equals the map computed one image at a time.

Tolerances are relative to the scale of what is compared (``rel_error``: max |a - b| / max |b|).
The maps are float32 computations; 1e-5 leaves ~10x margin over the float32 rounding observed
(~1e-6) while any real mistake (a missing bias, a wrong class, a softmax instead of the score, a
wrong quadrature weight) moves the result by 1e-3 or more.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest

from drlib.data.synthetic_cohort import render_cohort
from drlib.explain import (
    REDUCTIONS,
    ClassActivationMaps,
    cam_from_features,
    class_activation_maps,
    class_scores,
    grad_cam,
    integrated_gradients,
    normalise_maps,
    reduce_channels,
    resolve_classes,
    saliency,
    smoothgrad,
    smoothgrad_noise,
    upsample_maps,
)
from drlib.modeling.densenet import feature_model
from drlib.modeling.manifest import load_densenet
from drlib.runtime.paths import models_dir

try:
    from explain_models import (
        TINY_CLASSES,
        densenet64,
        full_float32,
        random_images,
        reference_features,
        reference_gradient,
        reference_scores,
        rel_error,
        tiny_model,
    )
except ImportError:  # tests/ imported as a package
    from tests.explain_models import (
        TINY_CLASSES,
        densenet64,
        full_float32,
        random_images,
        reference_features,
        reference_gradient,
        reference_scores,
        rel_error,
        tiny_model,
    )

REL = 1e-5
SHIPPED = models_dir() / "densenet121_cpu.manifest.json"


@pytest.fixture(scope="module", autouse=True)
def _full_float32():
    with full_float32():
        yield


def _eager(model: keras.Model, x: np.ndarray) -> list[np.ndarray]:
    """The model's outputs on ``x`` from a plain eager call (a path the library does not use)."""
    out = model(keras.ops.convert_to_tensor(x), training=False)
    out = out if isinstance(out, (list, tuple)) else [out]
    return [np.asarray(keras.ops.convert_to_numpy(o), dtype=np.float64) for o in out]


def _identity_tolerance(scores: np.ndarray) -> float:
    return REL * max(1.0, float(np.abs(scores).max()))


@pytest.fixture(scope="module")
def tanh_model():
    return tiny_model("tanh")


# --------------------------------------------------------------------------------------------
# CAM


def test_cam_from_features_equals_an_explicit_loop():
    rng = np.random.default_rng(1)
    features = rng.normal(size=(2, 3, 4, 5))
    weights = rng.normal(size=(5, 3))
    expected = np.zeros((2, 3, 3, 4))
    for n in range(2):
        for c in range(3):
            for y in range(3):
                for x in range(4):
                    expected[n, c, y, x] = sum(features[n, y, x, k] * weights[k, c]
                                               for k in range(5))
    out = cam_from_features(features, weights)
    assert out.dtype == np.float32 and out.shape == (2, 3, 3, 4)
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("shapes", [((2, 3, 4, 5), (4, 3)), ((3, 4, 5), (5, 3)),
                                    ((2, 3, 4, 5), (5,))])
def test_cam_from_features_rejects_shapes_that_do_not_fit(shapes):
    features, weights = (np.zeros(s) for s in shapes)
    with pytest.raises(ValueError, match="do not fit"):
        cam_from_features(features, weights)


def test_cam_from_features_in_float64_across_its_chunks():
    """The grader's shape: (N, 7, 7, 1024) is converted to float64 in chunks of rows; every
    chunk, the last (partial) one included, lands on its own images, cells and classes."""
    rng = np.random.default_rng(11)
    features = np.maximum(rng.normal(size=(9, 7, 7, 1024)), 0.0).astype(np.float32)
    weights = rng.normal(size=(1024, 5)).astype(np.float32)
    f64, w64 = features.astype(np.float64), weights.astype(np.float64)
    expected = np.stack([np.stack([f64[n] @ w64[:, c] for c in range(5)]) for n in range(9)])
    out = cam_from_features(features, weights)
    assert out.dtype == np.float32 and out.shape == (9, 5, 7, 7) and out.flags.c_contiguous
    # float64 sums rounded once: within one float32 rounding of the exact value
    np.testing.assert_allclose(out, expected, rtol=2 ** -23, atol=1e-6)
    # float32 products and sums would not be (~1e-6 relative on 1024 terms)
    f32 = np.einsum("nhwk,kc->nchw", features, weights)
    assert np.abs(f32 - expected).max() > np.abs(out - expected).max()


def test_identity_error_is_the_gap_between_map_mean_plus_bias_and_score():
    rng = np.random.default_rng(2)
    every = rng.normal(size=(3, 4, 2, 2)).astype(np.float32)
    bias = rng.normal(size=4).astype(np.float32)
    scores = every.astype(np.float64).mean(axis=(2, 3)) + bias
    classes = np.array([1, 3, 0])
    maps = every[np.arange(3), classes]
    exact = ClassActivationMaps(maps=maps, classes=classes, scores=scores, bias=bias,
                                all_maps=every)
    assert exact.identity_error() < 1e-6
    assert exact.grid == (2, 2)
    wrong = scores.copy()
    wrong[2, 2] += 0.25  # a class no image explains: only the all-classes check sees it
    assert ClassActivationMaps(maps, classes, wrong, bias, every).identity_error() == (
        pytest.approx(0.25, abs=1e-6))
    assert ClassActivationMaps(maps, classes, wrong, bias).identity_error() < 1e-6
    wrong[1, 3] -= 0.5  # image 1's explained class
    assert ClassActivationMaps(maps, classes, wrong, bias).identity_error() == (
        pytest.approx(0.5, abs=1e-6))


def _check_identity_from_arrays(model, x, cam):
    """mean_xy CAM_c + b_c == S_c from an independent forward pass and the layer's weights."""
    features, scores, probabilities = _eager(feature_model(model), x)
    kernel, bias = (w.astype(np.float64) for w in model.get_layer("class_scores").get_weights())
    every = np.einsum("nhwk,kc->nchw", features, kernel)
    tol = _identity_tolerance(scores)
    assert np.abs(every.mean(axis=(2, 3)) + bias - scores).max() <= tol
    # the library's arrays are those of this forward pass
    assert rel_error(cam.all_maps, every) <= REL
    assert np.abs(cam.scores - scores).max() <= tol
    np.testing.assert_array_equal(cam.bias, bias.astype(np.float32))
    assert cam.identity_error() <= tol
    # and from the library's own arrays, every class and image
    lhs = cam.all_maps.astype(np.float64).mean(axis=(2, 3)) + cam.bias
    assert np.abs(lhs - cam.scores).max() <= tol
    # the scores are the model's: its softmax is the model's output
    soft = np.exp(scores - scores.max(axis=1, keepdims=True))
    np.testing.assert_allclose(soft / soft.sum(axis=1, keepdims=True), probabilities, atol=1e-5)
    rows = np.arange(len(x))
    np.testing.assert_array_equal(cam.maps, cam.all_maps[rows, cam.classes])
    np.testing.assert_array_equal(cam.classes, np.argmax(scores, axis=1))


def test_cam_identity_on_a_random_densenet_every_class_and_image():
    model = densenet64()
    x = random_images(3, 64, seed=5)
    cam = class_activation_maps(model, x, all_classes=True, batch_size=2)
    assert cam.grid == (2, 2) and cam.all_maps.shape == (3, 5, 2, 2)
    assert np.abs(cam.bias).min() >= 0.25  # the bias is part of the identity here
    _check_identity_from_arrays(model, x, cam)


@pytest.fixture(scope="module")
def shipped():
    """The shipped 192 px grader and three rendered eyes (grades 0, 2, 4), with their CAMs."""
    if not SHIPPED.exists():
        pytest.skip(f"no shipped model at {SHIPPED}")
    model = load_densenet(SHIPPED)
    eyes = render_cohort([0, 2, 4], seed=3)
    return model, eyes, class_activation_maps(model, eyes.images, all_classes=True)


def test_cam_identity_on_the_shipped_model_and_rendered_eyes(shipped):
    model, eyes, cam = shipped
    assert cam.grid == (6, 6) and cam.all_maps.shape == (3, 5, 6, 6)
    _check_identity_from_arrays(model, eyes.images.astype(np.float32), cam)


def test_grad_cam_on_the_shipped_model_is_relu_cam_over_cells(shipped):
    model, eyes, cam = shipped
    gc = grad_cam(model, eyes.images, cam.classes)
    assert rel_error(gc.maps, np.maximum(cam.maps, 0.0) / 36.0) <= REL


@pytest.mark.parametrize(("classes", "expected"), [
    (None, [1, 0, 2]), ("predicted", [1, 0, 2]), (2, [2, 2, 2]), (np.int64(0), [0, 0, 0]),
    ([2, 1, 0], [2, 1, 0]), (np.array([0, 0, 1]), [0, 0, 1]),
])
def test_resolve_classes(classes, expected):
    scores = np.array([[0.0, 3.0, 1.0], [5.0, -1.0, 4.9], [-2.0, -3.0, -1.0]])
    out = resolve_classes(classes, scores)
    assert out.dtype == np.int32
    np.testing.assert_array_equal(out, expected)


@pytest.mark.parametrize(("classes", "message"), [
    ([0, 1], r"classes has shape \(2,\); expected one class per image \(3,\)"),
    ([[0, 1, 2]], r"expected one class per image \(3,\)"),
    ([0, 3, 1], r"classes must lie in 0\.\.2; got \[0, 1, 3\]"),
    (-1, r"classes must lie in 0\.\.2; got \[-1\]"),
    ("largest", "classes must be None, 'predicted', an int or an array"),
])
def test_resolve_classes_rejects(classes, message):
    with pytest.raises(ValueError, match=message):
        resolve_classes(classes, np.zeros((3, 3)))


def test_cam_explains_the_class_asked_for_per_image():
    model = densenet64()
    x = random_images(3, 64, seed=5)
    every = class_activation_maps(model, x, all_classes=True, batch_size=2)
    rows = np.arange(3)
    for classes, expected in [(None, np.argmax(every.scores, axis=1)), (4, [4, 4, 4]),
                              ([4, 0, 1], [4, 0, 1]), (np.array([2, 2, 3]), [2, 2, 3])]:
        cam = class_activation_maps(model, x, classes, batch_size=2)
        np.testing.assert_array_equal(cam.classes, expected)
        np.testing.assert_array_equal(cam.maps, every.all_maps[rows, expected])
        assert cam.all_maps is None and cam.identity_error() <= _identity_tolerance(cam.scores)
    with pytest.raises(ValueError, match="expected one class per image"):
        class_activation_maps(model, x, [0, 1], batch_size=2)
    with pytest.raises(ValueError, match=r"must lie in 0\.\.4"):
        class_activation_maps(model, x, [0, 1, 5], batch_size=2)


# --------------------------------------------------------------------------------------------
# Grad-CAM


@pytest.mark.parametrize("which", ["densenet64", "tiny_tanh"])
def test_grad_cam_on_the_gap_head_is_cam_over_cells(which):
    if which == "densenet64":
        model, x, classes = densenet64(), random_images(3, 64, seed=6), [3, 0, 4]
    else:
        model, x, classes = tiny_model("tanh"), random_images(5, seed=6), [0, 1, 2, 2, 1]
    cam = class_activation_maps(model, x, classes, batch_size=2)
    h, w = cam.grid
    kernel = model.get_layer("class_scores").get_weights()[0]
    gc = grad_cam(model, x, classes, batch_size=2)
    assert np.min(cam.maps) < 0 < np.max(cam.maps)  # the ReLU has something to cut
    assert rel_error(gc.maps, np.maximum(cam.maps, 0.0) / (h * w)) <= REL
    assert rel_error(gc.alpha, kernel[:, classes].T / (h * w)) <= REL
    np.testing.assert_array_equal(gc.classes, classes)
    assert rel_error(gc.scores, cam.scores) <= REL
    signed = grad_cam(model, x, classes, relu=False, batch_size=2)
    assert rel_error(signed.maps, cam.maps / (h * w)) <= REL


# --------------------------------------------------------------------------------------------
# Saliency


@pytest.mark.parametrize("activation", ["tanh", "softplus", "linear"])
def test_reference_reimplements_the_tiny_model(activation):
    """The float64 reference is the Keras model (else its differences would prove nothing)."""
    model = tiny_model(activation)
    x = random_images(4, seed=7)
    features = _eager(keras.Model(model.input, model.get_layer("relu").output), x)[0]
    assert rel_error(features, reference_features(x, activation)) <= REL
    assert rel_error(class_scores(model, x), reference_scores(x, activation)) <= REL


@pytest.mark.parametrize("activation", ["tanh", "softplus"])
def test_saliency_equals_central_finite_differences(activation):
    model = tiny_model(activation)
    x = random_images(4, seed=8)
    reference = reference_scores(x, activation)
    for classes in [*range(TINY_CLASSES), [2, 0, 1, 2], None]:
        expected_classes = np.argmax(reference, axis=1) if classes is None else (
            np.broadcast_to(classes, (4,)))
        fd = reference_gradient(x, expected_classes, activation)
        out = saliency(model, x, classes, reduce="none", batch_size=3)
        np.testing.assert_array_equal(out.classes, expected_classes)
        # every pixel and channel of every image; float32 gradient vs float64 differences
        assert rel_error(out.gradients, fd) <= REL, classes
        np.testing.assert_array_equal(out.maps, out.gradients)
        assert rel_error(out.scores, reference) <= REL
    default = saliency(model, x, [2, 0, 1, 2], batch_size=3)
    np.testing.assert_array_equal(default.maps, np.abs(default.gradients).max(axis=-1))


def test_saliency_differentiates_the_score_not_the_probability(tanh_model):
    x = random_images(2, seed=9)
    fd = [reference_gradient(x, [c, c]) for c in range(TINY_CLASSES)]
    got = saliency(tanh_model, x, 0, reduce="none").gradients
    assert rel_error(got, fd[0]) <= REL
    # dP_0/dI = P_0 (dS_0/dI - sum_j P_j dS_j/dI): another map, which the check above tells apart
    p = np.exp(reference_scores(x))
    p /= p.sum(axis=1, keepdims=True)
    p = p[:, :, None, None, None]
    softmax_grad = p[:, 0] * (fd[0] - sum(p[:, j] * fd[j] for j in range(TINY_CLASSES)))
    assert rel_error(got, softmax_grad) > 0.1


def test_reduce_channels_on_known_numbers():
    grads = np.array([[[[1.0, -3.0, 2.0], [-4.0, 0.5, 3.0]],
                       [[0.25, -0.5, 0.125], [0.0, 0.0, -2.0]]]])  # (1, 2, 2, 3)
    expected = {
        "max_abs": [[[3.0, 4.0], [0.5, 2.0]]],
        "signed_max": [[[-3.0, -4.0], [-0.5, -2.0]]],
        "sum": [[[0.0, -0.5], [-0.125, -2.0]]],
    }
    assert set(REDUCTIONS) == {"max_abs", "signed_max", "sum", "none"}
    for how, value in expected.items():
        out = reduce_channels(grads, how)
        assert out.shape == (1, 2, 2) and out.dtype == np.float32
        np.testing.assert_array_equal(out, value)
    np.testing.assert_array_equal(reduce_channels(grads, "none"), grads)
    positive = reduce_channels(-grads, "signed_max")
    np.testing.assert_array_equal(positive, -np.asarray(expected["signed_max"]))
    with pytest.raises(ValueError, match="reduce must be one of"):
        reduce_channels(grads, "mean")


@pytest.mark.parametrize("channels", [1, 2, 3, 4])
def test_reduce_channels_equals_the_axis_reductions_on_ties_nan_and_inf(channels):
    """The reductions are element-wise over the channel planes; they give exactly the numbers of
    NumPy's reductions along the last axis: np.abs().max(), .sum() and the np.argmax of |g|
    (the first of equal magnitudes, NaN where a channel is NaN)."""
    rng = np.random.default_rng(12)
    # 4 x 130 x 131 = 68120 pixels: more than one block of pixels (the last one partial)
    grads = rng.normal(size=(4, 130, 131, channels)).astype(np.float32)
    grads[0] = np.round(grads[0])  # many equal magnitudes
    grads[1, :4, :, 0] = -grads[1, :4, :, -1]  # equal magnitudes of opposite signs
    grads[1, 4:6] = 0.0
    grads[2, 0, :5, min(1, channels - 1)] = np.nan
    grads[2, 1, :5] = np.nan
    grads[3, 0, :3, 0] = np.inf
    grads[3, 1, :3, -1] = -np.inf
    grads[3, -5:] = np.round(grads[3, -5:])  # in the last block too
    grads[3, -1, :7, -1] = np.nan
    expected = {
        "max_abs": np.abs(grads).max(axis=-1),
        "sum": grads.sum(axis=-1),
        "signed_max": np.take_along_axis(
            grads, np.abs(grads).argmax(axis=-1)[..., None], axis=-1)[..., 0],
    }
    for how, value in expected.items():
        out = reduce_channels(grads, how)
        assert out.shape == grads.shape[:-1] and out.dtype == np.float32, how
        np.testing.assert_array_equal(out, value, err_msg=how)
        # the sign of every entry too (assert_array_equal takes 0.0 == -0.0)
        np.testing.assert_array_equal(np.signbit(out), np.signbit(value), err_msg=how)


def test_maps_reject_bad_arguments(tanh_model):
    x = random_images(2, seed=10)
    with pytest.raises(ValueError, match="reduce must be one of"):
        saliency(tanh_model, x, 0, reduce="abs")
    with pytest.raises(ValueError, match=r"must lie in 0\.\.2"):
        saliency(tanh_model, x, [0, 3])
    with pytest.raises(ValueError, match="expected one class per image"):
        integrated_gradients(tanh_model, x, [0, 1, 2])
    with pytest.raises(ValueError, match="noise must have shape"):
        smoothgrad(tanh_model, x, 0, noise=np.zeros((2, 1, 8, 8, 3)))
    with pytest.raises(ValueError, match="steps must be positive"):
        integrated_gradients(tanh_model, x, 0, steps=0)


def test_batched_maps_equal_one_image_at_a_time(tanh_model):
    x = random_images(5, seed=11)
    classes = np.array([2, 0, 1, 1, 0])
    noise = np.random.default_rng(12).normal(0.0, 30.0, (2, *x.shape)).astype(np.float32)
    maps = {
        "saliency": lambda r, b: saliency(tanh_model, x[r], classes[r], batch_size=b).maps,
        "smoothgrad": lambda r, b: smoothgrad(tanh_model, x[r], classes[r], noise=noise[:, r],
                                              batch_size=b).maps,
        "ig": lambda r, b: integrated_gradients(tanh_model, x[r], classes[r], steps=3,
                                                batch_size=b).attributions,
        "cam": lambda r, b: class_activation_maps(tanh_model, x[r], classes[r], batch_size=b).maps,
        "grad_cam": lambda r, b: grad_cam(tanh_model, x[r], classes[r], batch_size=b).maps,
    }
    for name, compute in maps.items():
        batched = compute(slice(None), 2)  # 5 images in batches of 2: the last one padded
        single = np.concatenate([compute(slice(i, i + 1), 1) for i in range(5)])
        assert batched.shape[0] == 5
        assert rel_error(batched, single) <= 1e-6, name
    predicted = saliency(tanh_model, x, None, batch_size=2).classes
    np.testing.assert_array_equal(predicted, np.argmax(reference_scores(x), axis=1))


class _RowWise:
    """A stand-in for a sub-model and a gradient function: rows do not interact, and every
    batch's length is recorded (the shape a compiled step would be traced for)."""

    def __init__(self):
        self.sizes: list[int] = []

    @staticmethod
    def outputs(x):
        return [np.tanh(x[:, 0, 0, :]) * 3.0 + 1.0, x[:, -1, -1, :2] ** 2]

    def predict_on_batch(self, x):
        self.sizes.append(len(x))
        return self.outputs(x)

    def __call__(self, x, classes):
        self.sizes.append(len(x))
        return self.outputs(x)[0], x * (classes[:, None, None, None] + 1.0)


@pytest.mark.parametrize("batch_size", [1, 2, 8, 16, 12])
def test_short_calls_are_padded_to_few_shapes_and_keep_every_row(batch_size):
    from drlib.explain.graph import gradients_batched, predict_batched

    x = random_images(2 * batch_size + 1, seed=13)
    classes = np.arange(len(x), dtype=np.int32) % TINY_CLASSES
    model = _RowWise()
    for n in range(1, len(x) + 1):
        got = predict_batched(model, x[:n], batch_size)
        want = model.outputs(x[:n])
        for g, w in zip(got, want, strict=True):
            np.testing.assert_array_equal(g, w.astype(np.float32))
        y, grads = gradients_batched(model, x[:n], classes[:n], batch_size)
        np.testing.assert_array_equal(y, want[0])
        np.testing.assert_array_equal(grads, x[:n] * (classes[:n, None, None, None] + 1.0))
    # lengths 1..2 batch_size + 1 (short calls, full batches, a padded last batch) together
    # give each compiled step at most ceil(log2(batch_size)) + 1 shapes, not one per length
    assert len(set(model.sizes)) <= int(np.ceil(np.log2(batch_size))) + 1, sorted(set(model.sizes))
    assert max(model.sizes) == batch_size


def test_padded_short_calls_give_the_unpadded_results(tanh_model):
    from drlib.explain.graph import (
        gradients_batched,
        predict_batched,
        score_gradient_function,
        scores_model,
    )

    x = random_images(5, seed=14)
    classes = np.array([2, 0, 1, 1, 0], dtype=np.int32)
    sub, fn = scores_model(tanh_model), score_gradient_function(tanh_model)
    for n in (1, 3, 5):  # padded to 1, 4, 8 rows
        scores = predict_batched(sub, x[:n], 16)[0]
        y, grads = gradients_batched(fn, x[:n], classes[:n], 16)
        assert scores.shape == y.shape == (n, TINY_CLASSES) and grads.shape == x[:n].shape
        assert rel_error(scores, np.asarray(sub.predict_on_batch(x[:n]))) <= 1e-6  # unpadded
        plain_y, plain_grads = fn(x[:n], classes[:n])  # unpadded
        assert rel_error(y, plain_y) <= 1e-6 and rel_error(grads, plain_grads) <= 1e-6


# --------------------------------------------------------------------------------------------
# Integrated gradients


def test_integrated_gradients_are_exact_for_an_affine_model():
    model = tiny_model("linear")
    x = random_images(3, seed=13)
    # S is affine in I: its gradient is S(e_i) - S(0) for each pixel-channel e_i, in float64
    basis = np.eye(8 * 8 * 3).reshape(-1, 8, 8, 3)
    zero = reference_scores(np.zeros((1, 8, 8, 3)), "linear")
    w = (reference_scores(basis, "linear") - zero).reshape(8, 8, 3, TINY_CLASSES)
    classes = np.array([1, 2, 0])
    for baseline in [0.0, random_images(3, seed=14), 128.0]:
        ig = integrated_gradients(model, x, classes, baseline=baseline, steps=3, batch_size=4)
        expected = (x - np.broadcast_to(baseline, x.shape)) * np.moveaxis(w[..., classes], -1, 0)
        assert rel_error(ig.attributions, expected) <= REL
        np.testing.assert_allclose(ig.maps, ig.attributions.sum(axis=-1), rtol=1e-6, atol=1e-6)
        assert ig.completeness_error.max() <= REL


def test_integrated_gradients_are_the_trapezoid_of_the_saliency_gradients(tanh_model):
    x = random_images(3, seed=15)
    baseline = random_images(3, seed=16) * 0.5
    classes = [0, 2, 1]
    steps = 4
    ig = integrated_gradients(tanh_model, x, classes, baseline=baseline, steps=steps,
                              batch_size=4)  # 15 path points in batches of 4
    weights = np.array([0.5, 1.0, 1.0, 1.0, 0.5]) / steps
    average = sum(wk * saliency(tanh_model, baseline + (k / steps) * (x - baseline), classes,
                                reduce="none").gradients.astype(np.float64)
                  for k, wk in enumerate(weights))
    assert rel_error(ig.attributions, (x - baseline) * average) <= REL
    np.testing.assert_array_equal(ig.classes, classes)


def test_integrated_gradients_endpoints_are_forward_passes(tanh_model):
    x = random_images(4, seed=17)
    baseline = np.full_like(x, 40.0)
    ig = integrated_gradients(tanh_model, x, None, baseline=baseline, steps=5, batch_size=4)
    s, s0 = reference_scores(x), reference_scores(baseline)
    rows = np.arange(4)
    np.testing.assert_array_equal(ig.classes, np.argmax(s, axis=1))
    scale = np.abs(s).max()
    assert np.abs(ig.scores - s[rows, ig.classes]).max() <= REL * scale
    assert np.abs(ig.baseline_scores - s0[rows, ig.classes]).max() <= REL * scale
    gap = ig.attributions.astype(np.float64).sum(axis=(1, 2, 3)) - (ig.scores - ig.baseline_scores)
    np.testing.assert_allclose(ig.completeness_gap, gap, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(ig.completeness_error,
                               np.abs(gap) / np.abs(ig.scores - ig.baseline_scores), rtol=1e-9)


def test_integrated_gradients_completeness_error_shrinks_as_one_over_steps_squared(tanh_model):
    x = random_images(4, seed=0)
    classes = [0, 1, 2, 1]
    coarse = integrated_gradients(tanh_model, x, classes, steps=16).completeness_error
    fine = integrated_gradients(tanh_model, x, classes, steps=32).completeness_error
    assert fine.max() < 1e-3  # well within "a few percent"
    # the trapezoid rule's error is O(1 / steps^2): doubling the steps divides it by ~4
    # (a Riemann sum, O(1 / steps), would only halve it)
    assert np.all(fine * 3.0 < coarse), (coarse, fine)


# --------------------------------------------------------------------------------------------
# SmoothGrad


def test_smoothgrad_is_the_mean_gradient_over_the_given_noise(tanh_model):
    x = random_images(3, seed=18)
    noise = np.random.default_rng(19).normal(0.0, 40.0, (4, *x.shape)).astype(np.float32)
    clean = np.argmax(reference_scores(x), axis=1)
    grads = [saliency(tanh_model, x + n, clean, reduce="none").gradients for n in noise]
    for magnitude in (True, False):
        out = smoothgrad(tanh_model, x, None, noise=noise, magnitude=magnitude, batch_size=2)
        expected = np.mean([np.abs(g) if magnitude else g for g in grads], axis=0)
        np.testing.assert_array_equal(out.classes, clean)  # chosen on the clean image
        assert rel_error(out.gradients, expected) <= REL
        np.testing.assert_array_equal(out.maps, np.abs(out.gradients).max(axis=-1))
        assert rel_error(out.scores, reference_scores(x)) <= REL
    # the average of |g| is not |average g|: the noise matters
    assert rel_error(np.abs(np.mean(grads, axis=0)), np.mean(np.abs(grads), axis=0)) > 0.01
    summed = smoothgrad(tanh_model, x, clean, noise=noise, reduce="sum")
    assert rel_error(summed.maps, np.mean(np.abs(grads), axis=0).sum(axis=-1)) <= REL


def test_smoothgrad_noise_has_the_stated_sigma_per_image():
    x = np.stack([
        random_images(1, 16, seed=20)[0],  # range ~0..255
        100.0 + random_images(1, 16, seed=21)[0] / 5.1,  # range ~100..150
        np.full((16, 16, 3), 77.0, np.float32),  # constant: no noise
    ]).astype(np.float32)
    noise = smoothgrad_noise(x, samples=32, noise_level=0.15, seed=4)
    assert noise.shape == (32, 3, 16, 16, 3) and noise.dtype == np.float32
    n = noise[:, 0].size
    for i in range(3):
        sigma = 0.15 * (x[i].max() - x[i].min())
        values = noise[:, i].astype(np.float64)
        if sigma == 0:
            assert np.all(values == 0)
            continue
        # 24576 draws: the sample std's standard error is sigma / sqrt(2 n) ~ 0.45 %
        assert abs(values.std() / sigma - 1.0) < 0.02, i
        assert abs(values.mean()) < 4.0 * sigma / np.sqrt(n)
    np.testing.assert_array_equal(noise, smoothgrad_noise(x, 32, 0.15, seed=4))
    assert not np.array_equal(noise, smoothgrad_noise(x, 32, 0.15, seed=5))


def test_smoothgrad_draws_its_noise_with_smoothgrad_noise(tanh_model):
    x = random_images(2, seed=22)
    drawn = smoothgrad(tanh_model, x, [1, 2], samples=3, noise_level=0.1, seed=7)
    given = smoothgrad(tanh_model, x, [1, 2], noise=smoothgrad_noise(x, 3, 0.1, seed=7))
    np.testing.assert_array_equal(drawn.gradients, given.gradients)
    other = smoothgrad(tanh_model, x, [1, 2], samples=3, noise_level=0.1, seed=8)
    assert rel_error(other.gradients, given.gradients) > 1e-3


# --------------------------------------------------------------------------------------------
# From the grid to pixels


def test_upsampling_modes_and_normalisation_on_known_numbers():
    grid = np.array([[0.0, 1.0], [2.0, 3.0]])  # value = 2 row + column
    # "cell": values at cell centres (half-pixel bilinear, edges held): 0, 1/4, 3/4, 1 per axis
    r = np.array([0.0, 0.25, 0.75, 1.0])
    np.testing.assert_allclose(upsample_maps(grid, 4), 2 * r[:, None] + r[None, :], atol=1e-6)
    # "corners": the grid's corners on the corner pixels: 0, 1/3, 2/3, 1 per axis
    r = np.array([0.0, 1.0, 2.0, 3.0]) / 3
    corners = upsample_maps(np.stack([grid, -grid]), 4, mode="corners")
    assert corners.shape == (2, 4, 4) and corners.dtype == np.float32
    np.testing.assert_allclose(corners[0], 2 * r[:, None] + r[None, :], atol=1e-6)
    np.testing.assert_allclose(corners[1], -corners[0], atol=1e-6)
    assert upsample_maps(grid, (4, 6)).shape == (4, 6)
    with pytest.raises(ValueError, match="mode must be one of"):
        upsample_maps(grid, 4, mode="nearest")
    out = normalise_maps(np.array([[[1.0, 3.0], [5.0, 2.0]], [[-2.0, -2.0], [0.0, -1.0]]]))
    np.testing.assert_allclose(out, [[[0.0, 0.5], [1.0, 0.25]], [[0.0, 0.0], [1.0, 0.5]]],
                               rtol=1e-6)
