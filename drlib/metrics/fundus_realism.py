"""Measured realism of a fundus photograph: the same code for a real photograph and a synthetic one.

Every measure is taken at a common scale: the image is cropped to its field of view (FOV) and
resized so that the field radius R (half the FOV's horizontal extent) is ``work_radius`` pixels
(240 by default). Every filter width below is a fixed fraction of R, so a 1411-pixel photograph
and a 512-pixel synthetic eye are filtered alike. Lengths returned by the ``locate_*`` functions
are in pixels of the image given; :func:`anatomy_measures` reports them in field radii.

Pieces:

* :func:`field_of_view` / :func:`field_radius` / :func:`field_centre`: the camera's circle;
* :func:`vessel_mask`: Frangi vesselness of the green channel (dark ridges), with one fixed
  absolute threshold (see :data:`VESSEL_THRESHOLD`), and :func:`vessel_area_fraction`;
* :func:`box_counting_dimension`: fractal dimension of a mask (the vessel tree's);
* :func:`locate_disc` / :func:`locate_fovea`: the brightest large blob, and the darkest
  smoothed point where a fovea can be;
* :func:`anatomy_measures`: all of the above as one dict of plain floats;
* :data:`BAND_WIDTHS`, :func:`acceptance_bands`, :data:`REAL_RETINA_MEASURES`,
  :data:`REAL_BANDS`: how far a synthetic median may be from the real photograph's value, fixed
  before any synthetic eye was measured; :func:`realism_table` lays them side by side.

The reference is ``skimage.data.retina()``: one healthy left eye, 1411 x 1411 pixels. One
photograph is not a population; the bands are widened by what is known of the spread between
eyes and cameras (see the comments at :data:`BAND_WIDTHS`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import pandas as pd
from scipy import ndimage as ndi
from skimage.filters import frangi

WORK_RADIUS = 240  # pixels of field radius at which everything is measured

# Field of view: a pixel belongs to it when its brightest channel exceeds this fraction of the
# image's 99th-percentile brightness (relative, so a dim and a bright camera are cut alike).
FOV_FRACTION = 0.15

# Vessels. Sigmas in field radii: at R = 240 px they are 1.2 to 3.6 px, which matches vessel
# widths from ~3 px (small arterioles, ~40 um) to ~9 px (veins at the disc, ~150 um), with R
# ~ 6.5 mm for a 45-degree field. All stay above 1 px at the default work radius.
VESSEL_SIGMAS = (0.005, 0.0075, 0.0105, 0.015)
# Grey closing (disk of this radius) that removes the dark vessels, for the vessel background and
# before looking for the disc and the fovea: wider than the widest vein (~0.02 R).
VESSEL_CLOSING = 0.03
# The green channel is divided by its local background before filtering, so the response
# measures relative contrast, not exposure: the background is the green channel with the vessels
# closed over (VESSEL_CLOSING) and smoothed at this width, inside the FOV.
VESSEL_BACKGROUND_SIGMA = 0.02
# Frangi's structure term 1 - exp(-S^2 / 2 gamma^2), with S the Frobenius norm of the
# sigma^2-normalised Hessian of the contrast image. A Gaussian-profile vessel of relative
# contrast c gives S ~ 0.385 c at its best sigma, so with gamma = 0.03 and the threshold below
# a vessel needs a contrast of about 8% to be kept.
VESSEL_GAMMA = 0.03
VESSEL_BETA = 0.5
# One fixed absolute threshold on the vesselness (0..1), the same for every image: no quantile,
# no Otsu, so an image with faint or few vessels gets a small vessel fraction, as it should.
# 0.4 was chosen on the real photograph (mask edges on the visible vessel edges, few specks) and
# on drawn test lines, before any synthetic eye was measured.
VESSEL_THRESHOLD = 0.4
# Connected pieces of the mask smaller than this (field radii squared; 23 px at R = 240) are
# noise, not vessels, and are dropped.
VESSEL_MIN_AREA = 4e-4
# The FOV is eroded by this much (field radii) before counting, to keep the rim's step out.
RIM_MARGIN = 0.03

# Optic disc and fovea (field radii).
DISC_SIGMA = 0.06  # smoothing at disc scale (a disc is ~0.25-0.3 R across) to find its centre
DISC_EDGE_SIGMA = 0.012  # light smoothing for the half-maximum outline
DISC_WINDOW = 0.3  # the half-maximum region is looked for within this distance of the peak
# Smoothing for the fovea: the foveal dip is broad (~0.1-0.2 R); 0.08 R is wide enough that a
# cluster of haemorrhages (each larger than the vessel closing) does not outweigh it. Raised from
# 0.04 after the locator landed on a haemorrhage cluster in a synthetic grade-3 eye; the real
# photograph's fovea did not move.
FOVEA_SIGMA = 0.08
FOVEA_ANNULUS = (1.5, 3.5)  # disc diameters from the disc centre
FOVEA_CONE_DEG = 35.0  # the fovea lies within this angle of the disc -> FOV-centre direction


# --------------------------------------------------------------------------------------------
# Field of view
# --------------------------------------------------------------------------------------------


def _check_rgb(image: np.ndarray) -> np.ndarray:
    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected an RGB image of shape (H, W, 3), got {img.shape}")
    return img


def field_of_view(image: np.ndarray, fraction: float = FOV_FRACTION) -> np.ndarray:
    """The camera's field of view as a boolean mask: bright pixels, largest component, filled.

    ``image`` is RGB on 0..255 (uint8 or float). A pixel is in when its brightest channel exceeds
    ``fraction`` times the image's 99th-percentile brightness; the largest 8-connected component
    is kept and its holes filled (dark lesions inside the eye stay in the field).
    """
    img = _check_rgb(image)
    brightness = img.max(axis=2).astype(np.float32)
    level = fraction * float(np.percentile(brightness, 99))
    mask = brightness > level
    labels, n = ndi.label(mask, structure=np.ones((3, 3), bool))
    if n == 0:
        raise ValueError("no field of view: the image is uniformly dark")
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    return ndi.binary_fill_holes(labels == int(np.argmax(sizes)))


def field_radius(fov: np.ndarray) -> float:
    """Radius (pixels) of the circle as wide as the FOV: half its horizontal extent.

    The horizontal extent, because cameras may cut the circle flat at top and bottom.
    """
    cols = np.flatnonzero(np.asarray(fov, bool).any(axis=0))
    if cols.size == 0:
        raise ValueError("empty field of view")
    return (cols[-1] - cols[0] + 1) / 2.0


def field_centre(fov: np.ndarray) -> tuple[float, float]:
    """Centre (x, y) of the FOV: the middle of its horizontal and of its vertical extent."""
    fov = np.asarray(fov, bool)
    cols = np.flatnonzero(fov.any(axis=0))
    rows = np.flatnonzero(fov.any(axis=1))
    if cols.size == 0:
        raise ValueError("empty field of view")
    return (cols[0] + cols[-1]) / 2.0, (rows[0] + rows[-1]) / 2.0


# --------------------------------------------------------------------------------------------
# The common working scale
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Work:
    """An image cropped to its FOV and resized so the field radius is ``radius`` pixels."""

    image: np.ndarray  # float32 RGB on 0..255
    fov: np.ndarray  # bool
    radius: float  # field radius in work pixels (= work_radius up to rounding)
    scale: float  # work pixels per input pixel
    x0: int  # crop origin in the input image
    y0: int
    crop_shape: tuple[int, int]  # (height, width) of the crop in the input image
    input_shape: tuple[int, int]

    def to_input(self, x: float, y: float) -> tuple[float, float]:
        """Work coordinates (pixel centres) -> input image coordinates."""
        return (x + 0.5) / self.scale - 0.5 + self.x0, (y + 0.5) / self.scale - 0.5 + self.y0

    def to_work(self, x: float, y: float) -> tuple[float, float]:
        return (x - self.x0 + 0.5) * self.scale - 0.5, (y - self.y0 + 0.5) * self.scale - 0.5


def _to_work(image: np.ndarray, fov: np.ndarray | None, work_radius: float) -> _Work:
    img = _check_rgb(image)
    fov = field_of_view(img) if fov is None else np.asarray(fov, bool)
    if fov.shape != img.shape[:2]:
        raise ValueError(f"fov shape {fov.shape} does not match image {img.shape[:2]}")
    radius = field_radius(fov)
    scale = work_radius / radius
    rows = np.flatnonzero(fov.any(axis=1))
    cols = np.flatnonzero(fov.any(axis=0))
    margin = int(np.ceil(0.05 * radius))
    y0, y1 = max(rows[0] - margin, 0), min(rows[-1] + margin + 1, img.shape[0])
    x0, x1 = max(cols[0] - margin, 0), min(cols[-1] + margin + 1, img.shape[1])
    crop = img[y0:y1, x0:x1].astype(np.float32)
    size = (max(int(round((x1 - x0) * scale)), 1), max(int(round((y1 - y0) * scale)), 1))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    work = cv2.resize(crop, size, interpolation=interp)
    work_fov = cv2.resize(fov[y0:y1, x0:x1].astype(np.float32), size, interpolation=interp) >= 0.5
    return _Work(work, work_fov, field_radius(work_fov), size[0] / (x1 - x0), int(x0), int(y0),
                 (int(y1 - y0), int(x1 - x0)), (int(img.shape[0]), int(img.shape[1])))


def _smooth_in(values: np.ndarray, mask: np.ndarray, sigma: float) -> np.ndarray:
    """Gaussian smoothing normalised to ``mask`` (pixels outside do not darken the rim)."""
    m = mask.astype(np.float32)
    num = cv2.GaussianBlur(values.astype(np.float32) * m, (0, 0), sigma,
                           borderType=cv2.BORDER_CONSTANT)
    den = cv2.GaussianBlur(m, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT)
    return num / np.maximum(den, 1e-6)


def _disk(radius: float) -> np.ndarray:
    r = max(int(round(radius)), 1)
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))


def _erode(mask: np.ndarray, radius: float) -> np.ndarray:
    return cv2.erode(mask.astype(np.uint8), _disk(radius), borderType=cv2.BORDER_CONSTANT,
                     borderValue=0).astype(bool)


# --------------------------------------------------------------------------------------------
# Vessels
# --------------------------------------------------------------------------------------------


def _vesselness(work: _Work) -> np.ndarray:
    """Frangi vesselness (0..1) of the green channel's relative contrast, at work scale."""
    R = work.radius
    green = work.image[..., 1]
    background = _smooth_in(_devesseled_green(work), work.fov, VESSEL_BACKGROUND_SIGMA * R)
    contrast = np.where(work.fov, green / np.maximum(background, 1.0), 1.0).astype(np.float64)
    response = np.zeros_like(contrast)
    for s in VESSEL_SIGMAS:
        sigma = s * R
        # skimage's Hessian is not scale-normalised: dividing gamma by sigma^2 is the same as
        # normalising the Hessian by sigma^2, so one gamma serves every scale.
        v = frangi(contrast, sigmas=[sigma], beta=VESSEL_BETA, gamma=VESSEL_GAMMA / sigma**2,
                   black_ridges=True, mode="nearest")
        np.maximum(response, v, out=response)
    return response


