"""Painting a lesion plan: where each lesion goes and what shape it has.

Each lesion type is drawn into its own uint8 coverage layer (0..255, anti-aliased); the photograph
is tinted by those layers in :mod:`drlib.synth.lesion_appearance` and each layer at or above
``MASK_THRESHOLD`` becomes that type's boolean mask. A type may also draw *appearance parts*,
layers named ``"<type>.<part>"`` (the pigment and the atrophic centres of laser scars): they tint
the photograph but are no mask of their own (the type's own layer covers the whole lesion).
Every lesion is also returned as an *instance* (type, centre, quadrant, disc areas), from which
the inventory that the grading rules read is recounted: the ground truth is what was drawn.
Every instance's centre pixel is set in its layer, so no lesion vanishes from its mask.

Sizes are stated in micrometres of retina and converted through ``geom.um_per_px`` (1800 um per
disc diameter); distances that describe *where* lesions sit are fractions of the field radius R.
With a typical geometry (R = 0.47 x size, disc diameter 0.275 R) a pixel is about 27 um at
512 px, 54 um at 256, 72 um at 192 and 109 um at 128 (:func:`um_per_px_typical`):

=======================  ===============  =========  =========  =========  =========
lesion (size drawn)       um               512 px     256 px     192 px     128 px
=======================  ===============  =========  =========  =========  =========
microaneurysm (diam.)     30-100           1.1-3.7    0.6-1.8    0.4-1.4    0.3-0.9
dot/blot haem. (diam.)    100-500          3.7-18     1.8-9.2    1.4-6.9    0.9-4.6
flame haem. (length)      350-900          13-33      6.4-17     4.8-12     3.2-8.3
hard exudate (diam.)      50-250           1.8-9.2    0.9-4.6    0.7-3.4    0.5-2.3
cotton wool spot (long)   350-900          13-33      6.4-17     4.8-12     3.2-8.3
IRMA (calibre)            30-60            1.1-2.2    0.6-1.1    0.4-0.8    0.3-0.6
NVD/NVE (calibre)         50-150           1.8-5.5    0.9-2.8    0.7-2.1    0.5-1.4
laser scar (diam.)        250-500          9.2-18     4.6-9.2    3.4-6.9    2.3-4.6
preretinal (width)        1000-1900        37-70      18-35      14-26      9.2-17
=======================  ===============  =========  =========  =========  =========

New vessels: ``NV_CALIBRE_UM`` = 50-150 um, fine to medium new vessels of florid NVD (a main
retinal vein at the disc margin is ~125-150 um, fine new vessels ~20-50 um and invisible in a
45-degree photograph; 50 um is the finest a grader resolves, 150 um a mature frond). They are
drawn as a tangle that fills the planned extent (``disc_areas`` x the disc's area): a
wheel-spoke (NVD) or sea-fan (NVE) of loops with more loops and a net of fine tortuous
vessels, covering over half of an NVD's extent, so that at 192 and 256 px an NVD is a red
tangle on the pale disc, not sub-pixel threads (a vessel thinner than a pixel is drawn one pixel
wide and fainter). :func:`calibre_px` gives a calibre in pixels at an image size.

Where lesions go is a parameter (``PLACEMENTS``):

``"anatomical"``
    Microaneurysms and dot/blot haemorrhages in the vessel-bearing retina of the posterior pole,
    0.02-0.12 R from the edge of a branch vessel (``HAEMORRHAGE_VESSEL_GAP``: beside, not on);
    flame haemorrhages the same beside main vessels, their long axis along the nerve fibres
    (:func:`nerve_fibre_direction`); hard exudates in clusters or circinate rings within
    ``MACULAR_RADIUS`` (0.45 R) of the fovea (in a nasal quadrant, which starts half-way to
    the disc, just beyond that line); cotton wool spots within 0.1 R of a main vessel,
    along the fibres; IRMA beside branches inside the temporal arcades (``POSTERIOR_POLE``,
    0.5 R of the fovea); NVE on a main vessel more than a disc diameter from the disc;
    preretinal haemorrhage beside a main vessel.
``"uniform"``
    The same lesions, counts, sizes and shapes anywhere in the field of view of the same
    quadrant (inside the field, off the disc), with no regard to vessels or the macula: the
    control for "the saliency maps follow the vessels".

In both, the lesions defined by their site stay there: NVD on or within one disc diameter of the
disc, NVE more than one disc diameter away from it, venous beading and loops on veins, and laser
scars (treatment marks, not lesions) in rows outside the arcades, more than ``SCAR_FOVEA_MIN``
(0.6 R) from the fovea.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from functools import cached_property

import cv2
import numpy as np
from scipy.spatial import cKDTree

from drlib.synth.geometry import DISC_DIAMETER_UM, FundusGeometry
from drlib.synth.lesion_plan import LesionPlan
from drlib.synth.nerve_fibres import nerve_fibre_direction
from drlib.synth.vessels import SCALE, SHIFT, Vessel, draw_polylines

PLACEMENTS = ("anatomical", "uniform")
"""Where lesions go. ``anatomical``: each type where it usually sits (haemorrhages and
microaneurysms beside vessels, exudates near the macula, ...); ``uniform``: anywhere in the
field of view of the same quadrant, with the same counts (the control for "maps follow vessels")."""

# ----------------------------------------------------------------------------- sizes (um)
MA_DIAMETER_UM = (30.0, 100.0)
BLOT_DIAMETER_UM = (100.0, 500.0)  # log-uniform: more dots than large blots
FLAME_LENGTH_UM = (350.0, 900.0)  # width 0.25-0.4 of the length
HARD_EXUDATE_DIAMETER_UM = (50.0, 250.0)
HARD_EXUDATE_SPREAD_UM = (60.0, 200.0)  # s.d. of a cluster about its centre
CIRCINATE_RADIUS_UM = (250.0, 600.0)
CWS_LENGTH_UM = (350.0, 900.0)  # width 0.55-0.85 of the length
IRMA_CALIBRE_UM = (30.0, 60.0)
IRMA_LENGTH_UM = (700.0, 1400.0)
NV_CALIBRE_UM = (50.0, 150.0)
NV_FILL = 0.2  # vessel length budget of a tangle: NV_FILL x its extent / a mean calibre
SCAR_DIAMETER_UM = (250.0, 500.0)  # one laser setting per eye, +-15% per burn
PRERETINAL_WIDTH_UM = (1000.0, 1900.0)

# ----------------------------------------------------------------------------- sites (x R)
HAEMORRHAGE_VESSEL_GAP = (0.02, 0.12)  # from a vessel's edge, anatomical placement
CWS_VESSEL_GAP = (0.0, 0.08)  # from a main vessel's edge (+ its half width: within ~0.1 R)
MACULAR_RADIUS = 0.45  # hard exudates: cluster centres within 0.06-0.38 R of the fovea
POSTERIOR_POLE = 0.5  # IRMA: inside the temporal arcades
SCAR_FOVEA_MIN = 0.6  # laser scars: outside the arcades

# the field of view a lesion centre may use: within (0.93 - margin) R of its centre
_FIELD = 0.93


def check_placement(placement: str) -> str:
    if placement not in PLACEMENTS:
        raise ValueError(f"unknown lesion placement {placement!r}; expected one of {PLACEMENTS}")
    return placement


def um_per_px_typical(size: int) -> float:
    """Micrometres per pixel of a typical eye at ``size`` px (R = 0.47 size, disc diameter
    0.275 R; each eye's own scale is ``geom.um_per_px``)."""
    return DISC_DIAMETER_UM / (0.275 * 0.47 * size)


def calibre_px(um: float, size: int) -> float:
    """A calibre (or any length) of ``um`` micrometres in pixels at image size ``size``, for a
    typical eye. E.g. the new-vessel calibres ``NV_CALIBRE_UM`` (50-150 um): 0.46-1.4 px at
    128 px, 0.69-2.1 px at 192, 0.92-2.8 px at 256, 1.8-5.5 px at 512."""
    return float(um) / um_per_px_typical(size)


# ----------------------------------------------------------------------------- drawing
@dataclass
class Instance:
    lesion: str
    x: float
    y: float
    quadrant: int
    disc_areas: float = 0.0


class _Canvas:
    """Coverage layers for the lesion types, created on first use."""

    def __init__(self, size: int):
        self.size = size
        self.layers: dict[str, np.ndarray] = {}

    def layer(self, name: str) -> np.ndarray:
        if name not in self.layers:
            self.layers[name] = np.zeros((self.size, self.size), np.uint8)
        return self.layers[name]


def _fix(v) -> tuple[int, int]:
    return math.floor(v[0] * SCALE + 0.5), math.floor(v[1] * SCALE + 0.5)


def _ellipse(layer, centre, axes, angle_deg, value=255):
    axes = (max(1, int(axes[0] * SCALE + 0.5)), max(1, int(axes[1] * SCALE + 0.5)))
    cv2.ellipse(layer, _fix(centre), axes, float(angle_deg), 0, 360, value, -1, cv2.LINE_AA,
                SHIFT)


def _dots(layer: np.ndarray, centres: np.ndarray, radii: np.ndarray) -> None:
    """Small round dots, all at once: each pixel's coverage ramps from 1 to 0 across the dot's
    edge (a one-pixel anti-aliasing ramp), so that a dot a pixel or two across stays round
    (OpenCV's anti-aliased ellipses of that size are crosses). A dot smaller than a pixel
    keeps its area: its pixel's coverage is the dot's area (and ``_add`` marks the centre)."""
    centres = np.atleast_2d(np.asarray(centres, float))
    radii = np.asarray(radii, float).reshape(-1)
    if not len(centres):
        return
    half = int(np.ceil(radii.max() + 1.0))
    off = np.arange(-half, half + 1)
    base = np.floor(centres + 0.5).astype(int)  # nearest pixel centre
    xs = base[:, 0, None, None] + off[None, None, :]
    ys = base[:, 1, None, None] + off[None, :, None]
    d = np.hypot(xs - centres[:, 0, None, None], ys - centres[:, 1, None, None])
    r = radii[:, None, None]
    cover = np.clip(r + 0.5 - d, 0.0, 1.0) * np.minimum(1.0, np.pi * r * r)
    h, w = layer.shape
    ok = (cover > 0) & (xs >= 0) & (xs < w) & (ys >= 0) & (ys < h)
    xs, ys = np.broadcast_to(xs, cover.shape)[ok], np.broadcast_to(ys, cover.shape)[ok]
    np.maximum.at(layer, (ys, xs), np.rint(255 * cover[ok]).astype(np.uint8))


def _fixed(points: np.ndarray) -> np.ndarray:
    """Pixel coordinates as OpenCV's fixed-point integers (``SHIFT`` fractional bits)."""
    return np.rint(np.asarray(points) * SCALE).astype(np.int32)


def _blobs(rng, centres, radii, n=10, rough=0.15) -> np.ndarray:
    """Irregular closed outlines (len(centres), n, 2): circles with a smooth radial wobble."""
    centres = np.atleast_2d(centres)
    m = len(centres)
    ang = np.linspace(0, 2 * np.pi, n, endpoint=False) + rng.uniform(0, 2 * np.pi, (m, 1))
    wob = 1.0 + rough * (np.sin(2 * ang + rng.uniform(0, 6.3, (m, 1))) * rng.uniform(0.3, 1.0,
                                                                                     (m, 1))
                         + rng.normal(0, 0.6, (m, n)))
    rad = np.asarray(radii, float).reshape(-1, 1) * np.clip(wob, 0.55, 1.45)
    return centres[:, None, :] + rad[..., None] * np.stack([np.cos(ang), np.sin(ang)], axis=-1)


def _draw_strands(layer: np.ndarray, strands: list[tuple[np.ndarray, bool, float]]) -> None:
    """Draw (points, closed, calibre px) strands: one OpenCV call per (closed, thickness,
    intensity) group; a strand thinner than a pixel is drawn one pixel wide and fainter."""
    groups: dict[tuple[bool, int, int], list[np.ndarray]] = defaultdict(list)
    for pts, closed, w in strands:
        if len(pts) < 2:
            continue
        thick = max(1, int(round(w)))
        level = int(round(255 * min(w, 1.0)))
        groups[(closed, thick, level)].append(np.rint(pts * SCALE).astype(np.int32))
    for (closed, thick, level), runs in groups.items():
        cv2.polylines(layer, runs, closed, level, thick, cv2.LINE_AA, SHIFT)


class _Stamp:
    """A small patch of a layer to draw a soft lesion in: drawn, blurred, then merged (max)."""

    def __init__(self, layer: np.ndarray, centre, half: float):
        size = layer.shape[0]
        x0, y0 = int(centre[0] - half) - 1, int(centre[1] - half) - 1
        x1, y1 = int(centre[0] + half) + 2, int(centre[1] + half) + 2
        self.box = (slice(max(y0, 0), min(y1, size)), slice(max(x0, 0), min(x1, size)))
        self.origin = np.array([max(x0, 0), max(y0, 0)], float)
        self.layer = layer
        self.patch = np.zeros((self.box[0].stop - self.box[0].start,
                               self.box[1].stop - self.box[1].start), np.uint8)

    def merge(self, sigma: float = 0.0) -> None:
        patch = self.patch
        if patch.size == 0:
            return
        if sigma > 0.3:
            patch = cv2.GaussianBlur(patch, (0, 0), sigma)
            top = int(patch.max())
            if 0 < top < 255:  # keep the core at full coverage
                patch = cv2.convertScaleAbs(patch, alpha=255.0 / top)
        np.maximum(self.layer[self.box], patch, out=self.layer[self.box])


@dataclass
class _VesselPoints:
    """All points of an eye's vessels, flat, with what placement needs to know of each."""

    pts: np.ndarray  # (N, 2) px
    tan: np.ndarray  # (N, 2) unit tangents
    half: np.ndarray  # half widths, px
    order: np.ndarray
    vein: np.ndarray  # bool
    vessel: np.ndarray  # index into LesionPainter.vessels
    quadrant: np.ndarray
    fovea: np.ndarray  # distance to the fovea, x R
    ok: np.ndarray  # inside the field (0.04 R margin) and off the disc
    ok5: np.ndarray  # the same with a 0.05 R margin


class LesionPainter:
    """Places and draws the lesions of one plan on one eye."""

    def __init__(self, geom: FundusGeometry, vessels: list[Vessel], rng: np.random.Generator,
                 scale: float = 1.0, placement: str = "anatomical"):
        self.geom, self.rng, self.scale = geom, rng, scale
        self.placement = check_placement(placement)
        self.anatomical = self.placement == "anatomical"
        self.R = geom.fov_radius
        self.px_per_um = 1.0 / geom.um_per_px
        self.canvas = _Canvas(geom.size)
        self.instances: list[Instance] = []
        self.vein_extra = np.zeros((geom.size, geom.size), np.uint8)  # beading drawn onto veins
        self.vessels = [v for v in vessels if len(v.points)]
        self._pools: dict[tuple, np.ndarray] = {}
        self._scars: tuple[float, np.ndarray] | None = None

    @cached_property
    def _vp(self) -> _VesselPoints:
        """Every vessel point with its tangent, half width, order, kind, quadrant, fovea
        distance and usability, computed on first use (an eye without lesions never needs
        them)."""
        vessels, geom = self.vessels, self.geom
        lens = np.array([len(v.points) for v in vessels], int)
        pts = np.concatenate([np.asarray(v.points, float).reshape(-1, 2) for v in vessels]
                             + [np.zeros((0, 2))])
        ends = np.cumsum(lens) - 1
        starts = ends - lens + 1
        nxt, prv = np.roll(pts, -1, axis=0), np.roll(pts, 1, axis=0)
        nxt[ends], prv[starts] = pts[ends], pts[starts]  # one-sided at each vessel's ends
        tan = nxt - prv
        calibres = [getattr(v, "width", None) for v in vessels]
        if all(isinstance(w, (int, float, np.number)) for w in calibres):
            half = 0.5 * np.repeat(np.array(calibres, float), lens)  # one calibre a segment
        else:
            half = 0.5 * np.concatenate([np.asarray(v.widths, float) for v in vessels] + [[]])
        return _VesselPoints(
            pts=pts,
            tan=tan / (np.linalg.norm(tan, axis=1, keepdims=True) + 1e-9),
            half=half,
            order=np.repeat(np.array([v.order for v in vessels], int), lens),
            vein=np.repeat(np.array([v.kind == "vein" for v in vessels], bool), lens),
            vessel=np.repeat(np.arange(len(vessels)), lens),
            quadrant=geom.quadrant_of(pts),
            fovea=np.hypot(*(pts - np.asarray(geom.fovea)).T) / self.R,
            ok=self._valid(pts, margin=0.04),
            ok5=self._valid(pts, margin=0.05),
        )

    # ------------------------------------------------------------------ placement
    def _valid(self, xy: np.ndarray, margin: float = 0.06, min_disc: float = 1.4) -> np.ndarray:
        """Inside the field of view (cut flat where the camera cuts it) and off the disc."""
        g = self.geom
        xy = np.atleast_2d(xy)
        d = xy - g.fov_centre
        lim = self.R * (_FIELD - margin)
        ok = np.einsum("ij,ij->i", d, d) < lim * lim
        if g.fov_flat > 0:
            ok &= np.abs(d[:, 1]) < self.R * (1.0 - g.fov_flat - margin)
        e = xy - g.disc_centre
        return ok & (np.einsum("ij,ij->i", e, e) > (min_disc * g.disc_radius) ** 2)

    def _pool(self, q: int, vessels: str, band: tuple[float, float]) -> np.ndarray:
        """Indices of the vessel points of quadrant ``q`` of a kind ("main": order 0,
        "branch": order >= 1) whose fovea distance lies in ``band`` (x R)."""
        key = (q, vessels, band)
        if key not in self._pools:
            vp = self._vp
            ok = (vp.quadrant == q) & vp.ok
            ok &= (vp.order == 0) if vessels == "main" else (vp.order >= 1)
            ok &= (vp.fovea >= band[0]) & (vp.fovea <= band[1])
            self._pools[key] = np.flatnonzero(ok)
        return self._pools[key]

    def _sites(self, q: int, n: int, band: tuple[float, float] = (0.0, 2.0),
               vessels: str | None = None, gap: tuple[float, float] = (0.0, 0.0),
               min_disc: float = 1.4, centre: str = "fovea") -> tuple[np.ndarray, np.ndarray]:
        """``n`` lesion centres in quadrant ``q`` and a unit direction at each.

        With ``vessels`` ("main" or "branch"), a centre is a vessel point of that kind moved
        sideways off the vessel's edge by a gap drawn from ``gap`` (x R) and the direction is
        the vessel's; the vessel point's fovea distance lies in ``band`` (x R). Without, centres
        are uniform over the annulus ``band`` about the fovea (``centre="fovea"``) or the
        whole field (``centre="field"``), directions random. Every centre is valid (in the
        field, more than ``min_disc`` disc radii from the disc centre) and in quadrant ``q``.
        Candidates are drawn in batches; after 6 batches the vessels are dropped, after 9 the
        band (never the quadrant).
        """
        g, rng, R = self.geom, self.rng, self.R
        out_p, out_t, have = [], [], 0
        pool = self._pool(q, vessels, band) if vessels else None
        if pool is not None and len(pool) == 0:
            pool = None
        for attempt in range(16):
            m = max(32, (4 if pool is not None else 8) * (n - have))
            if pool is not None:
                idx = pool[rng.integers(len(pool), size=m)]
                vp = self._vp
                t = vp.tan[idx]
                side = np.where(rng.random(m) < 0.5, -1.0, 1.0)
                off = vp.half[idx] + R * rng.uniform(gap[0], gap[1], size=m)
                p = (vp.pts[idx] + (side * off)[:, None] * np.stack([-t[:, 1], t[:, 0]], 1)
                     + t * rng.normal(0, 0.01 * R, size=(m, 1)))
                good = np.ones(m, bool)
            else:
                lo, hi = (band if attempt < 9 else (0.0, 2.0))
                if centre == "field" or attempt >= 9:
                    o, lo, hi = np.asarray(g.fov_centre), 0.0, _FIELD
                else:
                    o = np.asarray(g.fovea)
                hi = min(hi, 1.0)  # the valid field lies within ~0.93 R of the fovea
                ang = rng.uniform(0, 2 * np.pi, size=m)
                rad = R * np.sqrt(rng.uniform(lo * lo, hi * hi, size=m))
                p = o + rad[:, None] * np.stack([np.cos(ang), np.sin(ang)], axis=1)
                t = np.stack([np.cos(ang + 1.0), np.sin(ang + 1.0)], axis=1)
                good = np.ones(m, bool)
            good &= self._valid(p, min_disc=min_disc) & (g.quadrant_of(p) == q)
            hits = np.flatnonzero(good)[: n - have]
            out_p.append(p[hits])
            out_t.append(t[hits])
            have += len(hits)
            if have == n:
                return np.concatenate(out_p), np.concatenate(out_t)
            if attempt == 5:
                pool = None  # the vessels of this quadrant are not usable: anywhere in the band
        raise RuntimeError(f"could not place {n} lesions in quadrant {q}")  # pragma: no cover

    def _anywhere(self, q: int, n: int, min_disc: float = 1.4):
        """Uniform placement: anywhere in the field of the quadrant."""
        return self._sites(q, n, centre="field", min_disc=min_disc)

    def _add(self, lesion: str, p: np.ndarray, q: int, disc_areas: float = 0.0) -> None:
        self.instances.append(Instance(lesion, float(p[0]), float(p[1]), int(q), disc_areas))
        # keep every instance visible in its mask, however small it is at this size
        top = self.geom.size - 1
        x, y = min(max(int(p[0]), 0), top), min(max(int(p[1]), 0), top)
        layer = self.canvas.layer(lesion)
        layer[y, x] = max(layer[y, x], 200)

    def _add_all(self, lesion: str, pts: np.ndarray, q: int) -> None:
        """:meth:`_add` for many lesions of one type and quadrant at once."""
        # (rows as Python floats in one call: the same values as float() of each element)
        self.instances.extend(Instance(lesion, float(x), float(y), int(q))
                              for x, y in np.asarray(pts, float).tolist())
        top = self.geom.size - 1
        ij = np.clip(np.asarray(pts, float), 0, top).astype(int)
        layer = self.canvas.layer(lesion)
        np.maximum.at(layer, (ij[:, 1], ij[:, 0]), np.uint8(200))

    def _um(self, lo_hi: tuple[float, float], size=None, log: bool = False):
        """Lengths drawn from a range in um, returned in pixels (x the lesion scale)."""
        lo, hi = lo_hi
        if log:
            v = np.exp(self.rng.uniform(np.log(lo), np.log(hi), size=size))
        else:
            v = self.rng.uniform(lo, hi, size=size)
        return v * self.px_per_um * self.scale

    # ------------------------------------------------------------------ red lesions
    def microaneurysms(self, q: int, n: int) -> None:
        """Small, round, sharp, dark red dots beside the capillary-bearing retina."""
        if self.anatomical:
            pts, _ = self._sites(q, n, (0.08, 0.75), "branch", HAEMORRHAGE_VESSEL_GAP)
        else:
            pts, _ = self._anywhere(q, n)
        _dots(self.canvas.layer("microaneurysm"), pts, 0.5 * self._um(MA_DIAMETER_UM, n))
        self._add_all("microaneurysm", pts, q)

    def dot_blot_haemorrhages(self, q: int, n: int) -> None:
        """Dots and blots, 100-500 um, about half with sharp edges and half soft."""
        if self.anatomical:
            pts, _ = self._sites(q, n, (0.08, 0.8), "branch", HAEMORRHAGE_VESSEL_GAP)
        else:
            pts, _ = self._anywhere(q, n)
        layer = self.canvas.layer("dot_blot_haemorrhage")
        rng = self.rng
        radii = 0.5 * self._um(BLOT_DIAMETER_UM, n, log=True)
        # a blot: up to three overlapping ellipses; a dot (under 200 um): one round one
        parts = np.where(radii < 100.0 * self.px_per_um * self.scale, 1, rng.integers(1, 4, n))
        size = radii[:, None] * rng.uniform(0.55, 0.85, (n, 3))
        size[:, 0] = radii
        aspect = rng.uniform(0.7, 1.0, (n, 3))
        angle = rng.uniform(0, 180, (n, 3))
        shift = np.clip(rng.normal(0, 0.3, (n, 3, 2)), -0.6, 0.6) * radii[:, None, None]
        shift[:, 0] = 0.0
        soft = np.where(rng.random(n) < 0.5, rng.uniform(0.2, 0.35, n) * radii, 0.0)
        for i, p in enumerate(pts):
            stamp = _Stamp(layer, p, 2.2 * radii[i] + 2) if soft[i] else None
            target, c0 = (stamp.patch, p - stamp.origin) if stamp else (layer, p)
            for k in range(parts[i]):
                _ellipse(target, c0 + shift[i, k], (size[i, k], size[i, k] * aspect[i, k]),
                         angle[i, k])
            if stamp:
                stamp.merge(soft[i])
        self._add_all("dot_blot_haemorrhage", pts, q)

    def flame_haemorrhages(self, q: int, n: int) -> None:
        """Elongated along the nerve fibres, one end feathered (they lie in the fibre layer)."""
        if self.anatomical:
            pts, _ = self._sites(q, n, (0.15, 0.8), "main", HAEMORRHAGE_VESSEL_GAP)
        else:
            pts, _ = self._anywhere(q, n)
        fibres = nerve_fibre_direction(self.geom, pts)
        layer = self.canvas.layer("flame_haemorrhage")
        a = 0.5 * self._um(FLAME_LENGTH_UM, n)
        b = a * self.rng.uniform(0.25, 0.4, n)
        angle = np.degrees(np.arctan2(fibres[:, 1], fibres[:, 0]))
        tail = np.where(self.rng.random(n) < 0.5, -0.45, 0.45)[:, None] * a[:, None] * fibres
        for i, p in enumerate(pts):
            _ellipse(layer, p, (a[i], b[i]), angle[i])
            _ellipse(layer, p + tail[i], (0.75 * a[i], 0.55 * b[i]), angle[i])
        self._add_all("flame_haemorrhage", pts, q)

    def preretinal_haemorrhage(self, q: int) -> None:
        """Boat-shaped: blood settled below a flat fluid level, round below."""
        if self.anatomical:
            (p,), _ = self._sites(q, 1, (0.3, 0.8), "main", (0.0, 0.03))
        else:
            (p,), _ = self._anywhere(q, 1)
        a = 0.5 * float(self._um(PRERETINAL_WIDTH_UM))
        b = a * self.rng.uniform(0.55, 0.8)
        layer = self.canvas.layer("preretinal_haemorrhage")
        stamp = _Stamp(layer, p, a + 2)
        _ellipse(stamp.patch, p - stamp.origin, (a, b), 0)
        level = int(max(0, p[1] - 0.3 * b - stamp.origin[1]))
        stamp.patch[:level] = 0
        stamp.merge()
        centre = np.array([p[0], p[1] + 0.3 * b])
        self._add("preretinal_haemorrhage", centre, self.geom.quadrant_of(centre))

    # ------------------------------------------------------------------ bright lesions
    def hard_exudates(self, q: int, n: int) -> None:
        """Yellow, waxy, sharp-edged deposits in clusters and circinate rings, near the macula
        (anatomical: cluster centres within 0.06-0.38 R of the fovea, or just beyond the
        half-way line to the disc in a nasal quadrant)."""
        layer = self.canvas.layer("hard_exudate")
        rng = self.rng
        sizes = []
        while sum(sizes) < n:  # clusters of 3-10
            sizes.append(min(n - sum(sizes), int(rng.integers(3, 11))))
        if self.anatomical:
            # a nasal quadrant starts half-way to the disc: its clusters sit just beyond that
            reach = max(MACULAR_RADIUS - 0.07, 0.5 * self.geom.disc_fovea_distance / self.R + 0.08)
            centres, _ = self._sites(q, len(sizes), (0.06, reach))
        else:
            centres, _ = self._anywhere(q, len(sizes))
        groups = []
        for centre, k in zip(centres, sizes, strict=True):
            if k >= 6 and rng.random() < 0.4:  # circinate: a ring around a leak
                ring = float(self._um(CIRCINATE_RADIUS_UM))
                ang = 2 * np.pi * (np.arange(k)[:, None] + rng.normal(0, 0.15, (k, 8))) / k
                rad = ring * rng.normal(1.0, 0.08, (k, 8))
                cand = centre + np.stack([rad * np.cos(ang), rad * np.sin(ang)], axis=-1)
            else:
                spread = float(self._um(HARD_EXUDATE_SPREAD_UM))
                cand = centre + rng.normal(0, spread, size=(k, 8, 2))
            groups.append((cand, np.broadcast_to(centre, (k, 2))))
        cand = np.concatenate([c for c, _ in groups])
        fallback = np.concatenate([f for _, f in groups])
        flat = cand.reshape(-1, 2)
        ok = (self._valid(flat) & (self.geom.quadrant_of(flat) == q)).reshape(n, 8)
        first = np.argmax(ok, axis=1)
        pts = np.where(ok.any(axis=1)[:, None], cand[np.arange(n), first], fallback)
        r = 0.5 * self._um(HARD_EXUDATE_DIAMETER_UM, n, log=True)
        aspect = rng.uniform(0.6, 1.0, (n, 2))
        angle = rng.uniform(0, 180, (n, 2))
        lump = (r > 2.0) & (rng.random(n) < 0.5)  # an irregular, confluent outline
        shift = np.clip(rng.normal(0, 0.5, (n, 2)), -1.0, 1.0) * r[:, None]
        small = r < 2.0
        _dots(layer, pts[small], r[small])
        for i in np.flatnonzero(~small):
            p = pts[i]
            _ellipse(layer, p, (r[i], r[i] * aspect[i, 0]), angle[i, 0])
            if lump[i]:
                _ellipse(layer, p + shift[i], (0.6 * r[i], 0.5 * r[i] * aspect[i, 1]),
                         angle[i, 1])
        self._add_all("hard_exudate", pts, q)

    def cotton_wool_spots(self, q: int, n: int) -> None:
        """Soft, white, fluffy patches along the nerve fibres (anatomical: within ~0.1 R of a
        main vessel)."""
        if self.anatomical:
            pts, _ = self._sites(q, n, (0.15, 0.75), "main", CWS_VESSEL_GAP)
        else:
            pts, _ = self._anywhere(q, n)
        fibres = nerve_fibre_direction(self.geom, pts)
        layer = self.canvas.layer("cotton_wool_spot")
        rng = self.rng
        for p, t, length in zip(pts, fibres, self._um(CWS_LENGTH_UM, n), strict=True):
            a = 0.5 * length
            b = a * rng.uniform(0.55, 0.85)
            ang = np.degrees(np.arctan2(t[1], t[0]))
            stamp = _Stamp(layer, p, 1.3 * a + 2)
            c0 = p - stamp.origin
            _ellipse(stamp.patch, c0, (0.8 * a, 0.8 * b), ang)
            for _ in range(int(rng.integers(3, 6))):  # fluffy: lumps along the fibres
                c = c0 + t * rng.uniform(-0.6, 0.6) * a + rng.normal(0, 0.15 * b, 2)
                _ellipse(stamp.patch, c, (0.45 * a * rng.uniform(0.7, 1.1), 0.5 * b), ang)
            stamp.merge(0.12 * b)
        self._add_all("cotton_wool_spot", pts, q)

    # ------------------------------------------------------------------ vessels
    def _main_vein_section(self, q: int, length: int) -> np.ndarray | None:
        """``length`` consecutive usable points (x, y, width) of the main vein (order <= 1)
        with the most points in quadrant ``q``; None when no vein has 6 there."""
        vp = self._vp
        inside = vp.vein & (vp.order <= 1) & (vp.quadrant == q) & vp.ok5
        if not inside.any():
            return None
        per_vessel = np.bincount(vp.vessel[inside], minlength=len(self.vessels))
        best = int(np.argmax(per_vessel))
        if per_vessel[best] < 6:
            return None
        idx = np.flatnonzero(inside & (vp.vessel == best))
        start = int(self.rng.integers(0, max(1, len(idx) - length)))
        sel = idx[start:start + length]
        return np.stack([vp.pts[sel, 0], vp.pts[sel, 1], 2 * vp.half[sel]], axis=1)

    def venous_beading(self, q: int) -> None:
        section = self._main_vein_section(q, 14)
        if section is None:  # no vein crosses the quadrant: bead its largest vessel point instead
            (p,), _ = self._sites(q, 1, (0.2, 0.9), "branch")
            section = np.array([[p[0], p[1], 0.012 * self.R]])
        mask = self.canvas.layer("venous_beading")
        for k, (x, y, w) in enumerate(section):
            r = w * (0.95 if k % 2 == 0 else 0.55) * self.scale
            _ellipse(mask, (x, y), (r, r), 0)
            _ellipse(self.vein_extra, (x, y), (r, r), 0)
        mid = section[len(section) // 2, :2]
        self._add("venous_beading", mid, self.geom.quadrant_of(mid))

    def venous_loop(self, q: int) -> None:
        """A venous loop; drawn into the venous-beading mask (Table 1 groups them)."""
        section = self._main_vein_section(q, 3)
        if section is not None and len(section) > 1:
            p, w = section[1, :2], section[1, 2]
        else:
            (p,), _ = self._sites(q, 1)
            w = 0.01 * self.R
        r = self.R * self.rng.uniform(0.02, 0.03)
        ang = self.rng.uniform(0, 2 * np.pi)
        c = p + r * np.array([np.cos(ang), np.sin(ang)])
        for layer in (self.canvas.layer("venous_beading"), self.vein_extra):
            cv2.circle(layer, _fix(c), int(r * SCALE), 255, max(1, int(round(0.6 * w))),
                       cv2.LINE_AA, SHIFT)
        self.instances.append(Instance("venous_loop", float(p[0]), float(p[1]),
                                       int(self.geom.quadrant_of(p))))

    def _tortuous(self, start, length, steps, curl, heading=None) -> np.ndarray:
        heading = self.rng.uniform(0, 2 * np.pi) if heading is None else heading
        h = heading + np.cumsum(self.rng.normal(0, curl, size=steps))
        d = (length / steps) * np.stack([np.cos(h), np.sin(h)], axis=1)
        return np.asarray(start) + np.concatenate([[[0.0, 0.0]], np.cumsum(d, 0)])

    def irma(self, q: int, n: int) -> None:
        """Fine tortuous intraretinal vessels with a side twig or two (anatomical: beside a
        branch inside the temporal arcades)."""
        if self.anatomical:
            pts, _ = self._sites(q, n, (0.12, POSTERIOR_POLE), "branch", (0.0, 0.03))
        else:
            pts, _ = self._anywhere(q, n)
        rng = self.rng
        lines = []
        for p in pts:
            w = float(self._um(IRMA_CALIBRE_UM))
            length = float(self._um(IRMA_LENGTH_UM))
            start = p - np.clip(rng.normal(0, 0.15, 2), -0.3, 0.3) * length
            main = self._tortuous(start, length, 16, 0.55)
            lines.append((main, np.full(len(main), w)))
            for _ in range(int(rng.integers(1, 3))):
                j = int(rng.integers(3, 13))
                twig = self._tortuous(main[j], 0.35 * length, 6, 0.6)
                lines.append((twig, np.full(len(twig), 0.8 * w)))
        draw_polylines(self.canvas.layer("irma"), lines)
        self._add_all("irma", pts, q)

    def _nv_tangle(self, name: str, centre: np.ndarray, disc_areas: float, fan=None) -> None:
        """A tangle of new vessels over ``disc_areas`` disc areas around ``centre``: a wheel of
        spokes joined by a rim (``fan`` None) or a sea-fan of fronds (elongated loops) opening
        towards ``fan`` (a unit vector), then closed loops and a net of fine tortuous vessels,
        until the vessels cover about ``NV_FILL`` of the extent. Calibres are log-uniform in
        ``NV_CALIBRE_UM`` (more fine than medium vessels); one thinner than a pixel is drawn
        one pixel wide and fainter."""
        rng = self.rng
        region = float(np.sqrt(disc_areas * self.geom.disc_area / np.pi))
        cal = max(1.0, float(np.exp(np.log(NV_CALIBRE_UM).mean())) * self.px_per_um
                  * self.scale)  # a typical calibre, px (at least the pixel it is drawn in)
        strands: list[tuple[np.ndarray, bool]] = []

        def fit(pts):  # pull every vessel smoothly inside the planned extent
            d = pts - centre
            r = np.linalg.norm(d, axis=1, keepdims=True) + 1e-9
            knee, room = 0.7 * region, 0.27 * region
            return centre + d * np.where(r < knee, 1.0, (knee + room * np.tanh((r - knee) / room))
                                         / r)

        def ring(c, radius, n=20, rough=0.12):  # a smooth, slightly irregular closed loop
            ang = np.linspace(0, 2 * np.pi, n, endpoint=False)
            wob = 1 + rough * np.sin(2 * ang + rng.uniform(0, 6.3)) + rough * np.sin(
                3 * ang + rng.uniform(0, 6.3))
            return c + (radius * wob)[:, None] * np.stack([np.cos(ang), np.sin(ang)], axis=1)

        budget = NV_FILL * np.pi * region**2 / cal  # total vessel length to draw, px
        if fan is None and region > 4 * cal:  # wheel-spoke: spokes from a hub, joined by a rim
            k = int(np.clip(round(2 * np.pi * region / (6 * cal)), 3, 10))
            hub = centre + rng.normal(0, 0.1 * region, 2)
            ang = np.linspace(0, 2 * np.pi, k, endpoint=False) + rng.uniform(0, 2 * np.pi)
            ang += rng.normal(0, 0.4 / k, k)
            reach = region * rng.uniform(0.6, 0.95, k)
            tips = centre + reach[:, None] * np.stack([np.cos(ang), np.sin(ang)], axis=1)
            s = np.linspace(0, 1, 7)[:, None]
            for tip in tips:  # spokes, gently curved and wavy
                perp = np.array([tip[1] - hub[1], hub[0] - tip[0]])
                wave = np.sin(np.pi * s) * rng.normal(0, 0.12) + np.sin(2 * np.pi * s) * (
                    rng.normal(0, 0.05))
                strands.append((fit(hub + s * (tip - hub) + wave * perp), False))
            for i in range(k):  # the periphery: loops bulging out between neighbouring spokes
                if rng.random() < 0.2:
                    continue
                a0, a1 = ang[i], ang[(i + 1) % k] + (2 * np.pi if i == k - 1 else 0.0)
                mid = 0.5 * (a0 + a1)
                bulge = region * rng.uniform(1.0, 1.2)
                ctrl = centre + bulge * np.array([np.cos(mid), np.sin(mid)])
                p0, p1 = tips[i], tips[(i + 1) % k]
                arc = ((1 - s) ** 2) * p0 + 2 * s * (1 - s) * ctrl + (s**2) * p1
                strands.append((fit(arc), False))
            budget -= reach.sum() + 2 * np.pi * reach.mean()
        elif fan is not None:  # sea-fan: fronds from a root on the vessel, opening towards `fan`
            k = int(np.clip(round(0.6 * budget / (2.6 * region)), 1, 6))
            root = centre - 0.75 * region * fan
            base = np.arctan2(fan[1], fan[0])
            t = np.linspace(0, 2 * np.pi, 16, endpoint=False)
            spread = min(1.0, 0.25 * k)
            for da in np.linspace(-spread, spread, k) + rng.normal(0, 0.1, k):
                axis = np.array([np.cos(base + da), np.sin(base + da)])
                length = region * rng.uniform(1.3, 1.7)
                along = 0.5 * length * (1 - np.cos(t))
                across = max(1.5 * cal, 0.18 * length) * np.sin(t) * rng.uniform(0.8, 1.2)
                loop = root + along[:, None] * axis + across[:, None] * np.array(
                    [-axis[1], axis[0]])
                strands.append((fit(loop), True))
            budget -= k * 2.6 * region
        n_loops = int(np.clip(round(0.6 * budget / (1.9 * region)), 1, 8))
        for _ in range(n_loops):
            rl = max(2.0 * cal, region * rng.uniform(0.22, 0.4))
            a = rng.uniform(0, 2 * np.pi)
            c = centre + max(0.0, region - rl) * np.sqrt(rng.uniform()) * np.array(
                [np.cos(a), np.sin(a)])
            strands.append((fit(ring(c, rl, 16, 0.15)), True))
            budget -= 2 * np.pi * rl
        n_net = int(np.clip(round(budget / (0.6 * region)), 1, 10))
        for _ in range(n_net):
            start = centre + rng.normal(0, 0.4 * region, 2)
            strands.append((fit(self._tortuous(start, region * rng.uniform(0.4, 0.8), 8, 0.6)),
                            False))
        calibres = self._um(NV_CALIBRE_UM, len(strands), log=True)
        _draw_strands(self.canvas.layer(name), [(pts, closed, float(w)) for (pts, closed), w
                                                 in zip(strands, calibres, strict=True)])

    def nvd(self, disc_areas: float) -> None:
        """New vessels on the disc: a tangle centred on it (within half a disc radius)."""
        g = self.geom
        off = self.rng.normal(0, 0.25 * g.disc_radius, size=2)
        off *= min(1.0, 0.5 * g.disc_radius / (np.linalg.norm(off) + 1e-9))
        c = np.asarray(g.disc_centre) + off
        self._nv_tangle("nvd", c, disc_areas)
        self._add("nvd", c, int(g.quadrant_of(c)), disc_areas)

    def nve(self, q: int, disc_areas: float) -> None:
        """New vessels elsewhere: a sea-fan more than a disc diameter from the disc (anatomical:
        on a main vessel)."""
        region = np.sqrt(disc_areas * self.geom.disc_area / np.pi)
        min_disc = 2.0 + region / self.geom.disc_radius
        if self.anatomical:
            (p,), (t,) = self._sites(q, 1, (0.25, 0.85), "main", (0.0, 0.01),
                                     min_disc=min_disc)
        else:
            (p,), (t,) = self._anywhere(q, 1, min_disc=min_disc)
        fan = np.array([-t[1], t[0]]) * (1 if self.rng.random() < 0.5 else -1)
        self._nv_tangle("nve", p, disc_areas, fan=fan)
        self._add("nve", p, q, disc_areas)

    # ------------------------------------------------------------------ treatment
    def _scar_grid(self, spacing: float, clear: float) -> np.ndarray:
        """A jittered hexagonal grid of burn sites at a random orientation, outside the
        arcades (more than SCAR_FOVEA_MIN R from the fovea), more than 2.5 disc radii from the
        disc centre and ``clear`` px from the main vessels' centre lines."""
        g, rng = self.geom, self.rng
        n = int(2 * self.R / spacing) + 2
        i, j = np.meshgrid(np.arange(-n, n + 1), np.arange(-n, n + 1))
        xy = np.stack([(i + 0.5 * (j % 2)).ravel(), (j * np.sqrt(0.75)).ravel()], 1) * spacing
        a = rng.uniform(0, np.pi)
        rot = np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
        xy = np.asarray(g.fov_centre) + xy @ rot.T + rng.normal(0, 0.07 * spacing, xy.shape)
        ok = self._valid(xy, margin=0.05, min_disc=2.5)
        ok &= np.hypot(*(xy - np.asarray(g.fovea)).T) > SCAR_FOVEA_MIN * self.R
        xy = xy[ok]
        vp = self._vp
        main = vp.pts[(vp.order == 0) & vp.ok]
        if len(main) and len(xy):
            gap, _ = cKDTree(main).query(xy, distance_upper_bound=clear)
            xy = xy[np.isinf(gap)]
        return xy

    def _plan_scars(self, counts) -> None:
        """One laser setting per eye: one burn size and one grid, its rows as far apart as the
        busiest quadrant allows (1.6-2 burn diameters, closer when needed)."""
        diameter = float(self._um(SCAR_DIAMETER_UM))
        spacing = diameter * self.rng.uniform(1.6, 2.0)
        while True:
            grid = self._scar_grid(spacing, 0.5 * diameter + 0.015 * self.R)
            have = np.bincount(self.geom.quadrant_of(grid), minlength=4) if len(grid) else 0
            if np.all(have >= np.asarray(counts)) or spacing < 1.2 * diameter:
                break
            spacing *= 0.9
        self._scars = (diameter, grid.reshape(-1, 2))

    def laser_scars(self, q: int, n: int) -> None:
        """Laser burns in rows outside the arcades: irregular outlines, a pale atrophic centre
        and clumps of dark brown-black pigment; nothing red."""
        rng = self.rng
        if self._scars is None:
            self._plan_scars([n] * 4)
        diameter, grid = self._scars
        sites = grid[self.geom.quadrant_of(grid) == q] if len(grid) else grid.reshape(-1, 2)
        if len(sites) >= n:
            pts = sites[rng.choice(len(sites), size=n, replace=False)]
        else:  # too few rows fit (a tiny field): the rest anywhere outside the arcades
            extra, _ = self._sites(q, n - len(sites), (SCAR_FOVEA_MIN + 0.02, 1.0),
                                   min_disc=2.5)
            pts = np.concatenate([sites, extra])
        base = self.canvas.layer("laser_scar")
        pale = self.canvas.layer("laser_scar.atrophy")
        pigment = self.canvas.layer("laser_scar.pigment")
        m = len(pts)
        r = 0.5 * diameter * rng.uniform(0.85, 1.15, m)
        pig = rng.uniform(0.2, 1.0, m)  # how pigmented each burn is
        outlines = _blobs(rng, pts, r, 10, 0.12)
        atrophy = _blobs(rng, pts + rng.normal(0, 0.1, (m, 2)) * r[:, None],
                         r * rng.uniform(0.35, 0.65, m) * (1.15 - 0.5 * pig), 8, 0.2)
        # pigment gathers at the edge in broken arcs, and in a few clumps inside
        rim = pts[:, None, :] + 0.85 * (outlines - pts[:, None, :])
        keep = rng.random((m, 10)) < (0.35 + 0.55 * pig)[:, None]
        owner, j = np.nonzero(keep)
        arcs = np.stack([rim[owner, j], rim[owner, (j + 1) % 10]], axis=1)
        width = np.maximum(1.0, 0.3 * r * pig)[owner]
        k = rng.integers(1, 5, m)
        owner = np.repeat(np.arange(m), k)
        ang = rng.uniform(0, 2 * np.pi, len(owner))
        rad = r[owner] * rng.uniform(0.2, 0.8, len(owner))
        at = pts[owner] + rad[:, None] * np.stack([np.cos(ang), np.sin(ang)], axis=1)
        clumps = _blobs(rng, at, np.maximum(0.6, r[owner] * rng.uniform(0.08, 0.2, len(owner))),
                        6, 0.3)
        # one polygon a call: overlapping polygons of one call would cancel out (even-odd)
        for layer, polygons in ((base, outlines), (pale, atrophy), (pigment, clumps)):
            for poly in _fixed(polygons):
                cv2.fillPoly(layer, [poly], 255, cv2.LINE_AA, SHIFT)
        thick = np.rint(width).astype(int)
        arcs = _fixed(arcs)
        for t in np.unique(thick):
            cv2.polylines(pigment, list(arcs[thick == t]), False, 255, int(t), cv2.LINE_AA, SHIFT)
        self._add_all("laser_scar", pts, q)

    # ------------------------------------------------------------------ the whole plan
    def paint(self, plan: LesionPlan) -> None:
        c = plan.counts
        for q in range(4):
            if c["microaneurysm"][q]:
                self.microaneurysms(q, c["microaneurysm"][q])
            if c["dot_blot_haemorrhage"][q]:
                self.dot_blot_haemorrhages(q, c["dot_blot_haemorrhage"][q])
            if c["flame_haemorrhage"][q]:
                self.flame_haemorrhages(q, c["flame_haemorrhage"][q])
            if c["hard_exudate"][q]:
                self.hard_exudates(q, c["hard_exudate"][q])
            if c["cotton_wool_spot"][q]:
                self.cotton_wool_spots(q, c["cotton_wool_spot"][q])
            if c["irma"][q]:
                self.irma(q, c["irma"][q])
            if c["laser_scar"][q]:
                if self._scars is None:
                    self._plan_scars(c["laser_scar"])
                self.laser_scars(q, c["laser_scar"][q])
        for q in sorted(set(plan.venous_beading)):
            self.venous_beading(q)
        for q in plan.venous_loops:
            self.venous_loop(q)
        if plan.nvd_disc_areas > 0:
            self.nvd(plan.nvd_disc_areas)
        for q, area in plan.nve:
            self.nve(q, area)
        for q in plan.preretinal:
            self.preretinal_haemorrhage(q)
