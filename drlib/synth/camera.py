"""The camera: exposure, colour cast, gamma, defocus blur, sensor noise and JPEG compression.

Fundus cameras and operators differ; EyePACS photographs vary in brightness, colour balance and
focus more than in anything clinical. The generator draws one set of camera settings per photograph.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from drlib.synth.noise_fields import periodic_field, random_window


@dataclass(frozen=True)
class CameraSettings:
    exposure: float = 1.0
    colour_cast: tuple[float, float, float] = (1.0, 1.0, 1.0)
    gamma: float = 1.0
    blur_sigma: float = 0.0  # in units of the field-of-view radius
    noise_sigma: float = 0.0  # in grey levels (0..255)
    jpeg_quality: int = 95

    def to_dict(self) -> dict:
        return asdict(self)


def sample_camera(rng: np.random.Generator, variation: float = 1.0) -> CameraSettings:
    """Camera settings for one photograph; ``variation`` 0 gives an ideal camera."""
    v = variation
    blur = rng.uniform(0.0, 0.004) * v if rng.random() < 0.3 else 0.0
    return CameraSettings(
        exposure=float(np.exp(rng.normal(0, 0.15 * v))),
        colour_cast=tuple(float(np.exp(c)) for c in rng.normal(0, 0.06 * v, size=3)),
        gamma=float(np.exp(rng.normal(0, 0.1 * v))),
        blur_sigma=float(blur),
        noise_sigma=float(rng.uniform(0.5, 3.0) * v),
        jpeg_quality=int(rng.integers(75, 96)) if v > 0 else 95,
    )


def apply_camera(image: np.ndarray, fov: np.ndarray, settings: CameraSettings, fov_radius: float,
                 rng: np.random.Generator) -> np.ndarray:
    """Float RGB image in [0, 255] -> uint8 photograph as the camera would have saved it.

    ``image`` is modified in place (it is the generator's scratch buffer).
    """
    size = image.shape[0]
    gain = np.float32(settings.exposure) * np.asarray(settings.colour_cast, np.float32)
    image *= gain
    if settings.noise_sigma > 0:  # sensor noise: a window of a fixed field, no new random numbers
        noise = random_window(periodic_field(size + size // 4, 0.0, 3), rng, size)
        image += (np.float32(settings.noise_sigma) * noise)[..., None]
    out = cv2.convertScaleAbs(image)  # saturating float -> uint8 (values are non-negative)
    if settings.gamma != 1.0:
        lut = np.clip(255.0 * (np.arange(256) / 255.0) ** settings.gamma + 0.5, 0, 255)
        out = cv2.LUT(out, lut.astype(np.uint8))
    if settings.blur_sigma > 0:
        out = cv2.GaussianBlur(out, (0, 0), settings.blur_sigma * fov_radius)
    out = cv2.bitwise_and(out, out, mask=fov.view(np.uint8))
    if settings.jpeg_quality < 100:
        bgr = cv2.cvtColor(out, cv2.COLOR_RGB2BGR)
        ok, buf = cv2.imencode(".jpg", bgr, [cv2.IMWRITE_JPEG_QUALITY, settings.jpeg_quality])
        out = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return out
