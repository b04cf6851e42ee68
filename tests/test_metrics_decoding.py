"""Decoding probabilities into grades; validation-only threshold fitting (no leakage)."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from drlib.metrics.decoding import (
    DEFAULT_THRESHOLDS,
    ThresholdDecoder,
    check_probs,
    decode_argmax,
    decode_thresholds,
    expected_grade,
    fit_thresholds,
)
from drlib.metrics.kappa import quadratic_weighted_kappa

GRADES = np.arange(5, dtype=np.float64)


def synthetic_probs(
    y: np.ndarray,
    rng: np.random.Generator,
    shift: float = 0.0,
    spread: float = 0.6,
    sharpness: float = 1.5,
) -> np.ndarray:
    """Softmax over -(k - centre)^2 around a noisy centre y + shift: ordinal, like a real model."""
    centre = y + shift + rng.normal(0.0, spread, y.size)
    logits = -sharpness * (GRADES[None, :] - centre[:, None]) ** 2
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    return probs / probs.sum(axis=1, keepdims=True)


def labels(n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.choice(5, n, p=[0.45, 0.15, 0.2, 0.1, 0.1])


def test_argmax_and_expected_grade_by_hand() -> None:
    probs = np.array([[0.1, 0.6, 0.1, 0.1, 0.1], [0.0, 0.0, 0.5, 0.0, 0.5], [0.2] * 5])
    np.testing.assert_array_equal(decode_argmax(probs), [1, 2, 0])
    np.testing.assert_allclose(expected_grade(probs), [1.5, 3.0, 2.0])


def test_decode_thresholds_boundaries() -> None:
    x = np.array([-1.0, 0.49, 0.5, 1.2, 1.5, 2.5, 3.49, 3.5, 4.0, 9.0])
    np.testing.assert_array_equal(decode_thresholds(x), [0, 0, 1, 1, 2, 3, 3, 4, 4, 4])
    np.testing.assert_array_equal(
        decode_thresholds(x, [0, 1, 2, 3]), [0, 1, 1, 2, 2, 3, 4, 4, 4, 4]
    )
    # rounding the expected grade is what the default thresholds do
    xs = np.linspace(0, 3.99, 97)
    np.testing.assert_array_equal(decode_thresholds(xs), np.floor(xs + 0.5).astype(int))


@pytest.mark.parametrize(
    "bad",
    [[0.5, 1.5, 1.5, 3.5], [2.5, 1.5, 0.5, 3.5], [0.5, np.nan, 2.5, 3.5], [0.5, 1.5, 2.5, np.inf]],
)
def test_unsorted_or_non_finite_thresholds_raise(bad: list[float]) -> None:
    with pytest.raises(ValueError, match="strictly increasing"):
        decode_thresholds([1.0], bad)
    with pytest.raises(ValueError, match="strictly increasing"):
        fit_thresholds([1.0], [1], initial=bad)


def test_wrong_number_of_thresholds_raises() -> None:
    with pytest.raises(ValueError, match="4 cuts"):
        fit_thresholds([1.0], [1], initial=[0.5, 1.5, 2.5])
    with pytest.raises(ValueError, match="4 cuts"):
        ThresholdDecoder(initial=[0.5])


def test_bad_probs_raise_with_a_clear_message() -> None:
    with pytest.raises(ValueError, match=r"shape \(N, 5\)"):
        check_probs(np.ones((3, 4)) / 4)
    with pytest.raises(ValueError, match="row 1 sums to 0.5"):
        check_probs([[1, 0, 0, 0, 0], [0.5, 0, 0, 0, 0]])
    with pytest.raises(ValueError, match="val_probs row 0 has a negative"):
        check_probs([[1.5, -0.5, 0, 0, 0]], name="val_probs")


def test_fit_recovers_shifted_cuts_exactly() -> None:
    # every grade g lands in [g + 0.7, g + 0.9]: rounding gets most wrong, the fitted cuts none
    rng = np.random.default_rng(0)
    y = labels(400, rng)
    x = y + 0.7 + rng.uniform(0, 0.2, y.size)
    assert quadratic_weighted_kappa(y, decode_thresholds(x)) < 0.9
    cuts = fit_thresholds(x, y)
    np.testing.assert_array_equal(decode_thresholds(x, cuts), y)
    assert np.all(np.diff(cuts) > 0)


def test_fit_keeps_default_cuts_when_they_are_already_optimal() -> None:
    y = np.arange(5).repeat(4)
    np.testing.assert_array_equal(fit_thresholds(y.astype(float), y), DEFAULT_THRESHOLDS)


def test_fit_improves_kappa_and_is_a_coordinatewise_optimum() -> None:
    rng = np.random.default_rng(1)
    y = labels(600, rng)
    x = expected_grade(synthetic_probs(y, rng, shift=0.3, spread=0.8))
    cuts = fit_thresholds(x, y)
    fitted = quadratic_weighted_kappa(y, decode_thresholds(x, cuts))
    assert fitted >= quadratic_weighted_kappa(y, decode_thresholds(x)) - 1e-12
    assert np.all(np.diff(cuts) > 0)
    # no single cut moved anywhere on a fine grid between its neighbours does better
    bounds = np.r_[x.min() - 1, cuts, x.max() + 1]
    for k in range(4):
        for value in np.linspace(bounds[k], bounds[k + 2], 203)[1:-1]:
            trial = cuts.copy()
            trial[k] = value
            assert quadratic_weighted_kappa(y, decode_thresholds(x, trial)) <= fitted + 1e-12
    # deterministic
    np.testing.assert_array_equal(cuts, fit_thresholds(x, y))


def test_fit_does_not_modify_its_inputs() -> None:
    rng = np.random.default_rng(2)
    y = labels(200, rng)
    x = expected_grade(synthetic_probs(y, rng))
    x_copy, y_copy = x.copy(), y.copy()
    initial = np.array(DEFAULT_THRESHOLDS)
    fit_thresholds(x, y, initial=initial)
    np.testing.assert_array_equal(x, x_copy)
    np.testing.assert_array_equal(y, y_copy)
    np.testing.assert_array_equal(initial, DEFAULT_THRESHOLDS)


def test_predict_takes_no_labels() -> None:
    params = list(inspect.signature(ThresholdDecoder.predict).parameters)
    assert params == ["self", "probs"]
    with pytest.raises(RuntimeError, match="before fit"):
        ThresholdDecoder().predict(np.full((2, 5), 0.2))


def test_labels_reach_the_decoder_only_through_fit_and_decide_its_cuts() -> None:
    """Whatever labels are given to ``fit`` decide the cuts, with exact consequences; test
    labels cannot reach them at all (``predict`` takes none, see the test above)."""
    rng = np.random.default_rng(3)
    y_val, y_test = labels(500, rng), labels(500, rng)
    p_val, p_test = synthetic_probs(y_val, rng, shift=0.4), synthetic_probs(y_test, rng, shift=0.4)
    e_val, e_test = expected_grade(p_val), expected_grade(p_test)
    clean = ThresholdDecoder().fit(p_val, y_val)
    grades = clean.predict(p_test)
    np.testing.assert_array_equal(grades, decode_thresholds(e_test, clean.thresholds_))
    assert not np.array_equal(clean.thresholds_, DEFAULT_THRESHOLDS)  # the +0.4 shift moved them

    # 1. Constant labels carry no information: for every candidate cut the observed weighted
    # disagreement equals the chance one (kappa 0), so no cut moves: the decoder rounds.
    flat = ThresholdDecoder().fit(p_val, np.zeros_like(y_val))
    np.testing.assert_array_equal(flat.thresholds_, DEFAULT_THRESHOLDS)
    np.testing.assert_array_equal(flat.predict(p_test), np.floor(e_test + 0.5).astype(int))
    assert np.sum(flat.predict(p_test) != grades) > 50

    # 2. Labels made by known cuts from the validation scores: the fit reproduces every one of
    # them (kappa 1), each fitted cut in the same gap between the sorted scores as its known cut.
    known = np.array([1.0, 1.9, 2.7, 3.3])
    made = decode_thresholds(e_val, known)
    fitted = ThresholdDecoder().fit(p_val, made)
    np.testing.assert_array_equal(fitted.predict(p_val), made)
    assert quadratic_weighted_kappa(made, fitted.predict(p_val)) == 1.0
    scores = np.sort(e_val)
    np.testing.assert_array_equal(
        np.searchsorted(scores, fitted.thresholds_), np.searchsorted(scores, known)
    )
    for cut in fitted.thresholds_:  # midway between the two scores it separates
        assert cut == (scores[scores < cut].max() + scores[scores > cut].min()) / 2

    # 3. The fit pairs each label with its own image: permuting images and labels together
    # changes nothing, permuting the labels alone changes the cuts (and lowers kappa on val).
    order = rng.permutation(y_val.size)
    np.testing.assert_array_equal(
        ThresholdDecoder().fit(p_val[order], y_val[order]).thresholds_, clean.thresholds_
    )
    shuffled = ThresholdDecoder().fit(p_val, y_val[order])
    assert not np.array_equal(shuffled.thresholds_, clean.thresholds_)
    assert quadratic_weighted_kappa(y_val, shuffled.predict(p_val)) < quadratic_weighted_kappa(
        y_val, clean.predict(p_val)
    )


def test_fit_uses_only_the_split_it_is_given() -> None:
    # validation comes from a model that overshoots by +0.8 grade; test does not
    rng = np.random.default_rng(4)
    y_val, y_test = labels(800, rng), labels(800, rng)
    p_val = synthetic_probs(y_val, rng, shift=0.8)
    p_test = synthetic_probs(y_test, rng, shift=0.0)
    on_val = ThresholdDecoder().fit(p_val, y_val).thresholds_
    on_test = ThresholdDecoder().fit(p_test, y_test).thresholds_
    assert on_val is not None and on_test is not None
    # cuts fitted on the overshooting split sit clearly higher than those fitted on test
    assert np.all(on_val > on_test)
    assert np.max(np.abs(on_val - on_test)) > 0.3


def test_fit_names_mismatched_validation_arrays() -> None:
    with pytest.raises(ValueError, match="val_y has 3 grades but val_probs has 2 rows"):
        ThresholdDecoder().fit(np.full((2, 5), 0.2), [0, 1, 2])
    with pytest.raises(ValueError, match="val_y must hold grades"):
        ThresholdDecoder().fit(np.full((2, 5), 0.2), [0, 7])
