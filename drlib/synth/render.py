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

What it models: the layout and colours of a macula-centred photograph (orange-red fundus with
illumination fall-off and choroidal texture, bright disc with a paler cup, darker macula and fovea,
veins wider and darker than arteries), the look and typical place of each DR lesion, left/right
eyes, and camera variation. What it does not model: real pathology's variety, other diseases
(drusen, AMD, glaucoma, myopic changes), artefacts (eyelashes, dust, reflections), media opacity,
peripheral retina beyond 45 degrees, image quality failures, or the way real graders disagree
(only an optional, documented label-noise rate). It is a research instrument, not clinical data.
"""

from __future__ import annotations

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
    fov_mask,
    macula_radius,
    pixel_grid,
    quadrant_map,
    sample_geometry,
)
from drlib.synth.grading import DEFAULT_SCALE, LesionInventory, check_scale, grade_all
from drlib.synth.lesion_plan import LesionPlan, sample_plan
from drlib.synth.lesion_render import Instance, LesionPainter
from drlib.synth.noise_fields import periodic_field, random_window
from drlib.synth.vessels import draw_vessels, grow_vessel_tree

GENERATOR_VERSION = "1.1"


@dataclass(frozen=True)
class SynthConfig:
    """Controls of the generator. Defaults give the course's standard dataset."""

    size: int = 512
    lesion_contrast: float = 1.0  # visibility: multiplies every lesion's opacity (0..)
    lesion_scale: float = 1.0  # visibility: multiplies lesion sizes
    camera_variation: float = 1.0  # 0: ideal camera
    label_noise: float = 0.0  # probability that the recorded label moves one grade (off)
    label_scale: str = DEFAULT_SCALE  # grading scale of the target, grade and label: SCALES

    def __post_init__(self):
        check_scale(self.label_scale)


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


# --------------------------------------------------------------------------- look of the lesions
# mode "mul": multiply the fundus colour by a tint (dark, red lesions); "mix": blend towards a
# colour (bright lesions). alpha is the opacity at full coverage; blur softens edges (x R).
APPEARANCE: dict[str, tuple[str, tuple[float, float, float], float, float]] = {
    "microaneurysm": ("mul", (0.42, 0.16, 0.22), 0.95, 0.0015),
    "dot_blot_haemorrhage": ("mul", (0.40, 0.15, 0.20), 0.92, 0.002),
    "flame_haemorrhage": ("mul", (0.48, 0.18, 0.24), 0.85, 0.004),
    "hard_exudate": ("mix", (250.0, 226.0, 120.0), 0.92, 0.001),
    "cotton_wool_spot": ("mix", (236.0, 226.0, 206.0), 0.78, 0.012),
    "irma": ("mul", (0.50, 0.22, 0.28), 0.85, 0.001),
    "nvd": ("mul", (0.52, 0.20, 0.26), 0.85, 0.001),
    "nve": ("mul", (0.52, 0.20, 0.26), 0.85, 0.001),
    "preretinal_haemorrhage": ("mul", (0.32, 0.09, 0.11), 0.96, 0.003),
}
VEIN_TINT = np.array([0.52, 0.30, 0.40], np.float32)
ARTERY_TINT = np.array([0.80, 0.55, 0.60], np.float32)
MASK_THRESHOLD = 96  # coverage (0..255) from which a pixel belongs to a lesion's mask


