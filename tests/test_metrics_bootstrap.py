"""Bootstrap interval for kappa: seeded, vectorised, identical to a naive loop."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

import drlib.metrics.bootstrap as bootstrap
from drlib.metrics.bootstrap import (
    KappaInterval,
    bootstrap_indices,
    bootstrap_kappa,
    bootstrap_kappas,
)
from drlib.metrics.kappa import confusion_matrix, quadratic_weighted_kappa


def _graded(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.choice(5, n, p=[0.5, 0.15, 0.2, 0.08, 0.07])
    pred = np.clip(y + rng.choice([-2, -1, 0, 0, 0, 0, 1], n), 0, 4)
    return y, pred


def test_vectorised_kappas_equal_a_naive_sklearn_loop_on_the_same_resamples() -> None:
    y, pred = _graded(150, 1)
    kappas = bootstrap_kappas(y, pred, resamples=60, seed=11)
    idx = bootstrap_indices(150, 60, 11)
    assert idx.shape == (60, 150)
    naive = [
        cohen_kappa_score(y[i], pred[i], weights="quadratic", labels=list(range(5))) for i in idx
    ]
    np.testing.assert_allclose(kappas, naive, rtol=0, atol=1e-12)


def test_chunked_path_gives_the_same_kappas_as_the_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bootstrap, "_CHUNK_ELEMENTS", 1000)  # 10 resamples of 100 per chunk
    y, pred = _graded(100, 2)
    kappas = bootstrap_kappas(y, pred, resamples=35, seed=5)
    idx = bootstrap_indices(100, 35, 5)
    naive = [quadratic_weighted_kappa(y[i], pred[i]) for i in idx]
    np.testing.assert_allclose(kappas, naive, rtol=0, atol=1e-12)


def test_seeded_and_reproducible() -> None:
    y, pred = _graded(400, 3)
    a = bootstrap_kappa(y, pred, resamples=500, seed=7)
    b = bootstrap_kappa(y, pred, resamples=500, seed=7)
    c = bootstrap_kappa(y, pred, resamples=500, seed=8)
    assert a == b
    assert (a.low, a.high) != (c.low, c.high)
    assert isinstance(a, KappaInterval)
    assert {f.name for f in dataclasses.fields(a)} >= {
        "estimate",
        "low",
        "high",
        "resamples",
        "seed",
    }
    assert a.resamples == 500 and a.seed == 7 and a.level == 0.95 and a.n_undefined == 0


def test_interval_is_percentile_of_resampled_kappas_and_brackets_estimate() -> None:
    y, pred = _graded(500, 4)
    ci = bootstrap_kappa(y, pred, resamples=1000, seed=0, level=0.9)
    kappas = bootstrap_kappas(y, pred, resamples=1000, seed=0)
    low, high = np.percentile(kappas, [5, 95])
    assert (ci.low, ci.high) == (low, high)
    assert ci.estimate == quadratic_weighted_kappa(y, pred)
    assert ci.low < ci.estimate < ci.high


def test_interval_narrows_with_more_images() -> None:
    small = bootstrap_kappa(*_graded(200, 5), resamples=1000, seed=0)
    large = bootstrap_kappa(*_graded(3200, 5), resamples=1000, seed=0)
    # width scales like 1/sqrt(n): 16x the images, about a quarter of the width
    assert (large.high - large.low) < 0.5 * (small.high - small.low)


def test_degenerate_resamples_are_counted_not_silently_dropped() -> None:
    ci = bootstrap_kappa([0, 1], [0, 1], resamples=400, seed=0)
    # half the resamples draw the same image twice: 0/0 kappa; the others draw both images,
    # a perfect agreement (kappa 1). Which ones: the same seed's bootstrap_indices.
    rows = bootstrap_indices(2, 400, 0)
    same_image_twice = rows[:, 0] == rows[:, 1]
    assert ci.n_undefined == np.count_nonzero(same_image_twice) == 205
    np.testing.assert_array_equal(np.isnan(bootstrap_kappas([0, 1], [0, 1], 400, 0)),
                                  same_image_twice)
    assert ci.low == ci.high == 1.0
    with pytest.raises(ValueError, match="every bootstrap resample"):
        bootstrap_kappa([2, 2, 2], [2, 2, 2], resamples=10)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="resamples"):
        bootstrap_kappa([0, 1], [0, 1], resamples=0)
    with pytest.raises(ValueError, match="level"):
        bootstrap_kappa([0, 1], [0, 1], level=1.5)
    with pytest.raises(ValueError, match="y_pred has 3"):
        bootstrap_kappa([0, 1], [0, 1, 1])


# --------------------------------------------------------------------------- groups (patients)


def test_one_row_per_group_is_exactly_the_row_bootstrap() -> None:
    y, pred = _graded(120, 6)
    # labels in any order or type: groups are numbered by first appearance, so group g is row g
    for groups in (np.arange(120), np.arange(120)[::-1], [f"p{i}" for i in range(120)]):
        np.testing.assert_array_equal(
            bootstrap_kappas(y, pred, resamples=300, seed=9, groups=groups),
            bootstrap_kappas(y, pred, resamples=300, seed=9),
        )
        np.testing.assert_array_equal(
            np.stack(bootstrap_indices(120, 40, 9, groups=groups)), bootstrap_indices(120, 40, 9)
        )
    by_row = bootstrap_kappa(y, pred, resamples=300, seed=9)
    by_group = bootstrap_kappa(y, pred, resamples=300, seed=9, groups=np.arange(120))
    assert by_group == dataclasses.replace(by_row, n_groups=120)
    assert by_row.n_groups is None


def test_one_row_per_group_matches_the_rows_in_the_chunked_path_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(bootstrap, "_CHUNK_ELEMENTS", 1000)
    y, pred = _graded(100, 7)
    np.testing.assert_array_equal(
        bootstrap_kappas(y, pred, resamples=35, seed=5, groups=np.arange(100)),
        bootstrap_kappas(y, pred, resamples=35, seed=5),
    )


def test_groups_of_two_identical_rows_are_drawn_in_pairs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bootstrap, "_CHUNK_ELEMENTS", 1000)  # several chunks
    y, pred = _graded(60, 8)
    y2, pred2 = np.repeat(y, 2), np.repeat(pred, 2)  # rows 2i and 2i+1: the same eye twice
    groups = np.repeat(np.arange(60), 2)
    draws = bootstrap_indices(120, 50, 3, groups=groups)
    assert len(draws) == 50
    for rows in draws:
        assert rows.shape == (120,)  # 60 groups of 2 drawn
        np.testing.assert_array_equal(rows[0::2] % 2, 0)  # a group's first row...
        np.testing.assert_array_equal(rows[1::2], rows[0::2] + 1)  # ...and its second, together
    # so every resampled confusion matrix counts each cell an even number of times
    for rows in draws:
        assert not np.any(confusion_matrix(y2[rows], pred2[rows]) % 2)
    kappas = bootstrap_kappas(y2, pred2, resamples=50, seed=3, groups=groups)
    naive = [quadratic_weighted_kappa(y2[rows], pred2[rows]) for rows in draws]
    np.testing.assert_allclose(kappas, naive, rtol=0, atol=1e-12)
    # a pair drawn together is one draw of the underlying row: the same kappas as resampling
    # the 60 distinct rows with the same seed (doubling a confusion matrix keeps its kappa).
    # Chunks follow the number of rows (120 here, 60 there): compare in one chunk each.
    monkeypatch.undo()
    np.testing.assert_allclose(
        bootstrap_kappas(y2, pred2, resamples=50, seed=3, groups=groups),
        bootstrap_kappas(y, pred, resamples=50, seed=3),
        rtol=0, atol=1e-12,
    )


def test_groups_scattered_over_the_rows_are_drawn_whole() -> None:
    groups = np.array(["b", "a", "b", "c", "a", "b"])  # b: rows 0, 2, 5; a: 1, 4; c: 3
    rows_of = {"b": [0, 2, 5], "a": [1, 4], "c": [3]}
    for rows in bootstrap_indices(6, 30, 1, groups=groups):
        drawn, i = [], 0
        while i < len(rows):
            label = groups[rows[i]]
            assert list(rows[i : i + len(rows_of[label])]) == rows_of[label]
            drawn.append(label)
            i += len(rows_of[label])
        assert len(drawn) == 3  # as many groups drawn as there are


def test_pinned_interval_of_a_two_patient_case() -> None:
    # Patient A: both eyes graded right (0 -> 0, 2 -> 2). Patient B: both eyes called 1.
    # A resample of 2 patients is AA (p = 1/4, kappa 1), AB or BA (1/2, kappa 2/3: by hand,
    # mean weighted disagreement 1/32 observed against 3/32 expected) or BB (1/4, kappa 0:
    # constant predictions).
    y, pred, groups = [0, 2, 0, 2], [0, 2, 1, 1], ["A", "A", "B", "B"]
    kappas = bootstrap_kappas(y, pred, resamples=2000, seed=0, groups=groups)
    values, counts = np.unique(np.round(kappas, 12), return_counts=True)
    np.testing.assert_allclose(values, [0.0, 2 / 3, 1.0], rtol=0, atol=1e-12)
    np.testing.assert_allclose(counts / 2000, [0.25, 0.5, 0.25], atol=0.04)
    ci = bootstrap_kappa(y, pred, resamples=2000, seed=0, groups=groups)
    assert (ci.low, ci.high, ci.n_undefined, ci.n_groups) == (0.0, 1.0, 0, 2)
    assert ci.estimate == pytest.approx(2 / 3, abs=1e-12)
    narrow = bootstrap_kappa(y, pred, resamples=2000, seed=0, level=0.4, groups=groups)
    assert (narrow.low, narrow.high) == pytest.approx((2 / 3, 2 / 3), abs=1e-12)
    # resampling the four eyes one by one instead finds degenerate resamples (all one grade)
    assert bootstrap_kappa(y, pred, resamples=2000, seed=0).n_undefined > 0


def test_bad_groups() -> None:
    with pytest.raises(ValueError, match="one label per row"):
        bootstrap_kappa([0, 1, 2], [0, 1, 2], groups=[0, 1])
    with pytest.raises(ValueError, match="one label per row"):
        bootstrap_indices(3, 5, 0, groups=[[0, 1, 2]])
