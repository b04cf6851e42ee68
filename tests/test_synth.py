"""The synthetic fundus generator: reproducible, graded from what it drew, masks aligned."""

import hashlib

import numpy as np
import pytest

from drlib.grading import grade_inventory
from drlib.lesion_plan import sample_plan
from drlib.lesion_types import ANATOMY, LESIONS
from drlib.synth import SynthConfig, render_fundus


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
        assert s.grade == grade == s.label
        assert grade_inventory(s.inventory) == grade


def test_drawn_inventory_equals_the_plan():
    """What was drawn is what was planned: every lesion landed in its planned quadrant."""
    for seed in range(30):
        grade = seed % 5
        s = render_fundus(seed, grade, size=256)
        rng = np.random.default_rng(np.random.SeedSequence([seed, 1729]))
        from drlib.fundus_geometry import sample_geometry
        sample_geometry(rng, 256, None)
        plan = sample_plan(grade, rng)
        assert s.inventory == plan.inventory()


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


def test_every_drawn_lesion_shows_in_its_mask_and_darkens_or_brightens_the_image():
    cfg = SynthConfig(size=384, camera_variation=0.0)
    for seed in range(10):
        s = render_fundus(seed, 1 + seed % 4, cfg)
        for inst in s.instances:
            name = "venous_beading" if inst.lesion == "venous_loop" else inst.lesion
            x, y = int(round(inst.x)), int(round(inst.y))
            window = s.masks[name][max(y - 4, 0):y + 5, max(x - 4, 0):x + 5]
            assert window.any(), (seed, inst)


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
    assert all(render_fundus(s, 2, size=96).label == 2 for s in range(3))


def test_quadrant_map_agrees_with_the_quadrant_of_every_pixel():
    from drlib.fundus_geometry import pixel_grid

    for seed, eye in ((0, "right"), (1, "left")):
        s = render_fundus(seed, 2, size=160, eye=eye)
        x, y = pixel_grid(160)
        expected = s.geometry.quadrant_of(np.stack([x, y], -1)) + 1
        expected[~s.masks["fov"]] = 0
        assert np.array_equal(expected, s.quadrants)
        for inst in s.instances:  # every lesion sits in the quadrant it was counted in
            assert s.geometry.quadrant_of(np.array([inst.x, inst.y])) == inst.quadrant
