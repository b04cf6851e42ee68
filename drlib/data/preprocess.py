"""Preparing fundus photographs for the network: find the eye, crop, rescale, and (optionally)
Ben Graham's "subtract the local average colour" preprocessing.

Fundus cameras frame the round field of view (FOV) differently: black bands left and right,
the circle cut at top and bottom, different sizes and resolutions. Every photograph is brought
to the same geometry first: the eye centred, at a fixed radius, in a square image.
Graham (winner of the Kaggle 2015 DR competition) then subtracted a Gaussian-blurred copy
(sigma = radius/30) to remove lighting and pigmentation differences, amplified the rest four
times around grey 128, and set everything outside 90% of the radius to 128:

    out = clip(4 * img - 4 * GaussianBlur(img, sigma = radius / 30) + 128, 0, 255)

Every transform takes ``(image, masks)`` and returns ``(image, masks)``: ``masks`` is ``None``
or a dict of bool (H, W) masks aligned with the image, and comes back transformed the same way
(geometric steps) or unchanged (photometric steps), still bool and the image's shape.
Images are resized with area interpolation (shrinking) and masks with nearest neighbour, so a
mask stays a set of whole pixels; ``mask_rule="any"`` keeps tiny lesions (a 3-pixel
microaneurysm) that nearest neighbour can drop when shrinking a lot.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, NamedTuple

import cv2
import numpy as np
from scipy import ndimage

Masks = dict[str, np.ndarray]
MaskRule = Literal["nearest", "any"]

WORKING_SIZE = 512
"""Longest side (px) at which the field of view is searched; the result is scaled back."""

GRAHAM_SIGMA_FRACTION = 1.0 / 30.0
"""Graham's blur: sigma = radius / 30."""

GRAHAM_RIM_FRACTION = 0.9
"""Graham kept the inner 90% of the radius and set the rest to grey."""

GREY = 128
"""Grey level of "nothing here" after Graham preprocessing."""


class FieldOfViewError(ValueError):
    """No round field of view could be found in an image."""


class FieldOfView(NamedTuple):
    """The eye in a photograph: centre (x, y) and radius in pixels, and the bool FOV mask."""

    cx: float
    cy: float
    radius: float
    mask: np.ndarray


# --------------------------------------------------------------------------- helpers


def _check(image: np.ndarray, masks: Mapping[str, np.ndarray] | None) -> None:
    if masks is not None and not isinstance(masks, Mapping):
        raise TypeError(
            f"masks must be None or a dict name -> bool (H, W) array, not {type(masks).__name__}"
            "; pass options such as sigma_fraction or fraction by keyword"
        )
    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"expected an RGB image (H, W, 3), got shape {image.shape}")
    for name, mask in (masks or {}).items():
        if mask.shape != image.shape[:2]:
            raise ValueError(
                f"mask {name!r} has shape {mask.shape}, image has {image.shape[:2]}: "
                "masks must be aligned pixel for pixel"
            )


def _size_hw(size: int | tuple[int, int]) -> tuple[int, int]:
    if isinstance(size, int | np.integer):
        return int(size), int(size)
    h, w = size
    return int(h), int(w)


