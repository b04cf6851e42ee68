"""The retinal vessel tree of a synthetic fundus: grown from the optic disc, drawn with OpenCV.

Anatomy modelled (calibres in micrometres, converted through ``geom.um_per_px``):

* The central retinal artery and vein emerge in the disc beside the cup (the vein on the temporal
  side of the artery) and divide on the disc into a superior and an inferior papillary branch;
  each of those divides near the disc margin into a temporal and a nasal vessel. The **temporal
  arcades** arch around the macula (``arch`` ~0.40-0.50 R from the fovea, artery and vein a few
  hundredths of R apart) and then run on to the temporal periphery, diverging from the
  horizontal raphe; the nasal vessels fan out towards the nasal rim.
* Calibres start from the central retinal artery and vein equivalents (``CRAE_UM`` 150 um,
  ``CRVE_UM`` 220 um). Every division is a **Y-fork**: a parent segment of diameter d0 ends and
  two daughters d1 >= d2 = alpha d1 start at its end with ``d0**x = d1**x + d2**x`` (junction
  exponent ``JUNCTION_EXPONENT``: 2.6 for arteries, 2.0 for veins, as measured in human
  retinas; Murray's law predicts 3). The angle between the daughters is drawn around
  ``BRANCH_ANGLE_DEG`` (77 degrees) and shared so that the thicker daughter deviates less, in
  proportion to the other's cross-section. A main vessel forks every 0.05-0.10 R and continues
  as the thicker daughter, so along an arcade the side branches leave it as asymmetric Y-forks.
* Vessels end when thinner than ``MIN_CALIBRE_UM`` or at the rim of the field; none enters the
  **foveal avascular zone** (``FAZ_DIAMETER_UM`` 500 um across). **Arteries never cross
  arteries and veins never cross veins**: a growing vessel stops where it would enter the trail
  of another vessel of its kind (a grid of cells ``CELL`` R wide, trails filled 4-connected so
  that no trail slips diagonally through another). Arteries and veins cross each other, as they
  do in real eyes.
* Arteries are narrower and lighter than veins; both show a **central light reflex** (the third
  layer of :func:`draw_vessels`, tinted by :mod:`drlib.synth.render`).

The tree is grown in units of R (the field radius), so one seed gives the same tree at every
image size. The main vessels are closed-form curves; side branches grow generation by
generation, every segment of a generation at once (heading = start heading + steady bend +
random walk: one cumulative sum), and the crossing check of a whole generation is vectorised.

Not modelled: capillaries, cilioretinal arteries, arteriovenous nicking, disease-dependent
tortuosity, calibre changes along a segment, the nerve-fibre striation.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import cv2
import numpy as np

from drlib.synth.geometry import FundusGeometry

SHIFT = 4  # OpenCV fixed-point bits: sub-pixel drawing
SCALE = 1 << SHIFT

CRAE_UM = 150.0  # central retinal artery equivalent
CRVE_UM = 220.0  # central retinal vein equivalent
KINDS = ("artery", "vein")
JUNCTION_EXPONENT = {"artery": 2.6, "vein": 2.0}
BRANCH_ANGLE_DEG = 77.0  # mean angle between the two daughters of a fork
MIN_CALIBRE_UM = 28.0  # thinner vessels are not drawn
FAZ_DIAMETER_UM = 500.0
CELL = 0.015  # crossing-check grid cell, in units of R
STEP = 0.012  # distance between points along a vessel, in units of R (< CELL)
ROOTS = ("superior_temporal", "inferior_temporal", "superior_nasal", "inferior_nasal")
_NEAR = int(np.ceil(3 * CELL / STEP))  # points near its start where a segment may touch its kin
_UNCLAIMED = np.iinfo(np.int64).max  # a grid cell no segment of the batch being placed claims


@dataclass
class Vessel:
    points: np.ndarray  # (N, 2) x, y in pixels
    width: float  # calibre in pixels (constant along a segment: calibres change at forks)
    kind: str  # "vein" or "artery"
    order: int  # 0: the papillary trunks, arcades and nasal vessels; 1.. side branches
    root: str  # one of ROOTS
    generation: int = 0  # forks between the central vessel and this segment
    parent: int = -1  # index of the parent segment in the tree (-1: a papillary trunk)

    @property
    def widths(self) -> np.ndarray:
        """The calibre at every point, (N,) pixels."""
        return np.full(len(self.points), self.width)


def _wrap(a):
    return (a + np.pi) % (2 * np.pi) - np.pi


class _Tree:
    """Segments of both kinds, stored as arrays, with one occupancy grid per kind."""

    def __init__(self, geom: FundusGeometry, rng: np.random.Generator):
        self.geom, self.rng = geom, rng
        self.R = geom.fov_radius
        self.c = np.asarray(geom.fov_centre, float) / self.R
        self.fovea = np.asarray(geom.fovea, float) / self.R
        self.disc = np.asarray(geom.disc_centre, float) / self.R
        um_per_r = geom.um_per_px * self.R  # micrometres per unit of R
        self.min_d = MIN_CALIBRE_UM / um_per_r
        self.faz = 0.5 * FAZ_DIAMETER_UM / um_per_r
        self.calibre = {"artery": CRAE_UM / um_per_r, "vein": CRVE_UM / um_per_r}
        self.n = int(np.ceil(2.2 / CELL))
        self.grid = np.full((2, self.n, self.n), -1, np.int32)
        self.claim = np.full(self.grid.size, _UNCLAIMED, np.int64)  # scratch of :meth:`place`
        self.segments: list[dict] = []  # id = index

    # ------------------------------------------------------------------ helpers
    def _inside(self, pts: np.ndarray) -> np.ndarray:
        """Points that may carry a vessel: inside the field and outside the FAZ."""
        r_fov = np.hypot(*(pts - self.c).T)
        r_fovea = np.hypot(*(pts - self.fovea).T)
        return (r_fov < 1.02) & (r_fovea > 1.3 * self.faz)

    def _cells(self, pts: np.ndarray, kind: np.ndarray) -> np.ndarray:
        """Flat grid index (kind, row, column) of points (..., 2)."""
        ij = np.clip(((pts - self.c + 1.1) / CELL).astype(np.int64), 0, self.n - 1)
        return (kind * self.n + ij[..., 1]) * self.n + ij[..., 0]

    # ------------------------------------------------------------------ placing
    def place(self, pts: np.ndarray, valid: np.ndarray, info: dict) -> np.ndarray:
        """Place a batch of segments (points (M, K, 2) in R units, ``valid`` (M, K), each row a
        prefix), each truncated where it would enter the trail of another vessel of its kind
        (earlier segments, or earlier ones of this batch in ``info["priority"]`` order). Near
        its start a segment may touch its parent, grandparent and sibling. Returns the kept
        length of every segment (0: not placed) and records the placed ones.

        Only the valid points are looked at: ``np.nonzero`` lists them segment by segment, so
        (rows being prefixes) the point before a point is the entry before it."""
        m = valid.shape[0]
        n_valid = valid.sum(1)
        prio = info["priority"]
        seg_v, at_v = np.nonzero(valid)
        cells = self._cells(pts[seg_v, at_v], info["kind"][seg_v])
        # 4-connected trails: each step also covers the cell (previous row, this column)
        step = np.flatnonzero(at_v > 0)
        c_all = np.concatenate([cells, cells[step - 1] // self.n * self.n + cells[step] % self.n])
        s_all = np.concatenate([seg_v, seg_v[step]])
        a_all = np.concatenate([at_v, at_v[step]])
        grid = self.grid.reshape(-1)
        owner = grid[c_all]
        near = a_all < _NEAR
        kin = ((owner == info["parent"][s_all]) | (owner == info["grandparent"][s_all]))
        foreign = (owner != -1) & ~(near & kin)
        # within the batch: the first segment in priority order claims a cell (``claim`` is
        # all ``_UNCLAIMED`` between calls: reset below where this batch wrote)
        claim = self.claim
        np.minimum.at(claim, c_all, prio[s_all])
        claimer = info["by_priority"][np.minimum(claim[c_all], m - 1)]
        claim[c_all] = _UNCLAIMED
        parent = info["parent"][s_all]
        batch_kin = ((claimer == info["sibling"][s_all]) | (claimer == info["pred"][s_all])
                     | ((parent >= 0) & (info["parent"][claimer] == parent)))
        foreign |= (claimer != s_all) & ~(near & batch_kin)
        cut = n_valid.copy()
        np.minimum.at(cut, s_all[foreign], a_all[foreign] - 1)
        cut = np.where(cut < 2, 0, cut)
        ids = np.full(m, -1, np.int64)
        keep = np.flatnonzero(cut >= 2)
        ids[keep] = len(self.segments) + np.arange(len(keep))
        mark = (a_all < cut[s_all]) & (cut[s_all] >= 2)
        free = grid[c_all[mark]] == -1
        grid[c_all[mark][free]] = ids[s_all[mark][free]]
        cols = [info[name][keep].tolist() for name in
                ("d", "kind", "order", "root", "generation", "parent")]
        for i, n_i, d_i, kind, order, root, generation, parent in zip(
                keep.tolist(), cut[keep].tolist(), *cols, strict=True):
            self.segments.append(dict(pts=pts[i, :n_i], d=d_i, kind=kind, order=order,
                                      root=root, generation=generation, parent=parent))
        info["id"] = ids
        return cut

    # ------------------------------------------------------------------ forks
    def fork_angles(self, d0: np.ndarray, kind: np.ndarray, alpha: np.ndarray):
        """Daughter calibres and deviations at Y-forks of parents ``d0``."""
        x = np.where(kind == 0, JUNCTION_EXPONENT["artery"], JUNCTION_EXPONENT["vein"])
        d1 = d0 * (1.0 + alpha**x) ** (-1.0 / x)
        d2 = alpha * d1
        total = np.radians(self.rng.normal(BRANCH_ANGLE_DEG, 8.0, len(d0)))
        a1 = total * d2**2 / (d1**2 + d2**2)  # the thicker daughter deviates less
        return d1, d2, a1, total - a1


def _resample(pts: np.ndarray, step: float) -> np.ndarray:
    """Points every ``step`` along a densely sampled polyline (N, 2)."""
    seg = np.hypot(*np.diff(pts, axis=0).T)
    s = np.concatenate([[0.0], np.cumsum(seg)])
    t = np.arange(0.0, s[-1], step)
    return np.stack([np.interp(t, s, pts[:, 0]), np.interp(t, s, pts[:, 1])], 1)


def _smooth_noise(rng, t: np.ndarray, amplitude: float) -> np.ndarray:
    out = np.zeros_like(t)
    for freq in (rng.uniform(1.0, 2.5), rng.uniform(3.0, 6.0), rng.uniform(8.0, 14.0)):
        out += np.sin(2 * np.pi * freq * t + rng.uniform(0, 2 * np.pi)) / freq
    return amplitude * out


def _main_paths(tree: _Tree, kind: str, start: np.ndarray, superior: bool, arch: float,
                exit_angle: float) -> tuple[np.ndarray, np.ndarray]:
    """Closed-form paths (R units, STEP apart) of one temporal arcade and one nasal vessel,
    both starting at ``start`` (the end of a papillary trunk)."""
    rng, geom = tree.rng, tree.geom
    side = geom.side
    up = -1.0 if superior else 1.0
    # temporal arcade: polar about the fovea, from the trunk's end round to ~100 degrees,
    # closing in from the disc distance to the arch radius, then out towards the periphery
    rel = start - tree.fovea
    r0, phi0 = float(np.hypot(*rel)), float(np.arctan2(rel[1], rel[0]))
    sense = up * side  # dphi sign: superior of a right eye runs from phi ~ 0 to phi ~ -pi/2
    sweep = rng.uniform(0.52, 0.6) * np.pi
    t = np.linspace(0.0, 1.0, 200)
    tau = sweep * t
    x = np.clip(tau / (0.45 * np.pi), 0, 1)  # leaves the disc vertically, then closes in
    r = arch + (r0 - arch) * (1 - x * x * (3 - 2 * x))
    wiggle = _smooth_noise(rng, t, 0.01)
    r = r + wiggle - wiggle[0]  # the arcade starts exactly at the trunk's end
    phi = phi0 + sense * tau
    arc = tree.fovea + np.stack([r * np.cos(phi), r * np.sin(phi)], 1)
    heading = np.arctan2(up * np.tan(exit_angle), -float(side))
    u = np.linspace(0.0, 1.6, 160)
    bend = np.cumsum(np.full_like(u, rng.normal(0, 0.15)) + _smooth_noise(rng, u, 0.8)) \
        * (u[1] - u[0])
    h = heading + bend
    tail = arc[-1] + np.cumsum(np.stack([np.cos(h), np.sin(h)], 1) * (u[1] - u[0]), 0)
    temporal = _resample(np.concatenate([arc, tail]), STEP)
    temporal = temporal[:_first_outside(tree, temporal)]
    # nasal vessel: fans out from the disc towards the nasal rim
    hn = np.arctan2(up * rng.uniform(0.5, 1.3), float(side))
    u = np.linspace(0.0, 1.2, 120)
    hn = hn + rng.normal(0, 0.5) * u + _smooth_noise(rng, u, 0.05)
    steps = np.stack([np.cos(hn), np.sin(hn)], 1) * (u[1] - u[0])
    steps[0] = 0.0
    nasal = _resample(start + np.cumsum(steps, 0), STEP)
    return temporal, nasal[:_first_outside(tree, nasal)]


def _first_outside(tree: _Tree, path: np.ndarray) -> int:
    """Length of the part of ``path`` before it first leaves the field or enters the FAZ."""
    bad = np.flatnonzero(~tree._inside(path))
    return int(bad[0]) if len(bad) else len(path)


def _split_mains(tree: _Tree, paths: list[tuple[np.ndarray, float, int, int, int]]):
    """Cut each main path into segments at forks every 0.07-0.14 R; calibre steps down at
    each fork by the junction law and a side branch leaves there. Returns the batch of main
    segments (for :meth:`_Tree.place`) and, per segment, its side branch's start."""
    rng = tree.rng
    rows = []
    for path, d, kind, root, parent in paths:
        s = 0
        gen = 1
        while s < len(path) - 2:
            n = int(rng.uniform(0.05, 0.10) / STEP)
            seg = path[s:s + n + 1]
            rows.append(dict(pts=seg, d=d, kind=kind, root=root, gen=gen,
                             path_id=id(path), parent=parent))
            s += n
            # most side branches are small; about one in three is a major branch
            alpha = rng.uniform(0.55, 0.85) if rng.random() < 0.3 else rng.uniform(0.2, 0.45)
            x = JUNCTION_EXPONENT[KINDS[kind]]
            d = d * (1.0 + alpha**x) ** (-1.0 / x)
            rows[-1]["alpha"] = alpha
            gen += 1
            if d < tree.min_d:
                break
    return rows


