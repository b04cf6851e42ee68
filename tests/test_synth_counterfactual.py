"""Counterfactual eyes: the same photograph with lesion types left out (``render_fundus``'s
``omit``), graded from what is still drawn; pairs, footprints and the selection of eyes
(:mod:`drlib.synth.counterfactual`). Default renders are pinned by ``test_synth_golden.py``."""

import dataclasses
import hashlib

import numpy as np
import pytest

import drlib.synth.render as render
from drlib.core.lesion_types import LESIONS
from drlib.data.synthetic_cohort import render_cohort
from drlib.synth.counterfactual import (
    counterfactual_pair,
    jpeg_footprint,
    lesion_footprint,
    plan_lesions,
    select_eye,
)
from drlib.synth.grading import grade_all
from drlib.synth.render import (
    GENERATOR_VERSION,
    SynthConfig,
    draw_plan,
    inventory_from_instances,
    lesion_type_of,
    render_fundus,
)


@pytest.fixture
def before_jpeg(monkeypatch):
    """Renders return the photograph before the camera's JPEG (everything else unchanged: the
    JPEG draws nothing from the random stream), to compare pairs pixel for pixel."""
    real = render.apply_camera

    def camera(img, fov, settings, px, rng):
        return real(img, fov, dataclasses.replace(settings, jpeg_quality=100), px, rng)

    monkeypatch.setattr(render, "apply_camera", camera)


def _differs(a, b):
    return np.any(a.image != b.image, axis=-1)


def _check_pair(full, without, removed):
    """Everything a counterfactual pair must keep, and what it must change."""
    removed = set(removed)
    assert without.meta["omitted"] == sorted(removed) and full.meta["omitted"] == []
    assert without.camera == full.camera and without.geometry == full.geometry
    assert without.seed == full.seed and without.presentation == full.presentation
    for name in removed:
        assert full.masks[name].any() and not without.masks[name].any(), name
    for name in full.masks:
        if name not in removed and not (name == "vessels" and "venous_beading" in removed):
            assert np.array_equal(full.masks[name], without.masks[name]), name
    kept = [i for i in full.instances if lesion_type_of(i.lesion) not in removed]
    assert without.instances == kept and len(kept) < len(full.instances)
    assert without.inventory == inventory_from_instances(kept)
    assert without.grades == grade_all(without.inventory)
    assert without.grade == without.grades[without.meta["label_scale"]] == without.label


#: Default renders (no ``omit``) of eyes that between them have every lesion type and a venous
#: loop, 128 px, digested as in test_synth_golden.py: computed with render.py as it was before
#: ``omit`` existed, so the option leaves what the generator draws unchanged.
UNCHANGED = {
    "2.0": [
        (27, 4, "8f22458b389e4756b691eb53e0c81790ae6b4d82350f1f7c1d7b8d6196c784ff",
         "5a517092b45c879dccf5fbbd79aa18e7447c681caba41877268403a5e3ef6539"),
        (9, 4, "e1ee78efa1cbaacf465ac416d1268444a6c0b162a903e222c5501c7faf683f6f",
         "d494dff09b752f1a1e7f6b865332fc1ac393f23e2451eed50f7fc0dd89d02ea2"),
        (19, 2, "a1b241401384954382b91efd8d0bc878fbcb529c00adfefee4f0f862d1eab42a",
         "f913958b17e420bbb4e5fa06ab020d0a2ff5352cc8954e6f88848e8f1329b923"),
    ],
}


@pytest.mark.parametrize("seed, grade, image_sha, masks_sha", UNCHANGED.get(GENERATOR_VERSION, []),
                         ids=lambda v: str(v)[:8])
def test_default_renders_of_every_lesion_type_are_unchanged(seed, grade, image_sha, masks_sha):
    sample = render_fundus(seed, grade, size=128)
    masks = np.stack([sample.masks[name] for name in sorted(sample.masks)])
    assert hashlib.sha256(sample.image.tobytes()).hexdigest() == image_sha
    assert hashlib.sha256(masks.tobytes()).hexdigest() == masks_sha


def test_the_pinned_eyes_have_every_lesion_type():
    drawn = set()
    for seed, grade, *_ in UNCHANGED.get(GENERATOR_VERSION, []):
        _, plan = draw_plan(seed, grade, size=128)
        drawn |= plan_lesions(plan) | ({"venous_loop"} if plan.venous_loops else set())
    assert drawn == set(LESIONS) | {"venous_loop"}


def test_omit_nothing_is_the_default_render():
    a, b = render_fundus(11, 4, size=128), render_fundus(11, 4, size=128, omit=())
    assert a.jpeg == b.jpeg and a.grades == b.grades and a.meta == b.meta
    assert a.meta["omitted"] == []


