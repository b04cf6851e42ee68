"""Synthetic colour fundus photographs with a ground-truth mask for every lesion.

``render_fundus(seed, grade)`` draws one eye: geometry (disc, fovea, field of view), a vessel
tree, a lesion plan for the grade, the lesions themselves, and the camera. It returns the
photograph, a boolean mask per lesion type and per anatomical structure, the quadrant map, the
inventory the rule engine graded, and everything needed to reproduce it. Same seed, same bytes.

The lesion plan is drawn for the target grade on ``config.label_scale`` (``"icdr"`` by default,
or ``"table1"``; see :mod:`drlib.synth.grading`); the drawn inventory is then graded on every
scale (``FundusSample.grades``), and ``grade``/``label`` are the grade and the recorded label on
``config.label_scale``. Laser scars are drawn beside the lesions of treated eyes and never decide
a grade.

What it models (version 2): a macula-centred 45-degree photograph whose field the camera may cut
flat or notch (:mod:`drlib.synth.geometry`); an orange-red fundus whose pigmentation and
illumination vary per eye, with texture drawn afresh per eye, a darker macula and foveal reflex;
a disc with rim, cup and sometimes a pigmented crescent; artery and vein trees that branch by
Y-forks from the disc with a central light reflex (:mod:`drlib.synth.vessels`); the look and
usual place of each DR lesion, or a uniform placement as a control
(:mod:`drlib.synth.lesion_render`); left/right eyes; and camera variation (exposure, colour
cast, gamma, defocus, sensor noise, one JPEG compression). What it does not model: real
pathology's variety, other diseases (drusen, AMD, glaucoma, myopic changes), artefacts
(eyelashes, dust, reflections), media opacity, peripheral retina beyond 45 degrees, image
quality failures, or the way real graders disagree (only an optional, documented label-noise
rate). It is a research instrument, not clinical data.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

import cv2
import numpy as np

from drlib.core.grades import class_prior
from drlib.core.lesion_types import ANATOMY, HMA_LESIONS, LESIONS
from drlib.synth.camera import CameraSettings, apply_camera, sample_camera
from drlib.synth.geometry import (
    FundusGeometry,
    distance_map,
    ellipse_mask,
    fov_mask_of,
    macula_radius,
    pixel_grid,
    quadrant_map,
    sample_geometry,
)
from drlib.synth.grading import DEFAULT_SCALE, LesionInventory, check_scale, grade_all
from drlib.synth.lesion_appearance import (
    MASK_THRESHOLD,
    channel_rows,
    colour_row,
    paint_lesions,
    per_channel,
)
from drlib.synth.lesion_plan import LesionPlan, sample_plan
from drlib.synth.lesion_render import Instance, LesionPainter, check_placement
from drlib.synth.noise_fields import smooth_noise
from drlib.synth.vessels import draw_vessels, grow_vessel_tree

GENERATOR_VERSION = "2.0"


@dataclass(frozen=True)
class SynthConfig:
    """Controls of the generator. Defaults give the course's standard dataset."""

    size: int = 512
    lesion_contrast: float = 1.0  # visibility: multiplies every lesion's opacity (0..)
    lesion_scale: float = 1.0  # visibility: multiplies lesion sizes
    camera_variation: float = 1.0  # 0: ideal camera
    label_noise: float = 0.0  # probability that the recorded label moves one grade (off)
    label_scale: str = DEFAULT_SCALE  # grading scale of the target, grade and label: SCALES
    placement: str = "anatomical"  # where lesions go: PLACEMENTS ("anatomical" or "uniform")

    def __post_init__(self):
        check_scale(self.label_scale)
        check_placement(self.placement)


@dataclass
class FundusSample:
    image: np.ndarray  # uint8 (H, W, 3)
    masks: dict[str, np.ndarray]  # bool (H, W) for every name in LESIONS + ANATOMY
    quadrants: np.ndarray  # uint8 (H, W): 0 outside FOV, 1..4 QUADRANTS
    grade: int  # the rule engine's grade of the drawn inventory on config.label_scale (truth)
    label: int  # the recorded label (differs from grade only with label noise)
    grades: dict[str, int]  # the drawn inventory graded on every scale (grading.SCALES)
    eye: str
    inventory: LesionInventory
    presentation: str
    instances: list[Instance]
    geometry: FundusGeometry
    camera: CameraSettings
    seed: int | tuple[int, ...]  # an int, or a SeedSequence's (entropy, *spawn_key)
    meta: dict = field(default_factory=dict)
    jpeg: bytes | None = None  # the photograph as the camera encoded it (``image`` decodes it)


