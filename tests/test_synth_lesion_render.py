"""drlib.synth.lesion_render: the painter draws exactly the lesions it records, and they show.

Two levels, both on hand-built lesion plans so that nothing here depends on how plans are
sampled for a grade (drlib.synth.lesion_plan, which changes independently):

* ``LesionPainter`` on a hand-built 256-px geometry: one instance per planned lesion, in its
  planned quadrant; a coverage layer per planned type and nothing else; every recorded lesion in
  its layer, and every painted pixel within a lesion's reach of a recorded instance.
* ``render_fundus`` with its plan replaced by a hand-built one: every lesion that stands clear of
  other lesions is darker (red lesions) or brighter (exudates, cotton wool spots) in the green
  channel than the fundus in a ring around it, by pinned minimums; ``lesion_contrast=0`` gives
  the lesion-free photograph of the same eye, byte for byte, except for venous beading and
  loops, which are drawn into the veins whatever the contrast.
"""

from __future__ import annotations

import copy
from collections import Counter

import cv2
import numpy as np
import pytest
from scipy import ndimage

import drlib.synth.render as render
from drlib.synth.geometry import FundusGeometry
from drlib.synth.lesion_plan import LesionPlan
from drlib.synth.lesion_render import LesionPainter
from drlib.synth.render import MASK_THRESHOLD, SynthConfig, render_fundus
from drlib.synth.vessels import grow_vessel_tree

GEOM = FundusGeometry(size=256, eye="right", fov_centre=(128.0, 128.0), fov_radius=120.0,
                      fovea=(116.0, 130.0), disc_centre=(176.0, 124.0), disc_radius=13.0)
R = GEOM.fov_radius
COUNTED = ("microaneurysm", "dot_blot_haemorrhage", "flame_haemorrhage", "hard_exudate",
           "cotton_wool_spot", "irma", "laser_scar")


def full_plan() -> LesionPlan:
    """Every kind of lesion the painter knows, in known quadrants."""
    plan = LesionPlan()
    c = plan.counts
    c["microaneurysm"][:] = [2, 1, 0, 3]
    c["dot_blot_haemorrhage"][:] = [1, 0, 2, 0]
    c["flame_haemorrhage"][:] = [0, 1, 0, 1]
    c["hard_exudate"][:] = [0, 7, 0, 4]
    c["cotton_wool_spot"][:] = [1, 0, 0, 1]
    c["irma"][:] = [0, 0, 1, 0]
    c["laser_scar"][:] = [0, 0, 0, 3]
    plan.venous_beading = [0, 2]
    plan.venous_loops = [1]
    plan.nvd_disc_areas = 0.4
    plan.nve = [(2, 0.3)]
    plan.preretinal = [1]
    return plan


def painted(seed: int, plan: LesionPlan | None = None) -> LesionPainter:
    vessels = grow_vessel_tree(GEOM, np.random.default_rng(seed))
    painter = LesionPainter(GEOM, vessels, np.random.default_rng(seed + 100))
    painter.paint(plan or full_plan())
    return painter


# ----------------------------------------------------------------------------- the painter


@pytest.mark.parametrize("seed", range(4))
def test_painter_records_one_instance_per_planned_lesion_in_its_quadrant(seed):
    plan = full_plan()
    painter = painted(seed, plan)
    recorded = Counter((i.lesion, i.quadrant) for i in painter.instances)
    for name in COUNTED:
        for q in range(4):
            assert recorded[(name, q)] == plan.counts[name][q], (name, q)
    kinds = Counter(i.lesion for i in painter.instances)
    assert kinds["venous_beading"] == 2 and kinds["venous_loop"] == 1
    assert kinds["nvd"] == 1 and kinds["nve"] == 1 and kinds["preretinal_haemorrhage"] == 1
    assert len(painter.instances) == 34  # 6 + 3 + 2 + 11 + 2 + 1 + 3 counted, + 2 + 1 + 1 + 1 + 1
    for inst in painter.instances:
        if inst.lesion in COUNTED:  # placed where planned: in its quadrant, in the FOV
            assert GEOM.quadrant_of(np.array([inst.x, inst.y])) == inst.quadrant
            assert np.hypot(inst.x - 128.0, inst.y - 128.0) < 0.93 * R
    assert {i.quadrant for i in painter.instances if i.lesion == "venous_beading"} == {0, 2}
    (nve,) = [i for i in painter.instances if i.lesion == "nve"]
    (nvd,) = [i for i in painter.instances if i.lesion == "nvd"]
    assert (nve.quadrant, nve.disc_areas, nvd.disc_areas) == (2, 0.3, 0.4)


