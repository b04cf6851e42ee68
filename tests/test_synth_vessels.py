"""drlib.synth.vessels: the vessel tree grown from the optic disc, and how polylines are drawn.

The tree's contract (module docstring): artery and vein trees start in the disc (papillary
trunks) and branch only by Y-forks whose calibres obey the junction law d0**x = d1**x + d2**x
(x = 2.6 arteries, 2.0 veins) and whose daughters part at ~77 degrees; the temporal arcades
arch round the fovea; arteries never cross arteries, veins never cross veins; nothing enters the
foveal avascular zone; arteries are narrower than veins; the tree is grown in units of the
field radius, so the same seed gives the same tree at any size.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from drlib.synth.geometry import FundusGeometry, sample_geometry
from drlib.synth.vessels import (
    BRANCH_ANGLE_DEG,
    CRAE_UM,
    CRVE_UM,
    FAZ_DIAMETER_UM,
    JUNCTION_EXPONENT,
    SCALE,
    SHIFT,
    Vessel,
    draw_polylines,
    draw_vessels,
    grow_vessel_tree,
)

RIGHT = FundusGeometry(size=256, eye="right", fov_centre=(128.0, 128.0), fov_radius=120.0,
                       fovea=(124.0, 130.0), disc_centre=(206.0, 120.0), disc_radius=16.5)
LEFT = FundusGeometry(size=256, eye="left", fov_centre=(128.0, 128.0), fov_radius=120.0,
                      fovea=(132.0, 130.0), disc_centre=(50.0, 120.0), disc_radius=16.5)


def tree(seed: int = 0, geom: FundusGeometry = RIGHT) -> list[Vessel]:
    return grow_vessel_tree(geom, np.random.default_rng(seed))


def sampled(seed: int, size: int = 512) -> tuple[FundusGeometry, list[Vessel]]:
    rng = np.random.default_rng(seed)
    geom = sample_geometry(rng, size, None)
    return geom, grow_vessel_tree(geom, rng)


def children(vessels: list[Vessel]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for i, v in enumerate(vessels):
        if v.parent >= 0:
            out.setdefault(v.parent, []).append(i)
    return out


# ----------------------------------------------------------------------------- the tree


@pytest.mark.parametrize("geom", [RIGHT, LEFT], ids=["right", "left"])
def test_every_vessel_starts_in_the_disc_or_at_its_parents_end(geom):
    vessels = tree(0, geom)
    roots = [v for v in vessels if v.parent < 0]
    # two papillary trunks per kind, each starting inside the disc
    assert sorted(v.kind for v in roots) == ["artery", "artery", "vein", "vein"]
    for v in roots:
        assert np.hypot(*(v.points[0] - geom.disc_centre)) < 0.3 * geom.disc_radius
    for v in vessels:
        if v.parent >= 0:
            parent = vessels[v.parent]
            assert parent.kind == v.kind and parent.generation == v.generation - 1
            np.testing.assert_allclose(v.points[0], parent.points[-1], atol=1e-9)


def test_forks_are_y_forks_obeying_the_junction_law():
    for seed in range(3):
        vessels = tree(seed)
        exponents, angles = [], []
        for p, kids in children(vessels).items():
            assert len(kids) <= 2, "a vessel ends in a Y-fork: two daughters at most"
            parent = vessels[p]
            x = JUNCTION_EXPONENT[parent.kind]
            if len(kids) == 2:
                d0 = parent.widths[0]
                d1, d2 = (vessels[k].widths[0] for k in kids)
                assert d0**x == pytest.approx(d1**x + d2**x, rel=1e-9)
                assert max(d1, d2) < d0
                exponents.append(x)
                h = [vessels[k].points[min(2, len(vessels[k].points) - 1)] - vessels[k].points[0]
                     for k in kids]
                cos = np.dot(*h) / (np.linalg.norm(h[0]) * np.linalg.norm(h[1]))
                angles.append(np.degrees(np.arccos(np.clip(cos, -1, 1))))
        assert len(angles) > 50
        # the angle between daughters as drawn (first points, with the walk's bends)
        assert abs(np.median(angles) - BRANCH_ANGLE_DEG) < 8.0, np.median(angles)


def test_pinned_tree_for_three_seeds():
    sizes = {seed: (len(tree(seed)), sum(len(v.points) for v in tree(seed))) for seed in range(3)}
    assert sizes == PINNED_SIZES, sizes


def _segments(vessels: list[Vessel], kind: str):
    """All line pieces of one kind: (start, end, vessel index) arrays."""
    a, b, idx = [], [], []
    for i, v in enumerate(vessels):
        if v.kind == kind and len(v.points) > 1:
            a.append(v.points[:-1])
            b.append(v.points[1:])
            idx.append(np.full(len(v.points) - 1, i))
    return np.concatenate(a), np.concatenate(b), np.concatenate(idx)


def crossings(vessels: list[Vessel], kind: str) -> int:
    """Proper intersections between line pieces of two different vessels of ``kind`` that do
    not touch at a fork (a vessel, its parent and its sibling share fork points)."""
    p, q, idx = _segments(vessels, kind)
    d1 = q - p
    r = p[None, :, :] - p[:, None, :]

    def cross(u, v):
        return u[..., 0] * v[..., 1] - u[..., 1] * v[..., 0]

    denom = cross(d1[:, None, :], d1[None, :, :])
    with np.errstate(divide="ignore", invalid="ignore"):
        t = cross(r, d1[None, :, :]) / denom
        u = cross(r, d1[:, None, :]) / denom
    hit = (denom != 0) & (t > 1e-9) & (t < 1 - 1e-9) & (u > 1e-9) & (u < 1 - 1e-9)
    parent = np.array([v.parent for v in vessels])
    a, b = idx[:, None], idx[None, :]
    kin = (a == b) | (parent[a] == b) | (parent[b] == a) | ((parent[a] == parent[b])
                                                             & (parent[a] >= 0))
    return int((hit & ~kin).sum() // 2)


@pytest.mark.parametrize("seed", range(6))
def test_arteries_never_cross_arteries_nor_veins_veins(seed):
    geom, vessels = sampled(seed, 256)
    assert crossings(vessels, "artery") == 0
    assert crossings(vessels, "vein") == 0


def test_the_crossing_check_can_fail():
    """Two arteries drawn across each other are counted: the check above is not vacuous."""
    crossing = [Vessel(np.array([[0.0, 0.0], [10.0, 10.0]]), 1.0, "artery", 0,
                       "superior_temporal", 1, -1),
                Vessel(np.array([[0.0, 10.0], [10.0, 0.0]]), 1.0, "artery", 0,
                       "inferior_temporal", 1, -1)]
    assert crossings(crossing, "artery") == 1
    crossing[1].kind = "vein"  # an artery over a vein is no artery-artery crossing
    crossing.append(Vessel(np.array([[20.0, 0.0], [20.0, 10.0]]), 1.0, "vein", 0,
                           "superior_nasal", 1, -1))
    assert crossings(crossing, "artery") == 0 and crossings(crossing, "vein") == 0


def test_arteries_and_veins_do_cross_each_other():
    geom, vessels = sampled(0, 256)
    for v in vessels:
        v.kind = "artery"  # one kind: artery-vein crossings now count
    assert crossings(vessels, "artery") > 0


def test_no_vessel_enters_the_foveal_avascular_zone():
    closest = []
    for seed in range(20):
        geom, vessels = sampled(seed)
        faz = 0.5 * FAZ_DIAMETER_UM / geom.um_per_px
        nearest = min(np.hypot(*(v.points - geom.fovea).T).min() for v in vessels)
        closest.append(nearest / faz)
    assert min(closest) > 1.0
    assert min(closest) == pytest.approx(PINNED_FAZ_CLEARANCE, abs=1e-3)


@pytest.mark.parametrize("geom", [RIGHT, LEFT], ids=["right", "left"])
def test_temporal_arcades_arch_round_the_macula(geom):
    vessels = tree(1, geom)
    fovea = np.asarray(geom.fovea)
    for root, sign in (("superior_temporal", -1), ("inferior_temporal", 1)):
        arcade = [v for v in vessels if v.root == root and v.order == 0]
        pts = np.concatenate([v.points for v in arcade])
        rel = pts - fovea
        # it passes over (or under) the fovea at about the arch radius ...
        above = rel[np.abs(rel[:, 0]) < 0.1 * geom.fov_radius]
        assert len(above) and (np.sign(above[:, 1]) == sign).all()
        r = np.hypot(*above.T).min() / geom.fov_radius
        assert 0.33 < r < 0.58, r
        # ... and ends on the temporal side of the fovea
        assert np.sign(pts[-1, 0] - fovea[0]) == -geom.side


def test_arteries_are_narrower_than_veins_from_the_disc_out():
    geom, vessels = sampled(4)
    um = geom.um_per_px
    trunks = {k: sum((v.width * um) ** JUNCTION_EXPONENT[k] for v in vessels
                     if v.parent < 0 and v.kind == k) ** (1 / JUNCTION_EXPONENT[k])
              for k in ("artery", "vein")}
    # the two papillary trunks recombine to the central vessel's calibre
    assert trunks == {"artery": pytest.approx(CRAE_UM), "vein": pytest.approx(CRVE_UM)}
    # the main vessels (arcades, nasal vessels): an artery is narrower than its vein
    w = {k: np.median([v.width for v in vessels if v.kind == k and v.order == 0])
         for k in ("artery", "vein")}
    assert w["artery"] < w["vein"], w


def test_the_same_seed_gives_the_same_tree_at_every_size():
    small, big = sampled(7, 256), sampled(7, 512)
    assert len(small[1]) == len(big[1])
    for a, b in zip(small[1], big[1], strict=True):
        np.testing.assert_allclose(b.points, 2 * a.points, rtol=1e-9, atol=1e-9)
        np.testing.assert_allclose(b.widths, 2 * a.widths, rtol=1e-9)


PINNED_SIZES = {0: (331, 2472), 1: (341, 2602), 2: (322, 2465)}  # (segments, points)
PINNED_COVERAGE = (7728, 7873, 719)  # vein, artery, reflex pixels >= 96 (seed 0, 512 px)
PINNED_FAZ_CLEARANCE = 1.3069  # closest vessel point, in FAZ radii, seeds 0..19


# ----------------------------------------------------------------------------- drawing


def draw(points, widths, value: float = 255.0, size: int = 64) -> np.ndarray:
    layer = np.zeros((size, size), np.uint8)
    draw_polylines(layer, [(np.asarray(points, float), np.asarray(widths, float))], value)
    return layer


def cv2_line(points, thickness: int, colour: float, size: int = 64) -> np.ndarray:
    """The same line drawn directly with OpenCV (anti-aliased, 4 fractional bits)."""
    layer = np.zeros((size, size), np.uint8)
    fixed = np.rint(np.asarray(points, float) * SCALE).astype(np.int32)
    cv2.polylines(layer, [fixed], False, colour, thickness, cv2.LINE_AA, SHIFT)
    return layer


def test_a_three_pixel_line_draws_the_expected_pixels():
    line = [(10, 20), (50, 20)]
    layer = draw(line, [3, 3])
    np.testing.assert_array_equal(layer, cv2_line(line, 3, 255))
    # pinned: a full-intensity band along row 20 from x=10 to x=50 with soft edges and caps
    assert (layer == 255).sum() == 207 and (layer > 0).sum() == 304 and int(layer.sum()) == 58822
    assert layer[18:23, 30].tolist() == [255, 255, 255, 255, 255]
    assert not layer[:15].any() and not layer[26:].any() and not layer[:, 55:].any()


def test_sub_pixel_widths_are_drawn_one_pixel_wide_and_fainter():
    line = [(10, 20), (50, 20)]
    # width >= 1 px: full value; width w < 1: one pixel wide at about w of the value
    # (binned in steps of 32 grey levels: level = rint(255 w / 32), colour = 32 level + 16)
    for width, colour in ((1.0, 255), (0.5, 144), (0.25, 80)):
        layer = draw(line, [width, width])
        np.testing.assert_array_equal(layer, cv2_line(line, 1, colour))
    assert [int(draw(line, [w, w]).max()) for w in (1.0, 0.5, 0.25)] == [232, 131, 73]
    assert [int((draw(line, [w, w]) > 0).sum()) for w in (1.0, 0.5, 0.25)] == [124, 124, 123]
    # another value: a thick line takes it, a thin one its binned fraction
    assert draw(line, [3, 3], value=100.0).max() == 100
    np.testing.assert_array_equal(draw(line, [0.5, 0.5], value=100.0), cv2_line(line, 1, 80))


def test_varying_width_is_drawn_segment_by_segment_with_rounded_thickness():
    line = [(10, 20), (30, 20), (50, 20)]
    layer = draw(line, [1.2, 2.0, 6.8])  # segment widths 1.6 and 4.4: thickness 2 and 4
    # OpenCV blends each anti-aliased group over what is already drawn: thick 2, then thick 4
    expected = np.zeros((64, 64), np.uint8)
    for part, thickness in ((line[:2], 2), (line[1:], 4)):
        fixed = np.rint(np.asarray(part, float) * SCALE).astype(np.int32)
        cv2.polylines(expected, [fixed], False, 255, thickness, cv2.LINE_AA, SHIFT)
    np.testing.assert_array_equal(layer, expected)
    assert [int((layer[:, x] > 0).sum()) for x in (15, 25, 35, 45)] == [5, 5, 7, 7]
    assert [int(layer[:, x].sum()) for x in (15, 25, 35, 45)] == [876, 876, 1386, 1386]


def test_degenerate_and_clipped_lines():
    assert not draw([(10, 20)], [3]).any()  # a single point draws nothing
    clipped = draw([(-10, 20), (30, 20)], [3, 3])  # starts outside the image: clipped
    np.testing.assert_array_equal(clipped, cv2_line([(-10, 20), (30, 20)], 3, 255))
    assert (clipped == 255).sum() == 156 and (clipped > 0).sum() == 226


def test_draw_vessels_splits_veins_arteries_and_the_light_reflex():
    geom, vessels = sampled(0, 512)
    vein, artery, reflex = draw_vessels(vessels, 512)
    assert vein.dtype == artery.dtype == reflex.dtype == np.uint8 and vein.shape == (512, 512)
    for kind, layer in (("vein", vein), ("artery", artery)):
        alone = np.zeros((512, 512), np.uint8)
        draw_polylines(alone, [(v.points, v.widths) for v in vessels if v.kind == kind])
        np.testing.assert_array_equal(layer, alone)
    # the reflex runs inside the vessels at least 3 px wide, a third of their width
    assert (reflex > 0).sum() > 0
    assert ((reflex >= 96) <= ((vein >= 96) | (artery >= 96))).all()
    assert PINNED_COVERAGE == ((vein >= 96).sum(), (artery >= 96).sum(), (reflex >= 96).sum())
