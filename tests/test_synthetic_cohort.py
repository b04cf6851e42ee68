"""drlib.data.synthetic_cohort.render_cohort: the eyes the explanation chapters explain."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from drlib.core.lesion_types import MASK_NAMES
from drlib.data.preprocess import plain_preprocess
from drlib.data.synthetic_cohort import COHORT_SPLIT, render_cohort
from drlib.data.synthetic_splits import image_seed
from drlib.synth.render import SynthConfig, render_fundus

GRADES = [0, 1, 2, 3, 4, 2]
SIZE, RENDER = 64, 128


@pytest.fixture(scope="module")
def cohort():
    return render_cohort(GRADES, seed=7, image_size=SIZE, render_size=RENDER, keep_samples=True)


def test_shapes_and_dtypes(cohort):
    n = len(GRADES)
    assert len(cohort) == n
    assert cohort.images.shape == (n, SIZE, SIZE, 3) and cohort.images.dtype == np.uint8
    assert set(cohort.masks) == set(MASK_NAMES)
    for name, mask in cohort.masks.items():
        assert mask.shape == (n, SIZE, SIZE) and mask.dtype == np.bool_, name
    assert cohort.grades.shape == (n,) and np.issubdtype(cohort.grades.dtype, np.integer)
    assert cohort.image_size == SIZE and cohort.config.size == RENDER
    assert len(cohort.seeds) == len(cohort.samples) == n
    assert all(s.image.shape == (RENDER, RENDER, 3) for s in cohort.samples)


def test_grades_are_the_requested_ones(cohort):
    np.testing.assert_array_equal(cohort.grades, GRADES)
    assert [s.grade for s in cohort.samples] == GRADES


def test_same_seed_same_cohort_other_seed_other_cohort(cohort):
    again = render_cohort(GRADES, seed=7, image_size=SIZE, render_size=RENDER)
    np.testing.assert_array_equal(again.images, cohort.images)
    for name in MASK_NAMES:
        np.testing.assert_array_equal(again.masks[name], cohort.masks[name])
    np.testing.assert_array_equal(again.grades, cohort.grades)
    assert again.samples == []  # only kept when asked
    other = render_cohort(GRADES, seed=8, image_size=SIZE, render_size=RENDER)
    assert not np.array_equal(other.images, cohort.images)
    np.testing.assert_array_equal(other.grades, GRADES)


def test_eyes_come_from_their_own_seed_stream(cohort):
    seen: dict[int, int] = {}
    for i, seed in enumerate(cohort.seeds):
        k = seen.get(GRADES[i], 0)
        seen[GRADES[i]] = k + 1
        assert cohort.indices[i] == k
        expected = image_seed(7, f"{COHORT_SPLIT}/grade{GRADES[i]}", k)
        assert seed.entropy == expected.entropy and seed.spawn_key == expected.spawn_key
    # the stream is not the training split's
    train = render_cohort(GRADES[:2], seed=7, image_size=SIZE, render_size=RENDER, split="train")
    assert not np.array_equal(train.images, cohort.images[:2])
    # and a seed renders its eye again: same photograph, same network input
    i = 3
    sample = render_fundus(cohort.seeds[i], GRADES[i], SynthConfig(size=RENDER))
    np.testing.assert_array_equal(sample.image, cohort.samples[i].image)
    image, masks = plain_preprocess(sample.image, sample.masks, SIZE, mask_rule="any")
    np.testing.assert_array_equal(image, cohort.images[i])
    np.testing.assert_array_equal(masks["optic_disc"], cohort.masks["optic_disc"][i])


def test_kth_eye_of_a_grade_is_the_same_in_every_cohort(cohort):
    """Chapters with different cohort sizes share their first eyes of every grade."""
    first = [int(np.flatnonzero(np.asarray(GRADES) == g)[0]) for g in sorted(set(GRADES))]
    small = render_cohort(sorted(set(GRADES)), seed=7, image_size=SIZE, render_size=RENDER)
    np.testing.assert_array_equal(small.images, cohort.images[first])
    assert cohort.indices[5] == 1  # the second grade-2 eye
    again = render_cohort([GRADES[5]], seed=7, image_size=SIZE, render_size=RENDER,
                          indices=[cohort.indices[5]])
    np.testing.assert_array_equal(again.images[0], cohort.images[5])
    with pytest.raises(ValueError, match="indices has 2 entries for 1 grades"):
        render_cohort([0], indices=[0, 1])


def test_masks_are_aligned_with_the_images(cohort):
    """Anatomy masks sit on what they name: a shift by a few pixels breaks these contrasts."""
    grey = cohort.images.astype(np.float64).mean(axis=-1)
    green = cohort.images[..., 1].astype(np.float64)
    for i in range(len(cohort)):
        fov = cohort.masks["fov"][i]
        disc = cohort.masks["optic_disc"][i]
        vessels = cohort.masks["vessels"][i] & ~disc
        background = fov & ~disc & ~cohort.masks["vessels"][i]
        assert 0.5 < fov.mean() < 0.95
        assert grey[i][~fov].mean() < 10.0 < 50.0 < grey[i][fov].mean()  # black outside
        assert disc.any() and grey[i][disc].mean() > grey[i][background].mean() + 15.0
        assert not (disc & ~fov).any()
        # vessels are darker (in green) than the 1-2 px ring of fundus around them
        ring = (ndimage.binary_dilation(vessels, iterations=2) & ~ndimage.binary_dilation(vessels)
                & fov & ~disc)
        assert vessels.any() and green[i][vessels].mean() < green[i][ring].mean() - 3.0
    # every lesion pixel kept by mask_rule="any": the grade-4 eye has lesions in the small masks
    lesions = [name for name in MASK_NAMES if name not in ("fov", "optic_disc", "macula",
                                                            "vessels")]
    assert sum(cohort.masks[name][4].sum() for name in lesions) > 0
    assert sum(cohort.masks[name][0].sum() for name in lesions) == 0  # grade 0: none


def test_select_keeps_rows_in_order(cohort):
    rows = [4, 0, 4]
    part = cohort.select(rows)
    assert len(part) == 3 and part.image_size == SIZE and part.config == cohort.config
    np.testing.assert_array_equal(part.images, cohort.images[rows])
    np.testing.assert_array_equal(part.grades, [4, 0, 4])
    for name in MASK_NAMES:
        np.testing.assert_array_equal(part.masks[name], cohort.masks[name][rows])
    assert part.seeds == [cohort.seeds[r] for r in rows]
    assert part.samples == [cohort.samples[r] for r in rows]
    empty = render_cohort([1], seed=7, image_size=SIZE, render_size=RENDER).select([0])
    assert empty.samples == []


def test_config_is_kept_with_the_render_size():
    cohort = render_cohort([2], seed=1, image_size=32, render_size=96,
                           config=SynthConfig(size=512, lesion_contrast=1.5))
    assert cohort.config.size == 96 and cohort.config.lesion_contrast == 1.5
    assert cohort.images.shape == (1, 32, 32, 3)