def grow_vessel_tree(geom: FundusGeometry, rng: np.random.Generator) -> list[Vessel]:
    """The artery and vein trees of one eye (see the module docstring)."""
    tree = _Tree(geom, rng)
    rd = geom.disc_radius / tree.R
    arch = rng.uniform(0.40, 0.48)
    gap = rng.uniform(0.05, 0.08) * (1 if rng.random() < 0.5 else -1)  # vein outside or inside
    exit_angle = rng.uniform(0.25, 0.5)

    # papillary trunks: straight, on the disc
    trunk_rows, main_paths = [], []
    for k, kind in enumerate(KINDS):
        offset = (-0.12 if kind == "vein" else 0.1) * geom.side * rd
        centre = tree.disc + np.array([offset, rng.normal(0, 0.05) * rd])
        alpha = rng.uniform(0.8, 1.0)
        x = JUNCTION_EXPONENT[kind]
        d_big = tree.calibre[kind] * (1.0 + alpha**x) ** (-1.0 / x)
        sizes = (d_big, alpha * d_big) if rng.random() < 0.5 else (alpha * d_big, d_big)
        for superior, d in zip((True, False), sizes, strict=True):
            up = -1.0 if superior else 1.0
            h = np.arctan2(up, rng.normal(0, 0.15))
            n = max(3, int(np.ceil(0.45 * rd / STEP)) + 1)
            pts = centre + (np.arange(n) * STEP)[:, None] * np.array([np.cos(h), np.sin(h)])
            trunk_rows.append(dict(pts=pts, d=d, kind=k, root=0 if superior else 1,
                                   superior=superior))
    batch = _batch([(r["pts"], r["d"], r["kind"], 0, r["root"], 1, -1, -1)
                    for r in trunk_rows])
    batch[2]["sibling"] = np.array([1, 0, 3, 2])  # the two trunks of a kind share their start
    tree.place(*batch)
    trunk_ids = batch[2]["id"]

    for row, tid in zip(trunk_rows, trunk_ids, strict=True):
        kind = KINDS[row["kind"]]
        x = JUNCTION_EXPONENT[kind]
        alpha = rng.uniform(0.55, 0.95)
        d1 = row["d"] * (1.0 + alpha**x) ** (-1.0 / x)
        a = arch + (gap if kind == "vein" else 0.0)
        temporal, nasal = _main_paths(tree, kind, row["pts"][-1], row["superior"], a,
                                      exit_angle + rng.normal(0, 0.06))
        sup = row["superior"]
        main_paths.append((temporal, d1, row["kind"], 0 if sup else 1, int(tid)))
        main_paths.append((nasal, alpha * d1, row["kind"], 2 if sup else 3, int(tid)))

    # main vessels: cut at the forks, placed as one batch (a main stops at its first conflict)
    rows = _split_mains(tree, main_paths)
    # a row's parent is the previous row of its path (a batch index, resolved after placing);
    # the first row's parent is its papillary trunk
    parent_row, last = np.full(len(rows), -1), {}
    for i, r in enumerate(rows):
        parent_row[i] = last.get(r["path_id"], -1)
        last[r["path_id"]] = i
    pts, valid, info = _batch([(r["pts"], r["d"], r["kind"], 0, r["root"], r["gen"] + 1,
                                r["parent"] if parent_row[i] < 0 else -1, -1)
                               for i, r in enumerate(rows)])
    info["pred"] = parent_row
    cut = _place_chained(tree, pts, valid, info, parent_row)

    # side branches leave at the end of every main segment that was placed whole
    starts = []
    continuation = {int(p): i for i, p in enumerate(parent_row.tolist()) if p >= 0}
    for i, r in enumerate(rows):
        seg_id = info["id"][i]
        if seg_id < 0 or cut[i] < len(r["pts"]) or "alpha" not in r:
            continue
        seg = tree.segments[seg_id]
        end = seg["pts"][-1]
        tangent = seg["pts"][-1] - seg["pts"][-2]
        nxt = continuation.get(i)  # the main vessel's continuation (its id: -1 if not placed)
        cont = int(info["id"][nxt]) if nxt is not None else -1
        starts.append((end, float(np.arctan2(tangent[1], tangent[0])), r["d"], r["alpha"],
                       r["kind"], r["root"], r["gen"] + 2, int(seg_id), cont))
    gen = _side_generation(tree, starts)
    while gen is not None:
        gen = _next_generation(tree, gen)
    return _to_vessels(tree)