def _texture(rng, size: int) -> np.ndarray:
    """Fine choroidal texture: a random window of a fixed periodic field (a view, no copy)."""
    return random_window(periodic_field(size + size // 4, size / 150.0, 7), rng, size)


def _bbox(layer: np.ndarray, pad: int) -> tuple[slice, slice] | None:
    rows = np.flatnonzero(layer.any(axis=1))
    if len(rows) == 0:
        return None
    cols = np.flatnonzero(layer.any(axis=0))
    h, w = layer.shape
    return (slice(max(rows[0] - pad, 0), min(rows[-1] + pad + 1, h)),
            slice(max(cols[0] - pad, 0), min(cols[-1] + pad + 1, w)))


def _tint(img: np.ndarray, coverage: np.ndarray, mode: str, colour, alpha: float,
          blur_px: float) -> None:
    """Apply one coverage layer to the float image in place (within its bounding box)."""
    box = _bbox(coverage, pad=int(3 * blur_px) + 2)
    if box is None:
        return
    cov = coverage[box].astype(np.float32) * np.float32(alpha / 255.0)
    if blur_px > 0.3:
        cov = cv2.GaussianBlur(cov, (0, 0), blur_px)
    cov = np.minimum(cov, 1.0)[..., None]
    region = img[box]
    if mode == "mul":
        region *= 1.0 - cov * (1.0 - np.asarray(colour, np.float32))
    else:
        region += cov * (np.asarray(colour, np.float32) - region)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _shading(geom: FundusGeometry, rng, base: np.ndarray) -> np.ndarray:
    """Smooth part of the fundus colour at 1/4 resolution: illumination fall-off, rim, coarse
    choroidal texture, darker macula and fovea. Upsampled by the caller."""
    small = max(32, geom.size // 4)
    f = small / geom.size
    R = geom.fov_radius * f
    r = distance_map(small, tuple(c * f for c in geom.fov_centre)) / np.float32(R)
    light = (geom.fov_centre[0] * f + rng.normal(0, 0.15) * R,
             geom.fov_centre[1] * f + rng.normal(0, 0.15) * R)
    rl = distance_map(small, light) / np.float32(R)
    coarse = random_window(periodic_field(small + small // 4, small / 30.0, 11), rng, small)
    illum = (1.0 - 0.32 * rl**2) * (1.0 - 0.55 * np.clip((r - 0.82) / 0.18, 0, 1) ** 2)
    illum *= 1.0 + 0.05 * coarse
    df = distance_map(small, tuple(c * f for c in geom.fovea)) / np.float32(R)
    mac = np.exp(-(df**2) / (2 * 0.13**2))[..., None]
    pit = np.exp(-(df**2) / (2 * 0.03**2))[..., None]
    shade = base * illum[..., None] * (1.0 - mac * np.array([0.22, 0.30, 0.25], np.float32)
                                       - pit * np.float32(0.12))
    return cv2.resize(shade.astype(np.float32), (geom.size, geom.size),
                      interpolation=cv2.INTER_LINEAR)


def _fundus_background(geom: FundusGeometry, rng) -> tuple[np.ndarray, np.ndarray]:
    """Float RGB fundus without vessels or lesions, and the field-of-view mask."""
    size = geom.size
    fov = fov_mask(size, geom.fov_centre, geom.fov_radius)
    base = np.array([rng.uniform(190, 228), rng.uniform(70, 104), rng.uniform(28, 55)], np.float32)
    img = _shading(geom, rng, base)
    img *= (1.0 + 0.035 * _texture(rng, size))[..., None]
    # optic disc: bright, slightly vertical oval, with a paler cup offset temporally
    dx, dy = geom.disc_centre
    rd = geom.disc_radius
    half = int(1.6 * rd) + 2
    ys = slice(max(int(dy) - half, 0), min(int(dy) + half, size))
    xs = slice(max(int(dx) - half, 0), min(int(dx) + half, size))
    x, y = pixel_grid(size)
    x, y = x[ys, xs], y[ys, xs]
    e = np.sqrt(((x - dx) / rd) ** 2 + ((y - dy) / (1.08 * rd)) ** 2)
    cup_x = dx - geom.side * 0.12 * rd
    ec = np.sqrt(((x - cup_x) / rd) ** 2 + ((y - dy) / (1.08 * rd)) ** 2)
    cup_ratio = rng.uniform(0.3, 0.5)
    w_disc = _sigmoid((1.0 - e) / 0.07)[..., None]
    w_cup = _sigmoid((cup_ratio - ec) / 0.06)[..., None]
    region = img[ys, xs]
    disc_col = np.array([rng.uniform(235, 255), rng.uniform(175, 205), rng.uniform(120, 150)],
                        np.float32) * (0.6 + 0.4 * region.mean() / (base.mean() + 1e-6))
    region += w_disc * (disc_col - region)
    region += 0.8 * w_cup * (np.array([255, 238, 205], np.float32) - region)
    return img, fov


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


def render_fundus(seed: int | np.random.SeedSequence, grade: int | None = None,
                  config: SynthConfig | None = None,
                  prior: str | tuple[float, ...] = "eyepacs", eye: str | None = None,
                  size: int | None = None) -> FundusSample:
    """Render one synthetic photograph. ``grade`` None draws it from ``prior``.

    ``seed`` is an int or a :class:`numpy.random.SeedSequence` (see :func:`seed_sequence`).
    """
    config = config or SynthConfig()
    if size is not None:
        config = SynthConfig(**{**config.__dict__, "size": int(size)})
    if config.size < 64:
        raise ValueError(f"size must be at least 64 px, got {config.size}")
    rng = np.random.default_rng(seed_sequence(seed))
    if grade is None:
        grade = int(rng.choice(5, p=class_prior(prior)))
    size = config.size
    geom = sample_geometry(rng, size, eye)
    plan: LesionPlan = sample_plan(grade, rng, config.label_scale)
    camera = sample_camera(rng, config.camera_variation)

    img, fov = _fundus_background(geom, rng)
    vessels = grow_vessel_tree(geom, rng)
    painter = LesionPainter(geom, vessels, rng, scale=config.lesion_scale)
    painter.paint(plan)

    vein, artery = draw_vessels(vessels, size)
    np.maximum(vein, painter.vein_extra, out=vein)
    px = geom.fov_radius
    soft = max(0.35, 0.0015 * px)
    shade = np.ones((size, size, 3), np.float32)  # one multiplicative map for both kinds
    for layer, tint in ((vein, VEIN_TINT), (artery, ARTERY_TINT)):
        cov = cv2.GaussianBlur(layer, (0, 0), soft).astype(np.float32) * np.float32(0.9 / 255)
        shade -= cov[..., None] * (1.0 - tint)
    img *= np.maximum(shade, 0.05)

    layers = painter.canvas.layers
    contrast = config.lesion_contrast
    for name, (mode, colour, alpha, blur) in APPEARANCE.items():
        if name in layers:
            _tint(img, layers[name], mode, colour, min(1.0, alpha * contrast), blur * px)
    if "laser_scar" in layers:  # pale centre, pigmented rim
        scar = layers["laser_scar"]
        rim = cv2.subtract(scar, cv2.erode(scar, np.ones((3, 3), np.uint8),
                                           iterations=max(1, int(0.006 * px))))
        _tint(img, scar, "mix", (205.0, 165.0, 115.0), min(1.0, 0.65 * contrast), 0.001 * px)
        _tint(img, rim, "mul", (0.25, 0.18, 0.16), min(1.0, 0.9 * contrast), 0.001 * px)

    image = apply_camera(img, fov, camera, px, rng)

    masks = {name: (layers[name] >= MASK_THRESHOLD) & fov if name in layers
             else np.zeros((size, size), bool) for name in LESIONS}
    masks["fov"] = fov
    masks["optic_disc"] = ellipse_mask(size, geom.disc_centre, geom.disc_radius,
                                       1.08 * geom.disc_radius)
    masks["macula"] = ellipse_mask(size, geom.fovea, macula_radius(geom),
                                   macula_radius(geom)) & fov
    masks["vessels"] = (np.maximum(vein, artery) >= MASK_THRESHOLD) & fov
    assert set(masks) == set(LESIONS + ANATOMY)

    inventory = inventory_from_instances(painter.instances)
    grades = grade_all(inventory)
    true_grade = grades[config.label_scale]
    label = _noisy_label(true_grade, config.label_noise, rng)
    return FundusSample(image=image, masks=masks, quadrants=quadrant_map(geom, fov),
                        grade=true_grade, label=label, grades=grades, eye=geom.eye,
                        inventory=inventory,
                        presentation=plan.presentation, instances=painter.instances,
                        geometry=geom, camera=camera, seed=seed_id(seed),
                        meta={"target_grade": int(grade), "label_scale": config.label_scale,
                              "generator_version": GENERATOR_VERSION})
