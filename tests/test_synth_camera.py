"""drlib.synth.camera: camera settings and what apply_camera does to a photograph.

apply_camera's contract (docstrings): a float RGB image in [0, 255] times exposure and colour
cast, plus sensor noise (a window of a fixed field, in grey levels), saturated to uint8, a gamma
curve through a look-up table, defocus blur (sigma in units of the field-of-view radius), black
outside the field of view, then JPEG at the given quality (100: no JPEG). ``sample_camera`` with
``variation=0`` is the ideal camera. Checked on constant and step images whose outputs can be
worked out by hand.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d

from drlib.synth.camera import CameraSettings, apply_camera, sample_camera
from drlib.synth.geometry import distance_map, fov_mask
from drlib.synth.noise_fields import periodic_field, random_window

SIZE = 96
CENTRE = (47.5, 47.5)
RADIUS = 40.0
FOV = fov_mask(SIZE, CENTRE, RADIUS)
DIST = distance_map(SIZE, CENTRE)
DEEP = DIST < RADIUS - 12  # far enough from the rim that JPEG blocks there are constant
FAR_OUTSIDE = DIST > RADIUS + 16  # JPEG blocks (8 px, 16 px for chroma) entirely outside


def constant(value, shape=(SIZE, SIZE)) -> np.ndarray:
    """A float32 RGB image of one value (grey) or one colour, everywhere (outside the FOV too)."""
    return np.broadcast_to(np.asarray(value, np.float32), (*shape, 3)).copy()


def shoot(image: np.ndarray, settings: CameraSettings, seed: int = 0) -> np.ndarray:
    return apply_camera(image.copy(), FOV, settings, RADIUS, np.random.default_rng(seed))


def test_variation_zero_is_the_ideal_camera():
    for seed in range(10):
        assert sample_camera(np.random.default_rng(seed), 0.0) == CameraSettings()
    ideal = CameraSettings()
    assert (ideal.exposure, ideal.colour_cast, ideal.gamma) == (1.0, (1.0, 1.0, 1.0), 1.0)
    assert (ideal.blur_sigma, ideal.noise_sigma, ideal.jpeg_quality) == (0.0, 0.0, 95)
    # variation 1 draws a camera of its own
    assert sample_camera(np.random.default_rng(0), 1.0) != ideal


def test_ideal_camera_keeps_the_field_of_view_and_is_deterministic():
    image = constant(100.0)  # grey everywhere, also outside the field of view
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    out = apply_camera(image.copy(), FOV, CameraSettings(), RADIUS, rng)
    assert rng.bit_generator.state == state  # no noise: no random numbers drawn
    assert out.dtype == np.uint8 and out.shape == (SIZE, SIZE, 3)
    np.testing.assert_array_equal(out, shoot(image, CameraSettings()))  # same input, same bytes
    # inside: the grey level unchanged (a constant 8x8 block survives JPEG exactly)
    assert np.all(out[DEEP] == 100)
    # outside: black; exactly 0 away from the rim, JPEG ringing next to it only
    assert np.all(out[FAR_OUTSIDE] == 0)
    assert out[~FOV].max() <= 8
    assert np.all(out[FOV].max(axis=1) > 0)
    # without JPEG the field of view is kept exactly: the non-black pixels are the FOV mask
    lossless = shoot(image, CameraSettings(jpeg_quality=100))
    np.testing.assert_array_equal(lossless.max(axis=2) > 0, FOV)
    assert np.all(lossless[FOV] == 100) and np.all(lossless[~FOV] == 0)


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (CameraSettings(exposure=1.2), 120),  # 100 x 1.2
        (CameraSettings(exposure=0.5), 50),  # 100 x 0.5
        (CameraSettings(exposure=3.0), 255),  # 300 saturates
        (CameraSettings(gamma=2.0), 39),  # int(255 (100/255)^2 + 0.5) = int(39.72)
        (CameraSettings(gamma=0.5), 160),  # int(255 (100/255)^0.5 + 0.5) = int(160.19)
        # exposure first, then gamma: int(255 (200/255)^2 + 0.5) = 157 (not 2 x 39 = 78)
        (CameraSettings(exposure=2.0, gamma=2.0), 157),
        (CameraSettings(blur_sigma=0.05), 100),  # blurring a constant changes nothing
    ],
)
def test_known_settings_on_a_constant_grey(settings, expected):
    out = shoot(constant(100.0), settings)
    assert np.all(out[DEEP] == expected)
    assert np.all(out[FAR_OUTSIDE] == 0)


def test_colour_cast_scales_each_channel():
    cast = CameraSettings(colour_cast=(1.1, 1.0, 0.9), jpeg_quality=100)
    out = shoot(constant(100.0), cast)
    assert np.all(out[FOV] == [110, 100, 90])
    # through JPEG the colour survives to one grey level (YCbCr rounding)
    jpeg = shoot(constant(100.0), CameraSettings(colour_cast=(1.1, 1.0, 0.9)))
    np.testing.assert_allclose(jpeg[DEEP], np.broadcast_to([110, 100, 90], jpeg[DEEP].shape),
                               atol=1)
    # a cast on a coloured fundus: red up, blue down, in proportion
    fundus = shoot(constant((200.0, 90.0, 40.0)), cast)
    assert np.all(fundus[FOV] == [220, 90, 36])


def test_sensor_noise_is_a_window_of_the_fixed_field_in_grey_levels():
    settings = CameraSettings(noise_sigma=2.0, jpeg_quality=100)
    out = shoot(constant(100.0), settings, seed=5)
    window = random_window(periodic_field(SIZE + SIZE // 4, 0.0, 3), np.random.default_rng(5),
                           SIZE)
    expected = np.rint(np.float32(100.0) + np.float32(2.0) * window).astype(np.uint8)
    np.testing.assert_array_equal(out[..., 1][FOV], expected[FOV])
    assert np.all(out[..., 0] == out[..., 2])  # the same noise in every channel
    noise = out[..., 1][FOV].astype(float) - 100
    assert noise.mean() == pytest.approx(0.0, abs=0.1)
    assert noise.std() == pytest.approx(2.0, abs=0.1)
    # deterministic per rng seed, different for another seed
    np.testing.assert_array_equal(out, shoot(constant(100.0), settings, seed=5))
    assert not np.array_equal(out, shoot(constant(100.0), settings, seed=6))


def test_defocus_blur_is_a_gaussian_of_sigma_times_the_fov_radius():
    step = constant(50.0)
    step[:, SIZE // 2 :] = 150.0  # a vertical edge through the centre
    out = shoot(step, CameraSettings(blur_sigma=0.05, jpeg_quality=100))  # sigma 2 px
    reference = gaussian_filter1d(np.where(np.arange(SIZE) < SIZE // 2, 50.0, 150.0), 2.0)
    row = out[SIZE // 2, 30:66, 1].astype(float)
    np.testing.assert_allclose(row, reference[30:66], atol=1.0)
    sharp = shoot(step, CameraSettings(jpeg_quality=100))
    assert sharp[SIZE // 2, SIZE // 2 - 1, 1] == 50 and sharp[SIZE // 2, SIZE // 2, 1] == 150