def _batch(items):
    """Arrays for :meth:`_Tree.place` from (points, d, kind, order, root, generation, parent,
    grandparent) tuples; priority is the given order."""
    m = len(items)
    k = max(len(it[0]) for it in items)
    pts = np.zeros((m, k, 2))
    valid = np.zeros((m, k), bool)
    for i, it in enumerate(items):
        pts[i, :len(it[0])] = it[0]
        valid[i, :len(it[0])] = True
    cols = list(zip(*[it[1:] for it in items], strict=True))
    info = dict(d=np.array(cols[0], float), kind=np.array(cols[1]), order=np.array(cols[2]),
                root=np.array(cols[3]), generation=np.array(cols[4]),
                parent=np.array(cols[5]), grandparent=np.array(cols[6]),
                sibling=np.full(m, -1), pred=np.full(m, -1),
                priority=np.arange(m), by_priority=np.arange(m))
    return pts, valid, info


def _place_chained(tree, pts, valid, info, parent_row) -> np.ndarray:
    """Place main segments; a segment whose predecessor on its path was not placed whole is
    dropped, and each segment's parent is its predecessor's id."""
    # predecessors' ids are not known before placing: place row by row along each path's order
    # in one batch, then drop what follows a truncation
    cut = tree.place(pts, valid, info)
    ids = info["id"]
    n_valid = valid.sum(1)
    dead = np.zeros(len(cut), bool)
    for i in range(len(cut)):
        p = parent_row[i]
        if p >= 0 and (dead[p] or ids[p] < 0 or cut[p] < n_valid[p]):
            dead[i] = True
        if p >= 0 and ids[i] >= 0:
            tree.segments[ids[i]]["parent"] = int(ids[p]) if ids[p] >= 0 else -1
    for i in np.flatnonzero(dead & (ids >= 0)):
        tree.segments[ids[i]]["dead"] = True
        ids[i] = -1
        cut[i] = 0
    return cut