def test_painter_paints_a_layer_per_planned_type_and_nothing_else():
    painter = painted(0)
    assert set(painter.canvas.layers) == {
        "microaneurysm", "dot_blot_haemorrhage", "flame_haemorrhage", "hard_exudate",
        "cotton_wool_spot", "irma", "laser_scar", "venous_beading", "nvd", "nve",
        "preretinal_haemorrhage",
    }
    assert all(layer.any() for layer in painter.canvas.layers.values())
    only_mas = LesionPlan()
    only_mas.counts["microaneurysm"][:] = [1, 1, 1, 1]
    painter = painted(0, only_mas)
    assert set(painter.canvas.layers) == {"microaneurysm"}
    assert not painter.vein_extra.any()  # no beading planned: the veins are left alone
    assert (painted(0).vein_extra > 0).sum() > 100  # beading and loop drawn onto the veins


def _reach(lesion: str, painter: LesionPainter) -> float:
    """How far (px) a lesion's paint can reach from its recorded centre, from the code's sizes
    (fractions of R at scale 1) plus 2.5 px for anti-aliasing."""
    aa = 2.5
    if lesion in ("nvd", "nve"):  # nets clipped to a disc of `region` around the centre
        areas = max(i.disc_areas for i in painter.instances if i.lesion == lesion)
        return np.sqrt(areas) * GEOM.disc_radius + 1.0 + aa
    return {
        "microaneurysm": 0.013 * R,
        "dot_blot_haemorrhage": 2.5 * 0.032 * R,  # a few ellipses scattered around the centre
        "flame_haemorrhage": 0.07 * R,
        "hard_exudate": 0.012 * R,  # every exudate is an instance of its own
        "cotton_wool_spot": 0.05 * R,
        "irma": 0.1 * R + 1.0,
        "laser_scar": 0.026 * R,
        "preretinal_haemorrhage": 0.14 * R * 1.25,
        "venous_beading": 0.3 * R,  # 14 points of a vein, recorded at the middle one
    }[lesion] + aa


@pytest.mark.parametrize("seed", range(4))
def test_every_recorded_lesion_is_painted_and_every_painted_pixel_is_recorded(seed):
    painter = painted(seed)
    layers = painter.canvas.layers
    centres: dict[str, list[tuple[float, float]]] = {}
    for inst in painter.instances:
        name = "venous_beading" if inst.lesion == "venous_loop" else inst.lesion
        centres.setdefault(name, []).append((inst.x, inst.y))
        layer = layers[name]
        x, y = int(inst.x), int(inst.y)
        if inst.lesion in ("nvd", "nve"):  # a net of new vessels around the centre
            near = layer[max(y - 8, 0) : y + 9, max(x - 8, 0) : x + 9]
            assert near.max() >= MASK_THRESHOLD, inst
        elif inst.lesion != "venous_loop":  # the loop sits beside the vein point it records
            assert layer[y, x] >= MASK_THRESHOLD, inst
    assert set(centres) == set(layers)
    for name, layer in layers.items():
        ys, xs = np.nonzero(layer)
        points = np.array(centres[name])
        nearest = np.hypot(xs[:, None] - points[:, 0], ys[:, None] - points[:, 1]).min(axis=1)
        assert nearest.max() <= _reach(name, painter), (name, nearest.max())


# ----------------------------------------------------------------------------- the photograph

RED = ("microaneurysm", "dot_blot_haemorrhage", "flame_haemorrhage", "preretinal_haemorrhage")
BRIGHT = ("hard_exudate", "cotton_wool_spot")
KERNEL = np.ones((3, 3), np.uint8)


def sparse_plan() -> LesionPlan:
    plan = LesionPlan()
    c = plan.counts
    c["microaneurysm"][:] = [2, 2, 2, 2]
    c["dot_blot_haemorrhage"][:] = [1, 1, 1, 1]
    c["flame_haemorrhage"][:] = [1, 1, 1, 1]
    c["hard_exudate"][:] = [0, 5, 0, 0]
    c["cotton_wool_spot"][:] = [1, 0, 1, 0]
    c["irma"][:] = [0, 1, 0, 1]
    plan.preretinal = [2]
    return plan


def rendered(monkeypatch, seed: int, plan: LesionPlan, contrast: float = 1.0):
    """render_fundus of one eye with ``plan`` instead of a sampled plan (ideal camera)."""
    monkeypatch.setattr(render, "sample_plan", lambda *args, **kwargs: copy.deepcopy(plan))
    config = SynthConfig(size=256, camera_variation=0.0, lesion_contrast=contrast)
    return render_fundus(seed, 2, config)


def _grow(mask: np.ndarray, pixels: int) -> np.ndarray:
    return cv2.dilate(mask.view(np.uint8), KERNEL, iterations=pixels).astype(bool)


