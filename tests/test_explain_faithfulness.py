"""Tests for drlib.explain.imputation and drlib.explain.faithfulness: ROAD's noisy linear
imputation, the removal order, and deletion / insertion curves on a model whose truth is known."""

from __future__ import annotations

import numpy as np
import pytest

from drlib.explain.imputation import (
    NEIGHBOUR_WEIGHTS,
    blur_fill,
    constant_fill,
    noisy_linear_impute,
)

SIDE = 16
REGION = np.zeros((SIDE, SIDE), dtype=bool)
REGION[4:10, 5:11] = True


@pytest.fixture(scope="module")
def region_model():
    """Class-0 score = (1/50) x the mean of the fixed pixel REGION (all channels), class 1 its
    negative: the region is the whole truth, so a map equal to it is perfect."""
    import keras

    import drlib  # noqa: F401 - sets the Keras backend first

    inputs = keras.Input((SIDE, SIDE, 3), name="image")
    flat = keras.layers.Flatten(name="flatten")(inputs)
    dense = keras.layers.Dense(2, name="class_scores")
    probabilities = keras.layers.Activation("softmax", name="probabilities")(dense(flat))
    model = keras.Model(inputs, probabilities)
    w = np.repeat(REGION.reshape(-1, 1), 3, axis=1).reshape(-1) / (3.0 * REGION.sum())
    kernel = (np.stack([w, -w], axis=1) / 50.0).astype(np.float32)
    dense.set_weights([kernel, np.zeros(2, dtype=np.float32)])
    return model


def region_images(n: int = 3, seed: int = 0) -> np.ndarray:
    """Dark textured background; the region 180 grey levels brighter."""
    rng = np.random.default_rng(seed)
    x = 20.0 + rng.normal(0.0, 5.0, (n, SIDE, SIDE, 3))
    x[:, REGION] += 180.0
    return x.astype(np.float32)


def region_score(images: np.ndarray) -> np.ndarray:
    """The region model's class-0 score, computed directly."""
    return np.asarray(images, dtype=np.float64)[:, REGION].mean(axis=(1, 2)) / 50.0


def _ramp(height: int = 12, width: int = 14) -> np.ndarray:
    yy, xx = np.mgrid[:height, :width].astype(np.float32)
    return np.stack([3 * yy + 2 * xx + 10, 5 * xx - yy + 100, 0.5 * yy], axis=-1)[None]


# --- imputation ---------------------------------------------------------------------------------


def test_road_imputation_preserves_the_image_outside_the_removed_pixels() -> None:
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (3, 12, 10, 3)).astype(np.float32)
    remove = rng.random((3, 12, 10)) < 0.4
    remove[1] = False  # nothing removed: the image comes back unchanged
    out = noisy_linear_impute(images, remove, seed=1)
    assert out.shape == images.shape and out.dtype == np.float32
    np.testing.assert_array_equal(out[~remove], images[~remove])
    np.testing.assert_array_equal(out[1], images[1])
    assert not np.allclose(out[remove], images[remove])  # removed pixels really replaced


def test_linear_imputation_of_a_ramp_is_exact_without_noise() -> None:
    # a plane is its own weighted neighbour mean: any removed pixels off the image border
    ramp = _ramp()
    remove = np.zeros(ramp.shape[:3], dtype=bool)
    remove[0, 2:9, 3:8] = True  # a big hole
    remove[0, 5, 5] = False  # with a kept pixel inside it
    remove[0, 3:5, 10:13] = True  # a second hole
    remove[0, 10, 1] = True  # a single pixel
    out = noisy_linear_impute(ramp, remove, noise_std=0.0)
    np.testing.assert_allclose(out, ramp, atol=1e-3)


def test_imputed_pixel_is_roads_weighted_mean_of_its_neighbours() -> None:
    rng = np.random.default_rng(3)
    image = rng.uniform(0, 255, (1, 6, 7, 3)).astype(np.float32)
    remove = np.zeros((1, 6, 7), dtype=bool)
    remove[0, 2, 3] = True  # interior: all 8 neighbours, weights 1/6 and 1/12 (sum 1)
    remove[0, 0, 0] = True  # corner: 3 neighbours, the mean over those in the image
    out = noisy_linear_impute(image, remove, noise_std=0.0)
    interior = sum(w * image[0, 2 + dy, 3 + dx] for (dy, dx), w in NEIGHBOUR_WEIGHTS)
    np.testing.assert_allclose(out[0, 2, 3], interior, rtol=1e-5)
    corner = (image[0, 0, 1] / 6 + image[0, 1, 0] / 6 + image[0, 1, 1] / 12) / (5 / 12)
    np.testing.assert_allclose(out[0, 0, 0], corner, rtol=1e-5)
    assert sum(w for _, w in NEIGHBOUR_WEIGHTS) == pytest.approx(1.0)


