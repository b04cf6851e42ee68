"""The generator's fast paths give the same bits as the straightforward arithmetic they replace.

Several steps of ``render_fundus`` compute what a plain numpy expression would (a per-channel
broadcast, a whole-image pass, a per-pixel gather) in a cheaper layout: only the pixels a layer
covers, one row and one column broadcast instead of a full grid, colour planes as long rows, a
256-entry table instead of per-pixel float steps. Each must equal the plain expression bit for
bit (the golden digests in ``test_synth_golden`` depend on it); these tests pin that on random
inputs, at sizes whose pixel counts are not multiples of a SIMD width too.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from drlib.synth.geometry import (
    distance_map,
    ellipse_mask,
    fov_mask_of,
    pixel_grid,
    quadrant_map,
    sample_geometry,
)
from drlib.synth.lesion_appearance import APPEARANCE, paint_lesions
from drlib.synth.noise_fields import pixel_noise, scaled_pixel_noise
from drlib.synth.render import (
    ARTERY_TINT,
    REFLEX_COLOUR,
    REFLEX_OPACITY,
    VEIN_TINT,
    VESSEL_OPACITY,
    _apply_vessels,
)

SIZES = (64, 97, 128, 257)


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


def sparse_layer(rng, size: int) -> np.ndarray:
    layer = rng.integers(0, 256, (size, size)).astype(np.uint8)
    layer[rng.random((size, size)) < rng.uniform(0.3, 0.95)] = 0
    return layer


@pytest.mark.parametrize("size", SIZES)
def test_apply_vessels_equals_the_whole_image_arithmetic(size):
    rng = np.random.default_rng(size)
    for _ in range(3):
        img = (rng.random((size, size, 3)) * 255).astype(np.float32)
        vein, artery, reflex = (sparse_layer(rng, size) for _ in range(3))
        # the whole-image arithmetic of generator 2.0
        ref = img.copy()
        k = VESSEL_OPACITY / 255.0
        v, a = vein.astype(np.float32), artery.astype(np.float32)
        w = reflex.astype(np.float32) * np.float32(REFLEX_OPACITY / 255.0)
        keep = 1.0 - w
        gain, add = [], []
        for c in range(3):
            shade = cv2.addWeighted(v, -k * (1.0 - float(VEIN_TINT[c])), a,
                                    -k * (1.0 - float(ARTERY_TINT[c])), 1.0)
            gain.append(cv2.multiply(np.maximum(shade, 0.05, out=shade), keep))
            add.append(w * np.float32(REFLEX_COLOUR[c]))
        cv2.multiply(ref, cv2.merge(gain), dst=ref)
        cv2.add(ref, cv2.merge(add), dst=ref)
        _apply_vessels(img, vein, artery, reflex)
        assert same_bits(img, ref)


def test_scaled_pixel_noise_is_sigma_times_pixel_noise():
    for seed, size, sigma in ((0, 64, 0.5), (1, 97, 1.7), (2, 128, 3.0), (3, 65, 0.0)):
        expected = np.float32(sigma) * pixel_noise(np.random.default_rng(seed), size)
        assert same_bits(scaled_pixel_noise(np.random.default_rng(seed), size, sigma), expected)


@pytest.mark.parametrize("size", SIZES)
def test_geometry_maps_equal_their_full_grid_arithmetic(size):
    x, y = pixel_grid(size)
    for seed in range(6):
        rng = np.random.default_rng(seed)
        geom = sample_geometry(rng, size)
        centre = (float(rng.uniform(-5, size + 5)), float(rng.uniform(-5, size + 5)))
        expected = np.sqrt((x - np.float32(centre[0])) ** 2 + (y - np.float32(centre[1])) ** 2)
        assert same_bits(distance_map(size, centre), expected)
        for (cx, cy), rx, ry in ((geom.fov_centre, geom.fov_radius, geom.fov_radius),
                                 (geom.disc_centre, geom.disc_radius, 1.08 * geom.disc_radius)):
            full = ((x - cx) / rx) ** 2 + ((y - cy) / ry) ** 2 <= 1.0
            ys = slice(max(int(cy - ry) - 1, 0), min(int(cy + ry) + 2, size))
            xs = slice(max(int(cx - rx) - 1, 0), min(int(cx + rx) + 2, size))
            box = np.zeros((size, size), bool)
            box[ys, xs] = True
            assert np.array_equal(ellipse_mask(size, (cx, cy), rx, ry), full & box)
        fov = fov_mask_of(geom)
        o, s, n = geom.quadrant_origin, geom.superior_axis, geom.nasal_axis
        superior = (x * np.float32(s[0]) + y * np.float32(s[1])) > np.float32(o @ s)
        nasal = (x * np.float32(n[0]) + y * np.float32(n[1])) > np.float32(o @ n)
        q = (superior.view(np.uint8) ^ 1) * np.uint8(2) + nasal.view(np.uint8) + np.uint8(1)
        q[~fov] = 0
        assert same_bits(quadrant_map(geom, fov), q)


def _tint_reference(img, coverage, mode, colour, alpha, blur_px):
    rows = np.flatnonzero(coverage.any(axis=1))
    if len(rows) == 0:
        return
    cols = np.flatnonzero(coverage.any(axis=0))
    pad = int(3 * blur_px) + 2
    h, w = coverage.shape
    box = (slice(max(rows[0] - pad, 0), min(rows[-1] + pad + 1, h)),
           slice(max(cols[0] - pad, 0), min(cols[-1] + pad + 1, w)))
    cov = coverage[box].astype(np.float32) * np.float32(alpha / 255.0)
    if blur_px > 0.3:
        cov = cv2.GaussianBlur(cov, (0, 0), blur_px)
    cov = np.minimum(cov, 1.0)[..., None]
    region = img[box]
    if mode == "mul":
        region *= 1.0 - cov * (1.0 - np.asarray(colour, np.float32))
    else:
        region += cov * (np.asarray(colour, np.float32) - region)


@pytest.mark.parametrize("size", SIZES)
def test_paint_lesions_equals_broadcasting_over_channels(size):
    rng = np.random.default_rng(100 + size)
    for contrast in (1.0, 0.5):
        img = (rng.random((size, size, 3)) * 255).astype(np.float32)
        layers = {}
        for name in APPEARANCE:
            layer = np.zeros((size, size), np.uint8)
            y0, x0 = rng.integers(0, size, 2)
            y1, x1 = y0 + rng.integers(1, size // 2), x0 + rng.integers(1, size // 2)
            layer[y0:y1, x0:x1] = rng.integers(0, 256, layer[y0:y1, x0:x1].shape)
            layers[name] = layer
        layers["irma"][:] = 0  # an empty layer tints nothing
        px = 0.47 * size
        ref = img.copy()
        for name, (mode, colour, alpha, blur) in APPEARANCE.items():
            _tint_reference(ref, layers[name], mode, colour, min(1.0, alpha * contrast),
                            blur * px)
        paint_lesions(img, layers, contrast, px)
        assert same_bits(img, ref)


def test_channel_rows_is_a_view_that_writes_the_image_or_refuses():
    from drlib.synth.lesion_appearance import channel_rows

    image = np.zeros((6, 5, 3), np.float32)
    rows = channel_rows(image[1:4, 2:5])
    assert rows.shape == (3, 9)
    rows[1, 3:6] = (1.0, 2.0, 3.0)  # the second pixel of the box's second row
    np.testing.assert_array_equal(image[2, 3], (1.0, 2.0, 3.0))
    assert image.sum() == 6.0
    with pytest.raises(ValueError, match="cannot be viewed as rows"):
        channel_rows(image.transpose(1, 0, 2))


@pytest.mark.parametrize("dtype", [np.uint8, np.float32, np.float64])
def test_per_channel_and_colour_row_lay_out_what_broadcasting_would(dtype):
    from drlib.synth.lesion_appearance import colour_row, per_channel

    plane = (np.arange(12).reshape(3, 4) * 7 % 11).astype(dtype)
    colour = np.array([1.5, 2.0, 4.0]).astype(dtype)
    rows = per_channel(plane)
    assert rows.dtype == dtype and rows.shape == (3, 12)
    # the (h, w, 3) broadcast of the plane and of the colour, viewed as channel_rows' rows
    np.testing.assert_array_equal(rows, np.broadcast_to(plane[..., None], (3, 4, 3)).reshape(3, 12))
    np.testing.assert_array_equal(colour_row(colour, 4), np.broadcast_to(colour, (4, 3)).ravel())
    assert per_channel(plane, channels=2).tolist() == np.repeat(plane, 2, axis=1).tolist()
