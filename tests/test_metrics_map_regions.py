"""Region shares and agreement of explanation maps (drlib.metrics.map_regions), on hand-made
maps with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from drlib import metrics
from drlib.metrics import map_regions as mr
from drlib.metrics.bootstrap import bootstrap_indices

H = W = 4
LEFT = np.zeros((H, W), dtype=bool)
LEFT[:, :2] = True  # left half: 8 of 16 pixels
TOP = np.zeros((H, W), dtype=bool)
TOP[:2, :] = True  # top half
CORNER = np.zeros((H, W), dtype=bool)
CORNER[0, 0] = True  # one pixel: 1/16


def test_public_names_are_exported() -> None:
    for name in ("area_shares", "energy_enrichment", "energy_shares", "map_mass",
                 "mean_interval", "rank_correlation", "region_share_table", "top_overlap"):
        assert getattr(metrics, name) is getattr(mr, name)
        assert name in metrics.__all__


# --- mass and shares ----------------------------------------------------------------------------


def test_map_mass_modes() -> None:
    m = np.array([[-2.0, 0.0, 3.0]])
    np.testing.assert_array_equal(mr.map_mass(m), [[0.0, 0.0, 3.0]])
    np.testing.assert_array_equal(mr.map_mass(m, "absolute"), [[2.0, 0.0, 3.0]])
    with pytest.raises(ValueError, match="mode"):
        mr.map_mass(m, "square")


def test_map_equal_to_a_region_has_all_its_energy_there() -> None:
    maps = np.stack([LEFT, TOP]).astype(float)
    shares = mr.energy_shares(maps, {"left": LEFT, "top": TOP, "corner": CORNER})
    np.testing.assert_array_equal(shares["left"], [1.0, 0.5])
    np.testing.assert_array_equal(shares["top"], [0.5, 1.0])
    np.testing.assert_array_equal(shares["corner"], [1 / 8, 1 / 8])


def test_constant_map_has_energy_share_equal_to_area_share() -> None:
    maps = np.full((2, H, W), 0.3)
    regions = {"left": LEFT, "corner": CORNER}
    energy = mr.energy_shares(maps, regions)
    area = mr.area_shares(regions)
    np.testing.assert_allclose(energy["left"], [0.5, 0.5], rtol=0, atol=1e-15)
    np.testing.assert_allclose(energy["corner"], [1 / 16, 1 / 16], rtol=0, atol=1e-15)
    np.testing.assert_array_equal(area["left"], [0.5])  # (H, W) regions only: one row
    np.testing.assert_array_equal(area["corner"], [1 / 16])
    enrichment = mr.energy_enrichment(maps, regions)
    np.testing.assert_allclose(enrichment["left"], [1.0, 1.0], rtol=1e-12)
    np.testing.assert_allclose(enrichment["corner"], [1.0, 1.0], rtol=1e-12)


def test_map_concentrated_on_half_a_region() -> None:
    # mass only on the top-left quadrant: all of it in LEFT and in TOP, half of LEFT's pixels
    quadrant = LEFT & TOP
    maps = quadrant[None].astype(float)
    np.testing.assert_array_equal(mr.energy_shares(maps, {"left": LEFT})["left"], [1.0])
    np.testing.assert_array_equal(mr.energy_enrichment(maps, {"left": LEFT})["left"], [2.0])
    # 3 on the top-left quadrant, 1 on the bottom-right one: LEFT holds 12 of 16
    maps = (3.0 * quadrant + 1.0 * (~LEFT & ~TOP))[None]
    np.testing.assert_array_equal(mr.energy_shares(maps, {"left": LEFT})["left"], [0.75])
    np.testing.assert_array_equal(mr.energy_enrichment(maps, {"left": LEFT})["left"], [1.5])


def test_positive_and_absolute_mass_give_different_shares() -> None:
    m = np.zeros((1, H, W))
    m[0, 0, 0] = 1.0  # in LEFT
    m[0, 0, 3] = -3.0  # outside LEFT
    assert mr.energy_shares(m, {"left": LEFT})["left"][0] == 1.0
    assert mr.energy_shares(m, {"left": LEFT}, mode="absolute")["left"][0] == 0.25


def test_within_restricts_mass_and_area() -> None:
    within = np.zeros((H, W), dtype=bool)
    within[:, 1:3] = True  # 8 pixels: column 1 (in LEFT) and column 2 (not)
    maps = np.ones((1, H, W))
    maps[0, :, 0] = 100.0  # huge but outside within: must not count
    maps[0, :, 1] = 3.0
    energy = mr.energy_shares(maps, {"left": LEFT}, within=within)
    area = mr.area_shares({"left": LEFT}, within=within[None])
    np.testing.assert_array_equal(energy["left"], [0.75])  # 12 / (12 + 4)
    np.testing.assert_array_equal(area["left"], [0.5])
    np.testing.assert_array_equal(
        mr.energy_enrichment(maps, {"left": LEFT}, within=within)["left"], [1.5]
    )


def test_per_image_regions_and_undefined_shares() -> None:
    maps = np.stack([np.ones((H, W)), -np.ones((H, W))])  # second: no positive mass
    regions = np.stack([CORNER, np.zeros((H, W), dtype=bool)])  # second: empty region
    energy = mr.energy_shares(maps, {"r": regions})["r"]
    assert energy[0] == 1 / 16 and np.isnan(energy[1])
    area = mr.area_shares({"r": regions})["r"]
    np.testing.assert_array_equal(area, [1 / 16, 0.0])
    enrichment = mr.energy_enrichment(maps, {"r": regions})["r"]
    assert enrichment[0] == pytest.approx(1.0) and np.isnan(enrichment[1])
    # a 0/1 integer mask is a boolean mask
    np.testing.assert_array_equal(
        mr.energy_shares(maps, {"r": regions.astype(np.uint8)})["r"], energy
    )


def test_shape_errors_name_the_argument_and_shapes() -> None:
    maps = np.ones((2, H, W))
    with pytest.raises(ValueError, match=r"maps must have shape \(N, H, W\), got shape \(4, 4\)"):
        mr.energy_shares(np.ones((H, W)), {"left": LEFT})
    with pytest.raises(ValueError, match=r"regions\['bad'\].*\(2, 4, 4\).*got shape \(3, 3\)"):
        mr.energy_shares(maps, {"bad": np.ones((3, 3), dtype=bool)})
    with pytest.raises(ValueError, match=r"within.*\(2, 4, 4\).*got shape \(3, 4, 4\)"):
        mr.energy_enrichment(maps, {"left": LEFT}, within=np.ones((3, H, W), dtype=bool))
    with pytest.raises(ValueError, match=r"regions\['x'\].*got shape \(3, 4, 4\)"):
        mr.area_shares({"left": np.ones((2, H, W), bool), "x": np.ones((3, H, W), bool)})
    with pytest.raises(ValueError, match="boolean"):
        mr.energy_shares(maps, {"left": LEFT * 0.5})
    with pytest.raises(ValueError, match=r"a \(2, 4, 4\) and b \(1, 4, 4\)"):
        mr.rank_correlation(maps, maps[:1])
    with pytest.raises(ValueError, match=r"a \(2, 4, 4\) and b \(2, 4, 3\)"):
        mr.top_overlap(maps, maps[:, :, :3])
    with pytest.raises(ValueError, match=r"grades.*\(2,\).*got shape \(3,\)"):
        mr.region_share_table(maps, {"left": LEFT}, grades=[0, 1, 2])


# --- agreement of two maps ----------------------------------------------------------------------


def test_rank_correlation_of_a_map_with_itself_and_its_negative() -> None:
    rng = np.random.default_rng(1)
    a = rng.normal(size=(3, 8, 8))
    np.testing.assert_allclose(mr.rank_correlation(a, a), [1.0, 1.0, 1.0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(mr.rank_correlation(a, -a), [-1.0] * 3, rtol=0, atol=1e-12)
    # ranks only: a monotone transform changes nothing
    np.testing.assert_allclose(mr.rank_correlation(a, np.exp(a)), [1.0] * 3, atol=1e-12)
    # a constant map has no ranking
    assert np.isnan(mr.rank_correlation(np.ones((1, 4, 4)), a[:1, :4, :4])[0])


def test_rank_correlation_equals_scipy_spearmanr_with_ties_and_within() -> None:
    rng = np.random.default_rng(2)
    a = np.round(rng.normal(size=(4, 9, 7)), 1)  # rounding makes many ties
    b = np.round(a + rng.normal(size=a.shape), 1)
    within = rng.random(a.shape) < 0.6
    ours = mr.rank_correlation(a, b)
    ours_within = mr.rank_correlation(a, b, within=within)
    for i in range(a.shape[0]):
        assert ours[i] == pytest.approx(stats.spearmanr(a[i].ravel(), b[i].ravel())[0], abs=1e-12)
        expected = stats.spearmanr(a[i][within[i]], b[i][within[i]])[0]
        assert ours_within[i] == pytest.approx(expected, abs=1e-12)
    assert np.all(np.abs(ours) < 1.0) and not np.allclose(ours, ours_within)


def test_average_ranks_match_scipy_rankdata() -> None:
    values = np.array([3.0, 1.0, 3.0, 2.0, 3.0, 1.0])
    np.testing.assert_array_equal(mr._average_ranks(values), stats.rankdata(values))
    np.testing.assert_array_equal(mr._average_ranks(values), [5.0, 1.5, 5.0, 3.0, 5.0, 1.5])


def test_top_overlap_identical_disjoint_and_partial() -> None:
    rng = np.random.default_rng(3)
    a = rng.random((2, 10, 10))
    np.testing.assert_array_equal(mr.top_overlap(a, a), [1.0, 1.0])
    left_hot = np.zeros((1, 10, 10))
    left_hot[0, :, :5] = 1.0
    # top 10% of each: the first 10 pixels of the hot half of each (row order); disjoint halves
    np.testing.assert_array_equal(mr.top_overlap(left_hot, left_hot[:, :, ::-1]), [0.0])
    # one row of ten: top 20% is 2 pixels; {0, 1} and {1, 2} share one of three
    x = np.array([[[9.0, 8.0, 7.0, 0, 0, 0, 0, 0, 0, 0]]])
    y = np.array([[[0.0, 8.0, 9.0, 0, 0, 0, 0, 0, 0, 0]]])
    assert mr.top_overlap(x, y, fraction=0.2)[0] == pytest.approx(1 / 3)
    assert mr.top_overlap(x, y, fraction=0.1)[0] == 0.0
    # within: only pixels 0..2 count; top 1 of 3 is {0} vs {2}, top 2 of 3 {0, 1} vs {1, 2}
    within = np.zeros((1, 1, 10), dtype=bool)
    within[0, 0, :3] = True
    assert mr.top_overlap(x, y, fraction=0.34, within=within)[0] == 0.0
    assert mr.top_overlap(x, y, fraction=2 / 3, within=within)[0] == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="fraction"):
        mr.top_overlap(x, y, fraction=0.0)


# --- intervals and the table --------------------------------------------------------------------


def test_mean_interval_on_a_known_sample() -> None:
    values = np.array([0.1, 0.2, np.nan, 0.6, 0.3])
    mean, low, high = mr.mean_interval(values, resamples=500, seed=4)
    assert mean == pytest.approx(0.3, abs=1e-15)
    assert low < mean < high
    defined = values[~np.isnan(values)]
    means = defined[bootstrap_indices(4, 500, 4)].mean(axis=1)
    assert (low, high) == pytest.approx(tuple(np.percentile(means, [2.5, 97.5])), abs=1e-15)
    assert mr.mean_interval(values, resamples=500, seed=4) == (mean, low, high)  # seeded


def test_mean_interval_shrinks_with_n_and_handles_degenerate_samples() -> None:
    rng = np.random.default_rng(5)
    small = rng.random(20)
    large = np.tile(small, 25)  # same mean, 25x the images
    m_small, lo_small, hi_small = mr.mean_interval(small)
    m_large, lo_large, hi_large = mr.mean_interval(large)
    assert m_small == pytest.approx(m_large, rel=1e-12)
    assert lo_small <= m_small <= hi_small and lo_large <= m_large <= hi_large
    assert hi_large - lo_large < 0.5 * (hi_small - lo_small)
    assert mr.mean_interval(np.array([0.4])) == (0.4, 0.4, 0.4)
    assert all(np.isnan(v) for v in mr.mean_interval(np.array([np.nan, np.nan])))
    with pytest.raises(ValueError, match=r"values must be 1-D, got shape \(2, 2\)"):
        mr.mean_interval(np.ones((2, 2)))
    with pytest.raises(ValueError, match="level"):
        mr.mean_interval(small, level=1.0)


def test_region_share_table_hand_computed() -> None:
    maps = np.zeros((4, 2, 2))
    maps[0] = [[1.0, 0.0], [0.0, 0.0]]  # grade 0: all in "left" and in "top"
    maps[1] = [[1.0, 1.0], [1.0, 1.0]]  # grade 0: half in each
    maps[2] = [[0.0, 0.0], [0.0, 2.0]]  # grade 1: none in either
    maps[3] = [[-1.0, 0.0], [0.0, 0.0]]  # grade 1: no positive mass -> left out (n counts it not)
    left = np.array([[True, False], [True, False]])
    top = np.array([[True, True], [False, False]])
    table = mr.region_share_table(maps, {"top": top, "left": left}, grades=[2, 2, 1, 1],
                                  resamples=2000, seed=0)
    assert list(table.columns) == list(mr.TABLE_COLUMNS)
    assert table["grade"].tolist() == [1, 1, 2, 2]
    assert table["region"].tolist() == ["top", "left", "top", "left"]  # the order of regions
    assert table["n"].tolist() == [1, 1, 2, 2]
    np.testing.assert_array_equal(table["energy_share"], [0.0, 0.0, 0.75, 0.75])
    np.testing.assert_array_equal(table["area_share"], [0.5, 0.5, 0.5, 0.5])
    np.testing.assert_array_equal(table["enrichment"], [0.0, 0.0, 1.5, 1.5])
    # grade 2's two shares are 1 and 0.5: resampled means are 0.5, 0.75 or 1
    np.testing.assert_array_equal(table["low"], [0.0, 0.0, 0.5, 0.5])
    np.testing.assert_array_equal(table["high"], [0.0, 0.0, 1.0, 1.0])
    # with a field of view leaving out the bottom-right pixel: grade 1 image 2 has no mass
    within = np.array([[True, True], [True, False]])
    table = mr.region_share_table(maps, {"left": left}, grades=[2, 2, 1, 1], within=within)
    row = table.set_index("grade").loc[2]
    assert row["n"] == 2
    assert row["energy_share"] == pytest.approx((1.0 + 2 / 3) / 2)
    assert row["area_share"] == pytest.approx(2 / 3)
    assert row["enrichment"] == pytest.approx(1.25)
    grade1 = table.set_index("grade").loc[1]
    assert grade1["n"] == 0 and np.isnan(grade1["energy_share"]) and np.isnan(grade1["low"])
    assert isinstance(table, pd.DataFrame)