def _resize_image(image: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    h, w = hw
    if (h, w) == image.shape[:2]:
        return image.copy()
    shrink = h * w < image.shape[0] * image.shape[1]
    return cv2.resize(image, (w, h), interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)


def _resize_mask(mask: np.ndarray, hw: tuple[int, int], rule: MaskRule) -> np.ndarray:
    h, w = hw
    if (h, w) == mask.shape:
        return mask.astype(bool, copy=True)
    if rule == "any" and h * w < mask.size:
        return cv2.resize(mask.astype(np.float32), (w, h), interpolation=cv2.INTER_AREA) > 0
    if rule not in ("nearest", "any"):
        raise ValueError(f"mask_rule must be 'nearest' or 'any', got {rule!r}")
    out = cv2.resize(mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST_EXACT)
    return out.astype(bool)


def _crop_pad(arr: np.ndarray, y0: int, x0: int, side: int, fill: int | bool) -> np.ndarray:
    """``arr[y0:y0+side, x0:x0+side]``, padded with ``fill`` where the box leaves the array."""
    out = np.full((side, side) + arr.shape[2:], fill, dtype=arr.dtype)
    h, w = arr.shape[:2]
    sy0, sx0 = max(y0, 0), max(x0, 0)
    sy1, sx1 = min(y0 + side, h), min(x0 + side, w)
    if sy1 > sy0 and sx1 > sx0:
        out[sy0 - y0 : sy1 - y0, sx0 - x0 : sx1 - x0] = arr[sy0:sy1, sx0:sx1]
    return out


def _circle(hw: tuple[int, int], cx: float, cy: float, radius: float) -> np.ndarray:
    yy, xx = np.ogrid[: hw[0], : hw[1]]
    yy = ((yy - cy) ** 2).astype(np.float32)
    xx = ((xx - cx) ** 2).astype(np.float32)
    return xx + yy <= np.float32(radius**2)


def _brightness(image: np.ndarray) -> np.ndarray:
    """Max over the colour channels (uint8, H x W); in a fundus photograph the red channel."""
    red, green, blue = cv2.split(np.ascontiguousarray(image))
    return cv2.max(cv2.max(red, green), blue)


# --------------------------------------------------------------------------- field of view


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """``scipy.ndimage.binary_fill_holes(mask)``, the same pixels, several times faster.

    A hole is a part of the background that no 4-connected path of background joins to the
    border (scipy's default structure). Here the background, framed by one pixel of
    background all round, is flooded 4-connected from the frame (one OpenCV flood fill); what
    the flood does not reach is the mask or a hole in it."""
    h, w = mask.shape
    background = np.ones((h + 2, w + 2), np.uint8)
    background[1:-1, 1:-1] = ~mask.astype(bool)
    reached = np.zeros((h + 4, w + 4), np.uint8)  # floodFill's own mask: 1 px larger all round
    cv2.floodFill(background, reached, (0, 0), 2, 0, 0, 4)
    return background[1:-1, 1:-1] != 2


def _fit_circle_rows(mask: np.ndarray) -> tuple[float, float, float] | None:
    """Circle (cx, cy, r) from the chords of the rows of ``mask``; None if too few rows.

    A circle's row chord of width w at height y satisfies (y - cy)^2 + (w/2)^2 = r^2, i.e.
    y^2 + w^2/4 = 2 cy y + (r^2 - cy^2): linear in y, fitted by least squares. Rows touching the
    left or right border are left out (their chords are cut), so circles cut at the top and
    bottom, or at the sides, are still measured by the rows that show their full width.
    """
    h, w = mask.shape
    rows = np.flatnonzero(mask.any(axis=1))
    if rows.size == 0:
        return None
    left = mask[rows].argmax(axis=1)
    right = w - 1 - mask[rows, ::-1].argmax(axis=1)
    width = (right - left + 1).astype(float)
    keep = (left > 0) & (right < w - 1) & (width >= 0.2 * width.max())
    y, width, centre = rows[keep].astype(float), width[keep], (left[keep] + right[keep]) / 2.0
    for _ in range(3):
        if y.size < 5 or np.ptp(y) < 3:
            return None
        slope, intercept = np.polyfit(y, y**2 + width**2 / 4.0, 1)
        cy = slope / 2.0
        r2 = intercept + cy**2
        if r2 <= 0:
            return None
        r = float(np.sqrt(r2))
        residual = np.abs(np.sqrt((y - cy) ** 2 + width**2 / 4.0) - r)
        good = residual <= max(1.5, 0.03 * r)
        if good.all():
            break
        y, width, centre = y[good], width[good], centre[good]
    cx = float(np.average(centre, weights=width))
    return cx, float(cy), r


def find_field_of_view(image: np.ndarray, threshold: float | None = None) -> FieldOfView:
    """Locate the round field of view: centre, radius and mask, in pixels of ``image``.

    Method: on a copy shrunk to :data:`WORKING_SIZE`, smooth the brightness (max over channels,
    in a fundus photograph the red channel) and threshold it just above the background
    (background + 8% of the range between the 1st and 99th percentiles, at least 6 levels);
    keep the largest connected region and fill its holes. The circle is fitted to the row
    chords of that region (rows cut by the image's left or right border are ignored), so a dark
    rim does not bias it and a field of view cut at the top and bottom (common in EyePACS) still
    gives the full radius. Falls back to half the widest row when too few rows are usable.

    Returns:
        FieldOfView(cx, cy, radius, mask): mask is the thresholded region (its edge redrawn at
        full resolution) intersected with the fitted circle.

    Raises:
        FieldOfViewError: the image is (nearly) uniform: no field of view.
    """
    _check(image, None)
    h, w = image.shape[:2]
    f = min(1.0, WORKING_SIZE / max(h, w))
    small = image if f == 1.0 else cv2.resize(
        image, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA
    )
    fy, fx = small.shape[0] / h, small.shape[1] / w
    brightness = cv2.GaussianBlur(_brightness(small).astype(np.float32), (0, 0), 2.0)
    lo, hi = np.percentile(brightness, [1, 99])
    if hi - lo < 10 and threshold is None:
        raise FieldOfViewError(
            f"no field of view found: image is nearly uniform (brightness {lo:.0f}..{hi:.0f})"
        )
    t = threshold if threshold is not None else lo + max(6.0, 0.08 * (hi - lo))
    region = brightness > t
    labels, n = ndimage.label(region)
    if n == 0:
        raise FieldOfViewError(f"no field of view found: nothing brighter than {t:.0f}")
    sizes = np.bincount(labels.ravel(), minlength=n + 1)[1:]  # pixels per region
    region = fill_holes(labels == (int(np.argmax(sizes)) + 1))
    if region.mean() < 0.02:
        raise FieldOfViewError("no field of view found: the bright region is too small")

    fit = _fit_circle_rows(region)
    if fit is None:
        widths = region.sum(axis=1)
        widest = int(np.argmax(widths))
        cols = np.flatnonzero(region[widest])
        fit = ((cols[0] + cols[-1]) / 2.0, float(widest), widths[widest] / 2.0)
    scx, scy, sr = fit
    # Pixel centres: small pixel i covers full-resolution [i/f, (i+1)/f).
    cx = (scx + 0.5) / fx - 0.5
    cy = (scy + 0.5) / fy - 0.5
    radius = sr / np.sqrt(fx * fy)
    mask = _full_resolution_mask(image, region, t) & _circle((h, w), cx, cy, radius + 1.0)
    return FieldOfView(float(cx), float(cy), float(radius), mask)


def _full_resolution_mask(image: np.ndarray, region: np.ndarray, threshold: float) -> np.ndarray:
    """The working-size region at full resolution, its edge redrawn from full-size pixels.

    Well inside the region (eroded by three working pixels, more than the smoothing spreads
    it) everything counts, so dark vessels make no holes; in the band around its edge, a pixel
    counts if its lightly smoothed brightness passes the threshold, so the edge is neither
    blocky nor a few pixels too wide.
    """
    h, w = image.shape[:2]
    if region.shape == (h, w):
        return region.copy()

    def up(m: np.ndarray) -> np.ndarray:
        return cv2.resize(m.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST_EXACT) > 0

    inner = up(ndimage.binary_erosion(region, iterations=3))
    outer = up(ndimage.binary_dilation(region, iterations=3))
    band = outer & ~inner
    brightness = cv2.GaussianBlur(_brightness(image), (0, 0), 1.0)  # uint8: fast at 12 MP
    return inner | (band & (brightness > threshold))


# --------------------------------------------------------------------------- geometry


def crop_to_eye(
    image: np.ndarray,
    masks: Mapping[str, np.ndarray] | None = None,
    *,
    margin: float = 1.0,
    fov: FieldOfView | None = None,
) -> tuple[np.ndarray, Masks | None]:
    """Crop a square of side ``2 * radius * margin`` centred on the eye.

    Parts of the square outside the photograph (a field of view cut at the top and bottom)
    are padded with black in the image and False in the masks, so the eye is centred and round.
    """
    _check(image, masks)
    fov = fov or find_field_of_view(image)
    side = max(1, int(round(2 * fov.radius * margin)))
    x0 = int(round(fov.cx + 0.5 - side / 2.0))
    y0 = int(round(fov.cy + 0.5 - side / 2.0))
    out = _crop_pad(image, y0, x0, side, 0)
    out_masks = None
    if masks is not None:
        out_masks = {k: _crop_pad(m.astype(bool), y0, x0, side, False) for k, m in masks.items()}
    return out, out_masks


def resize(
    image: np.ndarray,
    masks: Mapping[str, np.ndarray] | None = None,
    size: int | tuple[int, int] = 512,
    *,
    mask_rule: MaskRule = "nearest",
) -> tuple[np.ndarray, Masks | None]:
    """Plain resize to ``size`` x ``size`` (or (h, w)), whatever the aspect ratio.

    Images: area interpolation when shrinking, bilinear when enlarging. Masks: nearest
    neighbour (pixel-centre aligned), or ``mask_rule="any"`` (a pixel is set if any source pixel
    under it is).
    """
    _check(image, masks)
    hw = _size_hw(size)
    out = _resize_image(image, hw)
    out_masks = None
    if masks is not None:
        out_masks = {k: _resize_mask(m, hw, mask_rule) for k, m in masks.items()}
    return out, out_masks


def scale_to_radius(
    image: np.ndarray,
    masks: Mapping[str, np.ndarray] | None = None,
    *,
    radius: float = 256,
    margin: float = 1.0,
    fov: FieldOfView | None = None,
    mask_rule: MaskRule = "nearest",
) -> tuple[np.ndarray, Masks | None]:
    """Centre the eye and rescale it to ``radius`` pixels, in a square of ``2*radius*margin``.

    ``margin > 1`` leaves a black border around the eye, ``margin < 1`` cuts into it.
    """
    _check(image, masks)
    fov = fov or find_field_of_view(image)
    side = max(1, int(round(2 * radius * margin)))
    cropped, cropped_masks = crop_to_eye(image, masks, margin=margin, fov=fov)
    return resize(cropped, cropped_masks, side, mask_rule=mask_rule)


# --------------------------------------------------------------------------- photometric


def subtract_local_average(
    image: np.ndarray,
    masks: Mapping[str, np.ndarray] | None = None,
    *,
    sigma_fraction: float = GRAHAM_SIGMA_FRACTION,
    radius: float | None = None,
) -> tuple[np.ndarray, Masks | None]:
    """Graham's local-average subtraction: ``4*img - 4*GaussianBlur(img, sigma) + 128``.

    ``sigma = sigma_fraction * radius``; ``radius`` is the eye radius in pixels, by default half
    the shorter side (right after :func:`scale_to_radius` with margin 1). Masks pass unchanged.
    """
    _check(image, masks)
    radius = radius if radius is not None else min(image.shape[:2]) / 2.0
    sigma = max(sigma_fraction * radius, 0.5)
    img = image.astype(np.float32)
    blurred = cv2.GaussianBlur(img, (0, 0), sigma)
    out = np.clip(np.rint(4.0 * img - 4.0 * blurred + GREY), 0, 255).astype(np.uint8)
    return out, (dict(masks) if masks is not None else None)


def clip_rim(
    image: np.ndarray,
    masks: Mapping[str, np.ndarray] | None = None,
    *,
    fraction: float = GRAHAM_RIM_FRACTION,
    radius: float | None = None,
    center: tuple[float, float] | None = None,
    fill: int = GREY,
) -> tuple[np.ndarray, Masks | None]:
    """Set everything outside ``fraction * radius`` of the centre to grey ``fill`` (Graham: 128).

    The rim of a fundus photograph is dark, blurred and, after local-average subtraction, a
    bright ring: noise that a network would otherwise learn. Masks are cleared outside the
    circle too, since the image no longer shows anything there.

    Args:
        radius: eye radius in pixels; default half the shorter side.
        center: (cx, cy); default the image centre.
    """
    _check(image, masks)
    h, w = image.shape[:2]
    radius = radius if radius is not None else min(h, w) / 2.0
    cx, cy = center if center is not None else ((w - 1) / 2.0, (h - 1) / 2.0)
    inside = _circle((h, w), cx, cy, fraction * radius)
    out = image.copy()
    out[~inside] = fill
    out_masks = None
    if masks is not None:
        out_masks = {k: m.astype(bool) & inside for k, m in masks.items()}
    return out, out_masks


# --------------------------------------------------------------------------- recipes


_FOV_KEY = "\x00fov"  # carries the field-of-view mask through the geometric steps


def graham_preprocess(
    image: np.ndarray,
    masks: Mapping[str, np.ndarray] | None = None,
    size: int = 512,
    *,
    sigma_fraction: float = GRAHAM_SIGMA_FRACTION,
    rim_fraction: float = GRAHAM_RIM_FRACTION,
    fov: FieldOfView | None = None,
    mask_rule: MaskRule = "nearest",
) -> tuple[np.ndarray, Masks | None]:
    """Graham's preprocessing to a ``size`` x ``size`` image with the eye of radius ``size/2``.

    Steps: :func:`find_field_of_view`, :func:`scale_to_radius` (radius ``size/2``, margin 1),
    :func:`subtract_local_average` (sigma = radius/30), :func:`clip_rim` (90% of the radius),
    and grey 128 wherever the photograph had no field of view (a circle cut at top and bottom).
    Inside the field of view the result has a mean near 128.
    """
    fov = fov or find_field_of_view(image)
    extended = dict(masks or {})
    extended[_FOV_KEY] = fov.mask
    out, out_masks = scale_to_radius(
        image, extended, radius=size / 2.0, margin=1.0, fov=fov, mask_rule=mask_rule
    )
    out, _ = subtract_local_average(out, sigma_fraction=sigma_fraction, radius=size / 2.0)
    fov_mask = out_masks.pop(_FOV_KEY)
    out, out_masks = clip_rim(out, out_masks, fraction=rim_fraction, radius=size / 2.0)
    out[~fov_mask] = GREY
    return out, (out_masks if masks is not None else None)


def plain_preprocess(
    image: np.ndarray,
    masks: Mapping[str, np.ndarray] | None = None,
    size: int = 512,
    *,
    margin: float = 1.0,
    fov: FieldOfView | None = None,
    mask_rule: MaskRule = "nearest",
) -> tuple[np.ndarray, Masks | None]:
    """Centre the eye in a square and resize to ``size`` x ``size``; colours untouched."""
    return scale_to_radius(
        image, masks, radius=size / (2.0 * margin), margin=margin, fov=fov, mask_rule=mask_rule
    )


PREPROCESSORS = {"plain": plain_preprocess, "graham": graham_preprocess}
"""Named recipes, as accepted by :class:`drlib.data.pipeline.FundusSequence`."""
