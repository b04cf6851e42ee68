"""drlib.synth.noise_fields: the cached periodic noise fields and the random windows cut from them.

Contract (module and function docstrings): ``periodic_field(size, sigma, seed)`` is seeded white
noise Gaussian-filtered in the Fourier domain (so the filter wraps around: no seams), scaled to
zero mean and unit variance, float32, read-only and cached; ``random_window`` is a random
``size`` x ``size`` view of a field, randomly flipped, drawn from the rng it is given.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from drlib.synth.noise_fields import periodic_field, random_window


def _reference_field(size: int, sigma: float, seed: int) -> np.ndarray:
    """The same field made independently: circular (mode='wrap') Gaussian filter in space."""
    white = np.random.default_rng(seed).normal(size=(size, size))
    field = gaussian_filter(white, sigma, mode="wrap", truncate=10.0) if sigma > 0 else white
    return (field - field.mean()) / field.std()


@pytest.mark.parametrize(("size", "sigma", "seed"), [(64, 3.0, 5), (80, 1.5, 2), (96, 6.0, 0)])
def test_field_is_the_circularly_smoothed_seeded_white_noise(size, sigma, seed):
    field = periodic_field(size, sigma, seed)
    assert field.shape == (size, size) and field.dtype == np.float32
    # A Gaussian filter that wraps around the edges: the field is periodic with period `size`,
    # every pixel (edges included) smoothed with its neighbours across the opposite edge.
    np.testing.assert_allclose(field, _reference_field(size, sigma, seed), rtol=0, atol=1e-4)
    # ... which a filter that does not wrap does not reproduce at the edges
    white = np.random.default_rng(seed).normal(size=(size, size))
    reflect = gaussian_filter(white, sigma, mode="reflect", truncate=10.0)
    reflect = (reflect - reflect.mean()) / reflect.std()
    assert np.abs(field[0] - reflect[0]).max() > 0.1


def test_field_wraps_exactly_at_its_period():
    # Shifting the white noise by k pixels (circularly) shifts the field by exactly k pixels:
    # the field of a rolled noise equals the rolled field. Checked with the reference filter
    # on the same noise, rolled across both edges.
    size, sigma = 64, 3.0
    field = periodic_field(size, sigma, 5).astype(np.float64)
    white = np.random.default_rng(5).normal(size=(size, size))
    rolled = gaussian_filter(np.roll(white, (17, -9), axis=(0, 1)), sigma, mode="wrap",
                             truncate=10.0)
    rolled = (rolled - rolled.mean()) / rolled.std()
    np.testing.assert_allclose(np.roll(field, (17, -9), axis=(0, 1)), rolled, atol=1e-4)
    # tiled twice, any window of the tiling is a window of the periodic field: the seam
    # between the copies is as smooth as the inside (pinned mean absolute step, both axes)
    steps_inside = np.abs(np.diff(field, axis=1)).mean()
    steps_across_seam = np.abs(field[:, 0] - field[:, -1]).mean()
    assert steps_inside == pytest.approx(0.2018, abs=1e-4)
    assert steps_across_seam == pytest.approx(0.1984, abs=1e-4)


@pytest.mark.parametrize(("size", "sigma", "seed"), [(64, 0.0, 3), (64, 3.0, 5), (48, 12.0, 1)])
def test_field_has_zero_mean_and_unit_std(size, sigma, seed):
    field = periodic_field(size, sigma, seed)
    assert abs(float(field.mean(dtype=np.float64))) < 1e-6
    assert float(field.std(dtype=np.float64)) == pytest.approx(1.0, abs=1e-6)


def test_sigma_zero_is_the_normalised_white_noise_and_values_are_pinned():
    white = np.random.default_rng(3).normal(size=(64, 64))
    expected = ((white - white.mean()) / white.std()).astype(np.float32)
    field = periodic_field(64, 0.0, 3)
    np.testing.assert_allclose(field, expected, atol=1e-6)
    np.testing.assert_allclose(field[0, :4], [2.0280719, -2.5585976, 0.408752, -0.57499],
                               atol=1e-6)
    np.testing.assert_allclose(periodic_field(64, 3.0, 5)[10, 20:24],
                               [1.4964784, 1.1824769, 0.78346825, 0.36419383], atol=1e-6)


def test_field_is_cached_read_only_and_seeded():
    a = periodic_field(32, 2.0, 4)
    assert periodic_field(32, 2.0, 4) is a  # made once per (size, sigma, seed)
    assert not a.flags.writeable
    with pytest.raises(ValueError):
        a[0, 0] = 1.0
    assert not np.array_equal(periodic_field(32, 2.0, 5), a)


def _locate(window: np.ndarray, field: np.ndarray) -> list[tuple[int, int, bool, bool]]:
    """Every (row, col, flipped_v, flipped_h) at which ``window`` is a block of ``field``."""
    n, s = field.shape[0], window.shape[0]
    hits = []
    for flip_v in (False, True):
        for flip_h in (False, True):
            block = window[:: -1 if flip_v else 1, :: -1 if flip_h else 1]
            for y in range(n - s + 1):
                for x in range(n - s + 1):
                    if np.array_equal(field[y : y + s, x : x + s], block):
                        hits.append((y, x, flip_v, flip_h))
    return hits


def test_random_window_is_a_flipped_block_of_the_field_pinned_per_seed():
    field = periodic_field(80, 2.0, 1)
    expected = {
        0: (28, 21, True, True),
        1: (15, 16, False, True),
        2: (27, 8, True, False),
        4: (23, 31, False, False),
    }
    for seed, where in expected.items():
        window = random_window(field, np.random.default_rng(seed), 48)
        assert window.shape == (48, 48) and window.dtype == np.float32
        assert np.shares_memory(window, field) and not window.flags.writeable  # a view
        assert _locate(window, field) == [where], seed


def test_random_window_is_deterministic_and_covers_every_flip():
    field = periodic_field(40, 1.0, 6)
    seen = set()
    for seed in range(40):
        a = random_window(field, np.random.default_rng(seed), 24)
        b = random_window(field, np.random.default_rng(seed), 24)
        np.testing.assert_array_equal(a, b)
        ((_, _, flip_v, flip_h),) = _locate(a, field)  # exactly one place and orientation
        seen.add((flip_v, flip_h))
    assert seen == {(False, False), (False, True), (True, False), (True, True)}
    # a window as large as the field can only be the field itself (possibly flipped)
    whole = random_window(field, np.random.default_rng(0), 40)
    assert [h[:2] for h in _locate(whole, field)] == [(0, 0)]