def _vessels_work(work: _Work) -> tuple[np.ndarray, np.ndarray]:
    """(vessel mask, counted region) at work scale; the region is the FOV less its rim."""
    region = _erode(work.fov, RIM_MARGIN * work.radius)
    vessels = (_vesselness(work) > VESSEL_THRESHOLD) & region
    labels, n = ndi.label(vessels, structure=np.ones((3, 3), bool))
    if n:
        sizes = np.bincount(labels.ravel())
        keep = sizes >= VESSEL_MIN_AREA * work.radius**2
        keep[0] = False
        vessels = keep[labels]
    return vessels, region


def vessel_mask(
    image: np.ndarray, fov: np.ndarray | None = None, work_radius: float = WORK_RADIUS
) -> np.ndarray:
    """Boolean vessel mask at the input image's resolution.

    Computed at the common scale (field radius ``work_radius`` px): Frangi vesselness (dark
    ridges, sigmas :data:`VESSEL_SIGMAS` field radii) of the green channel divided by its local
    background, thresholded at :data:`VESSEL_THRESHOLD`, inside the FOV eroded by
    :data:`RIM_MARGIN`, pieces smaller than :data:`VESSEL_MIN_AREA` dropped; then resized back
    (nearest neighbour). ``fov`` defaults to :func:`field_of_view` of the image.
    """
    work = _to_work(image, fov, work_radius)
    vessels, _ = _vessels_work(work)
    return _to_input(work, vessels)


