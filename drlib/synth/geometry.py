"""Where things sit in a synthetic fundus photograph: field of view, optic disc, fovea, quadrants.

All lengths scale with the radius R of the circular field of view, so one eye can be rendered at
any size. The layout follows a macula-centred 45-degree photograph: the fovea near the centre,
the optic disc about 2.5 disc diameters to the nasal side (the right of the picture for a right
eye, mirrored for a left eye) and slightly above the fovea. A 45-degree field is about 13 mm of
retina across (R ~ 6.5 mm); the disc, taken as DISC_DIAMETER_UM = 1.8 mm, is then ~0.28 R across
and sits ~0.7 R from the fovea (the disc-fovea distance, ~4.5-5 mm). ``um_per_px`` converts
pixels to micrometres through the disc, so lesion and vessel calibres can be stated in um.

Cameras crop the circle: some photographs have flat top and bottom edges (``fov_flat``, the
fraction of R cut at each) and a small notch on the rim (``notch_angle``), as real fundus cameras
print; :func:`fov_mask_of` draws the field with them.

Quadrants are defined about the midpoint between disc and fovea, split by the disc-fovea line
(superior/inferior) and the line perpendicular to it (nasal/temporal).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cached_property, lru_cache

import numpy as np

DISC_DIAMETER_UM = 1800.0  # a typical optic disc (vertical diameter ~1.8 mm)

@dataclass(frozen=True)
class FundusGeometry:
    size: int
    eye: str  # "right" or "left"
    fov_centre: tuple[float, float]
    fov_radius: float
    fovea: tuple[float, float]
    disc_centre: tuple[float, float]
    disc_radius: float
    fov_flat: float = 0.0  # fraction of R cut off at the top and bottom (0: a full circle)
    notch_angle: float | None = None  # where a rim notch sits (radians), None: no notch

    @property
    def um_per_px(self) -> float:
        """Micrometres of retina per pixel, from the disc (DISC_DIAMETER_UM across)."""
        return DISC_DIAMETER_UM / (2.0 * self.disc_radius)

    @property
    def disc_fovea_distance(self) -> float:
        return float(np.hypot(self.disc_centre[0] - self.fovea[0],
                              self.disc_centre[1] - self.fovea[1]))

    @property
    def side(self) -> int:
        """+1 when nasal is to the right of the picture (right eye), -1 otherwise."""
        return 1 if self.eye == "right" else -1

    @property
    def disc_area(self) -> float:
        return float(np.pi * self.disc_radius**2)

    @cached_property
    def quadrant_origin(self) -> np.ndarray:
        return (np.asarray(self.fovea) + np.asarray(self.disc_centre)) / 2

    @cached_property
    def nasal_axis(self) -> np.ndarray:
        d = np.asarray(self.disc_centre) - np.asarray(self.fovea)
        return d / np.linalg.norm(d)

    @cached_property
    def superior_axis(self) -> np.ndarray:
        """Unit vector perpendicular to the disc-fovea line, pointing up in the picture."""
        u = self.nasal_axis
        n = np.array([u[1], -u[0]])
        return n if n[1] < 0 else -n

    def quadrant_of(self, xy: np.ndarray) -> np.ndarray:
        """Quadrant index 0..3 (order of ``QUADRANTS``) of points ``xy`` (..., 2)."""
        d = np.asarray(xy, dtype=float) - self.quadrant_origin
        superior = d @ self.superior_axis > 0
        nasal = d @ self.nasal_axis > 0
        return np.where(superior, np.where(nasal, 1, 0), np.where(nasal, 3, 2))

    def to_dict(self) -> dict:
        return asdict(self)


def sample_geometry(rng: np.random.Generator, size: int, eye: str | None = None) -> FundusGeometry:
    """Random but anatomically plausible placement of disc and fovea for one photograph."""
    eye = eye or ("right" if rng.random() < 0.5 else "left")
    side = 1 if eye == "right" else -1
    c = size / 2
    radius = size * 0.47 * (1 + rng.uniform(-0.02, 0.02))
    centre = (c + rng.uniform(-0.01, 0.01) * size, c + rng.uniform(-0.01, 0.01) * size)
    fovea = (centre[0] - side * radius * rng.uniform(0.0, 0.06),
             centre[1] + radius * rng.uniform(-0.02, 0.04))
    disc_radius = radius * rng.uniform(0.125, 0.15)
    dfd = 2 * disc_radius * rng.uniform(2.3, 2.7)  # disc-fovea distance: ~2.5 disc diameters
    rise = rng.uniform(0.0, 0.12)  # the disc sits a little above the fovea
    disc = (fovea[0] + side * dfd * np.cos(rise), fovea[1] - dfd * np.sin(rise))
    flat = float(rng.uniform(0.04, 0.1)) if rng.random() < 0.35 else 0.0
    # the notch is the camera's, at the same place of the picture for either eye
    notch = float(rng.uniform(-0.35, -0.2) * np.pi) if rng.random() < 0.25 else None
    return FundusGeometry(size, eye, centre, float(radius), fovea, disc, float(disc_radius),
                          flat, notch)


@lru_cache(maxsize=8)
def pixel_grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates (x, y) as float32 arrays, cached per size (read-only)."""
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    x.setflags(write=False)
    y.setflags(write=False)
    return x, y