# Vessels multiply the fundus colour by their tint where they cover it (veins darker than
# arteries, both red, not black); the central light reflex mixes towards a pale highlight.
VEIN_TINT = np.array([0.74, 0.42, 0.50], np.float32)
ARTERY_TINT = np.array([0.88, 0.62, 0.70], np.float32)
VESSEL_OPACITY = 0.95
REFLEX_COLOUR = np.array([250.0, 190.0, 170.0], np.float32)
REFLEX_OPACITY = 0.18
# Fundus pigmentation: each eye lies between a light and a dark fundus (RGB before illumination)
LIGHT_FUNDUS = np.array([248.0, 118.0, 88.0], np.float32)
DARK_FUNDUS = np.array([212.0, 76.0, 50.0], np.float32)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _shading(geom: FundusGeometry, rng, base: np.ndarray) -> np.ndarray:
    """Smooth part of the fundus colour at 1/4 resolution: illumination fall-off (centred a
    little off the field centre), darker rim, coarse choroidal mottling, the darker macula and
    foveal pit, and the foveal reflex. Upsampled to full size."""
    small = max(32, geom.size // 4)
    f = small / geom.size
    R = geom.fov_radius * f
    r = distance_map(small, tuple(c * f for c in geom.fov_centre)) / np.float32(R)
    light = (geom.fov_centre[0] * f + rng.normal(0, 0.15) * R,
             geom.fov_centre[1] * f + rng.normal(0, 0.15) * R)
    rl = distance_map(small, light) / np.float32(R)
    falloff = rng.uniform(0.08, 0.2)
    illum = (1.0 - falloff * rl**2) * (1.0 - 0.3 * np.clip((r - 0.88) / 0.12, 0, 1) ** 2)
    illum *= 1.0 + rng.uniform(0.015, 0.035) * smooth_noise(rng, small, small / 12.0)
    df = distance_map(small, tuple(c * f for c in geom.fovea)) / np.float32(R)
    depth = rng.uniform(0.2, 0.38)
    mac = np.exp(-(df**2) / (2 * 0.1**2))
    pit = np.exp(-(df**2) / (2 * 0.03**2))
    # colour planes as (small, small * 3) rows (channel_rows' layout): a per-pixel value
    # repeated in its three channels, a per-channel colour tiled along the row; the same
    # float32 arithmetic per pixel and channel as broadcasting (small, small, 1) against (3,),
    # in long inner loops
    shade = colour_row(base, small) * per_channel(illum) * (
        1.0 - per_channel(mac) * depth * colour_row(np.array([0.8, 1.0, 0.9], np.float32), small)
        - per_channel(pit) * np.float32(0.1))
    # the foveal reflex: a small pale glint in the pit
    glint = np.exp(-(df**2) / (2 * 0.008**2)) * rng.uniform(0.15, 0.35)
    shade += per_channel(glint) * (
        colour_row(np.array([255.0, 220.0, 200.0], np.float32), small) - shade)
    return cv2.resize(shade.astype(np.float32).reshape(small, small, 3), (geom.size, geom.size),
                      interpolation=cv2.INTER_LINEAR)


def _disc(img: np.ndarray, geom: FundusGeometry, rng) -> None:
    """The optic disc in place: a slightly vertical oval, an orange-pink neuroretinal rim and a
    pale cup (cup-to-disc ratio 0.3-0.55) set off temporally, and sometimes a pigmented crescent
    at its temporal margin."""
    size = geom.size
    dx, dy = geom.disc_centre
    rd = geom.disc_radius
    half = int(1.4 * rd) + 2
    ys = slice(max(int(dy) - half, 0), min(int(dy) + half, size))
    xs = slice(max(int(dx) - half, 0), min(int(dx) + half, size))
    x, y = pixel_grid(size)
    # one row of x and one column of y: every term below that depends on x or y alone is
    # computed once per column (row) and broadcast, the same arithmetic per pixel
    x, y = x[:1, xs], y[ys, :1]
    e = np.sqrt(((x - dx) / rd) ** 2 + ((y - dy) / (1.08 * rd)) ** 2)
    cup_x = dx - geom.side * rng.uniform(0.05, 0.18) * rd
    ec = np.sqrt(((x - cup_x) / rd) ** 2 + ((y - dy) / (1.12 * rd)) ** 2)
    cup_ratio = rng.uniform(0.3, 0.55)
    w_disc = _sigmoid((1.0 - e) / 0.05)
    w_cup = _sigmoid((cup_ratio - ec) / 0.07)
    # the box as (h, w * 3) rows: a per-pixel weight repeated in its three channels and a
    # colour tiled along the row, the same arithmetic per pixel and channel as broadcasting
    # (h, w, 1) against (3,), in long inner loops
    w = e.shape[1]
    region = channel_rows(img[ys, xs])
    rim = np.array([rng.uniform(245, 255), rng.uniform(175, 205), rng.uniform(120, 150)],
                   np.float32)
    region += per_channel(0.95 * w_disc) * (colour_row(rim, w) - region)
    cup = np.array([255.0, rng.uniform(232, 248), rng.uniform(195, 225)], np.float32)
    region += per_channel(0.7 * w_cup) * (colour_row(cup, w) - region)
    if rng.random() < 0.4:  # temporal crescent of pigment
        t = -geom.side * (x - dx) / rd
        crescent = _sigmoid((t - 0.9) / 0.05) * _sigmoid((1.12 - e) / 0.04)
        region *= per_channel(1.0 - 0.45 * crescent)


def _fundus_background(geom: FundusGeometry, rng) -> tuple[np.ndarray, np.ndarray]:
    """Float RGB fundus without vessels or lesions, and the field-of-view mask."""
    size = geom.size
    fov = fov_mask_of(geom)
    pigment = rng.uniform(0.0, 1.0)
    base = (LIGHT_FUNDUS + pigment * (DARK_FUNDUS - LIGHT_FUNDUS)) \
        * np.exp(rng.normal(0, 0.04, 3)).astype(np.float32)
    img = _shading(geom, rng, base)
    # fine choroidal texture, new for every eye
    # (the factor repeated into three channels: OpenCV's float32 multiply is numpy's, per
    # pixel, without numpy's slow broadcast over a last axis of 3)
    texture = 1.0 + 0.03 * smooth_noise(rng, size, size / 128.0)
    cv2.multiply(img, cv2.cvtColor(texture, cv2.COLOR_GRAY2RGB), dst=img)
    _disc(img, geom, rng)
    return img, fov


def _apply_vessels(img: np.ndarray, vein: np.ndarray, artery: np.ndarray,
                   reflex: np.ndarray) -> None:
    """Tint the photograph by the vessel coverage layers, in place.

    With coverages v, a and reflex weight w (0..1), channel c becomes
    ``img_c * (1 - k v (1 - vein_c) - k a (1 - artery_c)) * (1 - w) + w * reflex_c``:
    per channel two weighted sums of single-channel images, then one multiply and one add.
    Only the pixels that some layer covers are computed (elsewhere the gain is exactly 1 and
    the reflex term exactly 0); they are gathered into one row padded to a multiple of 64, so
    that OpenCV applies the same vectorised arithmetic to each of them as on the whole image."""
    if img.dtype != np.float32 or not img.flags.c_contiguous:
        raise ValueError(f"the vessels are applied to a C-contiguous float32 image, got "
                         f"{img.dtype} with strides {img.strides}")
    covered = cv2.bitwise_or(cv2.bitwise_or(vein, artery), reflex)
    idx = np.flatnonzero(covered > 0)  # (a bool image: numpy's fast path)
    n = len(idx)
    if n == 0:
        return
    length = n + (-n % 64)

    def row(layer: np.ndarray) -> np.ndarray:
        out = np.zeros((1, length), np.float32)
        out[0, :n] = layer.reshape(-1)[idx]
        return out

    k = VESSEL_OPACITY / 255.0
    v, a = row(vein), row(artery)
    w = row(reflex) * np.float32(REFLEX_OPACITY / 255.0)
    keep = 1.0 - w
    gain, add = [], []
    for c in range(3):
        shade = cv2.addWeighted(v, -k * (1.0 - float(VEIN_TINT[c])), a,
                                -k * (1.0 - float(ARTERY_TINT[c])), 1.0)
        gain.append(cv2.multiply(np.maximum(shade, 0.05, out=shade), keep))
        add.append(w * np.float32(REFLEX_COLOUR[c]))
    gain3, add3 = cv2.merge(gain)[0, :n], cv2.merge(add)[0, :n]
    # each pixel's three floats as one 12-byte item: one take and one put move whole pixels
    pixels = img.reshape(-1, 3).view(np.dtype((np.void, 12))).reshape(-1)
    rgb = pixels.take(idx).view(np.float32).reshape(n, 3) * gain3 + add3
    np.put(pixels, idx, rgb.view(pixels.dtype).reshape(-1))


def inventory_from_instances(instances: list[Instance]) -> LesionInventory:
    """Count what was actually drawn, the way the grading rules read it."""
    def per_quadrant(names):
        counts = [0, 0, 0, 0]
        for inst in instances:
            if inst.lesion in names:
                counts[inst.quadrant] += 1
        return tuple(counts)

    haemorrhages = tuple(n for n in HMA_LESIONS if n != "microaneurysm")

    def count(name):
        return sum(1 for i in instances if i.lesion == name)

    return LesionInventory(
        microaneurysms_per_quadrant=per_quadrant(("microaneurysm",)),
        haemorrhages_per_quadrant=per_quadrant(haemorrhages),
        cotton_wool_spots=count("cotton_wool_spot"),
        hard_exudates=count("hard_exudate"),
        venous_beading_quadrants=len({i.quadrant for i in instances
                                      if i.lesion == "venous_beading"}),
        venous_loops=count("venous_loop"),
        irma_per_quadrant=per_quadrant(("irma",)),
        nvd_disc_areas=float(sum(i.disc_areas for i in instances if i.lesion == "nvd")),
        nve_disc_areas=float(sum(i.disc_areas for i in instances if i.lesion == "nve")),
        preretinal_haemorrhage=count("preretinal_haemorrhage") > 0,
        laser_scars=count("laser_scar"),
    )


def _noisy_label(grade: int, rate: float, rng) -> int:
    if rate <= 0 or rng.random() >= rate:
        return grade
    if grade == 0:
        return 1
    if grade == 4:
        return 3
    return grade + (1 if rng.random() < 0.5 else -1)


def seed_sequence(seed: int | np.random.SeedSequence) -> np.random.SeedSequence:
    """The generator's random stream for ``seed``: an int (a stand-alone eye) or a SeedSequence
    (an eye of a data set, spawned from the set's seed so that no two eyes share a stream)."""
    if isinstance(seed, np.random.SeedSequence):
        return seed
    return np.random.SeedSequence([int(seed), 1729])


def seed_id(seed: int | np.random.SeedSequence) -> int | tuple[int, ...]:
    """A JSON-able record of ``seed`` that :func:`seed_sequence` can be rebuilt from."""
    if isinstance(seed, np.random.SeedSequence):
        return (int(seed.entropy), *(int(k) for k in seed.spawn_key))
    return int(seed)


def check_omit(omit: str | Collection[str]) -> frozenset[str]:
    """``omit`` as a set of lesion type names (a single name may be given as a string), or
    ValueError naming every name that is not in ``drlib.core.lesion_types.LESIONS``."""
    names = (omit,) if isinstance(omit, str) else tuple(omit)
    unknown = sorted({str(n) for n in names} - set(LESIONS))
    if unknown:
        raise ValueError(f"unknown lesion type(s) {', '.join(map(repr, unknown))}; the lesion "
                         f"types (drlib.core.lesion_types.LESIONS) are {', '.join(LESIONS)}")
    return frozenset(names)


def lesion_type_of(instance_lesion: str) -> str:
    """The lesion type (mask) an instance belongs to: venous loops are drawn into the
    venous-beading mask, every other instance is named by its type."""
    return "venous_beading" if instance_lesion == "venous_loop" else instance_lesion


def _resolve_config(config: SynthConfig | None, size: int | None) -> SynthConfig:
    config = config or SynthConfig()
    if size is not None:
        config = SynthConfig(**{**config.__dict__, "size": int(size)})
    if config.size < 64:
        raise ValueError(f"size must be at least 64 px, got {config.size}")
    return config


def _first_draws(seed, grade, config: SynthConfig, prior, eye):
    """The first draws of an eye's stream, in render order: its grade (when None), geometry and
    lesion plan. Returns (rng, grade, geometry, plan); the rng goes on to the camera."""
    rng = np.random.default_rng(seed_sequence(seed))
    if grade is None:
        grade = int(rng.choice(5, p=class_prior(prior)))
    geom = sample_geometry(rng, config.size, eye)
    plan: LesionPlan = sample_plan(grade, rng, config.label_scale)
    return rng, grade, geom, plan


def draw_plan(seed: int | np.random.SeedSequence, grade: int | None = None,
              config: SynthConfig | None = None, prior: str | tuple[float, ...] = "eyepacs",
              eye: str | None = None, size: int | None = None) -> tuple[int, LesionPlan]:
    """The target grade and the lesion plan that ``render_fundus`` with the same arguments
    draws, without rendering (the same random stream, stopped after the plan): cheap enough to
    screen many seeds for the lesions an eye will have."""
    config = _resolve_config(config, size)
    _, grade, _, plan = _first_draws(seed, grade, config, prior, eye)
    return int(grade), plan


def render_fundus(seed: int | np.random.SeedSequence, grade: int | None = None,
                  config: SynthConfig | None = None,
                  prior: str | tuple[float, ...] = "eyepacs", eye: str | None = None,
                  size: int | None = None, omit: str | Collection[str] = ()) -> FundusSample:
    """Render one synthetic photograph. ``grade`` None draws it from ``prior``.

    ``seed`` is an int or a :class:`numpy.random.SeedSequence` (see :func:`seed_sequence`).

    ``omit`` names lesion types (``drlib.core.lesion_types.LESIONS``) to leave out of the
    photograph: the counterfactual eye. Every random draw is made as without ``omit`` (anatomy,
    plan, every lesion's shape and place, camera noise, label noise), so the photograph differs
    only where the omitted lesions were drawn (spread by the camera's defocus and JPEG). The
    omitted types' layers are not composited (``"venous_beading"`` also drops what beading and
    venous loops drew onto the veins, so the vessel mask there loses them too: loops belong to
    the venous-beading mask), their masks are empty, their instances leave ``instances`` and
    the inventory, and ``grade``, ``label`` and ``grades`` are the rule engine's reading of what
    is still drawn. ``meta["omitted"]`` lists them (sorted); ``meta["target_grade"]`` and
    ``presentation`` stay those of the full eye's plan.
    """
    omitted = check_omit(omit)
    config = _resolve_config(config, size)
    rng, grade, geom, plan = _first_draws(seed, grade, config, prior, eye)
    size = config.size
    camera = sample_camera(rng, config.camera_variation)

    img, fov = _fundus_background(geom, rng)
    vessels = grow_vessel_tree(geom, rng)
    painter = LesionPainter(geom, vessels, rng, scale=config.lesion_scale,
                            placement=config.placement)
    painter.paint(plan)

    vein, artery, reflex = draw_vessels(vessels, size)
    # beading and loops drawn onto the veins fade with the lesion contrast like every lesion
    extra = painter.vein_extra
    if config.lesion_contrast < 1.0:
        extra = cv2.convertScaleAbs(extra, alpha=max(config.lesion_contrast, 0.0))
    if "venous_beading" not in omitted:  # only beading and venous loops draw onto the veins
        np.maximum(vein, extra, out=vein)
    _apply_vessels(img, vein, artery, reflex)
    px = geom.fov_radius

    layers = painter.canvas.layers
    instances = painter.instances
    if omitted:  # a layer "<type>.<part>" is an appearance part of <type>
        layers = {k: v for k, v in layers.items() if k.split(".")[0] not in omitted}
        instances = [i for i in instances if lesion_type_of(i.lesion) not in omitted]
    paint_lesions(img, layers, config.lesion_contrast, geom.fov_radius)

    image, jpeg = apply_camera(img, fov, camera, px, rng)

    masks = {name: (layers[name] >= MASK_THRESHOLD) & fov if name in layers
             else np.zeros((size, size), bool) for name in LESIONS}
    masks["fov"] = fov
    masks["optic_disc"] = ellipse_mask(size, geom.disc_centre, geom.disc_radius,
                                       1.08 * geom.disc_radius)
    masks["macula"] = ellipse_mask(size, geom.fovea, macula_radius(geom),
                                   macula_radius(geom)) & fov
    masks["vessels"] = (np.maximum(vein, artery) >= MASK_THRESHOLD) & fov
    assert set(masks) == set(LESIONS + ANATOMY)

    inventory = inventory_from_instances(instances)
    grades = grade_all(inventory)
    true_grade = grades[config.label_scale]
    label = _noisy_label(true_grade, config.label_noise, rng)
    return FundusSample(image=image, masks=masks, quadrants=quadrant_map(geom, fov),
                        grade=true_grade, label=label, grades=grades, eye=geom.eye,
                        inventory=inventory,
                        presentation=plan.presentation, instances=instances,
                        geometry=geom, camera=camera, seed=seed_id(seed), jpeg=jpeg,
                        meta={"target_grade": int(grade), "label_scale": config.label_scale,
                              "generator_version": GENERATOR_VERSION,
                              "omitted": sorted(omitted)})