def test_road_noise_is_seeded_and_has_the_requested_size() -> None:
    ramp = np.repeat(_ramp(40, 40), 2, axis=0)
    remove = np.zeros(ramp.shape[:3], dtype=bool)
    remove[:, 5:35, 5:35] = True
    first = noisy_linear_impute(ramp, remove, noise_std=4.0, seed=7)
    np.testing.assert_array_equal(first, noisy_linear_impute(ramp, remove, noise_std=4.0, seed=7))
    assert not np.array_equal(first, noisy_linear_impute(ramp, remove, noise_std=4.0, seed=8))
    residual = (first - ramp)[remove]
    assert residual.std() == pytest.approx(4.0, rel=0.05)
    assert abs(residual.mean()) < 0.2


def test_every_pixel_removed_gives_the_channel_mean() -> None:
    ramp = _ramp()
    out = noisy_linear_impute(ramp, np.ones(ramp.shape[:3], dtype=bool), noise_std=0.0)
    np.testing.assert_allclose(out, np.broadcast_to(ramp.mean(axis=(1, 2), keepdims=True),
                                                    ramp.shape), rtol=1e-6)


def test_plain_fills() -> None:
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, (2, 9, 9, 3)).astype(np.float32)
    remove = rng.random((2, 9, 9)) < 0.5
    black = constant_fill(images, remove)
    assert (black[remove] == 0).all() and np.array_equal(black[~remove], images[~remove])
    mean = constant_fill(images, remove, "mean")
    np.testing.assert_allclose(mean[1][remove[1]],
                               np.broadcast_to(images[1].mean(axis=(0, 1)), (remove[1].sum(), 3)),
                               rtol=1e-5)
    grey = constant_fill(images, remove[0], (1.0, 2.0, 3.0))  # one (H, W) mask for all images
    assert (grey[:, remove[0]] == np.array([1.0, 2.0, 3.0], np.float32)).all()
    blurred = blur_fill(images, remove, sigma=2.0)
    assert np.array_equal(blurred[~remove], images[~remove])
    assert blurred[remove].std() < images[remove].std() / 2  # smoother than the image
    with pytest.raises(ValueError, match="remove must have shape"):
        noisy_linear_impute(images, remove[:, :5])


# --- the order ----------------------------------------------------------------------------------


def test_removal_order_is_highest_first_inside_within() -> None:
    from drlib.explain.faithfulness import removal_order

    maps = np.array([[[0.1, 0.9, 0.5], [0.7, np.nan, 0.3]]])
    ranks = removal_order(maps)
    np.testing.assert_array_equal(ranks[0], [[4, 0, 2], [1, 5, 3]])
    within = np.array([[True, True, False], [True, True, True]])
    ranks = removal_order(maps, within)
    np.testing.assert_array_equal(ranks[0], [[3, 0, 6], [1, 4, 2]])  # 6 = H W: never removed
    ties = np.zeros((2, 8, 8))
    by_position = removal_order(ties)
    np.testing.assert_array_equal(by_position[0].ravel(), np.arange(64))
    a, b = removal_order(ties, seed=1), removal_order(ties, seed=1)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, by_position)
    assert sorted(a[1].ravel()) == list(range(64))
    shuffled = removal_order(None, shape=(2, 8, 8), seed=5)
    np.testing.assert_array_equal(shuffled, removal_order(None, shape=(2, 8, 8), seed=5))
    assert not np.array_equal(shuffled[0], shuffled[1])


# --- the curves ---------------------------------------------------------------------------------


@pytest.mark.parametrize("fill", ["road", "black"])
def test_the_deletion_curve_of_a_perfect_map_falls_first(region_model, fill: str) -> None:
    from drlib.explain.faithfulness import compare_orders, deletion_curve, random_baseline

    images = region_images()
    perfect = np.broadcast_to(REGION, images.shape[:3]).astype(np.float32)
    best = deletion_curve(region_model, images, perfect, 0, fill=fill)
    inverted = deletion_curve(region_model, images, -perfect, 0, fill=fill)
    random = random_baseline(region_model, images, 0, fill=fill, repeats=2, seed=3)
    assert random.order == "random" and random.repeats == 2 and best.order == "map"
    assert (best.auc < random.auc - 0.25).all()
    assert (random.auc < inverted.auc - 0.25).all()
    table = compare_orders({"map": best, "random": random, "inverted": inverted})
    assert list(table.columns) == ["map", "random", "inverted"] and len(table) == 3
    np.testing.assert_array_equal(table["random"], random.auc)
    # the region is 36 of 256 pixels: after 20 % in map order it is gone, in inverted order
    # it is untouched
    at = list(best.fractions).index(0.2)
    assert (best.scores[:, at] < 0.3 * best.scores[:, 0]).all()
    np.testing.assert_allclose(inverted.scores[:, at], inverted.scores[:, 0], rtol=1e-5)


