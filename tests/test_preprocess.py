"""Tests of drlib.data.preprocess on a real fundus photograph (skimage.data.retina, 1411 x 1411).

The photograph is also padded (black side bands, 1411 x 1800) and cut (top and bottom, as many
EyePACS photographs are), and synthetic masks placed on it must stay aligned with the image
through crop and rescale.
"""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data
from scipy import ndimage

from drlib.data.preprocess import (
    FieldOfViewError,
    clip_rim,
    crop_to_eye,
    fill_holes,
    find_field_of_view,
    graham_preprocess,
    plain_preprocess,
    resize,
    scale_to_radius,
    subtract_local_average,
)

PAD = 194  # (1800 - 1411) // 2
CUT = 250  # rows cut off at the top (and the same at the bottom)


@pytest.fixture(scope="module")
def retina() -> np.ndarray:
    return skimage.data.retina()


@pytest.fixture(scope="module")
def fov(retina):
    return find_field_of_view(retina)


def _padded(retina):
    wide = np.zeros((1411, 1800, 3), np.uint8)
    wide[:, PAD : PAD + 1411] = retina
    return wide


def _disc(hw, x, y, r):
    yy, xx = np.mgrid[: hw[0], : hw[1]]
    return (xx - x) ** 2 + (yy - y) ** 2 <= r**2


def _centroid(mask):
    ys, xs = np.nonzero(mask)
    return xs.mean(), ys.mean()


def test_field_of_view_of_real_photograph(retina, fov):
    # The photograph's field of view spans about columns 0..1407 and rows 3..1404.
    assert abs(fov.cx - 705) < 6 and abs(fov.cy - 705) < 6
    assert 695 < fov.radius < 712
    assert fov.mask.dtype == bool and fov.mask.shape == retina.shape[:2]
    assert 0.75 < fov.mask.mean() < 0.8  # pi r^2 / 1411^2 = 0.78
    assert fov.mask[705, 705] and not fov.mask[5, 5]


def test_field_of_view_with_side_bands(retina, fov):
    wide = find_field_of_view(_padded(retina))
    # This photograph's rim is not a perfect circle (edge points scatter by about 6 px around
    # the best circle), so estimates from differently framed copies agree to a few pixels.
    assert abs(wide.cx - (fov.cx + PAD)) < 4 and abs(wide.cy - fov.cy) < 4
    assert abs(wide.radius - fov.radius) < 5
    assert not wide.mask[:, :PAD].any() and not wide.mask[:, PAD + 1411 :].any()


def test_field_of_view_cut_top_and_bottom(retina, fov):
    cut = retina[CUT : 1411 - CUT]
    found = find_field_of_view(cut)
    assert abs(found.cy - (fov.cy - CUT)) < 5 and abs(found.cx - fov.cx) < 3
    assert abs(found.radius - fov.radius) < 5  # the full radius, not half the height
    # cut inside the frame: black bands above and below the visible part
    framed = retina.copy()
    framed[:CUT] = 0
    framed[1411 - CUT :] = 0
    found = find_field_of_view(framed)
    assert abs(found.cy - fov.cy) < 5 and abs(found.radius - fov.radius) < 5
    assert not found.mask[: CUT - 2].any()  # the mask follows the cut, not the circle


def test_field_of_view_with_dark_rim(retina, fov):
    yy, xx = np.mgrid[:1411, :1411]
    falloff = np.clip(1.1 - np.hypot(xx - 705, yy - 705) / 700, 0.05, 1.0)
    dark = (retina * falloff[..., None] * 0.6).astype(np.uint8)
    found = find_field_of_view(dark)
    assert abs(found.cx - fov.cx) < 4 and abs(found.cy - fov.cy) < 4
    assert abs(found.radius - fov.radius) < 0.03 * fov.radius