def isolated_lesions(sample):
    """(lesion, its mask component, the fundus ring 2-4 px around it) for every instance that
    stands at least 6 px clear of other lesion types and of the optic disc."""
    out = []
    for inst in sample.instances:
        if inst.lesion not in RED + BRIGHT + ("irma",):
            continue
        mask = sample.masks[inst.lesion]
        labels, _ = ndimage.label(mask)
        component = labels == labels[int(inst.y), int(inst.x)]
        others = sample.masks["optic_disc"].copy()
        for name, other in sample.masks.items():
            if name not in ("fov", "macula", "optic_disc", "vessels", inst.lesion):
                others |= other
        if (_grow(component, 6) & others).any():
            continue
        ring = _grow(component, 4) & ~_grow(component, 1) & ~mask
        ring &= sample.masks["fov"] & ~sample.masks["vessels"]
        out.append((inst.lesion, component, ring))
    return out


def test_every_lesion_contrasts_with_the_fundus_around_it(monkeypatch):
    """Red lesions darken the green channel, exudates and cotton wool spots brighten it: each
    isolated lesion against the ring of fundus around it and against the same pixels of the
    lesion-free photograph of the same eye."""
    checked: Counter = Counter()
    for seed in range(8):
        sample = rendered(monkeypatch, seed, sparse_plan())
        free = rendered(monkeypatch, seed, LesionPlan())
        green = sample.image[..., 1].astype(float)
        green_free = free.image[..., 1].astype(float)
        for lesion, component, ring in isolated_lesions(sample):
            inside, around = green[component].mean(), green[ring].mean()
            without = green_free[component].mean()
            where = (seed, lesion, round(inside, 1), round(around, 1), round(without, 1))
            if lesion in RED:
                assert inside <= 0.55 * around and inside <= around - 30, where
                assert inside <= 0.6 * without, where
            elif lesion == "irma":  # one-pixel-wide tortuous vessels: less dark
                assert inside <= 0.7 * around and inside <= around - 15, where
                assert inside <= 0.7 * without, where
            else:
                assert inside >= 1.3 * around and inside >= around + 30, where
                assert inside >= 1.6 * without, where
            checked[lesion] += 1
    # the check was not vacuous: isolated lesions of every type were measured
    assert all(checked[name] >= 2 for name in RED + BRIGHT + ("irma",)), checked


def test_lesion_contrast_zero_is_the_lesion_free_photograph(monkeypatch):
    for seed in (0, 1):
        invisible = rendered(monkeypatch, seed, sparse_plan(), contrast=0.0)
        free = rendered(monkeypatch, seed, LesionPlan())
        np.testing.assert_array_equal(invisible.image, free.image)
        assert invisible.masks["dot_blot_haemorrhage"].any()  # the masks still record them
        assert len(invisible.instances) == 26  # 8 + 4 + 4 + 5 + 2 + 2 + 1


def test_lesion_contrast_zero_leaves_venous_beading_visible(monkeypatch):
    """Beading and loops are drawn into the vein layer, not tinted: contrast 0 keeps them.
    The photographs differ only near the beading: within a JPEG block (16 px) of its mask."""
    plan = LesionPlan()
    plan.venous_beading = [0, 2]
    plan.venous_loops = [1]
    invisible = rendered(monkeypatch, 0, plan, contrast=0.0)
    free = rendered(monkeypatch, 0, LesionPlan())
    differs = (invisible.image != free.image).any(axis=2)
    assert differs.sum() > 500
    distance = ndimage.distance_transform_edt(~invisible.masks["venous_beading"])
    assert distance[differs].max() <= 16.0
    # the beads are wider than the vein: where they stick out of it, the fundus turns dark
    beads = invisible.masks["venous_beading"] & ~free.masks["vessels"]
    assert beads.sum() >= 10
    assert invisible.image[..., 1][beads].mean() <= 0.7 * free.image[..., 1][beads].mean()
    # and the contrast setting plays no part in it at all
    visible = rendered(monkeypatch, 0, plan, contrast=1.0)
    np.testing.assert_array_equal(visible.image, invisible.image)


def test_contrast_scales_how_dark_red_lesions_are(monkeypatch):
    plan = sparse_plan()
    means = []
    for contrast in (1.0, 0.5, 0.0):
        sample = rendered(monkeypatch, 3, plan, contrast=contrast)
        red = sample.masks["dot_blot_haemorrhage"] | sample.masks["flame_haemorrhage"]
        means.append(sample.image[..., 1][red].mean())
    assert means[0] < means[1] - 10 and means[1] < means[2] - 10, means
