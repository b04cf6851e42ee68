"""Localisation scores of explanation maps against lesion masks (drlib.metrics.localisation):
the mask as map scores perfectly, its complement scores 0, a random map scores at chance."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from drlib import metrics
from drlib.metrics import localisation as loc
from drlib.metrics.map_regions import mean_interval

SCORERS = (
    loc.pointing_game, loc.relevance_mass_accuracy, loc.relevance_rank_accuracy, loc.pixel_auc,
)


def _blob_masks(n: int = 6, size: int = 16, seed: int = 3) -> np.ndarray:
    """n masks of random rectangles, each less than half the image, none empty."""
    rng = np.random.default_rng(seed)
    masks = np.zeros((n, size, size), dtype=bool)
    for i in range(n):
        r, c = rng.integers(0, size - 6, 2)
        h, w = rng.integers(1, 7, 2)
        masks[i, r:r + h, c:c + w] = True
    return masks


def test_public_names_are_exported() -> None:
    for name in ("centre_bias_maps", "localisation_scores", "localisation_table", "pixel_auc",
                 "pointing_game", "random_maps", "relevance_mass_accuracy",
                 "relevance_rank_accuracy", "scaled_tolerance"):
        assert getattr(metrics, name) is getattr(loc, name)
        assert name in metrics.__all__


# --- ceiling and floor --------------------------------------------------------------------------


def test_the_mask_as_map_scores_perfectly() -> None:
    masks = _blob_masks()
    maps = masks.astype(float)
    for scorer in SCORERS:
        np.testing.assert_array_equal(scorer(maps, masks), np.ones(len(masks)), scorer.__name__)
    np.testing.assert_array_equal(loc.pointing_game(maps, masks, tolerance_px=5.0), 1.0)


def test_the_complement_of_the_mask_scores_zero() -> None:
    masks = _blob_masks()
    maps = (~masks).astype(float)
    for scorer in SCORERS:
        np.testing.assert_array_equal(scorer(maps, masks), np.zeros(len(masks)), scorer.__name__)


# --- chance -------------------------------------------------------------------------------------

N_RANDOM, SIDE = 400, 32
QUARTER = np.zeros((SIDE, SIDE), dtype=bool)
QUARTER[:, :8] = True  # the 8 left columns: area share p = 1/4, n1 = 256 of n = 1024 pixels


def test_random_maps_score_at_chance() -> None:
    """Uniform noise maps against a mask of area share p = 1/4, n = 1024 pixels, N = 400 images.

    Each bound is 4 standard errors of the mean over the N images (a false failure has
    probability ~6e-5 per score), from the null distribution of one image's score:
    pointing: Bernoulli(p), sd sqrt(p(1-p)) = 0.433;
    mass: a ratio of sums of U(0, 1), sd ~ sqrt(p(1-p) / (3n)) = 0.0078 (delta method);
    rank: hypergeometric count of K = n1 draws out of n with n1 successes, divided by K,
    sd sqrt(p(1-p)(n-K)/(n-1)/K) = 0.0234;
    AUC: Mann-Whitney without ties, sd sqrt((n + 1) / (12 n1 n0)) = 0.0208.
    """
    maps = loc.random_maps((N_RANDOM, SIDE, SIDE), seed=0)
    p, n, n1 = 0.25, SIDE * SIDE, 256
    n0 = n - n1
    sd = {
        "pointing": math.sqrt(p * (1 - p)),
        "mass": math.sqrt(p * (1 - p) / (3 * n)),
        "rank": math.sqrt(p * (1 - p) * (n - n1) / (n - 1) / n1),
        "auc": math.sqrt((n + 1) / (12 * n1 * n0)),
    }
    chance = {"pointing": p, "mass": p, "rank": p, "auc": 0.5}
    scores = loc.localisation_scores(maps, QUARTER)
    for name, expected in chance.items():
        bound = 4 * sd[name] / math.sqrt(N_RANDOM)
        assert abs(scores[name].mean() - expected) < bound, (name, scores[name].mean(), bound)
    # and the exact values of this seed (np.random.default_rng(0).random)
    assert scores["pointing"].sum() == 88  # 0.22
    np.testing.assert_allclose(scores["mass"].mean(), 0.250147031590655, rtol=1e-12)
    assert scores["rank"].sum() * n1 == 25658  # 0.25056640625 = 25658 / (256 * 400)
    np.testing.assert_allclose(scores["auc"].mean(), 0.500474599202474, rtol=1e-12)


def test_random_maps_are_seeded_uniform_noise() -> None:
    a = loc.random_maps((3, 5, 7), seed=4)
    assert a.shape == (3, 5, 7) and a.dtype == np.float64
    assert a.min() >= 0.0 and a.max() < 1.0
    np.testing.assert_array_equal(a, loc.random_maps((3, 5, 7), seed=4))
    np.testing.assert_array_equal(a, np.random.default_rng(4).random((3, 5, 7)))
    assert not np.array_equal(a, loc.random_maps((3, 5, 7), seed=5))


# --- pointing game ------------------------------------------------------------------------------


def test_pointing_tolerance_is_euclidean_distance_to_the_mask() -> None:
    mask = np.zeros((24, 24), dtype=bool)
    mask[10, 10] = True
    mask[20, 2] = True  # farther away: the nearest mask pixel counts
    straight = np.zeros((1, 24, 24))
    straight[0, 10, 13] = 1.0  # 3 px to the right of (10, 10)
    assert loc.pointing_game(straight, mask)[0] == 0.0
    assert loc.pointing_game(straight, mask, tolerance_px=2.0)[0] == 0.0
    assert loc.pointing_game(straight, mask, tolerance_px=2.999)[0] == 0.0
    assert loc.pointing_game(straight, mask, tolerance_px=3.0)[0] == 1.0
    assert loc.pointing_game(straight, mask, tolerance_px=15.0)[0] == 1.0
    diagonal = np.zeros((1, 24, 24))
    diagonal[0, 12, 12] = 1.0  # sqrt(8) = 2.83 px from (10, 10)
    assert loc.pointing_game(diagonal, mask, tolerance_px=2.8)[0] == 0.0
    assert loc.pointing_game(diagonal, mask, tolerance_px=2.85)[0] == 1.0


def test_pointing_ties_go_to_the_first_pixel_in_row_major_order() -> None:
    maps = np.zeros((1, 6, 6))
    maps[0, 2, 5] = maps[0, 3, 0] = 2.0  # (2, 5) comes first in row-major order
    at_first, at_second = np.zeros((6, 6), dtype=bool), np.zeros((6, 6), dtype=bool)
    at_first[2, 5] = at_second[3, 0] = True
    assert loc.pointing_game(maps, at_first)[0] == 1.0
    assert loc.pointing_game(maps, at_second)[0] == 0.0
    constant = np.full((1, 6, 6), 0.5)  # all tied: the maximum is pixel (0, 0)
    corner = np.zeros((6, 6), dtype=bool)
    corner[0, 0] = True
    assert loc.pointing_game(constant, corner)[0] == 1.0
    assert loc.pointing_game(constant, at_first)[0] == 0.0
    nan_first = maps.copy()
    nan_first[0, 0, 0] = np.nan  # NaN counts as lowest, never the maximum
    assert loc.pointing_game(nan_first, at_first)[0] == 1.0


def test_scaled_tolerance() -> None:
    assert loc.scaled_tolerance(224) == 15.0
    assert loc.scaled_tolerance(448) == 30.0
    assert loc.scaled_tolerance(512) == 15.0 * 512 / 224
    assert loc.scaled_tolerance(112, reference_px=10.0, reference_size=224) == 5.0
    for bad in (0, -224, float("nan")):
        with pytest.raises(ValueError, match="image_size"):
            loc.scaled_tolerance(bad)
    with pytest.raises(ValueError, match="reference_px"):
        loc.scaled_tolerance(224, reference_px=-1.0)


# --- mass and rank ------------------------------------------------------------------------------


def test_mass_accuracy_counts_positive_mass_only() -> None:
    mask = np.zeros((4, 4), dtype=bool)
    mask[0, :2] = True
    maps = np.zeros((1, 4, 4))
    maps[0, 0, 0] = 3.0  # in the mask
    maps[0, 3, 3] = 1.0  # outside
    maps[0, 2, 2] = -5.0  # negative: no mass
    np.testing.assert_array_equal(loc.relevance_mass_accuracy(maps, mask), [0.75])


def test_rank_accuracy_counts_the_top_k_and_breaks_ties_by_position() -> None:
    mask = np.zeros((1, 4), dtype=bool)
    mask[0, 1:3] = True  # K = 2
    maps = np.array([[[0.0, 5.0, 1.0, 3.0]]])  # top 2: pixels 1 (in) and 3 (out)
    np.testing.assert_array_equal(loc.relevance_rank_accuracy(maps, mask), [0.5])
    negative = maps - 10.0  # ranks, not mass: an all-negative map ranks the same
    np.testing.assert_array_equal(loc.relevance_rank_accuracy(negative, mask), [0.5])
    tied = np.array([[[1.0, 1.0, 1.0, 0.0]]])  # K = 2 of three tied pixels: 0 and 1 taken
    np.testing.assert_array_equal(loc.relevance_rank_accuracy(tied, mask), [0.5])
    later = np.array([[[0.0, 1.0, 1.0, 1.0]]])  # pixels 1 and 2: both in
    np.testing.assert_array_equal(loc.relevance_rank_accuracy(later, mask), [1.0])


# --- pixel AUC ----------------------------------------------------------------------------------


def test_pixel_auc_equals_sklearn_with_ties() -> None:
    rng = np.random.default_rng(11)
    maps = rng.integers(0, 4, (8, 9, 7)).astype(float)  # few values: many ties
    maps[0] = 2.0  # a constant map: 0.5
    masks = rng.random((8, 9, 7)) < 0.3
    within = rng.random((8, 9, 7)) < 0.8
    for inside in (None, within):
        got = loc.pixel_auc(maps, masks, inside)
        keep = np.ones_like(masks) if inside is None else inside
        expected = [roc_auc_score(masks[i][keep[i]], maps[i][keep[i]]) for i in range(8)]
        np.testing.assert_allclose(got, expected, rtol=1e-12, atol=0)
    assert loc.pixel_auc(maps, masks)[0] == 0.5
    # by hand: the mask pixel ties one of three others and beats two: (0.5 + 1 + 1) / 3
    one = np.array([[[1.0, 1.0, 0.0, 0.0]]])
    np.testing.assert_allclose(loc.pixel_auc(one, np.array([[1, 0, 0, 0]])), [5 / 6], rtol=1e-15)


# --- within -------------------------------------------------------------------------------------


def test_within_excludes_pixels() -> None:
    mask = np.zeros((4, 4), dtype=bool)
    mask[1, 1] = True
    within = np.ones((4, 4), dtype=bool)
    within[3, :] = False  # the bottom row is outside the field of view
    maps = np.zeros((1, 4, 4))
    maps[0, 3, 2] = 6.0  # the hottest pixel, outside
    maps[0, 1, 1] = 3.0  # the hottest inside: on the mask
    maps[0, 0, 3] = 1.0
    assert loc.pointing_game(maps, mask)[0] == 0.0
    assert loc.pointing_game(maps, mask, within=within)[0] == 1.0
    np.testing.assert_allclose(loc.relevance_mass_accuracy(maps, mask), [0.3], rtol=1e-15)
    np.testing.assert_array_equal(loc.relevance_mass_accuracy(maps, mask, within), [0.75])
    assert loc.relevance_rank_accuracy(maps, mask)[0] == 0.0
    assert loc.relevance_rank_accuracy(maps, mask, within)[0] == 1.0
    # AUC: 14 of 15 others below the mask pixel; inside, all 11 of 11
    np.testing.assert_allclose(loc.pixel_auc(maps, mask), [14 / 15], rtol=1e-15)
    assert loc.pixel_auc(maps, mask, within)[0] == 1.0
    # a mask pixel outside ``within`` does not count: the mask is empty there
    outside = np.zeros((4, 4), dtype=bool)
    outside[3, 2] = True
    for scorer, expected in zip(SCORERS, (1.0, 0.6, 1.0, 1.0), strict=True):
        np.testing.assert_allclose(scorer(maps, outside), [expected], rtol=1e-15)
        assert np.isnan(scorer(maps, outside, within=within)[0]), scorer.__name__


# --- undefined cases ----------------------------------------------------------------------------


def test_undefined_scores_are_nan() -> None:
    maps = loc.random_maps((3, 5, 5), seed=1)
    masks = np.zeros((3, 5, 5), dtype=bool)
    masks[1, 2, 2] = True
    masks[2] = True  # full
    assert np.isnan(loc.pointing_game(maps, masks)[0])
    assert np.isnan(loc.relevance_mass_accuracy(maps, masks)[0])
    assert np.isnan(loc.relevance_rank_accuracy(maps, masks)[0])
    np.testing.assert_array_equal(np.isnan(loc.pixel_auc(maps, masks)), [True, False, True])
    # a full mask is still a hit, all the mass and all the top pixels
    assert loc.pointing_game(maps, masks)[2] == 1.0
    assert loc.relevance_mass_accuracy(maps, masks)[2] == 1.0
    assert loc.relevance_rank_accuracy(maps, masks)[2] == 1.0
    # no positive mass: mass accuracy NaN, the others still defined
    negative = -maps
    assert np.isnan(loc.relevance_mass_accuracy(negative, masks)[1])
    assert not np.isnan(loc.pointing_game(negative, masks)[1])
    # NaN map values: a NaN AUC; an all-NaN map points nowhere
    holed = maps.copy()
    holed[1, 0, 0] = np.nan
    assert np.isnan(loc.pixel_auc(holed, masks)[1])
    assert np.isnan(loc.pointing_game(np.full((1, 5, 5), np.nan), masks[1])[0])


# --- baselines ----------------------------------------------------------------------------------


def test_centre_bias_maps() -> None:
    maps = loc.centre_bias_maps((2, 9, 9), sigma_fraction=0.25)
    assert maps.shape == (2, 9, 9)
    assert maps[0, 4, 4] == 1.0 and maps.max() == 1.0
    np.testing.assert_array_equal(maps[0], maps[0].T)  # isotropic, centred
    np.testing.assert_array_equal(maps[0], maps[0][::-1, ::-1])
    sigma = 0.25 * 9
    np.testing.assert_allclose(maps[0, 4, 0], math.exp(-(4**2) / (2 * sigma**2)), rtol=1e-15)
    moved = loc.centre_bias_maps((2, 8, 12), 0.5, centres=[[1.0, 2.0], [11.0, 7.0]])
    assert moved[0, 2, 1] == 1.0 and moved[1, 7, 11] == 1.0
    assert moved[0].argmax() == 2 * 12 + 1 and moved[1].argmax() == 7 * 12 + 11
    # sigma = 0.5 * min(8, 12) = 4 px: exp(-1/2) one sigma from the centre, either axis
    np.testing.assert_allclose(moved[0, 2, 5], math.exp(-0.5), rtol=1e-15)
    np.testing.assert_allclose(moved[0, 6, 1], math.exp(-0.5), rtol=1e-15)
    even = loc.centre_bias_maps((1, 4, 4))  # centre (1.5, 1.5): four tied pixels
    assert np.count_nonzero(even == even.max()) == 4
    centre = np.zeros((9, 9), dtype=bool)
    centre[3:6, 3:6] = True
    np.testing.assert_array_equal(loc.pointing_game(maps, centre), [1.0, 1.0])


# --- table --------------------------------------------------------------------------------------


def test_localisation_table() -> None:
    masks = _blob_masks(n=40, size=16)
    masks[39] = False  # no lesion: left out of every score and of n
    shifted = np.zeros(masks.shape)
    shifted[:, :, 2:] = masks[:, :, :-2]  # the mask moved 2 px to the right
    methods = {
        "lesion mask": masks.astype(float),
        "random": loc.random_maps(masks.shape, seed=2),
        "shifted": shifted + 0.01 * np.random.default_rng(0).random(masks.shape),
    }
    groups = np.arange(40) % 2
    table = loc.localisation_table(methods, masks, groups, tolerance_px=2.0, resamples=300,
                                   seed=7)
    assert list(table.columns) == list(loc.TABLE_COLUMNS)
    assert list(table.columns[:6]) == ["method", "group", "n", "pointing", "pointing_low",
                                       "pointing_high"]
    assert list(zip(table["method"], table["group"], table["n"], strict=True)) == [
        ("lesion mask", 0, 20), ("lesion mask", 1, 19), ("random", 0, 20), ("random", 1, 19),
        ("shifted", 0, 20), ("shifted", 1, 19),
    ]
    ceiling = table[table["method"] == "lesion mask"]
    for score in loc.SCORES:
        for suffix in ("", "_low", "_high"):
            np.testing.assert_array_equal(ceiling[score + suffix], 1.0)
    for method, maps in methods.items():
        scores = loc.localisation_scores(maps, masks, tolerance_px=2.0)
        for group in (0, 1):
            row = table[(table["method"] == method) & (table["group"] == group)].iloc[0]
            for score in loc.SCORES:
                expected = mean_interval(scores[score][groups == group], 300, 7)
                got = (row[score], row[score + "_low"], row[score + "_high"])
                np.testing.assert_array_equal(got, expected, f"{method} {group} {score}")
    random_auc = loc.pixel_auc(methods["random"], masks)[groups == 0]
    assert mean_interval(random_auc, 300, 8) != mean_interval(random_auc, 300, 7)  # seed matters
    # the mask moved by 2 px: every maximum within 2 px of the mask, not every one on it
    moved = table[table["method"] == "shifted"]
    assert moved["pointing_tol"].eq(1.0).all()
    assert (moved["pointing"] < 1.0).all()
    one = loc.localisation_table({"m": methods["random"]}, masks, resamples=50)
    assert one[["method", "group", "n"]].values.tolist() == [["m", "all", 39]]
    pd.testing.assert_series_equal(one["pointing"], one["pointing_tol"], check_names=False)


# --- errors -------------------------------------------------------------------------------------


def test_shape_and_argument_errors() -> None:
    maps = np.zeros((2, 4, 5))
    mask = np.zeros((4, 5), dtype=bool)
    for scorer in SCORERS:
        with pytest.raises(ValueError, match=r"maps must have shape \(N, H, W\), got shape \(4, 5"):
            scorer(maps[0], mask)
        with pytest.raises(ValueError, match=r"masks must have shape \(2, 4, 5\).*shape \(5, 4"):
            scorer(maps, mask.T)
        with pytest.raises(ValueError, match=r"within must have shape .*got shape \(3, 4, 5\)"):
            scorer(maps, mask, within=np.ones((3, 4, 5), dtype=bool))
        with pytest.raises(ValueError, match="masks must be a boolean mask"):
            scorer(maps, np.full((4, 5), 0.5))
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="tolerance_px"):
            loc.pointing_game(maps, mask, tolerance_px=bad)
    with pytest.raises(ValueError, match=r"shape must be \(N, H, W\)"):
        loc.random_maps((4, 5))
    with pytest.raises(ValueError, match=r"shape must be \(N, H, W\)"):
        loc.centre_bias_maps((0, 4, 5))
    with pytest.raises(ValueError, match="sigma_fraction"):
        loc.centre_bias_maps((1, 4, 5), sigma_fraction=0.0)
    with pytest.raises(ValueError, match=r"centres must have shape \(2, 2\).*got shape \(2,\)"):
        loc.centre_bias_maps((2, 4, 5), centres=[1.0, 2.0])
    with pytest.raises(ValueError, match="at least one method"):
        loc.localisation_table({}, mask)
    with pytest.raises(ValueError, match=r"maps_by_method\['b'\] must have the shape"):
        loc.localisation_table({"a": maps, "b": maps[:1]}, mask)
    with pytest.raises(ValueError, match=r"maps_by_method\['a'\] must have shape \(N, H, W\)"):
        loc.localisation_table({"a": maps[0]}, mask)
    with pytest.raises(ValueError, match=r"groups must have one label per image, shape \(2,\)"):
        loc.localisation_table({"a": maps}, mask, groups=[0, 1, 2])