def test_fill_holes_fills_enclosed_background_only():
    # a square ring (its centre is a hole: filled), a C open to the border (not filled), and a
    # diamond whose centre touches the outside only diagonally: background is 4-connected, as
    # in scipy, so that centre is a hole too
    mask = np.zeros((7, 16), bool)
    mask[1:6, 1:6] = True
    mask[3, 3] = False
    mask[1:6, 8:12] = True
    mask[3, 9:12] = False
    mask[2, 14] = mask[4, 14] = mask[3, 13] = mask[3, 15] = True
    filled = fill_holes(mask)
    holes = np.zeros_like(mask)
    holes[3, 3] = holes[3, 14] = True
    assert np.array_equal(filled, mask | holes)


def test_fill_holes_equals_scipys_binary_fill_holes():
    from scipy import ndimage

    rng = np.random.default_rng(0)
    for _ in range(400):
        h, w = rng.integers(1, 30, 2)
        mask = rng.random((h, w)) < rng.uniform(0.2, 0.9)
        assert np.array_equal(fill_holes(mask), ndimage.binary_fill_holes(mask))


def test_no_field_of_view():
    with pytest.raises(FieldOfViewError, match="no field of view"):
        find_field_of_view(np.zeros((200, 300, 3), np.uint8))


def test_crop_to_eye_centres_the_eye(retina, fov):
    wide = _padded(retina)
    masks = {"optic_disc": _disc(wide.shape[:2], PAD + 1100, 600, 40)}
    out, out_masks = crop_to_eye(wide, masks)
    side = round(2 * fov.radius)
    assert abs(out.shape[0] - side) <= 10 and out.shape[0] == out.shape[1]
    assert out_masks["optic_disc"].shape == out.shape[:2]
    assert out_masks["optic_disc"].sum() == masks["optic_disc"].sum()  # nothing lost
    # the eye is centred: the crop's own field of view is in the middle
    inner = find_field_of_view(out)
    assert abs(inner.cx - (out.shape[1] - 1) / 2) < 3 and abs(inner.cy - (out.shape[0] - 1) / 2) < 3


@pytest.mark.parametrize("variant", ["original", "side_bands", "cut"])
def test_mask_stays_aligned_through_crop_and_scale(retina, variant):
    image = {"original": retina, "side_bands": _padded(retina),
             "cut": retina[CUT : 1411 - CUT]}[variant]
    h, w = image.shape[:2]
    # a marker the image and a mask share: a pure blue disc right of centre
    x, y, r = w / 2 + 350, h / 2 - 120, 30
    disc = _disc((h, w), x, y, r)
    image = image.copy()
    image[disc] = (0, 0, 255)
    found = find_field_of_view(image)
    size = 256
    for fn in (plain_preprocess, graham_preprocess):
        out, masks = fn(image, {"optic_disc": disc}, size=size)
        assert out.shape == (size, size, 3) and out.dtype == np.uint8
        mask = masks["optic_disc"]
        assert mask.dtype == bool and mask.shape == (size, size)
        scale = size / (2 * found.radius)
        centre = (size - 1) / 2
        expected = ((x - found.cx) * scale + centre, (y - found.cy) * scale + centre)
        got = _centroid(mask)
        assert abs(got[0] - expected[0]) < 1.5 and abs(got[1] - expected[1]) < 1.5
        assert abs(mask.sum() - np.pi * (r * scale) ** 2) < 0.2 * np.pi * (r * scale) ** 2
        if fn is plain_preprocess:  # the blue marker in the image sits under the mask
            blue = (out[..., 2] > 150) & (out[..., 0] < 100)
            bx, by = _centroid(blue)
            assert abs(bx - got[0]) < 1.0 and abs(by - got[1]) < 1.0


def test_scale_to_radius_output_size_and_margin(retina):
    out, masks = scale_to_radius(retina, radius=100, margin=1.1)
    assert out.shape == (220, 220, 3) and masks is None
    inner = find_field_of_view(out)
    assert abs(inner.radius - 100) < 3
    out, _ = scale_to_radius(retina[CUT : 1411 - CUT], radius=64)
    assert out.shape == (128, 128, 3)
    assert out[:10].max() < 30 and out[-10:].max() < 30  # the cut parts are padded black


