"""Anatomy of the synthetic eye, version 2: where the disc and fovea sit, how big the disc is,
how the camera crops the field, that left and right eyes mirror, and that the foveal avascular
zone stays empty in the rendered vessel mask. Numbers come from the generator's stated anatomy
(module docstrings of drlib.synth.geometry and drlib.synth.vessels) and are pinned over fixed
seeds."""

import numpy as np
import pytest

from drlib.synth.geometry import DISC_DIAMETER_UM, fov_mask, fov_mask_of, sample_geometry
from drlib.synth.render import SynthConfig, render_fundus
from drlib.synth.vessels import FAZ_DIAMETER_UM


def geometries(n: int = 200, size: int = 512):
    return [sample_geometry(np.random.default_rng(seed), size, None) for seed in range(n)]


def test_disc_size_and_disc_fovea_distance_follow_a_45_degree_field():
    gs = geometries()
    dd = np.array([2 * g.disc_radius / g.fov_radius for g in gs])  # disc diameter in R
    dfd = np.array([g.disc_fovea_distance / g.fov_radius for g in gs])
    ratio = dfd / dd  # disc-fovea distance in disc diameters
    assert dd.min() >= 0.25 and dd.max() <= 0.30
    assert ratio.min() >= 2.3 and ratio.max() <= 2.7
    assert (round(float(np.median(dd)), 3), round(float(np.median(dfd)), 3)) == (0.277, 0.687)
    # micrometres per pixel come from the disc: 1.8 mm across
    g = gs[0]
    assert g.um_per_px * 2 * g.disc_radius == pytest.approx(DISC_DIAMETER_UM)


def test_the_disc_is_nasal_and_slightly_above_the_fovea():
    for g in geometries(50):
        assert g.side * (g.disc_centre[0] - g.fovea[0]) > 0
        assert g.disc_centre[1] <= g.fovea[1] + 1e-9


def test_left_and_right_eyes_mirror():
    for seed in range(10):
        right = sample_geometry(np.random.default_rng(seed), 512, "right")
        left = sample_geometry(np.random.default_rng(seed), 512, "left")
        for name in ("fovea", "disc_centre"):
            r = np.subtract(getattr(right, name), right.fov_centre)
            l_ = np.subtract(getattr(left, name), left.fov_centre)
            np.testing.assert_allclose(r, [-l_[0], l_[1]], atol=1e-9)
        assert right.disc_radius == left.disc_radius


def test_some_fields_are_cut_flat_or_notched_as_cameras_do():
    gs = geometries(400)
    flat = [g for g in gs if g.fov_flat > 0]
    notched = [g for g in gs if g.notch_angle is not None]
    assert (len(flat), len(notched)) == (PINNED_FLAT, PINNED_NOTCHED)
    g = flat[0]
    mask, circle = fov_mask_of(g), fov_mask(g.size, g.fov_centre, g.fov_radius)
    rows = np.flatnonzero(mask.any(axis=1))
    cut = g.fov_radius * g.fov_flat
    # flat top and bottom: the first and last rows sit ~cut inside the circle's
    circle_rows = np.flatnonzero(circle.any(axis=1))
    assert abs((rows[0] - circle_rows[0]) - cut) <= 1.5
    assert abs((circle_rows[-1] - rows[-1]) - cut) <= 1.5
    assert (mask <= circle).all()
    g = notched[0]
    lost = (fov_mask(g.size, g.fov_centre, g.fov_radius) & ~fov_mask_of(g)).sum()
    side = 2 * 0.035 * g.fov_radius
    assert 0.2 * side**2 < lost < 1.2 * side**2  # part of a small square on the rim


@pytest.mark.parametrize("seed", range(6))
def test_the_foveal_avascular_zone_is_empty_in_the_rendered_vessel_mask(seed):
    s = render_fundus(seed, 0, SynthConfig(size=512))
    g = s.geometry
    faz = 0.5 * FAZ_DIAMETER_UM / g.um_per_px
    yy, xx = np.mgrid[0:512, 0:512]
    inside = np.hypot(xx - g.fovea[0], yy - g.fovea[1]) < faz
    assert inside.sum() > 50
    assert not (s.masks["vessels"] & inside).any()


PINNED_FLAT = 148
PINNED_NOTCHED = 87
