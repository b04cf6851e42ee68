"""Bootstrap interval for kappa: seeded, vectorised, identical to a naive loop."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

import drlib.bootstrap as bootstrap
from drlib.bootstrap import KappaInterval, bootstrap_indices, bootstrap_kappa, bootstrap_kappas
from drlib.kappa import quadratic_weighted_kappa


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
    # half the resamples draw the same image twice: 0/0 kappa
    assert 100 < ci.n_undefined < 300
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