def test_plain_resize_any_aspect_and_mask_rules():
    image = np.zeros((100, 300, 3), np.uint8)
    image[:, 150:] = 200
    half = np.zeros((100, 300), bool)
    half[:, 150:] = True
    speck = np.zeros((100, 300), bool)
    speck[51, 151] = True  # a one-pixel lesion
    sampled = np.zeros((100, 300), bool)
    sampled[51, 153] = True  # a one-pixel lesion on a pixel that nearest neighbour samples
    out, masks = resize(image, {"half": half, "speck": speck, "sampled": sampled}, 50)
    assert out.shape == (50, 50, 3) and masks["half"].shape == (50, 50)
    assert masks["half"][:, 25:].all() and not masks["half"][:, :25].any()
    assert masks["half"].dtype == bool
    # Nearest neighbour, pixel-centre aligned: output (r, c) reads source row 2r + 1 and column
    # 6c + 3. Row 51 = 2 * 25 + 1 is read, column 151 is not (153 = 6 * 25 + 3 is): the speck
    # at (51, 151) is dropped, the one at (51, 153) lands on (25, 25) ...
    assert masks["speck"].sum() == 0
    assert masks["sampled"].sum() == 1 and masks["sampled"][25, 25]
    _, kept = resize(image, {"speck": speck}, 50, mask_rule="any")
    assert kept["speck"].sum() == 1 and kept["speck"][25, 25]  # ...the "any" rule keeps both
    out, _ = resize(image, None, (40, 60))
    assert out.shape == (40, 60, 3)


def _rounded_bounds(exact: np.ndarray, slack: float) -> tuple[np.ndarray, np.ndarray]:
    """The uint8 values that rounding ``exact`` (float64) may give when the code under test
    computes it in float32: ``rint(exact)``, or either neighbour within ``slack`` of a tie."""
    low = np.clip(np.rint(exact - slack), 0, 255)
    high = np.clip(np.rint(exact + slack), 0, 255)
    return low, high


def _graham_formula(image: np.ndarray, sigma: float, mode: str = "mirror") -> np.ndarray:
    """Graham's 4 * img - 4 * GaussianBlur(img, sigma) + 128, unrounded, with SciPy's Gaussian
    (truncated at 4 sigma, as OpenCV's kernel of 2 * round(4 sigma) + 1 taps). "mirror" is
    OpenCV's default border (BORDER_REFLECT_101: ...cb|abc...)."""
    img = image.astype(np.float64)
    blurred = ndimage.gaussian_filter(img, (sigma, sigma, 0), truncate=4.0, mode=mode)
    return 4.0 * img - 4.0 * blurred + 128.0


def test_graham_output_properties(retina):
    out, masks = graham_preprocess(retina, {"fov_test": np.ones(retina.shape[:2], bool)}, size=512)
    assert out.shape == (512, 512, 3) and out.dtype == np.uint8
    inside = _disc((512, 512), 255.5, 255.5, 0.9 * 256 - 1)
    outside = ~_disc((512, 512), 255.5, 255.5, 0.9 * 256 + 1)
    assert np.all(out[outside] == 128)
    assert np.all(np.abs(out[inside].mean(axis=0) - 128) < 5)  # local average removed
    assert out[inside].std() > 5  # detail kept (and amplified)
    assert not masks["fov_test"][outside].any()  # masks clipped with the rim
    assert masks["fov_test"][inside].all()
    # Inside the rim, every pixel is Graham's formula (sigma = radius / 30 = 256 / 30 px) of the
    # eye scaled to radius 256, clipped to 0..255 and rounded to the nearest integer.
    scaled, _ = scale_to_radius(retina, radius=256, margin=1.0)
    low, high = _rounded_bounds(_graham_formula(scaled, 256 / 30), slack=1e-3)
    assert np.all((out[inside] >= low[inside]) & (out[inside] <= high[inside]))
    assert np.count_nonzero(low[inside] != high[inside]) < 0.01 * inside.sum() * 3


