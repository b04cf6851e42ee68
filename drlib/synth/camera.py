"""The camera: exposure, colour cast, gamma, defocus blur, sensor noise and JPEG compression.

Fundus cameras and operators differ; EyePACS photographs vary in brightness, colour balance and
focus more than in anything clinical. The generator draws one set of camera settings per photograph.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

from drlib.synth.noise_fields import scaled_pixel_noise


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


def camera_lut(settings: CameraSettings) -> np.ndarray:
    """Exposure, colour cast and gamma as one per-channel lookup table, (1, 256, 3) uint8."""
    gain = settings.exposure * np.asarray(settings.colour_cast, np.float64)
    v = np.arange(256, dtype=np.float64)[:, None] * gain[None, :] / 255.0
    lut = 255.0 * np.clip(v, 0.0, 1.0) ** settings.gamma + 0.5
    return np.clip(lut, 0, 255).astype(np.uint8)[None]


def apply_camera(image: np.ndarray, fov: np.ndarray, settings: CameraSettings, fov_radius: float,
                 rng: np.random.Generator) -> tuple[np.ndarray, bytes | None]:
    """Float RGB image in [0, 255] -> (uint8 photograph, JPEG bytes) as the camera saved it.

    Sensor noise (new for every photograph) is added to the float image, which is then
    quantised once; exposure, colour cast and gamma are one lookup table (:func:`camera_lut`);
    defocus blurs; the field of view is cut out; and the photograph is JPEG-encoded once. The
    returned image is the decoded JPEG, so it equals what a reader of the file sees; the bytes
    are what a data set writes to disk (None when ``jpeg_quality`` is 100: no compression).
    ``image`` is modified in place (it is the generator's scratch buffer).
    """
    size = image.shape[0]
    if settings.noise_sigma > 0:
        # the same float32 add per pixel and channel as ``image += noise[..., None]``
        noise = scaled_pixel_noise(rng, size, settings.noise_sigma)
        # noise can push dark pixels below 0; convertScaleAbs would reflect them (|x|)
        if image.dtype == np.float32 and image.flags.c_contiguous:
            cv2.add(image, cv2.cvtColor(noise, cv2.COLOR_GRAY2RGB), dst=image)
            cv2.max(image, 0.0, dst=image)
        else:
            image += noise[..., None]
            np.maximum(image, np.float32(0.0), out=image)
    out = cv2.convertScaleAbs(image)  # rounding, saturating float -> uint8
    out = cv2.LUT(out, camera_lut(settings))
    if settings.blur_sigma > 0:
        out = cv2.GaussianBlur(out, (0, 0), settings.blur_sigma * fov_radius)
    out = cv2.bitwise_and(out, out, mask=fov.view(np.uint8))
    if settings.jpeg_quality >= 100:
        return out, None
    ok, buf = cv2.imencode(".jpg", cv2.cvtColor(out, cv2.COLOR_RGB2BGR),
                           [cv2.IMWRITE_JPEG_QUALITY, settings.jpeg_quality])
    if not ok:  # pragma: no cover - OpenCV encodes any uint8 image
        raise RuntimeError("JPEG encoding failed")
    if hasattr(cv2, "IMREAD_COLOR_RGB"):  # decoded straight to RGB: the same pixels
        decoded = cv2.imdecode(buf, cv2.IMREAD_COLOR_RGB)
    else:  # pragma: no cover - OpenCV before 4.10
        decoded = cv2.cvtColor(cv2.imdecode(buf, cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)
    return decoded, buf.tobytes()