@pytest.mark.parametrize("fill", ["road", "blur"])
def test_the_insertion_curve_of_a_perfect_map_rises_first(region_model, fill: str) -> None:
    from drlib.explain.faithfulness import insertion_curve, random_baseline

    images = region_images()
    perfect = np.broadcast_to(REGION, images.shape[:3]).astype(np.float32)
    best = insertion_curve(region_model, images, perfect, 0, fill=fill)
    inverted = insertion_curve(region_model, images, -perfect, 0, fill=fill)
    random = random_baseline(region_model, images, 0, kind="insertion", fill=fill, seed=3)
    assert best.kind == "insertion" and random.kind == "insertion"
    assert (best.auc > random.auc + 0.25).all()
    assert (random.auc > inverted.auc + 0.25).all()


def test_curve_end_points_are_the_original_and_the_fully_filled_scores(region_model) -> None:
    from drlib.explain.faithfulness import deletion_curve, insertion_curve

    images = region_images()
    maps = np.random.default_rng(0).random(images.shape[:3])
    within = np.zeros((SIDE, SIDE), dtype=bool)
    within[2:14, 2:14] = True  # e.g. the field of view: the rest is never removed
    fractions = [0.0, 0.25, 0.5, 1.0]
    for fill, filled in (("black", constant_fill(images, within, 0.0)),
                         ("mean", constant_fill(images, within, "mean")),
                         ("road", noisy_linear_impute(images, within, noise_std=0.0))):
        kw = dict(fractions=fractions, fill=fill, within=within, noise_std=0.0)
        deletion = deletion_curve(region_model, images, maps, None, **kw)
        insertion = insertion_curve(region_model, images, maps, None, **kw)
        original, empty = region_score(images), region_score(filled)
        np.testing.assert_allclose(deletion.scores[:, 0], original, rtol=1e-4)
        np.testing.assert_allclose(deletion.scores[:, -1], empty, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(insertion.scores[:, 0], empty, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(insertion.scores[:, -1], original, rtol=1e-4)
    assert (deletion.classes == 0).all()  # "predicted": class 0 has the positive score
    np.testing.assert_array_equal(deletion.pixels, [[0, 36, 72, 144]] * 3)
    # the probability is the softmax of the two scores S_0 = s, S_1 = -s
    np.testing.assert_allclose(deletion.probabilities,
                               1 / (1 + np.exp(-2 * deletion.scores.astype(np.float64))),
                               rtol=1e-5)
    # each image's own class: class 1's score is -s
    mixed = deletion_curve(region_model, images, maps, [0, 1, 0], **kw)
    np.testing.assert_allclose(mixed.scores, [[1], [-1], [1]] * deletion.scores, rtol=1e-5)
    auc = np.trapezoid(deletion.scores, fractions, axis=1)
    np.testing.assert_allclose(deletion.auc, auc, rtol=1e-6)
    frame = deletion.to_frame()
    assert len(frame) == 12 and set(frame["fraction"]) == set(fractions)


def test_curves_do_not_depend_on_the_batch_size(region_model) -> None:
    from drlib.explain.faithfulness import deletion_curve, perturbed_images

    images = region_images(2)
    maps = np.random.default_rng(1).random(images.shape[:3])
    curves = [deletion_curve(region_model, images, maps, 0, batch_size=b, seed=4)
              for b in (1, 5, 64)]
    for other in curves[1:]:
        np.testing.assert_allclose(other.scores, curves[0].scores, rtol=1e-5)
    shown = perturbed_images(images, maps, seed=4)  # what the model saw, noise included
    assert shown.shape == (2, 11, SIDE, SIDE, 3)
    np.testing.assert_allclose(region_score(shown.reshape(-1, SIDE, SIDE, 3)).reshape(2, 11),
                               curves[0].scores, rtol=1e-4, atol=1e-5)


def test_bad_arguments_are_clear_errors(region_model) -> None:
    from drlib.explain.faithfulness import deletion_curve

    images = region_images(1)
    with pytest.raises(ValueError, match="upsample"):
        deletion_curve(region_model, images, np.zeros((1, 4, 4)))
    with pytest.raises(ValueError, match="fill must be one of"):
        deletion_curve(region_model, images, None, fill="zero")
    with pytest.raises(ValueError, match="fractions must increase"):
        deletion_curve(region_model, images, None, fractions=[0.5, 0.2])
