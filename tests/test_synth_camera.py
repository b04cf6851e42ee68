"""drlib.synth.camera: camera settings and what apply_camera does to a photograph.

apply_camera's contract (docstrings): a float RGB image in [0, 255] plus sensor noise (new for
every photograph, in grey levels, the same in every channel) is quantised once to uint8 (values
below 0 and above 255 saturate); exposure x colour cast and gamma are one per-channel look-up
table (``camera_lut``); then defocus blur (sigma in units of the field-of-view radius), black
outside the field of view, and one JPEG encoding at the given quality. It returns
``(image, jpeg_bytes)``: the image is the decoded JPEG, the bytes what a data set writes; quality
100 means no JPEG (bytes None). ``sample_camera`` with ``variation=0`` is the ideal camera.
Checked on constant, ramp and step images whose outputs can be worked out by hand.
"""

from __future__ import annotations

import io
from dataclasses import replace

import cv2
import numpy as np
import pytest
from PIL import Image
from scipy.ndimage import gaussian_filter1d

from drlib.synth.camera import CameraSettings, apply_camera, camera_lut, sample_camera
from drlib.synth.geometry import distance_map, fov_mask
from drlib.synth.noise_fields import pixel_noise, smooth_noise

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


def textured(seed: int = 0) -> np.ndarray:
    """A float32 RGB image with structure at every scale (for JPEG tests), roughly 20..230."""
    rng = np.random.default_rng(seed)
    base = np.array([170.0, 90.0, 50.0], np.float32)
    colour = np.stack([30 * smooth_noise(rng, SIZE, 8.0) for _ in range(3)], axis=-1)
    detail = 10 * smooth_noise(rng, SIZE, 1.5)[..., None]  # fine detail in brightness only
    return np.clip(base + colour + detail, 0, 255).astype(np.float32)


def shoot(image: np.ndarray, settings: CameraSettings,
          seed: int = 0) -> tuple[np.ndarray, bytes | None]:
    return apply_camera(image.copy(), FOV, settings, RADIUS, np.random.default_rng(seed))


def decode_cv2(data: bytes) -> np.ndarray:
    bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)


