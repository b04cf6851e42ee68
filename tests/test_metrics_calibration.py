"""Expected calibration error and reliability diagram data."""

from __future__ import annotations

import numpy as np
import pytest

from drlib.metrics.calibration import (
    expected_calibration_error,
    reliability_diagram,
    top_label_confidence,
)


def _sample_labels(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Draw each label from its own predicted distribution: calibrated by construction."""
    cumulative = np.cumsum(probs, axis=1)
    u = rng.random(probs.shape[0])[:, None]
    return np.minimum((u > cumulative).sum(axis=1), probs.shape[1] - 1)


def _sharpen(probs: np.ndarray, temperature: float) -> np.ndarray:
    logits = np.log(probs) / temperature
    out = np.exp(logits - logits.max(axis=1, keepdims=True))
    return out / out.sum(axis=1, keepdims=True)


def test_calibrated_predictions_have_ece_near_zero() -> None:
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.full(5, 0.7), size=40_000)
    y = _sample_labels(probs, rng)
    assert expected_calibration_error(y, probs) < 0.015


def _reference_ece(y: np.ndarray, probs: np.ndarray, n_bins: int = 15) -> float:
    """Top-label ECE written out independently: a loop over right-closed bins (lo, hi]."""
    confidence, predicted = probs.max(axis=1), probs.argmax(axis=1)
    total = 0.0
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        members = (confidence > lo) & (confidence <= hi) if b else confidence <= hi
        if members.any():
            gap = abs(np.mean(predicted[members] == y[members]) - confidence[members].mean())
            total += members.sum() * gap
    return total / len(y)


def test_overconfident_predictions_have_large_ece() -> None:
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.full(5, 0.7), size=40_000)
    y = _sample_labels(probs, rng)
    overconfident = _sharpen(probs, temperature=0.25)
    diagram = reliability_diagram(y, overconfident)
    assert diagram.ece == pytest.approx(_reference_ece(y, overconfident), abs=1e-12)
    assert diagram.ece == pytest.approx(0.3195, abs=1e-4)  # pinned
    assert expected_calibration_error(y, probs) == pytest.approx(_reference_ece(y, probs),
                                                                 abs=1e-12)
    filled = diagram.counts > 0
    # overconfident: mean confidence above accuracy in (almost) every populated bin
    assert np.mean(diagram.confidence[filled] > diagram.accuracy[filled]) > 0.8


def test_hand_computed_example() -> None:
    probs = np.array(
        [
            [0.9, 0.05, 0.05, 0.0, 0.0],  # conf 0.9, predicts 0, true 0: right
            [0.9, 0.05, 0.05, 0.0, 0.0],  # conf 0.9, predicts 0, true 1: wrong
            [0.2, 0.2, 0.5, 0.1, 0.0],  # conf 0.5, predicts 2, true 2: right
            [0.2, 0.2, 0.15, 0.15, 0.3],  # conf 0.3, predicts 4, true 4: right
        ]
    )
    y = np.array([0, 1, 2, 4])
    d = reliability_diagram(y, probs, n_bins=5)
    # bins (0,.2] (.2,.4] (.4,.6] (.6,.8] (.8,1]
    np.testing.assert_array_equal(d.counts, [0, 1, 1, 0, 2])
    np.testing.assert_allclose(d.bin_centres, [0.1, 0.3, 0.5, 0.7, 0.9])
    np.testing.assert_allclose(d.accuracy, [np.nan, 1.0, 1.0, np.nan, 0.5])
    np.testing.assert_allclose(d.confidence, [np.nan, 0.3, 0.5, np.nan, 0.9])
    # ECE = 1/4 * 0.7 + 1/4 * 0.5 + 2/4 * 0.4 = 0.5
    assert d.ece == pytest.approx(0.5, abs=1e-12)
    assert expected_calibration_error(y, probs, n_bins=5) == d.ece


def test_bins_are_right_closed() -> None:
    # with 4 bins the edges 0.25 / 0.5 / 0.75 are exact in binary floating point
    probs = np.array([[0.5, 0.5, 0, 0, 0], [0.75, 0.25, 0, 0, 0], [1.0, 0, 0, 0, 0]])
    d = reliability_diagram([0, 0, 0], probs, n_bins=4)
    np.testing.assert_array_equal(d.counts, [0, 1, 1, 1])  # 0.5 -> (.25,.5], 0.75 -> (.5,.75]


def test_diagram_consistent_with_top_label_confidence() -> None:
    rng = np.random.default_rng(2)
    probs = rng.dirichlet(np.ones(5), size=500)
    y = rng.integers(0, 5, 500)
    d = reliability_diagram(y, probs)
    conf, pred = top_label_confidence(probs)
    np.testing.assert_array_equal(pred, probs.argmax(axis=1))
    assert d.counts.sum() == 500 and len(d.counts) == 15 and len(d.bin_edges) == 16
    filled = d.counts > 0
    assert np.all(np.isnan(d.accuracy[~filled])) and np.all(np.isfinite(d.accuracy[filled]))
    # the ECE is the count-weighted mean gap; overall weighted confidence is the mean confidence
    gap = np.nansum(d.counts * np.abs(d.accuracy - d.confidence)) / 500
    assert d.ece == pytest.approx(gap, abs=1e-12)
    assert np.nansum(d.counts * d.confidence) / 500 == pytest.approx(conf.mean())


def test_bad_input() -> None:
    with pytest.raises(ValueError, match="n_bins"):
        reliability_diagram([0], np.eye(5)[:1], n_bins=0)
    with pytest.raises(ValueError, match="2 grades but probs has 1 rows"):
        reliability_diagram([0, 1], np.eye(5)[:1])