def test_subtract_local_average_is_grahams_formula():
    """Against SciPy's Gaussian, and on a sinusoid, whose blurred copy is the same sinusoid with
    its amplitude times exp(-2 pi^2 sigma^2 / wavelength^2) (the Gaussian's Fourier transform)."""
    rng = np.random.default_rng(0)
    image = ndimage.uniform_filter(rng.integers(0, 256, (120, 160, 3)).astype(np.float64),
                                   (5, 5, 0)).round().astype(np.uint8)
    # default sigma: radius / 30 with the radius half the shorter side (60 px): sigma 2 px
    for kwargs, sigma in (({}, 2.0), ({"radius": 90.0, "sigma_fraction": 1 / 15}, 6.0)):
        out, masks = subtract_local_average(image, **kwargs)
        assert out.dtype == np.uint8 and out.shape == image.shape and masks is None
        exact = _graham_formula(image, sigma, mode="nearest")
        edge = int(4 * sigma + 0.5) + 1  # away from the borders, the border rule plays no part
        low, high = _rounded_bounds(exact[edge:-edge, edge:-edge], slack=1e-3)
        interior = out[edge:-edge, edge:-edge]
        assert np.all((interior >= low) & (interior <= high)), kwargs
        assert (exact < 0).any() and (exact > 255).any()  # clipping was exercised
    # a vertical sinusoid of wavelength 32 px, amplitude 20, around 128 (float image): the
    # output is 128 + 4 * 20 * (1 - exp(-2 pi^2 sigma^2 / 32^2)) * sin(2 pi x / 32), with
    # sigma = 128 / 30 px: an amplitude of 23.68
    wavelength, amplitude, sigma = 32.0, 20.0, 128 / 30
    x = np.arange(256)
    wave = np.empty((256, 256, 3), np.float32)
    wave[:] = (128 + amplitude * np.sin(2 * np.pi * x / wavelength))[None, :, None]
    out, _ = subtract_local_average(wave)
    kept = 1 - np.exp(-2 * np.pi**2 * sigma**2 / wavelength**2)
    assert 4 * amplitude * kept == pytest.approx(23.6768, abs=1e-4)
    exact = np.broadcast_to((128 + 4 * amplitude * kept * np.sin(2 * np.pi * x / wavelength))
                            [None, :, None], wave.shape)
    edge = int(4 * sigma + 0.5) + 1
    low, high = _rounded_bounds(exact[:, edge:-edge], slack=0.02)
    interior = out[:, edge:-edge]
    assert np.all((interior >= low) & (interior <= high))
    assert (interior.min(), interior.max()) == (104, 152)


def test_graham_on_cut_photograph(retina):
    out, _ = graham_preprocess(retina[CUT : 1411 - CUT], size=256)
    assert out.shape == (256, 256, 3)
    assert np.all(out[:20] == 128) and np.all(out[-20:] == 128)  # no field of view: grey
    visible = (out != 128).any(axis=2)
    assert abs(out[visible].mean() - 128) < 10


def test_photometric_steps_keep_masks():
    flat = np.full((64, 64, 3), 90, np.uint8)
    mask = {"m": _disc((64, 64), 20, 20, 5)}
    out, same = subtract_local_average(flat, mask)
    assert np.all(out == 128) and same["m"] is mask["m"]
    out, clipped = clip_rim(flat, mask, fraction=0.5)
    assert out[0, 0].tolist() == [128, 128, 128] and out[32, 32].tolist() == [90, 90, 90]
    # half the radius (32 px) about the centre (31.5, 31.5): everything outside is grey and
    # the mask keeps only its part inside (35 of its 81 pixels)
    yy, xx = np.mgrid[:64, :64]
    inside = (xx - 31.5) ** 2 + (yy - 31.5) ** 2 <= 16**2
    assert np.all(out[~inside] == 128) and np.all(out[inside] == 90)
    np.testing.assert_array_equal(clipped["m"], mask["m"] & inside)
    assert (mask["m"].sum(), clipped["m"].sum()) == (81, 35)


def test_misaligned_mask_is_refused(retina):
    with pytest.raises(ValueError, match="mask 'bad' has shape"):
        plain_preprocess(retina, {"bad": np.zeros((10, 10), bool)}, size=64)
    with pytest.raises(TypeError, match="by keyword"):
        subtract_local_average(retina, 1 / 30)