def decode_pil(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as im:
        assert im.format == "JPEG" and im.mode == "RGB"
        return np.asarray(im)


def hand_lut(settings: CameraSettings) -> list[list[int]]:
    """``floor(clip(255 clip(v gain / 255, 0, 1) ** gamma + 0.5, 0, 255))`` per channel, in plain
    Python floats: the table camera_lut must equal."""
    table = []
    for c in settings.colour_cast:
        gain = settings.exposure * c
        table.append([int(min(max(255 * min(max(v * gain / 255, 0.0), 1.0) ** settings.gamma
                                  + 0.5, 0.0), 255.0)) for v in range(256)])
    return table


# ---------------------------------------------------------------------------------------------
# sample_camera


def test_variation_zero_is_the_ideal_camera():
    for seed in range(10):
        assert sample_camera(np.random.default_rng(seed), 0.0) == CameraSettings()
    ideal = CameraSettings()
    assert (ideal.exposure, ideal.colour_cast, ideal.gamma) == (1.0, (1.0, 1.0, 1.0), 1.0)
    assert (ideal.blur_sigma, ideal.noise_sigma, ideal.jpeg_quality) == (0.0, 0.0, 95)
    # variation 1 draws a camera of its own
    assert sample_camera(np.random.default_rng(0), 1.0) != ideal


@pytest.mark.parametrize(
    ("seed", "expected"),
    [
        (0, CameraSettings(0.9803793116552135, (1.0391731605669132, 1.006313855912577,
                                                0.9683708433951969),
                           1.036821211978664, 0.0, 2.0165894394179498, 95)),
        (1, CameraSettings(1.131158944253947, (1.0200240695043061, 0.924789223523535,
                                               1.0558238387476198),
                           1.045648698812793, 0.0, 2.5692564845511043, 80)),
        (2, CameraSettings(0.93992092320307, (0.8637360600010263, 1.1140281861809664,
                                              1.0710612210271486),
                           0.9679815191385954, 0.0011939645736564932, 0.6378665683326705, 86)),
        (3, CameraSettings(1.0647231656437355, (0.966507542562643, 0.9732065307254185,
                                                0.9871474784534331),
                           0.8170960613233654, 0.0009472420263843988, 0.8993472865926964, 89)),
    ],
)
def test_sample_camera_is_pinned_per_seed(seed, expected):
    got = sample_camera(np.random.default_rng(seed))
    assert isinstance(got.colour_cast, tuple) and isinstance(got.jpeg_quality, int)
    assert got.jpeg_quality == expected.jpeg_quality
    for name, value in expected.to_dict().items():
        assert got.to_dict()[name] == pytest.approx(value, rel=1e-12, abs=1e-15), name


def test_sample_camera_ranges_over_many_seeds():
    cameras = [sample_camera(np.random.default_rng(seed)) for seed in range(2000)]
    blurred = [c.blur_sigma for c in cameras if c.blur_sigma > 0]
    assert len(blurred) == 606  # about 30 % of photographs are out of focus (pinned)
    assert max(blurred) < 0.004
    assert {c.jpeg_quality for c in cameras} == set(range(75, 96))
    assert all(0.5 <= c.noise_sigma <= 3.0 for c in cameras)
    exposure = np.log([c.exposure for c in cameras])
    assert exposure.std() == pytest.approx(0.15, abs=0.01)
    # half the variation: half the spread, the same kind of camera
    half = [sample_camera(np.random.default_rng(seed), 0.5) for seed in range(2000)]
    assert np.log([c.exposure for c in half]).std() == pytest.approx(0.075, abs=0.005)
    assert all(0.25 <= c.noise_sigma <= 1.5 for c in half)


# ---------------------------------------------------------------------------------------------
# camera_lut


@pytest.mark.parametrize(
    "settings",
    [
        CameraSettings(),
        CameraSettings(exposure=1.3, colour_cast=(1.05, 0.97, 0.9), gamma=0.85),
        CameraSettings(exposure=0.7, colour_cast=(1.0, 1.0, 1.2), gamma=1.3),
        CameraSettings(exposure=2.5, gamma=2.0),
        sample_camera(np.random.default_rng(1)),
    ],
)
def test_camera_lut_is_the_hand_formula(settings):
    lut = camera_lut(settings)
    assert lut.shape == (1, 256, 3) and lut.dtype == np.uint8
    assert lut[0].T.tolist() == hand_lut(settings)
    assert np.all(np.diff(lut[0].astype(int), axis=0) >= 0)  # monotone in every channel
    assert lut[0, 0].tolist() == [0, 0, 0]  # black stays black


def test_camera_lut_values_are_pinned():
    ideal = camera_lut(CameraSettings())
    np.testing.assert_array_equal(ideal[0], np.repeat(np.arange(256)[:, None], 3, axis=1))
    at = [0, 1, 10, 50, 100, 128, 180, 200, 230, 255]
    warm = camera_lut(CameraSettings(exposure=1.3, colour_cast=(1.05, 0.97, 0.9), gamma=0.85))
    assert warm[0, at].T.tolist() == [[0, 3, 21, 83, 150, 185, 247, 255, 255, 255],
                                      [0, 3, 20, 78, 140, 173, 231, 253, 255, 255],
                                      [0, 3, 19, 73, 132, 162, 217, 237, 255, 255]]
    dark = camera_lut(CameraSettings(exposure=0.7, colour_cast=(1.0, 1.0, 1.2), gamma=1.3))
    assert dark[0, at].T.tolist() == [[0, 0, 2, 19, 47, 65, 102, 117, 140, 160],
                                      [0, 0, 2, 19, 47, 65, 102, 117, 140, 160],
                                      [0, 0, 3, 24, 60, 83, 129, 148, 178, 203]]
    # worked by hand: exposure 1.2 then gamma 2 at grey 100: floor(255 (120/255)^2 + 0.5) = 56
    assert camera_lut(CameraSettings(exposure=1.2, gamma=2.0))[0, 100].tolist() == [56] * 3


def test_apply_camera_maps_every_grey_level_through_the_lut():
    # a ramp through all 256 grey levels inside the field of view, no noise, no JPEG
    ramp = np.zeros((SIZE, SIZE), np.float32)
    inside = np.flatnonzero(FOV.ravel())
    ramp.ravel()[inside] = np.arange(inside.size) % 256
    image = np.repeat(ramp[..., None], 3, axis=2)
    settings = CameraSettings(exposure=1.3, colour_cast=(1.05, 0.97, 0.9), gamma=0.85,
                              jpeg_quality=100)
    out, data = shoot(image, settings)
    assert data is None
    lut = camera_lut(settings)[0]
    levels = ramp.astype(np.uint8)
    for c in range(3):
        np.testing.assert_array_equal(out[..., c][FOV], lut[levels[FOV], c])
    assert np.all(out[~FOV] == 0)


# ---------------------------------------------------------------------------------------------
# apply_camera on images worked out by hand


def test_ideal_camera_keeps_the_field_of_view_and_is_deterministic():
    image = constant(100.0)  # grey everywhere, also outside the field of view
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    out, data = apply_camera(image.copy(), FOV, CameraSettings(), RADIUS, rng)
    assert rng.bit_generator.state == state  # no noise: no random numbers drawn
    assert out.dtype == np.uint8 and out.shape == (SIZE, SIZE, 3)
    assert isinstance(data, bytes)
    again, data_again = shoot(image, CameraSettings())
    np.testing.assert_array_equal(out, again)  # same input, same pixels, same bytes
    assert data == data_again
    # inside: the grey level unchanged (a constant 8x8 block survives JPEG exactly)
    assert np.all(out[DEEP] == 100)
    # outside: black; exactly 0 away from the rim, JPEG ringing next to it only
    assert np.all(out[FAR_OUTSIDE] == 0)
    assert out[~FOV].max() <= 8
    assert np.all(out[FOV].max(axis=1) > 0)
    # without JPEG the field of view is kept exactly: the non-black pixels are the FOV mask
    lossless, none = shoot(image, CameraSettings(jpeg_quality=100))
    assert none is None
    np.testing.assert_array_equal(lossless.max(axis=2) > 0, FOV)
    assert np.all(lossless[FOV] == 100) and np.all(lossless[~FOV] == 0)


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (CameraSettings(exposure=1.2), 120),  # int(100 x 1.2 + 0.5)
        (CameraSettings(exposure=0.5), 50),  # int(100 x 0.5 + 0.5)
        (CameraSettings(exposure=3.0), 255),  # 300 saturates
        (CameraSettings(gamma=2.0), 39),  # int(255 (100/255)^2 + 0.5) = int(39.72)
        (CameraSettings(gamma=0.5), 160),  # int(255 (100/255)^0.5 + 0.5) = int(160.19)
        # exposure first, then gamma: int(255 (200/255)^2 + 0.5) = 157 (not 2 x 39 = 78)
        (CameraSettings(exposure=2.0, gamma=2.0), 157),
        (CameraSettings(blur_sigma=0.05), 100),  # blurring a constant changes nothing
    ],
)
def test_known_settings_on_a_constant_grey(settings, expected):
    for jpeg_quality in (settings.jpeg_quality, 100):
        out, _ = shoot(constant(100.0), replace(settings, jpeg_quality=jpeg_quality))
        assert np.all(out[DEEP] == expected)
        assert np.all(out[FAR_OUTSIDE] == 0)