def _to_input(work: _Work, mask: np.ndarray) -> np.ndarray:
    out = np.zeros(work.input_shape, bool)
    ch, cw = work.crop_shape
    back = cv2.resize(mask.astype(np.uint8), (cw, ch), interpolation=cv2.INTER_NEAREST)
    out[work.y0:work.y0 + ch, work.x0:work.x0 + cw] = back.astype(bool)
    return out


def vessel_area_fraction(
    image: np.ndarray, fov: np.ndarray | None = None, work_radius: float = WORK_RADIUS
) -> float:
    """Vessel pixels / FOV pixels (the FOV less its rim), counted at the common scale."""
    vessels, region = _vessels_work(_to_work(image, fov, work_radius))
    return float(vessels.sum() / max(region.sum(), 1))


# --------------------------------------------------------------------------------------------
# Box counting
# --------------------------------------------------------------------------------------------


def box_counts(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(box sizes, occupied boxes): sizes 2, 4, ... up to a quarter of the mask's longer side.

    The mask is padded with empty pixels to a multiple of each box size; the grid starts at the
    top-left corner.
    """
    m = np.asarray(mask, bool)
    if m.ndim != 2:
        raise ValueError(f"expected a 2-D mask, got shape {m.shape}")
    n = max(m.shape)
    sizes = 2 ** np.arange(1, int(np.floor(np.log2(max(n / 4, 1)))) + 1)
    if sizes.size < 2:
        raise ValueError(f"mask {m.shape} too small for box counting (need a side >= 16)")
    counts = []
    for s in sizes:
        h, w = -(-m.shape[0] // s) * s, -(-m.shape[1] // s) * s
        padded = np.zeros((h, w), bool)
        padded[: m.shape[0], : m.shape[1]] = m
        boxes = padded.reshape(h // s, s, w // s, s).any(axis=(1, 3))
        counts.append(int(boxes.sum()))
    return sizes, np.asarray(counts)


def box_counting_dimension(mask: np.ndarray) -> float:
    """Box-counting dimension: least-squares slope of log(count) against log(1/size).

    Box sizes 2, 4, ..., <= N/4 (N the longer side). ``nan`` for an empty mask.
    """
    sizes, counts = box_counts(mask)
    if counts.min() == 0:
        return float("nan")
    slope = np.polyfit(np.log(1.0 / sizes), np.log(counts), 1)[0]
    return float(slope)


# --------------------------------------------------------------------------------------------
# Optic disc and fovea
# --------------------------------------------------------------------------------------------


def _devesseled(channel: np.ndarray, work: _Work) -> np.ndarray:
    """A channel with the dark vessels closed over (grey closing)."""
    return cv2.morphologyEx(np.ascontiguousarray(channel, dtype=np.float32), cv2.MORPH_CLOSE,
                            _disk(VESSEL_CLOSING * work.radius))


def _devesseled_green(work: _Work) -> np.ndarray:
    return _devesseled(work.image[..., 1], work)


def _devesseled_brightness(work: _Work) -> np.ndarray:
    """Mean of R, G, B with the vessels closed over: what the disc is the brightest blob of."""
    return _devesseled(work.image.mean(axis=2), work)


def _disc_work(work: _Work, bright: np.ndarray) -> tuple[float, float, float]:
    R = work.radius
    inside = _erode(work.fov, 0.02 * R)
    blob = _smooth_in(bright, work.fov, DISC_SIGMA * R)
    blob = np.where(inside, blob, -np.inf)
    py, px = np.unravel_index(int(np.argmax(blob)), blob.shape)
    light = _smooth_in(bright, work.fov, DISC_EDGE_SIGMA * R)
    yy, xx = np.indices(light.shape)
    near = ((xx - px) ** 2 + (yy - py) ** 2 <= (DISC_WINDOW * R) ** 2) & work.fov
    core = near & ((xx - px) ** 2 + (yy - py) ** 2 <= (0.1 * R) ** 2)
    background = float(np.median(light[work.fov]))
    peak = float(np.percentile(light[core], 95))
    region = near & (light > (background + peak) / 2)
    labels, _ = ndi.label(region)
    label = labels[py, px]
    if label == 0:  # the smoothed peak fell outside the half-max region: take the nearest one
        d = ndi.distance_transform_edt(labels == 0, return_indices=True)[1]
        label = labels[d[0][py, px], d[1][py, px]]
    blob_mask = labels == label
    ys, xs = np.nonzero(blob_mask)
    diameter = 2.0 * np.sqrt(blob_mask.sum() / np.pi)
    return float(xs.mean()), float(ys.mean()), float(diameter)


def locate_disc(
    image: np.ndarray, fov: np.ndarray | None = None, work_radius: float = WORK_RADIUS
) -> tuple[float, float, float]:
    """The optic disc as (x, y, diameter), in pixels of the image given.

    At the common scale, on the brightness (mean of R, G, B) with vessels closed over: the
    centre is first found as the maximum of the brightness smoothed at disc scale
    (:data:`DISC_SIGMA`); the disc is then the connected region, within :data:`DISC_WINDOW` of
    it, of the lightly smoothed (:data:`DISC_EDGE_SIGMA`) brightness above half-way between the
    FOV's median and the 95th percentile within 0.1 R of the peak (a half-maximum that a pale cup
    does not inflate). (x, y) is that region's centroid and the diameter that of a circle of
    equal area. On the reference photograph the green channel alone gave a region that left out
    the pink nasal rim (0.23 R against 0.27 R).
    """
    work = _to_work(image, fov, work_radius)
    x, y, d = _disc_work(work, _devesseled_brightness(work))
    xi, yi = work.to_input(x, y)
    return xi, yi, d / work.scale


def _fovea_work(
    work: _Work, green: np.ndarray, disc: tuple[float, float, float]
) -> tuple[float, float]:
    R = work.radius
    dx, dy, dd = disc
    cx, cy = field_centre(work.fov)
    dark = _smooth_in(green, work.fov, FOVEA_SIGMA * R)
    yy, xx = np.indices(dark.shape)
    dist = np.hypot(xx - dx, yy - dy)
    allowed = _erode(work.fov, 0.05 * R)
    allowed &= (dist >= FOVEA_ANNULUS[0] * dd) & (dist <= FOVEA_ANNULUS[1] * dd)
    axis = np.array([cx - dx, cy - dy])
    if np.hypot(*axis) > 0.1 * R:  # a disc-centred photograph has no preferred side
        cos = ((xx - dx) * axis[0] + (yy - dy) * axis[1]) / (np.maximum(dist, 1e-9)
                                                          * np.hypot(*axis))
        allowed &= cos >= np.cos(np.radians(FOVEA_CONE_DEG))
    if not allowed.any():
        raise ValueError("no place for a fovea: the disc is too large or at the wrong place")
    fy, fx = np.unravel_index(int(np.argmin(np.where(allowed, dark, np.inf))), dark.shape)
    return float(fx), float(fy)


def locate_fovea(
    image: np.ndarray,
    fov: np.ndarray | None = None,
    disc: tuple[float, float, float] | None = None,
    work_radius: float = WORK_RADIUS,
) -> tuple[float, float]:
    """The fovea as (x, y) in pixels of the image given.

    The darkest point of the vessel-closed green channel smoothed at :data:`FOVEA_SIGMA`, among
    points :data:`FOVEA_ANNULUS` disc diameters from the disc centre and within
    :data:`FOVEA_CONE_DEG` degrees of the direction from the disc to the FOV centre (the fovea is
    temporal to the disc, across the middle of a macula-centred photograph). ``disc`` is
    ``locate_disc``'s answer (input pixels); found if not given.
    """
    work = _to_work(image, fov, work_radius)
    green = _devesseled_green(work)
    if disc is None:
        disc_w = _disc_work(work, _devesseled_brightness(work))
    else:
        x, y = work.to_work(disc[0], disc[1])
        disc_w = (x, y, disc[2] * work.scale)
    return work.to_input(*_fovea_work(work, green, disc_w))


# --------------------------------------------------------------------------------------------
# All measures of one photograph
# --------------------------------------------------------------------------------------------

MEASURES = (
    "disc_diameter",  # field radii
    "disc_fovea_distance",  # field radii
    "vessel_fraction",
    "vessel_fractal_dimension",
    "colour_mean_r", "colour_mean_g", "colour_mean_b",  # 0..255, inside the FOV
    "colour_std_r", "colour_std_g", "colour_std_b",
)


def anatomy_measures(
    image: np.ndarray, fov: np.ndarray | None = None, work_radius: float = WORK_RADIUS
) -> dict[str, float]:
    """Every measure of one photograph (keys :data:`MEASURES`), as plain floats.

    Disc diameter and disc-fovea distance in field radii; vessel area fraction and the
    box-counting dimension of the vessel mask, both at the common scale; per-channel mean and
    standard deviation (R, G, B on 0..255) over the FOV at the common scale (so that a large
    photograph's pixel noise is averaged as a small one's is).
    """
    work = _to_work(image, fov, work_radius)
    green = _devesseled_green(work)
    dx, dy, dd = _disc_work(work, _devesseled_brightness(work))
    fx, fy = _fovea_work(work, green, (dx, dy, dd))
    vessels, region = _vessels_work(work)
    pixels = work.image[work.fov]
    mean, std = pixels.mean(axis=0), pixels.std(axis=0)
    R = work.radius
    out = {
        "disc_diameter": dd / R,
        "disc_fovea_distance": float(np.hypot(fx - dx, fy - dy)) / R,
        "vessel_fraction": float(vessels.sum() / max(region.sum(), 1)),
        "vessel_fractal_dimension": box_counting_dimension(vessels),
    }
    for i, c in enumerate("rgb"):
        out[f"colour_mean_{c}"] = float(mean[i])
    for i, c in enumerate("rgb"):
        out[f"colour_std_{c}"] = float(std[i])
    return {k: float(out[k]) for k in MEASURES}


# --------------------------------------------------------------------------------------------
# Acceptance bands and the realism table
# --------------------------------------------------------------------------------------------

# How far a synthetic median may sit from the real photograph's value: ("relative", f) means
# real * (1 -/+ f), ("absolute", a) means real -/+ a. Fixed before any synthetic eye was measured.
BAND_WIDTHS: dict[str, tuple[str, float]] = {
    # Vessel area fraction depends on pigmentation, focus, resolution and the threshold; published
    # fractions in healthy eyes spread by about a third around their mean.
    "vessel_fraction": ("relative", 0.35),
    # Box-counting dimension of healthy retinal trees: ~1.4-1.5 in population studies (SD ~0.02-
    # 0.05) and method-dependent by more; 0.1 is 2-3 SDs plus segmentation differences.
    "vessel_fractal_dimension": ("absolute", 0.10),
    # Disc diameter varies between healthy eyes from ~1.5 to ~2.2 mm (about +-20% of ~1.85 mm),
    # and the camera's field angle varies a little.
    "disc_diameter": ("relative", 0.20),
    # Disc-fovea distance is tighter in anatomy (~4.5 mm, SD ~0.3 mm, about 7%); twice that.
    "disc_fovea_distance": ("relative", 0.15),
    # Colour: white balance and pigmentation differ between cameras and eyes; 15 grey levels is
    # what separates a plausible orange-red fundus from a visibly wrong tint.
    "colour_mean_r": ("absolute", 15.0),
    "colour_mean_g": ("absolute", 15.0),
    "colour_mean_b": ("absolute", 15.0),
    # Spread inside the FOV (illumination fall-off, disc, vessels, texture): half to 1.5 times.
    "colour_std_r": ("relative", 0.50),
    "colour_std_g": ("relative", 0.50),
    "colour_std_b": ("relative", 0.50),
}


# The reference: ``anatomy_measures(skimage.data.retina())`` (scikit-image 0.26, OpenCV 4.x),
# rounded to 4 significant digits. tests/test_fundus_realism.py checks that it is still measured.
REAL_RETINA_MEASURES: dict[str, float] = {
    "disc_diameter": 0.2702,
    "disc_fovea_distance": 0.6858,
    "vessel_fraction": 0.1572,
    "vessel_fractal_dimension": 1.440,
    "colour_mean_r": 207.0,
    "colour_mean_g": 82.76,
    "colour_mean_b": 59.78,
    "colour_std_r": 21.75,
    "colour_std_g": 19.44,
    "colour_std_b": 14.52,
}


def acceptance_bands(real: Mapping[str, float]) -> dict[str, tuple[float, float]]:
    """(low, high) for every measure of :data:`BAND_WIDTHS` present in ``real``."""
    bands = {}
    for name, (kind, width) in BAND_WIDTHS.items():
        if name not in real:
            continue
        value = float(real[name])
        if kind == "relative":
            bands[name] = (value * (1 - width), value * (1 + width))
        elif kind == "absolute":
            bands[name] = (value - width, value + width)
        else:  # pragma: no cover - a typo in BAND_WIDTHS
            raise ValueError(f"unknown band kind {kind!r} for {name}")
    return bands


REAL_BANDS: dict[str, tuple[float, float]] = acceptance_bands(REAL_RETINA_MEASURES)


def realism_table(
    real: Mapping[str, float], synthetic: Sequence[Mapping[str, float]]
) -> pd.DataFrame:
    """One row per measure: the real value, the synthetic median and 5-95% range, the band, and
    whether the median is inside it.

    ``real`` is one :func:`anatomy_measures` dict (e.g. :data:`REAL_RETINA_MEASURES`),
    ``synthetic`` a list of them; the bands are :func:`acceptance_bands` of ``real``.
    """
    if len(synthetic) == 0:
        raise ValueError("no synthetic measurements")
    bands = acceptance_bands(real)
    rows = []
    for name, (low, high) in bands.items():
        values = np.array([float(s[name]) for s in synthetic], dtype=np.float64)
        finite = values[np.isfinite(values)]
        median = float(np.median(finite)) if finite.size else float("nan")
        q05, q95 = (np.percentile(finite, [5, 95]) if finite.size else (np.nan, np.nan))
        rows.append({
            "measure": name,
            "real": float(real[name]),
            "synthetic median": median,
            "synthetic q05": float(q05),
            "synthetic q95": float(q95),
            "band low": low,
            "band high": high,
            "inside": bool(low <= median <= high),
        })
    return pd.DataFrame(rows, columns=["measure", "real", "synthetic median", "synthetic q05",
                                       "synthetic q95", "band low", "band high", "inside"])
