"""The retinal vessel tree of a synthetic fundus: grown from the optic disc, drawn with OpenCV.

Four veins and four arteries leave the disc: the superior and inferior temporal arcades, which
curve around the macula, and the superior and inferior nasal vessels. Each main vessel sprouts
branches, and branches sprout twigs; widths taper along the tree. Veins are wider and darker than
arteries. Branches that head for the fovea stop short of it (the foveal avascular zone).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import cv2
import numpy as np

from drlib.synth.geometry import FundusGeometry

SHIFT = 4  # OpenCV fixed-point bits: sub-pixel drawing
SCALE = 1 << SHIFT


@dataclass
class Vessel:
    points: np.ndarray  # (N, 2) x, y in pixels
    widths: np.ndarray  # (N,) in pixels
    kind: str  # "vein" or "artery"
    order: int  # 0 main vessel, 1 branch, 2 twig
    root: str  # "superior_temporal", "inferior_temporal", "superior_nasal", "inferior_nasal"


def _smooth_noise(rng: np.random.Generator, t: np.ndarray, amplitude: float) -> np.ndarray:
    """A slow random wiggle along a curve (sum of two sinusoids)."""
    out = np.zeros_like(t)
    for freq in (rng.uniform(1.0, 2.5), rng.uniform(3.0, 6.0)):
        out += np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi)) / freq
    return amplitude * out


def _arcade(geom: FundusGeometry, rng, superior: bool, kind: str) -> Vessel:
    """A temporal arcade: leaves the disc, curves around the fovea, ends temporally."""
    R = geom.fov_radius
    f = np.asarray(geom.fovea)
    d = np.asarray(geom.disc_centre) - f
    r_disc = float(np.hypot(*d))
    phi0 = float(np.arctan2(d[1], d[0]))
    sweep = rng.uniform(0.78, 0.92) * np.pi * (1 if kind == "vein" else rng.uniform(0.95, 1.05))
    direction = -geom.side if superior else geom.side
    n = 64
    t = np.linspace(0, 1, n)
    phi = phi0 + direction * sweep * t + _smooth_noise(rng, t, 0.03)
    dip = rng.uniform(0.10, 0.16) * R * (1.0 if kind == "vein" else rng.uniform(0.85, 1.1))
    late = np.clip(t - 0.65, 0, None) ** 1.5  # the arcade's end bends away from the fovea
    r = r_disc - dip * np.sin(np.pi * np.minimum(t / 0.75, 1.0)) + 0.45 * R * late
    r = r + _smooth_noise(rng, t, 0.012 * R)
    # start exactly at the disc centre, leaving it vertically
    pts = f + np.stack([r * np.cos(phi), r * np.sin(phi)], axis=1)
    pts[0] = geom.disc_centre
    w0 = (0.027 if kind == "vein" else 0.020) * R * rng.uniform(0.9, 1.1)
    widths = w0 * (1.0 - 0.55 * t)
    root = "superior_temporal" if superior else "inferior_temporal"
    return Vessel(pts, widths, kind, 0, root)


def _walk(rng, start, heading, length, n, w_start, w_end, curl, kind, order, root) -> Vessel:
    """A random-walk vessel: constant step, heading that drifts by ``curl`` radians per step."""
    step = length / (n - 1)
    turns = rng.normal(0, curl, size=n - 1)
    turns += rng.uniform(-curl, curl) * 0.5  # a steady bend
    headings = heading + np.concatenate([[0.0], np.cumsum(turns)])[:-1]
    deltas = step * np.stack([np.cos(headings), np.sin(headings)], axis=1)
    pts = np.asarray(start, float) + np.concatenate([[[0.0, 0.0]], np.cumsum(deltas, 0)[:-1]])
    pts = np.concatenate([pts, pts[-1:] + deltas[-1:]])[:n]
    widths = np.linspace(w_start, w_end, n)
    return Vessel(pts, widths, kind, order, root)


def _nasal(geom: FundusGeometry, rng, superior: bool, kind: str) -> Vessel:
    R = geom.fov_radius
    up = -1 if superior else 1
    heading = np.arctan2(up * rng.uniform(0.7, 1.2), geom.side * 1.0)
    w0 = (0.020 if kind == "vein" else 0.015) * R * rng.uniform(0.9, 1.1)
    root = "superior_nasal" if superior else "inferior_nasal"
    return _walk(rng, geom.disc_centre, heading, R * rng.uniform(0.55, 0.75), 40, w0, 0.45 * w0,
                 0.05, kind, 0, root)


def _branches(geom: FundusGeometry, rng, parent: Vessel, count: int) -> list[Vessel]:
    R = geom.fov_radius
    fovea = np.asarray(geom.fovea)
    out = []
    n = len(parent.points)
    for _ in range(count):
        i = int(rng.integers(int(0.15 * n), int(0.9 * n)))
        p = parent.points[i]
        tangent = parent.points[min(i + 1, n - 1)] - parent.points[max(i - 1, 0)]
        heading = float(np.arctan2(tangent[1], tangent[0]))
        sign = 1 if rng.random() < 0.5 else -1
        heading += sign * rng.uniform(0.45, 1.1)
        # a branch that heads for the fovea stays short: the foveal avascular zone
        ahead = p + np.array([np.cos(heading), np.sin(heading)]) * 0.1 * R
        towards_fovea = np.linalg.norm(ahead - fovea) < np.linalg.norm(p - fovea)
        dist_fovea = float(np.linalg.norm(p - fovea))
        length = (min(0.6 * dist_fovea, 0.22 * R) if towards_fovea else rng.uniform(0.18, 0.45) * R)
        length = max(length * rng.uniform(0.7, 1.0), 0.04 * R)
        w = float(parent.widths[i]) * rng.uniform(0.5, 0.7)
        steps = max(8, int(24 * length / (0.3 * R)))
        out.append(_walk(rng, p, heading, length, steps, w, max(0.3 * w, 0.6), 0.09,
                         parent.kind, parent.order + 1, parent.root))
    return out


def grow_vessel_tree(geom: FundusGeometry, rng: np.random.Generator) -> list[Vessel]:
    """Main vessels, branches and twigs for one eye."""
    mains = []
    for kind in ("vein", "artery"):
        for superior in (True, False):
            mains.append(_arcade(geom, rng, superior, kind))
            mains.append(_nasal(geom, rng, superior, kind))
    tree = list(mains)
    for main in mains:
        branches = _branches(geom, rng, main, int(rng.integers(4, 7)))
        tree.extend(branches)
        for b in branches:
            tree.extend(_branches(geom, rng, b, int(rng.integers(1, 3))))
    return tree


def draw_polylines(layer: np.ndarray, lines: list[tuple[np.ndarray, np.ndarray]],
                   value: float = 255.0) -> None:
    """Draw polylines of varying width into a uint8 ``layer`` (anti-aliased, sub-pixel).

    ``lines`` holds (points (N, 2), widths (N,)) pairs. Segments are grouped by rounded
    thickness so that OpenCV draws each group in one call; a line thinner than a pixel is drawn
    one pixel wide with proportionally lower intensity.
    """
    groups: dict[tuple[int, int], list[np.ndarray]] = defaultdict(list)
    for pts, widths in lines:
        if len(pts) < 2:
            continue
        seg_w = 0.5 * (widths[1:] + widths[:-1])
        thick = np.maximum(1, np.rint(seg_w)).astype(int)
        level = np.rint(value * np.minimum(seg_w, 1.0) / 32.0).astype(int)
        key = thick * 64 + level
        cuts = np.flatnonzero(np.diff(key)) + 1
        starts = np.concatenate([[0], cuts])
        ends = np.concatenate([cuts, [len(key)]])
        fixed = np.rint(pts * SCALE).astype(np.int32)
        for a, b in zip(starts, ends, strict=True):
            groups[(int(thick[a]), int(level[a]))].append(fixed[a:b + 1])
    for (thick, level), runs in groups.items():
        colour = float(min(255, level * 32 + 16)) if level < value // 32 else float(value)
        cv2.polylines(layer, runs, False, colour, thick, cv2.LINE_AA, SHIFT)


def draw_vessels(vessels: list[Vessel], size: int) -> tuple[np.ndarray, np.ndarray]:
    """Vein and artery coverage layers (uint8, 0..255)."""
    layers = {"vein": np.zeros((size, size), np.uint8), "artery": np.zeros((size, size), np.uint8)}
    for kind, layer in layers.items():
        draw_polylines(layer, [(v.points, v.widths) for v in vessels if v.kind == kind])
    return layers["vein"], layers["artery"]