@pytest.mark.parametrize(
    ("value", "settings", "expected"),
    [
        # quantised before the exposure: 100.4 -> 100 -> 200 (not rint(200.8) = 201)
        (100.4, CameraSettings(exposure=2.0, jpeg_quality=100), 200),
        (100.6, CameraSettings(exposure=2.0, jpeg_quality=100), 202),  # 101 x 2
        # saturated before the exposure: 300 -> 255 -> int(127.5 + 0.5) (not 150)
        (300.0, CameraSettings(exposure=0.5, jpeg_quality=100), 128),
    ],
)
def test_the_float_image_is_quantised_once_before_the_lut(value, settings, expected):
    out, _ = shoot(constant(value), settings)
    assert np.all(out[FOV] == expected) and np.all(out[~FOV] == 0)


def test_colour_cast_scales_each_channel():
    cast = CameraSettings(colour_cast=(1.1, 1.0, 0.9), jpeg_quality=100)
    out, _ = shoot(constant(100.0), cast)
    assert np.all(out[FOV] == [110, 100, 90])
    # through JPEG the colour survives to one grey level (YCbCr rounding)
    jpeg, _ = shoot(constant(100.0), CameraSettings(colour_cast=(1.1, 1.0, 0.9)))
    np.testing.assert_allclose(jpeg[DEEP], np.broadcast_to([110, 100, 90], jpeg[DEEP].shape),
                               atol=1)
    # a cast on a coloured fundus: red up, blue down, in proportion
    fundus, _ = shoot(constant((200.0, 90.0, 40.0)), cast)
    assert np.all(fundus[FOV] == [220, 90, 36])
    # exposure and cast multiply: int(100 x 1.2 x (1.1, 1.0, 0.9) + 0.5)
    both, _ = shoot(constant(100.0), replace(cast, exposure=1.2))
    assert np.all(both[FOV] == [132, 120, 108])


