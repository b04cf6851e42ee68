"""The synthetic fundus generator: reproducible, graded from what it drew (on both scales), masks
aligned, treated eyes with their scars beside the lesions that grade them."""

import hashlib

import numpy as np
import pytest

from drlib.core.lesion_types import ANATOMY, LESIONS
from drlib.synth.geometry import sample_geometry
from drlib.synth.grading import SCALES, grade_all, grade_inventory
from drlib.synth.lesion_plan import sample_plan
from drlib.synth.render import SynthConfig, render_fundus


def _digest(sample):
    h = hashlib.sha256(sample.image.tobytes())
    for name in sorted(sample.masks):
        h.update(np.packbits(sample.masks[name]).tobytes())
    return h.hexdigest()


def test_same_seed_same_bytes():
    assert _digest(render_fundus(7, 3, size=256)) == _digest(render_fundus(7, 3, size=256))
    assert _digest(render_fundus(7, 3, size=256)) != _digest(render_fundus(8, 3, size=256))


@pytest.mark.parametrize("grade", range(5))
def test_rendered_eyes_are_graded_as_their_target(grade):
    for seed in range(8):
        s = render_fundus(100 * grade + seed, grade, size=256)
        assert s.grade == grade == s.label == s.grades["icdr"]
        assert grade_inventory(s.inventory) == grade
        assert s.grades == grade_all(s.inventory)
        assert s.meta["label_scale"] == "icdr"


@pytest.mark.parametrize("scale", SCALES)
def test_rendered_eyes_grade_back_on_the_scale_they_were_planned_for(scale):
    cfg = SynthConfig(size=128, label_scale=scale)
    for grade in range(5):
        for seed in range(3):
            s = render_fundus(1000 + 10 * grade + seed, grade, cfg)
            assert s.grade == s.label == s.grades[scale] == grade, (scale, grade, seed)
            assert grade_inventory(s.inventory, scale) == grade
            assert set(s.grades) == set(SCALES) and s.meta["label_scale"] == scale


def _replayed_plan(seed: int, grade: int, size: int, scale: str = "icdr"):
    """The plan render_fundus(seed, grade) draws, without rendering."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1729]))
    sample_geometry(rng, size, None)
    return sample_plan(grade, rng, scale)


@pytest.mark.parametrize("scale", SCALES)
def test_drawn_inventory_equals_the_plan(scale):
    """What was drawn is what was planned: every lesion landed in its planned quadrant."""
    for seed in range(30):
        grade = seed % 5
        s = render_fundus(seed, grade, SynthConfig(size=256, label_scale=scale))
        assert s.inventory == _replayed_plan(seed, grade, 256, scale).inventory()
        assert s.presentation == _replayed_plan(seed, grade, 256, scale).presentation


@pytest.mark.parametrize("scale", SCALES)
def test_treated_eyes_show_their_scars_beside_the_lesions_that_grade_them(scale):
    """One treated eye per grade: scars drawn (mask and inventory), the grade set by the other
    lesions, on both scales' grading of the same eye."""
    cfg = SynthConfig(size=128, label_scale=scale)
    for grade in range(5):
        seed = next(s for s in range(20000)
                    if _replayed_plan(s, grade, 128, scale).presentation.startswith("treated"))
        s = render_fundus(seed, grade, cfg)
        assert s.presentation.startswith("treated") and s.grade == grade
        assert s.inventory.laser_scars > 0 and s.masks["laser_scar"].any()
        other = [n for n in LESIONS if n != "laser_scar" and s.masks[n].any()]
        if grade == 0:
            assert other == [] and s.grades == {sc: 0 for sc in SCALES}
        else:
            assert other, (scale, grade, seed)
        if grade == 4:
            assert s.grades == {sc: 4 for sc in SCALES}


def test_label_scale_is_validated():
    with pytest.raises(ValueError, match="icdr, table1"):
        SynthConfig(label_scale="etdrs")
    assert SynthConfig().label_scale == "icdr"


def test_masks_cover_every_name_align_with_the_image_and_stay_in_the_fov():
    s = render_fundus(3, 4, size=320)
    assert set(s.masks) == set(LESIONS) | set(ANATOMY)
    for name, m in s.masks.items():
        assert m.shape == s.image.shape[:2] and m.dtype == bool, name
        if name != "optic_disc":
            assert not (m & ~s.masks["fov"]).any(), name
    outside = s.image[~s.masks["fov"]]
    assert outside.mean() < 2 and np.percentile(outside, 99) < 25  # black, up to JPEG ringing
    assert s.quadrants.max() == 4 and (s.quadrants[~s.masks["fov"]] == 0).all()


def test_red_lesions_are_darker_than_the_fundus_around_them():
    s = render_fundus(11, 3, SynthConfig(size=512, camera_variation=0.0))
    red = s.masks["dot_blot_haemorrhage"]
    ring = s.masks["fov"] & ~red & ~s.masks["vessels"] & ~s.masks["optic_disc"]
    assert red.sum() > 50
    assert s.image[red][:, 1].mean() < 0.8 * s.image[ring][:, 1].mean()


def test_disc_is_nasal_and_eyes_are_mirrored():
    right = render_fundus(5, 0, size=256, eye="right")
    left = render_fundus(5, 0, size=256, eye="left")
    for s, sign in ((right, 1), (left, -1)):
        g = s.geometry
        assert sign * (g.disc_centre[0] - g.fovea[0]) > 0
        ys, xs = np.nonzero(s.masks["optic_disc"])
        assert abs(xs.mean() - g.disc_centre[0]) < 2 and abs(ys.mean() - g.disc_centre[1]) < 2
        # the disc is the brightest structure
        assert s.image[s.masks["optic_disc"]].mean() > s.image[s.masks["fov"]].mean() + 30


def test_any_size_and_visibility_controls():
    small = render_fundus(1, 2, size=96)
    assert small.image.shape == (96, 96, 3)
    faint = render_fundus(1, 3, SynthConfig(size=256, lesion_contrast=0.0, camera_variation=0))
    plain = render_fundus(1, 3, SynthConfig(size=256, lesion_contrast=1.0, camera_variation=0))
    red = plain.masks["dot_blot_haemorrhage"] | plain.masks["microaneurysm"]
    assert red.any()
    assert plain.image[red].mean() < faint.image[red].mean() - 10  # contrast 0: invisible
    with pytest.raises(ValueError, match="at least 64"):
        render_fundus(1, 0, size=32)


def test_label_noise_is_off_by_default_and_moves_one_grade_when_on():
    noisy = [render_fundus(s, 2, SynthConfig(size=96, label_noise=1.0)) for s in range(6)]
    assert all(abs(n.label - n.grade) == 1 for n in noisy)
    assert all(n.grades["icdr"] == n.grade == 2 for n in noisy)  # grades are never noisy
    assert all(render_fundus(s, 2, size=96).label == 2 for s in range(3))


def test_quadrant_map_agrees_with_the_quadrant_of_every_pixel():
    from drlib.synth.geometry import pixel_grid

    for seed, eye in ((0, "right"), (1, "left")):
        s = render_fundus(seed, 2, size=160, eye=eye)
        x, y = pixel_grid(160)
        expected = s.geometry.quadrant_of(np.stack([x, y], -1)) + 1
        expected[~s.masks["fov"]] = 0
        assert np.array_equal(expected, s.quadrants)
        for inst in s.instances:  # every lesion sits in the quadrant it was counted in
            assert s.geometry.quadrant_of(np.array([inst.x, inst.y])) == inst.quadrant