@pytest.mark.parametrize("size", [96, 256])
def test_removing_nvd_changes_only_its_footprint_and_the_grade(size, before_jpeg):
    """A proliferative eye that is proliferative only by its NVD: without it the same pixels
    outside the NVD's footprint (before the JPEG), no NVD mask, every other mask identical, and
    a grade below 4 on both scales."""
    seed, _ = select_eye(5, 4, require=("nvd",), forbid=("nve",), size=size)
    full, without = counterfactual_pair(seed, 4, ("nvd",), size=size)
    _check_pair(full, without, {"nvd"})
    assert full.grades == {"icdr": 4, "table1": 4}
    assert max(without.grades.values()) < 4 and without.inventory.nvd_disc_areas == 0
    footprint = lesion_footprint(full, "nvd")
    diff = _differs(full, without)
    assert diff.any() and not (diff & ~footprint).any()
    # the footprint is the NVD's neighbourhood, not the picture
    assert footprint.sum() < 0.15 * full.masks["fov"].sum()
    assert (footprint & full.masks["optic_disc"]).any()


@pytest.mark.parametrize("name, grade, size, seed", [
    ("nvd", 4, 64, 1984), ("nve", 4, 64, 1989), ("irma", 3, 96, 2976),
    ("dot_blot_haemorrhage", 3, 192, 5003)])
def test_what_is_drawn_below_the_mask_threshold_stays_in_the_footprint(name, grade, size, seed,
                                                                       before_jpeg):
    """Lesions tint the photograph beyond their masks, and these eyes have such pixels: at
    small sizes vessels finer than a pixel are drawn faint, below the mask threshold, away from
    any mask pixel (the planned extent of new vessels or the reach of IRMA keeps them in the
    footprint); soft blots fade out a few pixels beyond theirs (``SOFT_EDGE_R``)."""
    full, without = counterfactual_pair(seed, grade, name, size=size, require=name)
    _check_pair(full, without, {name})
    footprint = lesion_footprint(full, name)
    diff = _differs(full, without)
    assert diff.any() and not (diff & ~footprint).any()
    assert footprint.sum() < 0.5 * full.masks["fov"].sum()


def test_the_photograph_as_saved_differs_only_in_the_jpeg_blocks_of_the_footprint():
    seed, _ = select_eye(2, 4, require=("nvd", "nve"), size=256)
    full, without = counterfactual_pair(seed, 4, ("nvd",), size=256)
    _check_pair(full, without, {"nvd"})
    assert without.grade == 4 and without.inventory.nve_disc_areas > 0  # NVE still grades it
    footprint = lesion_footprint(full, "nvd")
    diff = _differs(full, without)
    assert (diff & ~footprint).any()  # the JPEG spreads the change beyond the lesion...
    assert not (diff & ~jpeg_footprint(footprint)).any()  # ...within its blocks only
    assert full.jpeg != without.jpeg


def test_nve_only_and_both_new_vessels(before_jpeg):
    seed, _ = select_eye(3, 4, require=("nve",), forbid=("nvd", "preretinal_haemorrhage"),
                         size=128)
    full, without = counterfactual_pair(seed, 4, "nve", size=128)
    _check_pair(full, without, {"nve"})
    assert full.grade == 4 > without.grade
    assert not (_differs(full, without) & ~lesion_footprint(full, "nve")).any()
    full, without = counterfactual_pair(7, 4, ("nvd", "nve"), size=128, require=("nvd", "nve"))
    _check_pair(full, without, {"nvd", "nve"})
    assert full.grade == 4 > without.grade
    assert not (_differs(full, without) & ~lesion_footprint(full, ("nvd", "nve"))).any()


def test_laser_scars_removed_with_every_part_and_the_grade_kept(before_jpeg):
    full, without = counterfactual_pair(4, 4, "laser_scar", size=192, require=("laser_scar",))
    _check_pair(full, without, {"laser_scar"})
    assert without.grades == full.grades and without.inventory.laser_scars == 0
    assert full.inventory.laser_scars > 0
    assert not (_differs(full, without) & ~lesion_footprint(full, "laser_scar")).any()


def test_an_eye_without_its_only_lesions_is_the_lesion_free_photograph():
    """Omitting every drawn type gives, byte for byte, the photograph rendered with lesion
    contrast 0 (every layer, appearance part and vein overlay invisible, the same draws): a
    treated grade-0 eye (scars only) without its scars, and a severe eye with venous beading
    without any lesion."""
    seed, _ = select_eye(0, 0, require=("laser_scar",), size=128)
    without = render_fundus(seed, 0, size=128, omit="laser_scar")
    blank = render_fundus(seed, 0, SynthConfig(size=128, lesion_contrast=0.0))
    assert render_fundus(seed, 0, size=128).inventory.laser_scars > 0
    assert without.jpeg == blank.jpeg and without.inventory.laser_scars == 0
    seed, _ = select_eye(1, 3, require=("venous_beading",), size=128)
    without = render_fundus(seed, 3, size=128, omit=LESIONS)
    blank = render_fundus(seed, 3, SynthConfig(size=128, lesion_contrast=0.0))
    assert without.jpeg == blank.jpeg
    assert np.array_equal(without.masks["vessels"], blank.masks["vessels"])
    assert without.grade == 0 and without.instances == []


