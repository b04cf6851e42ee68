"""Referable DR (grade >= 2): ROC, AUC and operating points against scikit-learn and brute force."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score
from sklearn.metrics import roc_curve as sk_roc_curve

from drlib.metrics.referable import (
    referable_labels,
    referable_roc,
    referable_score,
    roc_auc,
    roc_curve,
    sensitivity_at_specificity,
    specificity_at_sensitivity,
)


def _binary_case(rng: np.random.Generator, ties: bool) -> tuple[np.ndarray, np.ndarray]:
    n = int(rng.integers(2, 200))
    y = rng.random(n) < rng.uniform(0.1, 0.9)
    y[0], y[1] = True, False  # both classes present
    score = rng.normal(size=n) + 1.2 * y
    if ties:
        score = np.round(score, 1)  # many tied scores, across classes too
    return y, score


def test_roc_curve_matches_sklearn_with_and_without_dropping() -> None:
    rng = np.random.default_rng(0)
    for i in range(120):
        y, score = _binary_case(rng, ties=i % 2 == 0)
        for drop in (False, True):
            fpr, tpr, thr = roc_curve(y, score, drop_intermediate=drop)
            sk_fpr, sk_tpr, sk_thr = sk_roc_curve(y, score, drop_intermediate=drop)
            np.testing.assert_allclose(fpr, sk_fpr, rtol=0, atol=1e-12)
            np.testing.assert_allclose(tpr, sk_tpr, rtol=0, atol=1e-12)
            np.testing.assert_array_equal(thr, sk_thr)


def test_auc_matches_sklearn_including_ties() -> None:
    rng = np.random.default_rng(1)
    for i in range(150):
        y, score = _binary_case(rng, ties=i % 3 != 0)
        assert abs(roc_auc(y, score) - roc_auc_score(y, score)) <= 1e-12


def test_auc_ties_count_one_half() -> None:
    # every positive tied with every negative: AUC 0.5 exactly (Mann-Whitney)
    assert roc_auc([1, 0, 1, 0], [0.3, 0.3, 0.3, 0.3]) == 0.5
    # 1 positive above 2 negatives and tied with a third: (2 + 0.5) / 3
    assert roc_auc([1, 0, 0, 0], [0.5, 0.1, 0.2, 0.5]) == pytest.approx(2.5 / 3)


def test_one_absent_class_raises_a_clear_error() -> None:
    probs = np.full((3, 5), 0.2)
    with pytest.raises(ValueError, match="no referable"):
        referable_roc([0, 1, 1], probs)
    with pytest.raises(ValueError, match="no non-referable"):
        referable_roc([2, 3, 4], probs)
    with pytest.raises(ValueError, match="no referable"):
        roc_auc([0, 0], [0.1, 0.2])


def _rates(y: np.ndarray, score: np.ndarray, threshold: float) -> tuple[float, float]:
    called = score >= threshold
    return float(np.mean(called[y])), float(np.mean(~called[~y]))


@pytest.mark.parametrize("target", [0.0, 0.5, 0.9, 0.98, 1.0])
def test_sensitivity_at_specificity_is_the_best_admissible_threshold(target: float) -> None:
    rng = np.random.default_rng(2)
    for i in range(30):
        y, score = _binary_case(rng, ties=i % 2 == 0)
        point = sensitivity_at_specificity(y, score, target)
        sens, spec = _rates(y, score, point.threshold)
        assert (sens, spec) == pytest.approx((point.sensitivity, point.specificity))
        assert point.specificity >= target - 1e-12  # conservative
        # brute force over every possible threshold
        best = max(
            (_rates(y, score, t) for t in np.r_[np.inf, np.unique(score)]),
            key=lambda r: (r[0], r[1]) if r[1] >= target - 1e-12 else (-1.0, -1.0),
        )
        assert (point.sensitivity, point.specificity) == pytest.approx(best)


@pytest.mark.parametrize("target", [0.0, 0.5, 0.9, 0.975, 1.0])
def test_specificity_at_sensitivity_is_the_best_admissible_threshold(target: float) -> None:
    rng = np.random.default_rng(3)
    for i in range(30):
        y, score = _binary_case(rng, ties=i % 2 == 0)
        point = specificity_at_sensitivity(y, score, target)
        sens, spec = _rates(y, score, point.threshold)
        assert (sens, spec) == pytest.approx((point.sensitivity, point.specificity))
        assert point.sensitivity >= target - 1e-12
        best = max(
            (_rates(y, score, t) for t in np.r_[np.inf, np.unique(score)]),
            key=lambda r: (r[1], r[0]) if r[0] >= target - 1e-12 else (-1.0, -1.0),
        )
        assert (point.sensitivity, point.specificity) == pytest.approx(best)


def test_operating_points_by_hand() -> None:
    # negatives 0.1 0.2 0.3 0.8, positives 0.4 0.7 0.9
    y = np.array([0, 0, 0, 0, 1, 1, 1], dtype=bool)
    score = np.array([0.1, 0.2, 0.3, 0.8, 0.4, 0.7, 0.9])
    p = sensitivity_at_specificity(y, score, 0.75)  # one false positive allowed
    assert (p.threshold, p.sensitivity, p.specificity) == (0.4, 1.0, 0.75)
    p = sensitivity_at_specificity(y, score, 0.9)  # no false positive allowed
    assert (p.threshold, p.sensitivity, p.specificity) == (0.9, pytest.approx(1 / 3), 1.0)
    p = specificity_at_sensitivity(y, score, 0.3)  # one of three positives is enough
    assert (p.threshold, p.sensitivity, p.specificity) == (0.9, pytest.approx(1 / 3), 1.0)
    # two of three positives: thresholds 0.7 and 0.4 both give specificity 0.75; the tie goes
    # to the one with the higher sensitivity
    p = specificity_at_sensitivity(y, score, 0.6)
    assert (p.threshold, p.sensitivity, p.specificity) == (0.4, 1.0, 0.75)
    assert p.criterion == "sensitivity>=0.6" and p.target == 0.6


def test_referable_roc_from_grades_and_probs() -> None:
    rng = np.random.default_rng(4)
    y = rng.integers(0, 5, 300)
    logits = rng.normal(size=(300, 5))
    logits[np.arange(300), y] += 2.0
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    score = referable_score(probs)
    np.testing.assert_allclose(score, probs[:, 2] + probs[:, 3] + probs[:, 4])
    np.testing.assert_array_equal(referable_labels(y), y >= 2)
    roc = referable_roc(y, probs)
    assert roc.auc == pytest.approx(roc_auc_score(y >= 2, score), abs=1e-12)
    assert roc.n_referable == np.sum(y >= 2) and roc.n_non_referable == np.sum(y < 2)
    assert [p.criterion for p in roc.points] == [
        "specificity>=0.9",
        "specificity>=0.98",
        "sensitivity>=0.975",
    ]
    # the three operating points are the ones the search functions give on the same scores
    y_ref = y >= 2
    for point, expected in zip(roc.points, (
        sensitivity_at_specificity(y_ref, score, 0.9),
        sensitivity_at_specificity(y_ref, score, 0.98),
        specificity_at_sensitivity(y_ref, score, 0.975),
    ), strict=True):
        assert (point.threshold, point.sensitivity, point.specificity) == (
            expected.threshold, expected.sensitivity, expected.specificity)
    assert roc.points[0].sensitivity >= roc.points[1].sensitivity  # stricter spec, less sens
    assert roc.fpr[0] == 0 and roc.tpr[-1] == 1 and np.isinf(roc.thresholds[0])
    with pytest.raises(ValueError, match="300 grades but probs has 299"):
        referable_roc(y, probs[:-1])