def _side_generation(tree: _Tree, starts):
    """First segments of the side branches at the main vessels' forks (the continuation of
    the main vessel, which they may touch near the fork, stands in the ``grandparent`` slot)."""
    if not starts:
        return None
    rng = tree.rng
    end = np.array([s[0] for s in starts])
    h = np.array([s[1] for s in starts])
    d0 = np.array([s[2] for s in starts])
    alpha = np.array([s[3] for s in starts])
    kind = np.array([s[4] for s in starts])
    d1, d2, a1, a2 = tree.fork_angles(d0, kind, alpha)
    sense = np.where(rng.random(len(starts)) < 0.5, 1.0, -1.0)
    return dict(start=end, heading=h + sense * (a1 + a2), d=d2, kind=kind,
                order=np.ones(len(starts), int), root=np.array([s[5] for s in starts]),
                generation=np.array([s[6] for s in starts]),
                parent=np.array([s[7] for s in starts]),
                grandparent=np.array([s[8] for s in starts]), sibling=np.full(len(starts), -1))


def _next_generation(tree: _Tree, gen: dict):
    """Grow one generation of branch segments, place them, and return the next (or None)."""
    rng = tree.rng
    m = len(gen["d"])
    d = gen["d"]
    h0 = gen["heading"] + 0.05 * _wrap(np.arctan2(*(gen["start"] - tree.disc).T[::-1])
                                       - gen["heading"])
    length = d * rng.uniform(14.0, 28.0, m)
    n = np.maximum(3, np.ceil(length / STEP).astype(int) + 1)
    k = int(n.max())
    s = np.arange(k) * STEP
    curl = rng.uniform(-1.2, 1.2, m)
    walk = rng.normal(0.0, 0.07, (m, k))
    walk[:, 0] = 0.0
    heading = h0[:, None] + curl[:, None] * s + np.cumsum(walk, axis=1)
    steps = STEP * np.stack([np.cos(heading), np.sin(heading)], -1)
    steps[:, 0] = 0.0
    pts = gen["start"][:, None, :] + np.cumsum(steps, axis=1)
    valid = (np.arange(k) < n[:, None]) & tree._inside(pts.reshape(-1, 2)).reshape(m, k)
    valid = np.cumprod(valid, axis=1).astype(bool)
    order = np.argsort(-d, kind="stable")  # thicker branches claim cells first
    prio = np.empty(m, int)
    prio[order] = np.arange(m)
    info = dict(gen, pred=np.full(m, -1), priority=prio,
                by_priority=order)
    cut = tree.place(pts, valid, info)
    ids = info["id"]
    # Y-forks at the end of every segment placed whole and still thick enough
    ok = (ids >= 0) & (cut == valid.sum(1)) & (d >= tree.min_d)
    ends = pts[np.flatnonzero(ok), np.maximum(cut[ok] - 1, 0)]
    ok_idx = np.flatnonzero(ok)
    far = np.hypot(*(ends - tree.c).T) < 0.99
    ok_idx, ends = ok_idx[far], ends[far]
    if len(ok_idx) == 0:
        return None
    end_h = heading[ok_idx, np.maximum(cut[ok_idx] - 1, 0)]
    alpha = rng.uniform(0.4, 1.0, len(ok_idx))
    d1, d2, a1, a2 = tree.fork_angles(d[ok_idx], gen["kind"][ok_idx], alpha)
    sense = np.where(rng.random(len(ok_idx)) < 0.5, 1.0, -1.0)
    two = lambda a: np.concatenate([a, a])  # noqa: E731
    q = len(ok_idx)
    first = np.arange(q)
    sibling = np.concatenate([first + q, first])  # batch index of the other daughter
    return dict(start=two(ends), heading=np.concatenate([end_h - sense * a1, end_h + sense * a2]),
                d=np.concatenate([d1, d2]), kind=two(gen["kind"][ok_idx]),
                order=np.concatenate([gen["order"][ok_idx], gen["order"][ok_idx] + 1]),
                root=two(gen["root"][ok_idx]), generation=two(gen["generation"][ok_idx] + 1),
                parent=two(ids[ok_idx]), grandparent=two(gen["parent"][ok_idx]),
                sibling=sibling)


