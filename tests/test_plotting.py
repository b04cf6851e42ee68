"""The course plotting style and the evaluation chapter's three figures."""

from __future__ import annotations

import matplotlib as mpl

mpl.use("Agg")

import matplotlib.colors as mcolors  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from drlib import plotting  # noqa: E402
from drlib.core.grades import GRADE_NAMES  # noqa: E402
from drlib.metrics.calibration import reliability_diagram  # noqa: E402
from drlib.metrics.referable import OperatingPoint, roc_curve  # noqa: E402
from drlib.plotting import style  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def test_palette_has_five_distinct_valid_colours() -> None:
    assert len(plotting.GRADE_COLOURS) == 5 == len(GRADE_NAMES)
    assert len(set(plotting.GRADE_COLOURS)) == 5
    assert all(mcolors.is_color_like(c) for c in plotting.GRADE_COLOURS)
    assert plotting.GRADE_PALETTE[4] == plotting.GRADE_COLOURS[4]


def test_apply_style_sets_the_rcparams() -> None:
    with mpl.rc_context():
        plotting.apply_style()
        assert tuple(mpl.rcParams["figure.figsize"]) == style.FIGSIZE
        assert mpl.rcParams["figure.dpi"] == style.DPI
        assert mpl.rcParams["savefig.dpi"] == style.SAVE_DPI
        assert mpl.rcParams["svg.hashsalt"] == "drlib"
        cycle = [d["color"] for d in mpl.rcParams["axes.prop_cycle"]]
        assert [c.lower() for c in cycle] == [c.lower() for c in plotting.GRADE_COLOURS]


def test_plot_confusion_annotates_counts_and_row_fractions() -> None:
    cm = np.array(
        [[50, 3, 1, 0, 0], [4, 6, 2, 0, 0], [2, 3, 20, 1, 0], [0, 0, 2, 5, 1], [0, 0, 0, 0, 0]]
    )
    _, ax = plt.subplots()
    assert plotting.plot_confusion(cm, ax) is ax
    texts = [t.get_text() for t in ax.texts]
    assert len(texts) == 25
    assert [int(t) for t in texts] == cm.ravel().tolist()
    assert [t.get_text() for t in ax.get_yticklabels()] == list(GRADE_NAMES)
    assert ax.get_xlabel() == "predicted grade" and ax.get_ylabel() == "true grade"

    ax2 = plotting.plot_confusion(cm, normalise=True)
    values = [t.get_text() for t in ax2.texts]
    assert values[0] == f"{50 / 54:.2f}"
    assert len(values) == 20  # the empty proliferative row stays blank (nan)
    with pytest.raises(ValueError, match="square"):
        plotting.plot_confusion(np.ones((2, 3)))


def test_plot_roc_draws_curve_diagonal_and_points() -> None:
    rng = np.random.default_rng(0)
    y = rng.random(200) < 0.3
    score = rng.normal(size=200) + y
    fpr, tpr, _ = roc_curve(y, score)
    points = [
        OperatingPoint("specificity>=0.9", 0.9, 0.8, 0.55, 0.91),
        OperatingPoint("sensitivity>=0.975", 0.975, -1.0, 0.98, 0.3),
    ]
    _, ax = plt.subplots()
    assert plotting.plot_roc(fpr, tpr, points, ax, auc=0.75) is ax
    curve = ax.lines[0]
    np.testing.assert_array_equal(curve.get_xdata(), fpr)
    np.testing.assert_array_equal(curve.get_ydata(), tpr)
    assert "AUC 0.750" in curve.get_label()
    markers = ax.lines[2:]
    assert len(markers) == 2
    assert markers[0].get_xdata()[0] == pytest.approx(0.09)
    assert markers[1].get_ydata()[0] == pytest.approx(0.98)
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert any("specificity>=0.9" in t for t in legend)
    with pytest.raises(ValueError, match="equal length"):
        plotting.plot_roc(fpr, tpr[:-1])


def test_plot_reliability_bars_are_the_bin_accuracies() -> None:
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.full(5, 0.5), size=400)
    y = rng.integers(0, 5, 400)
    diagram = reliability_diagram(y, probs)
    _, ax = plt.subplots()
    assert plotting.plot_reliability(diagram, ax) is ax
    filled = diagram.counts > 0
    heights = [patch.get_height() for patch in ax.containers[0]]
    np.testing.assert_allclose(heights, diagram.accuracy[filled])
    assert f"ECE {diagram.ece:.3f}" in ax.get_title()
    # every filled bin carries its image count, in bin order
    assert [t.get_text() for t in ax.texts] == [str(n) for n in diagram.counts[filled]]


def test_plot_roc_log_fpr_spreads_the_left_edge() -> None:
    fpr = np.array([0.0, 0.01, 0.1, 1.0])
    tpr = np.array([0.0, 0.5, 0.8, 1.0])
    points = [OperatingPoint("specificity>=0.98", 0.98, 0.5, 0.5, 0.99)]
    _, ax = plt.subplots()
    plotting.plot_roc(fpr, tpr, points, ax, log_fpr=True)
    assert ax.get_xscale() == "log"
    assert ax.get_xlim() == pytest.approx((0.005, 1.0))
    chance = ax.lines[1]
    np.testing.assert_allclose(chance.get_xdata(), chance.get_ydata())
    assert chance.get_xdata()[0] == pytest.approx(0.005)
    assert ax.lines[2].get_xdata()[0] == pytest.approx(0.01)
    with pytest.raises(ValueError, match="non-zero false positive rate"):
        plotting.plot_roc([0.0, 0.0], [0.0, 1.0], log_fpr=True)