def distance_map(size: int, centre: tuple[float, float]) -> np.ndarray:
    # x varies along rows only and y down columns only: each squared difference is computed
    # once per column (row) and broadcast, the same float32 arithmetic per pixel
    x, y = pixel_grid(size)
    dx2 = (x[:1] - np.float32(centre[0])) ** 2
    dy2 = (y[:, :1] - np.float32(centre[1])) ** 2
    return np.sqrt(dx2 + dy2)


def quadrant_map(geom: FundusGeometry, fov: np.ndarray) -> np.ndarray:
    """uint8 label map: 0 outside the field of view, 1..4 for the quadrants.

    Uses the same half-plane tests as :meth:`FundusGeometry.quadrant_of`, so a lesion's
    quadrant and the label under its centre always agree.
    """
    x, y = pixel_grid(geom.size)
    o, s, n = geom.quadrant_origin, geom.superior_axis, geom.nasal_axis
    x, y = x[:1], y[:, :1]  # one row of x, one column of y, broadcast: the same arithmetic
    superior = (x * np.float32(s[0]) + y * np.float32(s[1])) > np.float32(o @ s)
    nasal = (x * np.float32(n[0]) + y * np.float32(n[1])) > np.float32(o @ n)
    # 1 + nasal + 2 (not superior), and 0 outside the field, in few uint8 passes
    q = np.uint8(3) - (superior.view(np.uint8) << np.uint8(1))
    q += nasal.view(np.uint8)
    q *= np.asarray(fov, bool).view(np.uint8)
    return q


def macula_radius(geom: FundusGeometry) -> float:
    """The macula mask: one disc diameter around the fovea (the central macula)."""
    return 2.0 * geom.disc_radius


def fov_mask(size: int, centre: tuple[float, float], radius: float) -> np.ndarray:
    """The circular field of view as a boolean mask."""
    return ellipse_mask(size, centre, radius, radius)


def fov_mask_of(geom: FundusGeometry) -> np.ndarray:
    """The field of view of one photograph: the circle, cut flat at top and bottom by
    ``geom.fov_flat`` and notched at ``geom.notch_angle`` when the camera does so."""
    mask = fov_mask(geom.size, geom.fov_centre, geom.fov_radius)
    cx, cy = geom.fov_centre
    R = geom.fov_radius
    if geom.fov_flat > 0:
        cut = int(round(R * geom.fov_flat))
        top, bottom = int(cy - R) + cut, int(np.ceil(cy + R)) - cut
        mask[:max(top, 0)] = False
        mask[max(bottom, 0):] = False
    if geom.notch_angle is not None:  # a small square notch in the rim
        half = 0.035 * R
        nx = cx + (R - half) * np.cos(geom.notch_angle)
        ny = cy + (R - half) * np.sin(geom.notch_angle)
        ys = slice(max(int(ny - half), 0), max(int(ny + half) + 1, 0))
        xs = slice(max(int(nx - half), 0), max(int(nx + half) + 1, 0))
        mask[ys, xs] = False
    return mask


def ellipse_mask(size: int, centre: tuple[float, float], rx: float, ry: float) -> np.ndarray:
    """Boolean mask of an axis-aligned ellipse, computed only inside its bounding box."""
    mask = np.zeros((size, size), bool)
    cx, cy = centre
    ys = slice(max(int(cy - ry) - 1, 0), min(int(cy + ry) + 2, size))
    xs = slice(max(int(cx - rx) - 1, 0), min(int(cx + rx) + 2, size))
    x, y = pixel_grid(size)
    # x varies along rows only and y down columns only: one row and one column, broadcast
    mask[ys, xs] = ((x[:1, xs] - cx) / rx) ** 2 + ((y[ys, :1] - cy) / ry) ** 2 <= 1.0
    return mask