def test_sensor_noise_is_new_per_photograph_in_grey_levels_before_the_lut():
    settings = CameraSettings(noise_sigma=2.0, jpeg_quality=100)
    out, _ = shoot(constant(100.0), settings, seed=5)
    # the noise is pixel_noise drawn from the photograph's rng, added to the float image
    noise = pixel_noise(np.random.default_rng(5), SIZE)
    expected = np.rint(np.float32(100.0) + np.float32(2.0) * noise).astype(np.uint8)
    np.testing.assert_array_equal(out[..., 1][FOV], expected[FOV])
    assert np.all(out[..., 0] == out[..., 1]) and np.all(out[..., 1] == out[..., 2])
    assert np.all(out[~FOV] == 0)
    grey = out[..., 1][FOV].astype(float) - 100
    assert grey.mean() == pytest.approx(0.0, abs=0.1)
    assert grey.std() == pytest.approx(2.0, abs=0.1)
    assert np.abs(grey).max() <= 4  # uniform: at most sqrt(3) x 2 grey levels, rounded
    # deterministic per rng seed, different for another seed ...
    np.testing.assert_array_equal(out, shoot(constant(100.0), settings, seed=5)[0])
    assert not np.array_equal(out, shoot(constant(100.0), settings, seed=6)[0])
    # ... and new for every photograph drawn from one rng
    rng = np.random.default_rng(5)
    first, _ = apply_camera(constant(100.0), FOV, settings, RADIUS, rng)
    second, _ = apply_camera(constant(100.0), FOV, settings, RADIUS, rng)
    np.testing.assert_array_equal(first, out)
    assert np.mean(first[FOV] == second[FOV]) < 0.5
    # the noise passes through the LUT with the image: exposure 2 doubles it
    bright, _ = shoot(constant(60.0), replace(settings, exposure=2.0), seed=5)
    quantised = np.rint(np.float32(60.0) + np.float32(2.0) * noise).astype(np.uint8)
    lut = camera_lut(replace(settings, exposure=2.0))[0, :, 1]
    np.testing.assert_array_equal(bright[..., 1][FOV], lut[quantised][FOV])


def test_sensor_noise_saturates_at_black_instead_of_reflecting():
    # a nearly black fundus: noise below 0 is black, not |noise| (which would brighten it)
    settings = CameraSettings(noise_sigma=3.0, jpeg_quality=100)
    out, _ = shoot(constant(1.0), settings, seed=2)
    noise = pixel_noise(np.random.default_rng(2), SIZE)
    expected = np.clip(np.rint(np.float32(1.0) + np.float32(3.0) * noise), 0, 255)
    np.testing.assert_array_equal(out[..., 0][FOV], expected[FOV].astype(np.uint8))
    assert np.mean(out[..., 0][FOV] == 0) > 0.3  # about 40 % of the pixels go below black
    # the same at white: above 255 saturates
    out, _ = shoot(constant(254.0), settings, seed=2)
    expected = np.clip(np.rint(np.float32(254.0) + np.float32(3.0) * noise), 0, 255)
    np.testing.assert_array_equal(out[..., 0][FOV], expected[FOV].astype(np.uint8))


