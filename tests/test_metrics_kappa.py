"""Quadratic weighted kappa, confusion matrix and per-grade rates against scikit-learn."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score, precision_score, recall_score
from sklearn.metrics import confusion_matrix as sk_confusion_matrix

from drlib.metrics.kappa import (
    N_GRADES,
    UndefinedKappaWarning,
    check_grades,
    confusion_matrix,
    kappa_from_confusion,
    quadratic_weighted_kappa,
    quadratic_weights,
)
from drlib.metrics.summary import accuracy, per_grade_precision, per_grade_recall

KAGGLE_PRIOR = np.array([25810, 2443, 5292, 873, 708]) / 35126


def _case(rng: np.random.Generator, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """One random (y_true, y_pred) pair of the given kind."""
    if kind == "tiny":
        n = int(rng.integers(1, 4))
        return rng.integers(0, 5, n), rng.integers(0, 5, n)
    n = int(rng.integers(5, 300))
    if kind == "uniform":
        return rng.integers(0, 5, n), rng.integers(0, 5, n)
    if kind == "missing":
        present = rng.choice(5, size=int(rng.integers(1, 4)), replace=False)
        return rng.choice(present, n), rng.choice(rng.permutation(present), n)
    if kind == "constant_pred":
        return rng.integers(0, 5, n), np.full(n, rng.integers(0, 5))
    if kind == "constant_true":
        return np.full(n, rng.integers(0, 5)), rng.integers(0, 5, n)
    if kind == "both_constant":
        return np.full(n, rng.integers(0, 5)), np.full(n, rng.integers(0, 5))
    if kind == "imbalanced":
        y = rng.choice(5, n, p=KAGGLE_PRIOR)
        noise = rng.choice([-1, 0, 0, 0, 1], n)
        return y, np.clip(y + noise, 0, 4)
    raise AssertionError(kind)


KINDS = (
    "tiny",
    "uniform",
    "missing",
    "constant_pred",
    "constant_true",
    "both_constant",
    "imbalanced",
)


def test_kappa_matches_sklearn_on_many_random_cases() -> None:
    rng = np.random.default_rng(20240601)
    n_cases = 0
    n_nan = 0
    for rep in range(40):
        for kind in KINDS:
            y_true, y_pred = _case(rng, kind)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ours = quadratic_weighted_kappa(y_true, y_pred)
                ref = cohen_kappa_score(
                    y_true, y_pred, weights="quadratic", labels=list(range(N_GRADES))
                )
            if np.isnan(ref):
                assert np.isnan(ours), (kind, rep, y_true, y_pred)
                n_nan += 1
            else:
                assert abs(ours - ref) <= 1e-12, (kind, rep, ours, ref)
            n_cases += 1
    assert n_cases >= 200
    assert n_nan > 0  # the degenerate case was exercised


def test_hand_computed_kappa_and_absent_grades_do_not_matter() -> None:
    # O = [[1, 1], [0, 2]], E = [[.5, 1.5], [.5, 1.5]]: kappa = 1 - 1/2 = 0.5, whether the
    # weights are 2x2 or 5x5 (grades 2-4 absent): the (K-1)^2 scale cancels.
    y_true, y_pred = [0, 0, 1, 1], [0, 1, 1, 1]
    assert quadratic_weighted_kappa(y_true, y_pred, n_classes=2) == pytest.approx(0.5, abs=1e-15)
    assert quadratic_weighted_kappa(y_true, y_pred) == pytest.approx(0.5, abs=1e-15)


def test_perfect_and_chance_agreement() -> None:
    y = np.arange(5).repeat(10)
    assert quadratic_weighted_kappa(y, y) == pytest.approx(1.0)
    # a constant prediction against varied truths agrees no better than chance: 0, not nan
    assert quadratic_weighted_kappa(y, np.full_like(y, 2)) == 0.0
    # complete reversal on a symmetric set gives -1
    assert quadratic_weighted_kappa(y, 4 - y) == pytest.approx(-1.0)


def test_degenerate_case_is_nan_with_warning_like_sklearn() -> None:
    with pytest.warns(UndefinedKappaWarning):
        assert np.isnan(quadratic_weighted_kappa([3, 3, 3], [3, 3, 3]))
    with pytest.warns(UndefinedKappaWarning):
        assert quadratic_weighted_kappa([1], [1], undefined=0.0) == 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # different constants: defined, no warning
        assert quadratic_weighted_kappa([1, 1], [2, 2]) == 0.0


def test_weights_definition() -> None:
    w = quadratic_weights(5)
    assert w.shape == (5, 5)
    assert np.all(np.diag(w) == 0)
    assert w[0, 4] == 1.0 and w[4, 0] == 1.0
    assert w[1, 3] == pytest.approx(4 / 16)
    np.testing.assert_array_equal(w, w.T)


def test_batched_kappa_equals_one_at_a_time() -> None:
    rng = np.random.default_rng(3)
    stack = rng.integers(0, 6, size=(50, 5, 5))
    stack[7] = 0
    stack[7, 2, 2] = 9  # degenerate member of the batch
    batched = kappa_from_confusion(stack)
    assert batched.shape == (50,)
    for i in range(50):
        single = kappa_from_confusion(stack[i])
        if i == 7:
            assert np.isnan(batched[i]) and np.isnan(single)
        else:
            assert batched[i] == pytest.approx(single, abs=1e-15)
    assert kappa_from_confusion(stack[7], undefined=-5.0) == -5.0


def test_confusion_matrix_matches_sklearn_and_is_5x5() -> None:
    rng = np.random.default_rng(4)
    for _ in range(20):
        y_true, y_pred = _case(rng, "missing")
        ours = confusion_matrix(y_true, y_pred)
        assert ours.shape == (5, 5)
        np.testing.assert_array_equal(ours, sk_confusion_matrix(y_true, y_pred, labels=range(5)))


def test_recall_precision_accuracy_match_sklearn_with_nan_for_undefined() -> None:
    rng = np.random.default_rng(5)
    for kind in ("uniform", "missing", "imbalanced", "constant_pred"):
        for _ in range(10):
            y_true, y_pred = _case(rng, kind)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                rec = recall_score(
                    y_true, y_pred, labels=range(5), average=None, zero_division=np.nan
                )
                pre = precision_score(
                    y_true, y_pred, labels=range(5), average=None, zero_division=np.nan
                )
            np.testing.assert_allclose(per_grade_recall(y_true, y_pred), rec, atol=1e-15)
            np.testing.assert_allclose(per_grade_precision(y_true, y_pred), pre, atol=1e-15)
            assert accuracy(y_true, y_pred) == pytest.approx(np.mean(y_true == y_pred))
    recall = per_grade_recall([0, 0, 1], [0, 1, 1])
    assert recall[0] == 0.5 and recall[1] == 1.0 and np.all(np.isnan(recall[2:]))
    precision = per_grade_precision([0, 0, 1], [0, 0, 0])
    assert precision[0] == pytest.approx(2 / 3) and np.all(np.isnan(precision[1:]))


@pytest.mark.parametrize(
    ("y_true", "y_pred", "message"),
    [
        ([0, 1, 5], [0, 1, 2], "y_true must hold grades 0..4; element 2 is 5"),
        ([0, 1, 2], [0, -1, 2], "y_pred must hold grades 0..4; element 1 is -1"),
        ([0, 1], [0, 1, 2], "y_true has 2 grades but y_pred has 3"),
        ([], [], "y_true is empty"),
        ([0.0, 1.5], [0, 1], "whole grades"),
        (["a", "b"], [0, 1], "integer grades"),
        ([[0, 1]], [[0, 1]], "1-D"),
    ],
)
def test_bad_input_is_named(y_true: list, y_pred: list, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(".", r"\.")):
        quadratic_weighted_kappa(y_true, y_pred)


def test_float_whole_grades_are_accepted() -> None:
    np.testing.assert_array_equal(check_grades(np.array([0.0, 4.0])), [0, 4])
