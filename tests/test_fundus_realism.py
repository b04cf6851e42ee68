"""drlib.metrics.fundus_realism: box counting on shapes of known dimension, vessels on drawn lines,
and the real photograph's measures pinned (skimage.data.retina(), a healthy left eye)."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pandas as pd
import pytest
from skimage import data

from drlib.metrics import fundus_realism as fr

# --------------------------------------------------------------------------------------------
# Box counting
# --------------------------------------------------------------------------------------------

N = 256


def _blank(n: int = N) -> np.ndarray:
    return np.zeros((n, n), bool)


def test_box_counting_filled_square_is_two() -> None:
    square = _blank()
    square[64:192, 64:192] = True
    assert fr.box_counting_dimension(square) == pytest.approx(2.0, abs=1e-9)
    assert fr.box_counting_dimension(np.ones((N, N), bool)) == pytest.approx(2.0, abs=1e-9)


def test_box_counting_lines_are_one() -> None:
    line = _blank()
    line[100, :] = True
    assert fr.box_counting_dimension(line) == pytest.approx(1.0, abs=1e-9)
    assert fr.box_counting_dimension(np.eye(N, dtype=bool)) == pytest.approx(1.0, abs=1e-9)


def test_box_counting_sierpinski_triangle_is_log2_3() -> None:
    # Pascal's triangle mod 2 on a 2^k grid: every box of side 2^m holds a copy or nothing, so the
    # counts are exactly 3^(k-m) and the slope exactly log2(3).
    i, j = np.indices((N, N))
    sierpinski = ((i & j) == j) & (j <= i)
    sizes, counts = fr.box_counts(sierpinski)
    np.testing.assert_array_equal(sizes, [2, 4, 8, 16, 32, 64])
    np.testing.assert_array_equal(counts, 3 ** (8 - np.log2(sizes).astype(int)))
    assert fr.box_counting_dimension(sierpinski) == pytest.approx(math.log2(3), abs=1e-9)


def test_box_counting_drawn_circle_and_disk() -> None:
    # Finite-size values over box sizes 2..64 (a 1-px outline and a filled disk of radius 100).
    outline = np.zeros((N, N), np.uint8)
    cv2.circle(outline, (128, 128), 100, 1, 1)
    disk = np.zeros((N, N), np.uint8)
    cv2.circle(disk, (128, 128), 100, 1, -1)
    assert fr.box_counting_dimension(outline.astype(bool)) == pytest.approx(0.944, abs=0.005)
    assert fr.box_counting_dimension(disk.astype(bool)) == pytest.approx(1.807, abs=0.005)


def test_box_counting_edge_cases() -> None:
    assert math.isnan(fr.box_counting_dimension(_blank(64)))
    with pytest.raises(ValueError, match=r"mask \(8, 8\) too small for box counting"):
        fr.box_counting_dimension(np.ones((8, 8), bool))
    # a non-square mask: sizes run to a quarter of the longer side
    sizes, _ = fr.box_counts(np.ones((100, 300), bool))
    np.testing.assert_array_equal(sizes, [2, 4, 8, 16, 32, 64])


# --------------------------------------------------------------------------------------------
# Field of view and vessels on a drawn eye
# --------------------------------------------------------------------------------------------

ORANGE = (200, 95, 50)
SEGMENTS = [((80, 150), (430, 200), 7), ((100, 380), (420, 300), 5), ((250, 60), (270, 460), 4),
            ((150, 100), (380, 420), 3)]


def _drawn_eye(
    vessel_rgb: tuple[int, int, int] = (150, 60, 35), flat: int = 0, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """An orange disc (radius 240 px, centre 256) with dark straight 'vessels' and mild noise."""
    img = np.zeros((512, 512, 3), np.uint8)
    cv2.circle(img, (256, 256), 240, ORANGE, -1)
    if flat:
        img[:flat] = 0
        img[512 - flat:] = 0
    inside = img.any(axis=2)
    lines = np.zeros((512, 512), np.uint8)
    for p, q, t in SEGMENTS:
        cv2.line(lines, p, q, 1, t)
    vessels = lines.astype(bool) & inside
    img[vessels] = vessel_rgb
    noise = np.random.default_rng(seed).normal(0, 3.0, img.shape) * inside[..., None]
    return np.clip(img + noise, 0, 255).astype(np.uint8), vessels


def test_field_of_view_of_a_drawn_circle() -> None:
    img, _ = _drawn_eye()
    img[300:330, 300:330] = 5  # a black lesion inside: a hole, filled
    fov = fr.field_of_view(img)
    assert fov[315, 315]
    assert not fov[5, 5]
    assert fr.field_radius(fov) == pytest.approx(240.5, abs=0.6)
    assert fr.field_centre(fov) == pytest.approx((256, 256), abs=0.6)
    assert fov.sum() == pytest.approx(math.pi * 240**2, rel=0.01)


def test_field_radius_uses_the_width_when_top_and_bottom_are_cut() -> None:
    img, _ = _drawn_eye(flat=80)
    fov = fr.field_of_view(img)
    assert fr.field_radius(fov) == pytest.approx(240.5, abs=0.6)
    rows = np.flatnonzero(fov.any(axis=1))
    assert rows[-1] - rows[0] + 1 == 512 - 2 * 80


def test_vessel_mask_finds_drawn_lines_and_little_else() -> None:
    img, lines = _drawn_eye()
    fov = fr.field_of_view(img)
    found = fr.vessel_mask(img, fov)
    assert found.shape == lines.shape
    r = round(fr.RIM_MARGIN * 240)  # lines reaching the rim are not counted there
    rim = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    region = cv2.erode(fov.astype(np.uint8), rim).astype(bool)
    truth = lines & region
    hit = (found & truth).sum()
    dice = 2 * hit / (found.sum() + truth.sum())
    assert round(float(dice), 2) == 0.90
    assert hit / truth.sum() > 0.93  # recall
    assert hit / found.sum() > 0.84  # precision: the mask is barely wider than the lines
    near = cv2.dilate(lines.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    assert (found & ~near).sum() <= 0.005 * found.sum()  # nothing away from the lines
    assert fr.vessel_area_fraction(img, fov) == pytest.approx(0.0607, abs=0.001)


def test_vessel_threshold_is_absolute_not_adaptive() -> None:
    # Lines 2% darker in green than the background are below the fixed contrast knee: an
    # adaptive rule (Otsu, a quantile) would still call them vessels.
    faint, _ = _drawn_eye(vessel_rgb=(198, 93, 49))
    assert fr.vessel_area_fraction(faint) < 0.002
    assert not fr.vessel_mask(faint).any()


# --------------------------------------------------------------------------------------------
# The real photograph
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def retina() -> np.ndarray:
    return data.retina()


@pytest.fixture(scope="module")
def retina_measures(retina: np.ndarray) -> dict[str, float]:
    return fr.anatomy_measures(retina)


def test_retina_field_of_view(retina: np.ndarray) -> None:
    fov = fr.field_of_view(retina)
    assert fr.field_radius(fov) == 696.0
    assert fr.field_centre(fov) == (704.5, 703.0)


def test_retina_disc_is_on_the_left_and_fovea_near_the_centre(retina: np.ndarray) -> None:
    fov = fr.field_of_view(retina)
    R = fr.field_radius(fov)
    cx, cy = fr.field_centre(fov)
    x, y, d = fr.locate_disc(retina, fov)
    assert x < retina.shape[1] / 2  # a left eye: the disc on the left of the picture
    assert (round(x), round(y), round(d)) == (233, 657, 188)
    fx, fy = fr.locate_fovea(retina, fov, (x, y, d))
    assert math.hypot(fx - cx, fy - cy) < 0.03 * R  # macula-centred
    assert (round(fx), round(fy)) == (708, 705)
    # the same answer when the disc is left to locate_fovea
    assert fr.locate_fovea(retina, fov) == (fx, fy)


def test_retina_measures_pinned(retina_measures: dict[str, float]) -> None:
    m = retina_measures
    assert list(m) == list(fr.MEASURES)
    assert all(isinstance(v, float) for v in m.values())
    assert round(m["disc_diameter"], 3) == 0.270
    assert round(m["disc_fovea_distance"], 2) == 0.69
    assert round(m["vessel_fraction"], 3) == 0.157
    assert round(m["vessel_fractal_dimension"], 2) == 1.44
    assert [round(m[f"colour_mean_{c}"]) for c in "rgb"] == [207, 83, 60]
    assert [round(m[f"colour_std_{c}"], 1) for c in "rgb"] == [21.8, 19.4, 14.5]
    # the module's reference constant is what the code measures
    for name, value in fr.REAL_RETINA_MEASURES.items():
        assert m[name] == pytest.approx(value, rel=2e-3), name


def test_retina_measures_do_not_depend_on_resolution(
    retina: np.ndarray, retina_measures: dict[str, float]
) -> None:
    small = cv2.resize(retina, (512, 512), interpolation=cv2.INTER_AREA)
    m = fr.anatomy_measures(small)
    for name in ("disc_diameter", "disc_fovea_distance", "vessel_fraction"):
        assert m[name] == pytest.approx(retina_measures[name], rel=0.03), name
    assert m["vessel_fractal_dimension"] == pytest.approx(
        retina_measures["vessel_fractal_dimension"], abs=0.02
    )


def test_right_eye_mirror_puts_the_disc_on_the_right(retina: np.ndarray) -> None:
    mirror = np.ascontiguousarray(retina[:, ::-1])
    x, _, d = fr.locate_disc(mirror)
    assert x > mirror.shape[1] / 2
    assert round(d) == 188


# --------------------------------------------------------------------------------------------
# Bands and the table
# --------------------------------------------------------------------------------------------


def test_real_bands() -> None:
    real = fr.REAL_RETINA_MEASURES
    bands = fr.REAL_BANDS
    assert set(bands) == set(fr.MEASURES) == set(fr.BAND_WIDTHS)
    assert bands["vessel_fraction"] == pytest.approx((real["vessel_fraction"] * 0.65,
                                                      real["vessel_fraction"] * 1.35))
    assert bands["vessel_fractal_dimension"] == pytest.approx(
        (real["vessel_fractal_dimension"] - 0.1, real["vessel_fractal_dimension"] + 0.1))
    assert bands["disc_diameter"] == pytest.approx((0.2702 * 0.8, 0.2702 * 1.2))
    assert bands["disc_fovea_distance"] == pytest.approx((0.6858 * 0.85, 0.6858 * 1.15))
    assert bands["colour_mean_g"] == pytest.approx((82.76 - 15, 82.76 + 15))
    assert bands["colour_std_b"] == pytest.approx((14.52 * 0.5, 14.52 * 1.5))
    for low, high in bands.values():
        assert low < high


def test_realism_table() -> None:
    real = dict(fr.REAL_RETINA_MEASURES)
    synthetic = [dict(real) for _ in range(5)]
    for k, s in enumerate(synthetic):
        s["vessel_fraction"] = real["vessel_fraction"] * (1.5 + 0.1 * k)  # all too many
        s["colour_mean_r"] = real["colour_mean_r"] - 10 + k  # inside +-15
    synthetic[0]["disc_diameter"] = float("nan")  # a failed measurement is left out
    table = fr.realism_table(real, synthetic)
    assert isinstance(table, pd.DataFrame)
    assert list(table.columns) == ["measure", "real", "synthetic median", "synthetic q05",
                                   "synthetic q95", "band low", "band high", "inside"]
    assert list(table["measure"]) == list(fr.BAND_WIDTHS)
    row = table.set_index("measure")
    assert not row.loc["vessel_fraction", "inside"]
    assert row.loc["vessel_fraction", "synthetic median"] == pytest.approx(
        real["vessel_fraction"] * 1.7)
    assert row.loc["colour_mean_r", "inside"]
    assert row.loc["colour_mean_r", "synthetic median"] == pytest.approx(real["colour_mean_r"] - 8)
    assert row.loc["colour_mean_r", "synthetic q05"] == pytest.approx(real["colour_mean_r"] - 9.8)
    assert row.loc["disc_diameter", "inside"]
    assert table["inside"].sum() == len(fr.MEASURES) - 1
    with pytest.raises(ValueError, match="no synthetic measurements"):
        fr.realism_table(real, [])
