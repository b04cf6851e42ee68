"""Painting a lesion plan: where each lesion goes and what shape it has.

Each lesion type is drawn into its own uint8 coverage layer (0..255, anti-aliased); the photograph
is tinted by those layers in :mod:`drlib.synth.render` and each layer becomes that type's boolean
mask.
Every lesion is also returned as an *instance* (type, centre, quadrant), from which the inventory
that the grading rules read is recounted: the ground truth is what was drawn.

Sizes are fractions of the field-of-view radius R; at 512 px (R ~ 240 px) a microaneurysm is
2-3 px across... 5 px, a blot haemorrhage 7-17 px, a cotton wool spot 14-24 px.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from drlib.synth.geometry import FundusGeometry
from drlib.synth.lesion_plan import LesionPlan
from drlib.synth.vessels import SCALE, SHIFT, Vessel, draw_polylines


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
    return int(round(v[0] * SCALE)), int(round(v[1] * SCALE))


def _ellipse(layer, centre, axes, angle_deg, value=255):
    axes = (max(1, int(round(axes[0] * SCALE))), max(1, int(round(axes[1] * SCALE))))
    cv2.ellipse(layer, _fix(centre), axes, float(angle_deg), 0, 360, value, -1, cv2.LINE_AA,
                SHIFT)


class LesionPainter:
    """Places and draws the lesions of one plan on one eye."""

    def __init__(self, geom: FundusGeometry, vessels: list[Vessel], rng: np.random.Generator,
                 scale: float = 1.0):
        self.geom, self.rng, self.scale = geom, rng, scale
        self.R = geom.fov_radius
        self.canvas = _Canvas(geom.size)
        self.instances: list[Instance] = []
        self.vein_extra = np.zeros((geom.size, geom.size), np.uint8)  # beading drawn onto veins
        pts, tangents, orders, kinds = [], [], [], []
        for v in vessels:
            d = np.gradient(v.points, axis=0)
            pts.append(v.points)
            tangents.append(d / (np.linalg.norm(d, axis=1, keepdims=True) + 1e-9))
            orders.append(np.full(len(v.points), v.order))
            kinds.append(np.full(len(v.points), v.kind == "vein"))
        self.v_pts = np.concatenate(pts)
        self.v_tan = np.concatenate(tangents)
        self.v_order = np.concatenate(orders)
        self.v_vein = np.concatenate(kinds)
        self.v_quad = geom.quadrant_of(self.v_pts)
        self.v_ok = self._valid(self.v_pts, margin=0.04)
        self.vessels = vessels

    # ------------------------------------------------------------------ placement
    def _valid(self, xy: np.ndarray, margin: float = 0.06) -> np.ndarray:
        g = self.geom
        xy = np.atleast_2d(xy)
        in_fov = np.hypot(*(xy - g.fov_centre).T) < self.R * (0.93 - margin)
        off_disc = np.hypot(*(xy - g.disc_centre).T) > 1.4 * g.disc_radius
        return in_fov & off_disc

    def _point(self, q: int, r_min: float = 0.0, r_max: float = 2.0, near_vessels: bool = False,
               spread: float = 0.03, main_only: bool = False) -> tuple[np.ndarray, np.ndarray]:
        """A point in quadrant ``q`` with fovea distance in [r_min, r_max]*R (+ local tangent).

        Candidates are drawn 32 at a time and the first acceptable one is kept; after a few
        rounds the distance band is dropped (the quadrant never is).
        """
        g, rng = self.geom, self.rng
        fovea = np.asarray(g.fovea)
        pool = None
        if near_vessels:
            ok = (self.v_quad == q) & self.v_ok
            ok &= (self.v_order == 0) if main_only else (self.v_order >= 1)
            pool = np.flatnonzero(ok)
            if len(pool) == 0:
                pool = None
        for attempt in range(12):
            if pool is not None:
                idx = rng.choice(pool, size=32)
                p = self.v_pts[idx] + rng.normal(0, spread * self.R, size=(32, 2))
                tangents = self.v_tan[idx]
            else:
                ang = rng.uniform(0, 2 * np.pi, size=32)
                rad = self.R * 0.9 * np.sqrt(rng.uniform(size=32))
                p = np.asarray(g.fov_centre) + rad[:, None] * np.stack([np.cos(ang), np.sin(ang)],
                                                                       axis=1)
                tangents = rng.normal(size=(32, 2))
            good = self._valid(p) & (g.quadrant_of(p) == q)
            if attempt < 8:
                rf = np.hypot(*(p - fovea).T) / self.R
                good &= (rf >= r_min) & (rf <= r_max)
            hits = np.flatnonzero(good)
            if len(hits):
                i = hits[0]
                return p[i], tangents[i] / (np.hypot(*tangents[i]) + 1e-9)
            if attempt == 5:
                pool = None  # the vessels of this quadrant are not usable: try anywhere in it
        raise RuntimeError(f"could not place a lesion in quadrant {q}")  # pragma: no cover

    def _add(self, lesion: str, p: np.ndarray, q: int, disc_areas: float = 0.0) -> None:
        self.instances.append(Instance(lesion, float(p[0]), float(p[1]), int(q), disc_areas))
        # keep every instance visible in its mask, however small it is at this size
        x, y = int(np.clip(p[0], 0, self.geom.size - 1)), int(np.clip(p[1], 0, self.geom.size - 1))
        layer = self.canvas.layer(lesion)
        layer[y, x] = max(layer[y, x], 200)

    # ------------------------------------------------------------------ lesion types
    def microaneurysm(self, q: int) -> None:
        p, _ = self._point(q, 0.08, 0.75, near_vessels=True, spread=0.025)
        r = self.R * self.rng.uniform(0.008, 0.013) * self.scale
        _ellipse(self.canvas.layer("microaneurysm"), p, (r, r), 0)
        self._add("microaneurysm", p, q)

    def dot_blot_haemorrhage(self, q: int) -> None:
        p, _ = self._point(q, 0.08, 0.8, near_vessels=True, spread=0.03)
        layer = self.canvas.layer("dot_blot_haemorrhage")
        r = self.R * self.rng.uniform(0.014, 0.032) * self.scale
        for _ in range(int(self.rng.integers(1, 4))):  # a blot: a few overlapping ellipses
            c = p + self.rng.normal(0, 0.35 * r, size=2)
            _ellipse(layer, c, (r * self.rng.uniform(0.6, 1.0), r * self.rng.uniform(0.5, 0.9)),
                     self.rng.uniform(0, 180))
        self._add("dot_blot_haemorrhage", p, q)

    def flame_haemorrhage(self, q: int) -> None:
        p, t = self._point(q, 0.15, 0.8, near_vessels=True, spread=0.015, main_only=True)
        a = self.R * self.rng.uniform(0.035, 0.07) * self.scale
        b = self.R * self.rng.uniform(0.010, 0.018) * self.scale
        _ellipse(self.canvas.layer("flame_haemorrhage"), p, (a, b), np.degrees(np.arctan2(t[1],
                                                                                           t[0])))
        self._add("flame_haemorrhage", p, q)

    def hard_exudates(self, q: int, n: int) -> None:
        layer = self.canvas.layer("hard_exudate")
        while n > 0:
            k = min(n, int(self.rng.integers(3, 11)))
            centre, _ = self._point(q, 0.12, 0.5)
            circinate = self.rng.random() < 0.3
            ring = self.R * self.rng.uniform(0.04, 0.07)
            for j in range(k):
                for _ in range(50):
                    if circinate:
                        ang = 2 * np.pi * j / k + self.rng.normal(0, 0.15)
                        p = centre + ring * np.array([np.cos(ang), np.sin(ang)])
                    else:
                        p = centre + self.rng.normal(0, 0.035 * self.R, size=2)
                    if self.geom.quadrant_of(p) == q and self._valid(p)[0]:
                        break
                else:
                    p = centre
                r = self.R * self.rng.uniform(0.005, 0.012) * self.scale
                _ellipse(layer, p, (r, r * self.rng.uniform(0.6, 1.0)), self.rng.uniform(0, 180))
                self._add("hard_exudate", p, q)
            n -= k

    def cotton_wool_spot(self, q: int) -> None:
        p, t = self._point(q, 0.2, 0.75, near_vessels=True, spread=0.04, main_only=True)
        a = self.R * self.rng.uniform(0.03, 0.05) * self.scale
        _ellipse(self.canvas.layer("cotton_wool_spot"), p, (a, a * self.rng.uniform(0.55, 0.85)),
                 np.degrees(np.arctan2(t[1], t[0])))
        self._add("cotton_wool_spot", p, q)

    def _main_vein_section(self, q: int, length: int) -> np.ndarray | None:
        best = None
        for v in self.vessels:
            if v.kind != "vein" or v.order > 1:
                continue
            inside = (self.geom.quadrant_of(v.points) == q) & self._valid(v.points, margin=0.05)
            idx = np.flatnonzero(inside)
            if len(idx) >= 6 and (best is None or len(idx) > len(best[1])):
                best = (v, idx)
        if best is None:
            return None
        v, idx = best
        start = int(self.rng.integers(0, max(1, len(idx) - length)))
        sel = idx[start:start + length]
        return np.stack([v.points[sel][:, 0], v.points[sel][:, 1], v.widths[sel]], axis=1)

    def venous_beading(self, q: int) -> None:
        section = self._main_vein_section(q, 14)
        if section is None:  # no vein crosses the quadrant: bead its largest vessel point instead
            p, _ = self._point(q, 0.2, 0.9, near_vessels=True, spread=0.0)
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
        p = section[1, :2] if section is not None and len(section) > 1 else self._point(q)[0]
        w = section[1, 2] if section is not None and len(section) > 1 else 0.01 * self.R
        r = self.R * self.rng.uniform(0.02, 0.03)
        ang = self.rng.uniform(0, 2 * np.pi)
        c = p + r * np.array([np.cos(ang), np.sin(ang)])
        for layer in (self.canvas.layer("venous_beading"), self.vein_extra):
            cv2.circle(layer, _fix(c), int(r * SCALE), 255, max(1, int(round(0.6 * w))),
                       cv2.LINE_AA, SHIFT)
        self.instances.append(Instance("venous_loop", float(p[0]), float(p[1]),
                                       int(self.geom.quadrant_of(p))))

    def _tortuous(self, start, length, steps, curl, width) -> tuple[np.ndarray, np.ndarray]:
        heading = self.rng.uniform(0, 2 * np.pi)
        turns = self.rng.normal(0, curl, size=steps)
        h = heading + np.cumsum(turns)
        d = (length / steps) * np.stack([np.cos(h), np.sin(h)], axis=1)
        pts = np.asarray(start) + np.concatenate([[[0.0, 0.0]], np.cumsum(d, 0)])
        return pts, np.full(len(pts), width)

    def irma(self, q: int) -> None:
        p, _ = self._point(q, 0.15, 0.8, near_vessels=True, spread=0.03)
        w = max(0.8, 0.005 * self.R * self.scale)
        pts, widths = self._tortuous(p, self.R * self.rng.uniform(0.06, 0.1), 16, 0.55, w)
        draw_polylines(self.canvas.layer("irma"), [(pts, widths)])
        self._add("irma", p, q)

    def _neovascular_net(self, name: str, centre: np.ndarray, disc_areas: float) -> None:
        region = np.sqrt(disc_areas * self.geom.disc_area / np.pi)
        w = max(0.6, 0.0035 * self.R * self.scale)
        lines = []
        for _ in range(int(8 + 20 * disc_areas)):
            start = centre + self.rng.normal(0, 0.45 * region, size=2)
            pts, widths = self._tortuous(start, region * self.rng.uniform(0.5, 1.0), 12, 0.7, w)
            inside = np.linalg.norm(pts - centre, axis=1) <= region
            if inside.sum() >= 2:
                lines.append((pts[inside], widths[inside]))
        draw_polylines(self.canvas.layer(name), lines)

    def nvd(self, disc_areas: float) -> None:
        g = self.geom
        c = np.asarray(g.disc_centre) + self.rng.normal(0, 0.35 * g.disc_radius, size=2)
        self._neovascular_net("nvd", c, disc_areas)
        self.instances.append(Instance("nvd", float(c[0]), float(c[1]),
                                       int(g.quadrant_of(c)), disc_areas))

    def nve(self, q: int, disc_areas: float) -> None:
        p, _ = self._point(q, 0.25, 0.8, near_vessels=True, spread=0.01, main_only=True)
        self._neovascular_net("nve", p, disc_areas)
        self.instances.append(Instance("nve", float(p[0]), float(p[1]), q, disc_areas))

    def preretinal_haemorrhage(self, q: int) -> None:
        p, _ = self._point(q, 0.3, 0.8, near_vessels=True, spread=0.02, main_only=True)
        a = self.R * self.rng.uniform(0.08, 0.14) * self.scale
        b = a * self.rng.uniform(0.55, 0.8)
        tmp = np.zeros_like(self.canvas.layer("preretinal_haemorrhage"))
        _ellipse(tmp, p, (a, b), 0)
        level = int(max(0, p[1] - 0.3 * b))  # boat shape: blood settles below a fluid level
        tmp[:level] = 0
        np.maximum(self.canvas.layer("preretinal_haemorrhage"), tmp,
                   out=self.canvas.layer("preretinal_haemorrhage"))
        centre = np.array([p[0], p[1] + 0.3 * b])
        self._add("preretinal_haemorrhage", centre, self.geom.quadrant_of(centre))

    def laser_scars(self, q: int, n: int) -> None:
        placed: list[np.ndarray] = []
        r = self.R * self.rng.uniform(0.018, 0.026) * self.scale
        for _ in range(n):
            for _attempt in range(60):
                p, _ = self._point(q, 0.45, 2.0)
                if all(np.linalg.norm(p - o) > 2.4 * r for o in placed):
                    break
            placed.append(p)
            _ellipse(self.canvas.layer("laser_scar"), p, (r, r), 0)
            self._add("laser_scar", p, q)

    # ------------------------------------------------------------------ the whole plan
    def paint(self, plan: LesionPlan) -> None:
        c = plan.counts
        for q in range(4):
            for _ in range(c["microaneurysm"][q]):
                self.microaneurysm(q)
            for _ in range(c["dot_blot_haemorrhage"][q]):
                self.dot_blot_haemorrhage(q)
            for _ in range(c["flame_haemorrhage"][q]):
                self.flame_haemorrhage(q)
            if c["hard_exudate"][q]:
                self.hard_exudates(q, c["hard_exudate"][q])
            for _ in range(c["cotton_wool_spot"][q]):
                self.cotton_wool_spot(q)
            for _ in range(c["irma"][q]):
                self.irma(q)
            if c["laser_scar"][q]:
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