def test_removing_venous_beading_removes_its_loops_and_its_mark_on_the_veins(before_jpeg):
    cfg = SynthConfig(size=128, label_scale="table1")
    seed, _ = select_eye(6, 1, require=("venous_beading",), config=cfg)  # a venous loop
    full, without = counterfactual_pair(seed, 1, "venous_beading", cfg)
    _check_pair(full, without, {"venous_beading"})
    assert full.inventory.venous_loops > 0 and without.inventory.venous_loops == 0
    footprint = lesion_footprint(full, "venous_beading")
    changed = full.masks["vessels"] != without.masks["vessels"]
    assert changed.any() and not (changed & ~footprint).any()
    assert not (_differs(full, without) & ~footprint).any()


def test_label_noise_makes_the_same_draw():
    cfg = SynthConfig(size=96, label_noise=0.5)
    moved = []
    for seed in range(12):
        full, without = counterfactual_pair(seed, 4, "nvd", cfg, require="nvd", forbid="nve")
        assert abs(without.label - without.grade) <= 1 and without.grade < 4
        moved.append((full.label != full.grade, without.label != without.grade))
    assert all(a == b for a, b in moved) and 0 < sum(a for a, _ in moved) < len(moved)


def test_unknown_lesion_types_are_refused_by_name():
    with pytest.raises(ValueError, match="'neovascularisation', 'scar'"):
        render_fundus(0, 4, size=96, omit=("nvd", "scar", "neovascularisation"))
    with pytest.raises(ValueError, match="'venous_loop'"):
        render_fundus(0, 4, size=96, omit="venous_loop")
    with pytest.raises(ValueError, match="'nvx'"):
        select_eye(0, 4, require=("nvx",))
    with pytest.raises(ValueError, match="'bogus'"):
        counterfactual_pair(0, 4, "bogus", size=96)
    with pytest.raises(ValueError, match="both required and forbidden"):
        select_eye(0, 4, require="nvd", forbid=("nvd",))


def test_select_eye_picks_the_seed_itself_or_its_first_qualifying_sub_seed():
    for seed in range(6):
        grade, plan = draw_plan(seed, 4, size=96)
        chosen, tries = select_eye(seed, 4, require=("nvd",), forbid=("nve",), size=96)
        if "nvd" in plan_lesions(plan) and "nve" not in plan_lesions(plan):
            assert chosen == seed and tries == 1
        else:
            assert isinstance(chosen, np.random.SeedSequence) and tries > 1
        _, plan = draw_plan(chosen, 4, size=96)
        assert {"nvd"} <= plan_lesions(plan) and "nve" not in plan_lesions(plan)
        sample = render_fundus(chosen, 4, size=96)  # the plan is what gets drawn
        assert sample.inventory == plan.inventory()
        assert plan_lesions(plan) == {lesion_type_of(i.lesion) for i in sample.instances}
    first, _ = select_eye(0, 4, require=("nvd",), forbid=("nve",), size=96)
    again, _ = select_eye(0, 4, require=("nvd",), forbid=("nve",), size=96)
    assert render_fundus(first, 4, size=96).jpeg == render_fundus(again, 4, size=96).jpeg
    with pytest.raises(ValueError, match="no eye of grade 1"):
        select_eye(0, 1, require=("nvd",), max_tries=5)


def test_a_pair_records_how_its_eye_was_chosen():
    full, without = counterfactual_pair(9, 4, "nvd", size=96, require="nvd", forbid="nve")
    sel = full.meta["selection"]
    assert sel == without.meta["selection"] and sel["seed"] == 9
    assert sel["require"] == ["nvd"] and sel["forbid"] == ["nve"] and sel["tries"] >= 1
    assert "selection" not in counterfactual_pair(9, 4, "nvd", size=96)[0].meta


def test_cohorts_pass_omit_through():
    kw = dict(seed=0, image_size=64, render_size=128, indices=[0, 1, 2])
    full = render_cohort([4, 4, 4], **kw)
    without = render_cohort([4, 4, 4], omit=("nvd", "nve", "preretinal_haemorrhage"), **kw)
    assert (full.grades == 4).all() and (without.grades < 4).all()
    assert not without.masks["nvd"].any() and full.masks["nvd"].any()
    assert np.array_equal(full.masks["optic_disc"], without.masks["optic_disc"])
