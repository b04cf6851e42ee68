"""evaluation_summary: the headline numbers of chapter 03, consistent with the parts."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from drlib.metrics.bootstrap import bootstrap_kappa
from drlib.metrics.calibration import expected_calibration_error
from drlib.metrics.decoding import ThresholdDecoder, decode_argmax
from drlib.metrics.kappa import quadratic_weighted_kappa
from drlib.metrics.referable import referable_roc
from drlib.metrics.summary import evaluation_summary, per_grade_recall, summary_frame

GRADES = np.arange(5, dtype=np.float64)


def _split(n: int, seed: int, shift: float = 0.2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.choice(5, n, p=[0.45, 0.15, 0.2, 0.1, 0.1])
    centre = y + shift + rng.normal(0, 0.7, n)
    logits = -1.5 * (GRADES[None, :] - centre[:, None]) ** 2
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    return y, probs / probs.sum(axis=1, keepdims=True)


def test_summary_without_validation_matches_the_parts() -> None:
    y, probs = _split(600, 0)
    s = evaluation_summary(y, probs, seed=3, resamples=300)
    pred = decode_argmax(probs)
    ci = bootstrap_kappa(y, pred, resamples=300, seed=3)
    roc = referable_roc(y, probs)
    assert s["n_test"] == 600
    assert s["kappa_argmax"] == quadratic_weighted_kappa(y, pred)
    assert (s["kappa_argmax_ci_low"], s["kappa_argmax_ci_high"]) == (ci.low, ci.high)
    assert s["accuracy"] == np.mean(pred == y)
    np.testing.assert_array_equal(
        [s[f"recall_grade_{g}"] for g in range(5)], per_grade_recall(y, pred)
    )
    assert s["referable_auc"] == roc.auc
    assert s["sens_at_spec90"] == roc.points[0].sensitivity
    assert s["sens_at_spec98"] == roc.points[1].sensitivity
    assert s["spec_at_sens975"] == roc.points[2].specificity
    assert s["sens_at_spec98_threshold"] == roc.points[1].threshold
    assert s["ece"] == expected_calibration_error(y, probs)
    assert "kappa_thresholds" not in s
    assert all(isinstance(v, int | float) for v in s.values())


def test_summary_with_validation_fits_thresholds_on_validation_only() -> None:
    y_val, p_val = _split(600, 1)
    y_test, p_test = _split(600, 2)
    s = evaluation_summary(y_test, p_test, y_val=y_val, probs_val=p_val, resamples=200)
    decoder = ThresholdDecoder().fit(p_val, y_val)
    assert [s[f"threshold_{i}"] for i in range(1, 5)] == decoder.thresholds_.tolist()
    assert s["kappa_thresholds"] == quadratic_weighted_kappa(y_test, decoder.predict(p_test))
    ci = bootstrap_kappa(y_test, decoder.predict(p_test), resamples=200, seed=0)
    assert (s["kappa_thresholds_ci_low"], s["kappa_thresholds_ci_high"]) == (ci.low, ci.high)
    assert s["kappa_thresholds_ci_low"] < s["kappa_thresholds"] < s["kappa_thresholds_ci_high"]
    # corrupting the test labels changes the scores but never the fitted thresholds
    rng = np.random.default_rng(9)
    corrupted = evaluation_summary(
        rng.permutation(y_test), p_test, y_val=y_val, probs_val=p_val, resamples=200
    )
    for i in range(1, 5):
        assert corrupted[f"threshold_{i}"] == s[f"threshold_{i}"]
    assert corrupted["kappa_thresholds"] < s["kappa_thresholds"] - 0.3


def test_summary_is_deterministic_and_tabulates() -> None:
    y, probs = _split(300, 4)
    a = evaluation_summary(y, probs, resamples=100)
    b = evaluation_summary(y, probs, resamples=100)
    assert a == b
    frame = summary_frame(a)
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == ["metric", "value"]
    assert frame["metric"].tolist() == list(a)


def test_summary_input_errors() -> None:
    y, probs = _split(50, 5)
    with pytest.raises(ValueError, match="both y_val and probs_val"):
        evaluation_summary(y, probs, y_val=y)
    with pytest.raises(ValueError, match="50 grades but probs has 49"):
        evaluation_summary(y, probs[:-1])
