"""How each lesion type looks: its colour, opacity and edge, applied to the photograph.

Each lesion type was drawn by :mod:`drlib.synth.lesion_render` into a uint8 coverage layer
(0..255); :func:`paint_lesions` tints the float photograph by those layers, and a layer's pixels
at or above ``MASK_THRESHOLD`` form that type's ground-truth mask. Layers named
``"<type>.<part>"`` are appearance parts of a type (no mask of their own), tinted after it.

The looks: microaneurysms small, sharp and dark red; dot/blot haemorrhages dark red (their soft
or sharp edges are drawn into the layer); flame haemorrhages a little lighter and softer; hard
exudates bright yellow and sharp; cotton wool spots soft, blurred off-white; IRMA and new vessels
the red of fine vessels; preretinal blood the darkest red. Laser scars are nothing red: a
depigmented burn, a pale yellow-white atrophic centre and clumps of brown-black pigment, so that
they cannot pass for new vessels or haemorrhages.
"""

from __future__ import annotations

import cv2
import numpy as np

# mode "mul": multiply the fundus colour by a tint (dark, red lesions); "mix": blend towards a
# colour (bright lesions). alpha is the opacity at full coverage; blur softens edges (x R).
APPEARANCE: dict[str, tuple[str, tuple[float, float, float], float, float]] = {
    "microaneurysm": ("mul", (0.56, 0.24, 0.30), 0.95, 0.0015),
    "dot_blot_haemorrhage": ("mul", (0.58, 0.26, 0.32), 0.92, 0.002),
    "flame_haemorrhage": ("mul", (0.64, 0.30, 0.36), 0.85, 0.004),
    "hard_exudate": ("mix", (250.0, 226.0, 120.0), 0.92, 0.001),
    "cotton_wool_spot": ("mix", (236.0, 226.0, 206.0), 0.78, 0.012),
    "irma": ("mul", (0.62, 0.30, 0.36), 0.85, 0.001),
    "nvd": ("mul", (0.64, 0.20, 0.26), 0.85, 0.001),
    "nve": ("mul", (0.64, 0.20, 0.26), 0.85, 0.001),
    "preretinal_haemorrhage": ("mul", (0.46, 0.16, 0.18), 0.96, 0.003),
    "laser_scar": ("mix", (160.0, 122.0, 88.0), 0.5, 0.001),
    "laser_scar.atrophy": ("mix", (236.0, 222.0, 188.0), 0.8, 0.003),
    "laser_scar.pigment": ("mix", (45.0, 35.0, 28.0), 0.92, 0.001),
}
MASK_THRESHOLD = 96  # coverage (0..255) from which a pixel belongs to a lesion's mask


def _bbox(layer: np.ndarray, pad: int) -> tuple[slice, slice] | None:
    h, w = layer.shape
    if layer.dtype == np.uint8:  # OpenCV's box of the non-zero pixels: one pass, no temporaries
        x, y, bw, bh = cv2.boundingRect(layer)
        if bw == 0 or bh == 0:
            return None
        top, bottom, left, right = y, y + bh - 1, x, x + bw - 1
    else:
        rows = np.flatnonzero(layer.any(axis=1))
        if len(rows) == 0:
            return None
        cols = np.flatnonzero(layer.any(axis=0))
        top, bottom, left, right = rows[0], rows[-1], cols[0], cols[-1]
    return (slice(max(top - pad, 0), min(bottom + pad + 1, h)),
            slice(max(left - pad, 0), min(right + pad + 1, w)))


def channel_rows(image: np.ndarray) -> np.ndarray:
    """An (h, w, C) image, or a box cut from one, viewed as (h, w * C) rows: writing to the
    rows writes the image.

    Raises:
        ValueError: the pixels of a row are not contiguous in memory (no such view exists).
    """
    h, w, c = image.shape
    if image.strides[2] != image.itemsize or image.strides[1] != c * image.itemsize:
        raise ValueError(f"an image with strides {image.strides} cannot be viewed as rows")
    return image.reshape(h, w * c)


def per_channel(plane: np.ndarray, channels: int = 3) -> np.ndarray:
    """An (h, w) plane in :func:`channel_rows`' layout, (h, w * channels): each pixel's value
    repeated in its channels, the values and dtype unchanged (OpenCV's grey-to-RGB copy where
    it applies, several times faster than ``np.repeat``)."""
    h, w = plane.shape
    if channels == 3 and plane.dtype in (np.uint8, np.uint16, np.float32):
        return cv2.cvtColor(plane, cv2.COLOR_GRAY2RGB).reshape(h, w * 3)
    return np.repeat(plane, channels, axis=1)


def colour_row(colour, width: int) -> np.ndarray:
    """A per-channel colour tiled along a row of ``width`` pixels, in :func:`channel_rows`'
    layout: (width * channels,), its dtype unchanged."""
    return np.tile(np.asarray(colour), width)


def _tint(img: np.ndarray, coverage: np.ndarray, mode: str, colour, alpha: float,
          blur_px: float) -> None:
    """Apply one coverage layer to the float image in place (within its bounding box)."""
    box = _bbox(coverage, pad=int(3 * blur_px) + 2)
    if box is None:
        return
    cov = coverage[box].astype(np.float32) * np.float32(alpha / 255.0)
    if blur_px > 0.3:
        cov = cv2.GaussianBlur(cov, (0, 0), blur_px)
    cov = np.minimum(cov, 1.0)
    # the box's rows as (h, w * 3) views, so that numpy runs long inner loops: the same float32
    # arithmetic per pixel and channel as broadcasting over channels
    region = channel_rows(img[box])
    cov3 = per_channel(cov)
    tint = colour_row(np.asarray(colour, np.float32), cov.shape[1])
    if mode == "mul":
        region *= 1.0 - cov3 * (1.0 - tint)
    else:
        region += cov3 * (tint - region)


def paint_lesions(img: np.ndarray, layers: dict[str, np.ndarray], contrast: float,
                  px: float) -> None:
    """Tint the float RGB image ``img`` in place by every lesion layer. ``px`` is the field
    radius in pixels (edge softness scales with it); ``contrast`` multiplies every opacity."""
    for name, (mode, colour, alpha, blur) in APPEARANCE.items():
        if name in layers:
            _tint(img, layers[name], mode, colour, min(1.0, alpha * contrast), blur * px)
