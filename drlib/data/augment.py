"""Seeded data augmentation for fundus photographs that moves masks together with the image.

A fundus photograph has no preferred orientation for grading (left and right eyes are mirror
images, cameras are rotated), so flips and rotations by any angle are label-preserving; small
scale changes mimic different fields of view, and brightness/contrast/colour-gamma changes
mimic different cameras and exposures. Geometric changes are applied to the masks with the
same matrix (nearest neighbour, so masks stay bool), photometric changes to the image only.

Randomness is reproducible: the draw for a sample depends only on the augmenter's seed and a
key. :meth:`Augmenter.apply` uses a call counter as the key by default; the input pipeline
passes ``key=(epoch, sample_index)`` so the result does not depend on which worker thread or
process handles a sample.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import cv2
import numpy as np

Masks = dict[str, np.ndarray]


@dataclass(frozen=True)
class AugmentParams:
    """One draw of augmentation parameters (useful for figures and tests)."""

    flip_h: bool
    flip_v: bool
    angle: float  # degrees, counter-clockwise as displayed
    scale: float
    brightness: float  # added, as a fraction of 255
    contrast: float  # multiplied
    gamma: tuple[float, float, float]  # per-channel exponents (colour gamma)


class Augmenter:
    """Random flips, rotation, scale jitter (image and masks) and photometric jitter (image).

    Args:
        seed: base seed; the same seed and key always give the same result.
        flip_h, flip_v: allow horizontal / vertical flips (each with probability 1/2).
        max_angle: rotation angle drawn uniformly from [-max_angle, max_angle] degrees,
            about the image centre.
        scale_range: zoom factor drawn uniformly from this range (1.0 = none).
        brightness: brightness shift drawn from [-b, b] (fraction of 255).
        contrast: contrast factor drawn from [1-c, 1+c].
        colour_gamma: per-channel gamma exp(u), u from [-g, g]: shifts the colour balance.
        fill: value for pixels rotated in from outside; ``None``: the median of the image's four
            corner pixels (black for a raw photograph, 128 after Graham preprocessing).
    """

    def __init__(
        self,
        seed: int = 0,
        *,
        flip_h: bool = True,
        flip_v: bool = True,
        max_angle: float = 180.0,
        scale_range: tuple[float, float] = (0.95, 1.05),
        brightness: float = 0.1,
        contrast: float = 0.1,
        colour_gamma: float = 0.1,
        fill: int | Sequence[int] | None = None,
    ) -> None:
        self.seed = int(seed)
        self.flip_h = flip_h
        self.flip_v = flip_v
        self.max_angle = float(max_angle)
        self.scale_range = (float(scale_range[0]), float(scale_range[1]))
        self.brightness = float(brightness)
        self.contrast = float(contrast)
        self.colour_gamma = float(colour_gamma)
        self.fill = fill
        self._calls = 0

    def __repr__(self) -> str:
        return (
            f"Augmenter(seed={self.seed}, flip_h={self.flip_h}, flip_v={self.flip_v}, "
            f"max_angle={self.max_angle}, scale_range={self.scale_range}, "
            f"brightness={self.brightness}, contrast={self.contrast}, "
            f"colour_gamma={self.colour_gamma}, fill={self.fill})"
        )

    def params(self, key: int | Sequence[int]) -> AugmentParams:
        """The parameters drawn for ``key`` (an int or a tuple of ints)."""
        key_list = [int(k) for k in (key if isinstance(key, Sequence) else [key])]
        rng = np.random.default_rng([self.seed, *key_list])
        u = rng.random(10)
        lo, hi = self.scale_range
        return AugmentParams(
            flip_h=bool(self.flip_h and u[0] < 0.5),
            flip_v=bool(self.flip_v and u[1] < 0.5),
            angle=float((2 * u[2] - 1) * self.max_angle),
            scale=float(lo + (hi - lo) * u[3]),
            brightness=float((2 * u[4] - 1) * self.brightness),
            contrast=float(1 + (2 * u[5] - 1) * self.contrast),
            gamma=tuple(float(np.exp((2 * v - 1) * self.colour_gamma)) for v in u[6:9]),
        )

    def apply(
        self,
        image: np.ndarray,
        masks: Mapping[str, np.ndarray] | None = None,
        *,
        key: int | Sequence[int] | None = None,
    ) -> tuple[np.ndarray, Masks | None]:
        """Augment ``image`` (uint8 RGB) and its ``masks`` (bool) with the draw for ``key``.

        Without ``key`` the n-th call of this augmenter uses key n.
        """
        if key is None:
            key = self._calls
            self._calls += 1
        p = self.params(key)
        h, w = image.shape[:2]
        for name, mask in (masks or {}).items():
            if mask.shape != (h, w):
                raise ValueError(f"mask {name!r} has shape {mask.shape}, image has {(h, w)}")
        matrix = geometric_matrix(p, (h, w))
        fill = self.fill if self.fill is not None else _corner_fill(image)
        fill_tuple = tuple(int(v) for v in np.broadcast_to(np.asarray(fill), (3,)))
        out = cv2.warpAffine(
            image, matrix, (w, h), flags=cv2.INTER_LINEAR,
            borderMode=cv2.BORDER_CONSTANT, borderValue=fill_tuple,
        )
        out = photometric(out, p)
        out_masks = None
        if masks is not None:
            out_masks = {
                name: cv2.warpAffine(
                    mask.astype(np.uint8), matrix, (w, h), flags=cv2.INTER_NEAREST,
                    borderMode=cv2.BORDER_CONSTANT, borderValue=0,
                ).astype(bool)
                for name, mask in masks.items()
            }
        return out, out_masks

    __call__ = apply


def geometric_matrix(p: AugmentParams, hw: tuple[int, int]) -> np.ndarray:
    """2x3 affine matrix (output <- input pixel coordinates) of flips, rotation and scale.

    All three act about the image centre ((w-1)/2, (h-1)/2), so a pure flip maps pixels
    exactly onto pixels.
    """
    h, w = hw
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    flip = np.diag([-1.0 if p.flip_h else 1.0, -1.0 if p.flip_v else 1.0])
    theta = np.deg2rad(p.angle)
    # Image rows grow downwards: this rotates counter-clockwise as displayed.
    rot = np.array([[np.cos(theta), np.sin(theta)], [-np.sin(theta), np.cos(theta)]])
    linear = p.scale * rot @ flip
    centre = np.array([cx, cy])
    offset = centre - linear @ centre
    return np.hstack([linear, offset[:, None]]).astype(np.float64)


def photometric(image: np.ndarray, p: AugmentParams) -> np.ndarray:
    """Per-channel gamma, then contrast (multiply) and brightness (add); uint8 in and out."""
    x = image.astype(np.float32) / 255.0
    x = np.power(x, np.asarray(p.gamma, dtype=np.float32))
    x = x * p.contrast + p.brightness
    return np.clip(np.rint(x * 255.0), 0, 255).astype(np.uint8)


def _corner_fill(image: np.ndarray) -> np.ndarray:
    corners = image[[0, 0, -1, -1], [0, -1, 0, -1]]
    return np.median(corners, axis=0).astype(np.uint8)