def test_defocus_blur_is_a_gaussian_of_sigma_times_the_fov_radius():
    step = constant(50.0)
    step[:, SIZE // 2 :] = 150.0  # a vertical edge through the centre
    out, _ = shoot(step, CameraSettings(blur_sigma=0.05, jpeg_quality=100))  # sigma 2 px
    reference = gaussian_filter1d(np.where(np.arange(SIZE) < SIZE // 2, 50.0, 150.0), 2.0)
    row = out[SIZE // 2, 30:66, 1].astype(float)
    np.testing.assert_allclose(row, reference[30:66], atol=1.0)
    sharp, _ = shoot(step, CameraSettings(jpeg_quality=100))
    assert sharp[SIZE // 2, SIZE // 2 - 1, 1] == 50 and sharp[SIZE // 2, SIZE // 2, 1] == 150
    # the blur comes after the LUT (it blurs 10 | 88, not 50 | 150) and before the field of
    # view is cut out (black outside stays exactly black)
    curved, _ = shoot(step, CameraSettings(gamma=2.0, blur_sigma=0.05, jpeg_quality=100))
    lut = camera_lut(CameraSettings(gamma=2.0))[0, :, 1]
    assert (lut[50], lut[150]) == (10, 88)
    reference = gaussian_filter1d(np.where(np.arange(SIZE) < SIZE // 2, 10.0, 88.0), 2.0)
    np.testing.assert_allclose(curved[SIZE // 2, 30:66, 1].astype(float), reference[30:66],
                               atol=1.0)
    assert np.all(curved[~FOV] == 0) and np.all(out[~FOV] == 0)


# ---------------------------------------------------------------------------------------------
# JPEG: encoded once, the returned image is what a reader of the bytes sees


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_the_returned_bytes_decode_exactly_to_the_returned_image(seed):
    settings = sample_camera(np.random.default_rng(seed))
    out, data = shoot(textured(seed), settings, seed=seed)
    assert isinstance(data, bytes) and data[:2] == b"\xff\xd8" and data[-2:] == b"\xff\xd9"
    np.testing.assert_array_equal(decode_cv2(data), out)
    np.testing.assert_array_equal(decode_pil(data), out)
    # the bytes are the single encoding of the uncompressed photograph at the camera's quality
    lossless, none = shoot(textured(seed), replace(settings, jpeg_quality=100), seed=seed)
    assert none is None
    ok, once = cv2.imencode(".jpg", cv2.cvtColor(lossless, cv2.COLOR_RGB2BGR),
                            [cv2.IMWRITE_JPEG_QUALITY, settings.jpeg_quality])
    assert ok and once.tobytes() == data
    # ... and lossy: close to it (JPEG loses mostly the per-pixel sensor noise), not equal;
    # another photograph through the same camera differs by over 30 grey levels
    assert not np.array_equal(out, lossless)
    assert np.abs(out.astype(int) - lossless.astype(int))[DEEP].mean() < 6


def test_jpeg_quality_sets_the_compression_and_100_turns_it_off():
    image = textured(7)
    sizes = {}
    for quality in (75, 85, 95):
        out, data = shoot(image, CameraSettings(jpeg_quality=quality))
        np.testing.assert_array_equal(decode_cv2(data), out)
        sizes[quality] = len(data)
    assert sizes[75] < sizes[85] < sizes[95]
    lossless, none = shoot(image, CameraSettings(jpeg_quality=100))
    assert none is None
    # no JPEG: the ideal camera returns the quantised image, black outside the field of view
    expected = np.where(FOV[..., None], np.rint(image), 0).astype(np.uint8)
    np.testing.assert_array_equal(lossless, expected)

