"""scripts/revalidate_model.py: the comparison of a recorded and a recomputed validation."""

import pytest
from revalidate_model import comparison, moved_at_least

RECORDED = [[942, 536, 1, 0, 0], [101, 49, 1, 0, 0], [6, 8, 255, 16, 2], [0, 0, 3, 40, 0],
            [0, 0, 1, 6, 33]]


def test_moves_are_counted_once_each():
    # four grade-0 photographs moved from column 1 to column 0; one grade-3 from 3 to 4
    recomputed = [row[:] for row in RECORDED]
    recomputed[0][:2] = [946, 532]
    recomputed[3][3:] = [39, 1]
    assert moved_at_least(RECORDED, recomputed) == 5
    assert moved_at_least(RECORDED, RECORDED) == 0


def test_matrices_of_other_photographs_are_refused():
    other = [row[:] for row in RECORDED]
    other[0][0] += 1
    with pytest.raises(ValueError, match="same photographs"):
        moved_at_least(RECORDED, other)
    with pytest.raises(ValueError, match="shapes"):
        moved_at_least(RECORDED, [row[:4] for row in RECORDED[:4]])


def test_comparison_reports_both_sides_and_the_difference():
    recomputed = [row[:] for row in RECORDED]
    recomputed[1][:2] = [100, 50]
    result = comparison({"kappa": 0.80, "accuracy": 0.6, "confusion": RECORDED},
                        {"kappa": 0.81, "accuracy": 0.61, "confusion": recomputed, "n": 2000})
    assert result["kappa_difference"] == pytest.approx(0.01)
    assert result["photographs_moved_at_least"] == 1
    assert (result["n"], result["kappa_recorded"], result["kappa_recomputed"]) == (2000, 0.80, 0.81)
