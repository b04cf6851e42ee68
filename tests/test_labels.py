import numpy as np
import pytest

from drlib.core.grades import N_GRADES, as_grades, one_hot


def test_one_hot_from_grades_and_from_one_hot_rows():
    rows = one_hot([0, 4, 2])
    assert rows.dtype == np.float32 and rows.shape == (3, N_GRADES)
    assert rows.argmax(1).tolist() == [0, 4, 2]
    expected = np.eye(5, dtype=np.float32)[[0, 4, 2]]
    np.testing.assert_array_equal(rows, expected, strict=True)  # values, shape and dtype
    np.testing.assert_array_equal(one_hot(rows), rows)
    assert as_grades(np.array([[0.1, 0.7, 0.1, 0.05, 0.05]])).tolist() == [1]


@pytest.mark.parametrize("bad", [[5], [-1], [1.5]])
def test_grades_outside_0_to_4_are_named(bad):
    with pytest.raises(ValueError, match="grades must be whole numbers in 0..4"):
        one_hot(bad)