def _to_vessels(tree: _Tree) -> list[Vessel]:
    out = []
    index = {}
    live = [(i, seg) for i, seg in enumerate(tree.segments) if not seg.get("dead")]
    if not live:
        return out
    # every segment's points in pixels in one multiply (the same product per coordinate),
    # then one array per vessel
    ends = np.cumsum([len(seg["pts"]) for _, seg in live]).tolist()
    px = np.concatenate([seg["pts"] for _, seg in live]) * tree.R
    for (i, seg), end in zip(live, ends, strict=True):
        index[i] = len(out)
        pts = px[end - len(seg["pts"]):end]
        out.append(Vessel(pts, seg["d"] * tree.R, KINDS[seg["kind"]],
                          seg["order"], ROOTS[seg["root"]], seg["generation"], seg["parent"]))
    for v in out:
        v.parent = index.get(v.parent, -1)
    return out


def draw_polylines(layer: np.ndarray, lines: list[tuple[np.ndarray, np.ndarray | float]],
                   value: float = 255.0) -> None:
    """Draw polylines into a uint8 ``layer`` (anti-aliased, sub-pixel).

    ``lines`` holds (points (N, 2), width) pairs; a width is one number for the whole line
    (the fast path: vessels have one calibre per segment) or (N,) per point, drawn segment by
    segment. Lines are grouped by rounded thickness so that OpenCV draws each group in one
    call; a line thinner than a pixel is drawn one pixel wide with proportionally lower
    intensity.
    """
    groups: dict[tuple[int, int], list[np.ndarray]] = defaultdict(list)

    def key(w: float) -> tuple[int, int]:
        return max(1, int(round(w))), int(round(value * min(w, 1.0) / 32.0))

    lines = [(pts, widths) for pts, widths in lines if len(pts) >= 2]
    if not lines:
        return
    # every line's fixed-point points in one pass (the same rounding of each point), then
    # split into per-line views
    ends = np.cumsum([len(pts) for pts, _ in lines]).tolist()
    fixed_all = np.rint(np.concatenate([pts for pts, _ in lines]) * SCALE).astype(np.int32)
    for (pts, widths), end in zip(lines, ends, strict=True):
        fixed = fixed_all[end - len(pts):end]
        if isinstance(widths, (float, int, np.floating, np.integer)) or np.ndim(widths) == 0:
            groups[key(float(widths))].append(fixed)
            continue
        seg_w = 0.5 * (widths[1:] + widths[:-1])
        keys = [key(w) for w in seg_w.tolist()]
        start = 0
        for i in range(1, len(keys) + 1):
            if i == len(keys) or keys[i] != keys[start]:
                groups[keys[start]].append(fixed[start:i + 1])
                start = i
    for (thick, level), runs in groups.items():
        colour = float(min(255, level * 32 + 16)) if level < value // 32 else float(value)
        cv2.polylines(layer, runs, False, colour, thick, cv2.LINE_AA, SHIFT)


def draw_vessels(vessels: list[Vessel], size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Vein, artery and central-light-reflex coverage layers (uint8, 0..255).

    The reflex is a line a third as wide as the vessel along the centre of every vessel at
    least 3 px wide."""
    layers = {"vein": np.zeros((size, size), np.uint8), "artery": np.zeros((size, size), np.uint8)}
    for kind, layer in layers.items():
        draw_polylines(layer, [(v.points, v.width) for v in vessels if v.kind == kind])
    reflex = np.zeros((size, size), np.uint8)
    draw_polylines(reflex, [(v.points, v.width / 3.0) for v in vessels if v.width >= 3.0])
    return layers["vein"], layers["artery"], reflex
