"""drlib.synth.noise_fields: smooth texture fields and per-pixel sensor noise, new for every call.

Contract (module and function docstrings): ``smooth_noise(rng, size, correlation_px)`` is white
noise on a coarse grid (spacing about ``correlation_px``) upsampled with cubic interpolation to a
(size, size) float32 field, scaled to zero mean and unit variance; ``pixel_noise(rng, size)`` is
one random byte per pixel mapped linearly to zero mean and unit variance (uniform over 256
levels). Both draw from the rng they are given: the same seed gives the same field, the next call
a new one. Pinned values catch a change in the generator's randomness.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from drlib.synth.noise_fields import pixel_noise, smooth_noise

UNIFORM_BYTE_STD = np.sqrt((256**2 - 1) / 12.0)  # standard deviation of a uniform byte


def _autocorrelation(field: np.ndarray, lag: int) -> float:
    """Mean of f(x) f(x + lag) along rows and along columns (the field has unit variance)."""
    f = field.astype(np.float64)
    return float(((f[:, :-lag] * f[:, lag:]).mean() + (f[:-lag] * f[lag:]).mean()) / 2)


def _bytes_of(noise: np.ndarray) -> np.ndarray:
    """The random byte behind each pixel of ``pixel_noise`` (inverting the linear map)."""
    return np.rint(noise.astype(np.float64) * UNIFORM_BYTE_STD + 127.5).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# smooth_noise


@pytest.mark.parametrize(
    ("size", "correlation_px", "seed"),
    [(64, 8.0, 0), (96, 3.5, 1), (128, 1.0, 2), (50, 0.25, 3), (40, 500.0, 4), (257, 12.0, 5)],
)
def test_smooth_noise_has_exactly_zero_mean_and_unit_variance(size, correlation_px, seed):
    # also below one pixel (treated as one) and beyond the image (the coarse grid is >= 4 x 4)
    field = smooth_noise(np.random.default_rng(seed), size, correlation_px)
    assert field.shape == (size, size) and field.dtype == np.float32
    assert np.all(np.isfinite(field))
    assert abs(float(field.mean(dtype=np.float64))) < 1e-6
    assert float(field.std(dtype=np.float64)) == pytest.approx(1.0, abs=1e-5)


def test_smooth_noise_is_deterministic_per_seed_and_new_for_every_call():
    a = smooth_noise(np.random.default_rng(11), 64, 6.0)
    np.testing.assert_array_equal(a, smooth_noise(np.random.default_rng(11), 64, 6.0))
    assert not np.allclose(a, smooth_noise(np.random.default_rng(12), 64, 6.0), atol=0.1)
    # two calls on one rng: two different fields (no cached field, no window of one)
    rng = np.random.default_rng(11)
    first, second = smooth_noise(rng, 64, 6.0), smooth_noise(rng, 64, 6.0)
    np.testing.assert_array_equal(first, a)
    # not equal, not a flip or a shift of the first: nearly uncorrelated with it
    corr = float(np.corrcoef(first.ravel(), second.ravel())[0, 1])
    assert abs(corr) < 0.15
    for flipped in (second[::-1], second[:, ::-1], second[::-1, ::-1]):
        assert abs(float(np.corrcoef(first.ravel(), flipped.ravel())[0, 1])) < 0.15
    # the random numbers are drawn from the rng it is given: it advances
    rng = np.random.default_rng(11)
    state = rng.bit_generator.state
    smooth_noise(rng, 64, 6.0)
    assert rng.bit_generator.state != state


@pytest.mark.parametrize(
    ("correlation_px", "seed", "at_lag_1", "at_correlation_length", "half_lag"),
    [(4, 0, 0.9133, 0.1398, 3), (8, 1, 0.9763, 0.1078, 6), (16, 2, 0.9927, 0.0995, 11)],
)
def test_smooth_noise_correlation_length_is_about_correlation_px(correlation_px, seed, at_lag_1,
                                                                 at_correlation_length, half_lag):
    """Neighbouring pixels are nearly equal, pixels ``correlation_px`` apart nearly independent,
    and the autocorrelation halves at about 0.6 x ``correlation_px`` (pinned per seed)."""
    field = smooth_noise(np.random.default_rng(seed), 256, correlation_px)
    r1 = _autocorrelation(field, 1)
    rc = _autocorrelation(field, correlation_px)
    assert r1 == pytest.approx(at_lag_1, abs=1e-4)
    assert rc == pytest.approx(at_correlation_length, abs=1e-4)
    assert r1 > 0.9 and abs(rc) < 0.2
    # the lag at which the autocorrelation first drops below one half scales with correlation_px
    first_below_half = next(k for k in range(1, 4 * correlation_px)
                            if _autocorrelation(field, k) < 0.5)
    assert first_below_half == half_lag
    assert 0.5 * correlation_px <= first_below_half <= 0.8 * correlation_px


def test_smooth_noise_with_a_tiny_correlation_length_is_rough():
    # a correlation length of one pixel: neighbours correlate far less than at 4 px
    rough = _autocorrelation(smooth_noise(np.random.default_rng(0), 128, 1.0), 1)
    smooth = _autocorrelation(smooth_noise(np.random.default_rng(0), 128, 4.0), 1)
    assert rough < 0.6 < 0.9 < smooth


@pytest.mark.parametrize(
    ("seed", "size", "correlation_px", "first_row", "grid"),
    [
        (0, 64, 8.0, [1.9318533, 1.9482543, 1.8488051, 1.5903611],
         [1.9318533, -0.4988177, 1.1536661, 0.4133659, -1.5910486, -0.1819304, 1.4742736,
          -0.3150489, 0.3995391, 1.6217556, -0.0516639, 0.1018462, -0.2513971, 0.2319808,
          -1.207822, -0.0209642]),
        (7, 96, 3.5, [2.3800552, 2.1033745, 1.0748997, -0.2805698],
         [2.3800552, -0.5079698, 1.6702726, 0.8304393, 0.9635571, 1.0524697, 1.7640113,
          -0.1763795, -1.3186744, 1.3446158, 0.0148333, 0.6256144, 0.8236271, -0.8212664,
          -1.3063339, -0.0988994]),
    ],
)
def test_smooth_noise_values_are_pinned_per_seed(seed, size, correlation_px, first_row, grid):
    # values, not a digest: cubic resampling in float32 may differ in the last bit across CPUs
    field = smooth_noise(np.random.default_rng(seed), size, correlation_px)
    np.testing.assert_allclose(field[0, :4], first_row, rtol=0, atol=1e-5)
    step = size // 4
    np.testing.assert_allclose(field[::step, ::step].ravel(), grid, rtol=0, atol=1e-5)


# ---------------------------------------------------------------------------------------------
# pixel_noise


def test_pixel_noise_takes_256_equally_spaced_levels_with_zero_mean_and_unit_variance():
    noise = pixel_noise(np.random.default_rng(0), 256)
    assert noise.shape == (256, 256) and noise.dtype == np.float32
    levels = np.unique(noise).astype(np.float64)
    assert levels.size == 256  # every byte value occurs in 65,536 pixels
    # linear in the byte: (k - 127.5) / std of a uniform byte, k = 0..255
    expected = (np.arange(256) - 127.5) / UNIFORM_BYTE_STD
    np.testing.assert_allclose(levels, expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(np.diff(levels), 1 / UNIFORM_BYTE_STD, rtol=1e-5)
    # ... so as a distribution over the levels: zero mean, unit variance, exactly
    assert abs(levels.mean()) < 1e-7 and levels.std() == pytest.approx(1.0, abs=1e-6)
    # and the pixels themselves: uniform over the levels, independent of their neighbours
    assert abs(float(noise.mean(dtype=np.float64))) < 0.02
    assert float(noise.std(dtype=np.float64)) == pytest.approx(1.0, abs=0.01)
    counts = np.bincount(_bytes_of(noise).ravel(), minlength=256)
    assert counts.min() > 160 and counts.max() < 360  # 256 expected per level
    assert abs(_autocorrelation(noise, 1)) < 0.02


def test_pixel_noise_is_one_random_byte_per_pixel_from_the_given_rng():
    noise = pixel_noise(np.random.default_rng(3), 48)
    drawn = np.random.default_rng(3).integers(0, 256, size=(48, 48), dtype=np.uint8)
    np.testing.assert_array_equal(_bytes_of(noise), drawn)
    np.testing.assert_allclose(noise, (drawn - 127.5) / UNIFORM_BYTE_STD, rtol=0, atol=1e-6)


def test_pixel_noise_is_deterministic_per_seed_and_new_for_every_call():
    a = pixel_noise(np.random.default_rng(5), 64)
    np.testing.assert_array_equal(a, pixel_noise(np.random.default_rng(5), 64))
    rng = np.random.default_rng(5)
    first, second = pixel_noise(rng, 64), pixel_noise(rng, 64)
    np.testing.assert_array_equal(first, a)
    assert np.mean(first == second) < 0.02  # equal only by chance (1 in 256)
    assert abs(float(np.corrcoef(first.ravel(), second.ravel())[0, 1])) < 0.05


@pytest.mark.parametrize(
    ("seed", "first_values", "first_bytes", "digest"),
    [
        (0, [-0.4397819, 0.0338294, 0.8998614, 1.2110916], [95, 130, 194, 217, 207, 235],
         "294f3a946e87fca73f06ad14c460970380ae12d24e714499a786d88550f60fef"),
        (1, [1.7252982, 1.3599409, -1.2652186, -0.0879564], [255, 228, 34, 121, 243, 189],
         "73ba40d48a2cc6c622886c681a817ed7ca1f9ca33b9936329b30bd8df8a3b8e7"),
    ],
)
def test_pixel_noise_is_pinned_per_seed(seed, first_values, first_bytes, digest):
    noise = pixel_noise(np.random.default_rng(seed), 64)
    np.testing.assert_allclose(noise[0, :4], first_values, rtol=0, atol=1e-6)
    drawn = _bytes_of(noise)
    assert drawn[0, :6].tolist() == first_bytes
    assert hashlib.sha256(drawn.tobytes()).hexdigest() == digest  # all 4,096 bytes
