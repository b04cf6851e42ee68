"""Reading fundus photographs and masks from disk, refusing files that are not usable photographs.

A screening data set of tens of thousands of JPEGs always holds a few bad files: truncated
downloads, a text file with a ``.jpeg`` name, a grey or black frame from a failed capture.
:func:`read_fundus` decodes the whole file (so a truncated file fails here, not in the middle of
training) and checks that the result looks like a colour fundus photograph. A problem raises
:class:`FundusImageError`, whose message names the file and the problem.

PIL's ``ImageFile.LOAD_TRUNCATED_IMAGES`` must stay ``False`` (its default): with it set, PIL
pads a truncated file with grey and reports no error. :func:`read_fundus` refuses to run when it
has been switched on. JPEG files are also checked for their end-of-image marker, because libjpeg
decodes a file whose tail was overwritten (with zeros, say) without raising.
"""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageFile, UnidentifiedImageError

from drlib.data.records import DatasetError

IMAGE_EXTENSIONS: tuple[str, ...] = (".jpeg", ".jpg", ".png", ".tif", ".tiff", ".bmp")
"""File extensions searched for photographs, in order of preference."""

GREY_TOLERANCE = 2.0
"""Mean |R-G| + |G-B| (grey levels) below which a photograph counts as grey; JPEG chroma noise
on a grey picture is about 0-1, a real fundus photograph is tens (red >> green > blue)."""

FOV_BRIGHTNESS = 20
"""Brightness (max over channels) above which a pixel may belong to the field of view."""

MIN_FOV_FRACTION = 0.02
"""Fraction of pixels that must be brighter than :data:`FOV_BRIGHTNESS` for a field of view."""

MIN_CONTRAST = 3.0
"""Standard deviation of brightness below which an image is "nearly uniform"."""

_ALPHA_MODES = {"RGBA", "RGBa", "PA"}

_GREY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F", "P;L"}


class FundusImageError(DatasetError):
    """A photograph cannot be used; the message names the file and the problem."""

    def __init__(self, path: str | Path, problem: str) -> None:
        self.path = Path(path)
        super().__init__(path, problem)


def _check_truncation_flag() -> None:
    if ImageFile.LOAD_TRUNCATED_IMAGES:
        raise RuntimeError(
            "PIL.ImageFile.LOAD_TRUNCATED_IMAGES is True: truncated photographs would be padded "
            "with grey instead of rejected; set it back to False before reading fundus images"
        )


def _jpeg_has_end_marker(data: bytes) -> bool:
    """Whether a JPEG stream has an end-of-image marker after its last start-of-scan marker.

    Inside entropy-coded data every 0xFF byte is stuffed (0xFF00), so 0xFFD9 after the last
    0xFFDA can only be the real end marker; an EXIF thumbnail's end marker comes before the
    main image's scans and does not count.
    """
    last_scan = data.rfind(b"\xff\xda")
    return last_scan >= 0 and data.rfind(b"\xff\xd9") > last_scan


def _decode(path: Path, min_size: int | None = None) -> Image.Image:
    """Open and fully decode ``path``; raise FundusImageError on any failure.

    ``min_size``: a JPEG is decoded at the smallest of 1/1, 1/2, 1/4, 1/8 of its size whose
    both sides are still at least ``min_size`` pixels (PIL's ``draft``: the reduction happens in
    the JPEG decoder, several times faster than decoding in full and shrinking afterwards).
    Other formats are decoded in full."""
    _check_truncation_flag()
    if not path.exists():
        raise FundusImageError(path, "file not found")
    if not path.is_file():
        raise FundusImageError(path, "not a file")
    data = path.read_bytes()
    if not data:
        raise FundusImageError(path, "empty file (0 bytes)")
    try:
        img = Image.open(io.BytesIO(data))
        if min_size is not None and img.format == "JPEG":
            img.draft(img.mode, (int(min_size), int(min_size)))
        img.load()
    except UnidentifiedImageError:
        raise FundusImageError(path, "not an image file (PIL cannot identify it)") from None
    except Image.DecompressionBombError as err:
        raise FundusImageError(path, f"image too large to decode safely: {err} Raise "
                                     "PIL.Image.MAX_IMAGE_PIXELS to read it.") from None
    except (OSError, SyntaxError, ValueError) as err:
        text = str(err)
        if "truncated" in text.lower():
            raise FundusImageError(path, f"truncated image file ({text})") from None
        raise FundusImageError(path, f"corrupt image file ({text})") from None
    if img.format == "JPEG" and not _jpeg_has_end_marker(data):
        raise FundusImageError(path, "truncated or corrupt JPEG (no end-of-image marker)")
    return img


def check_fundus(image: np.ndarray, path: str | Path = "<array>") -> None:
    """Raise FundusImageError unless ``image`` looks like a colour fundus photograph.

    Checks: uint8 (H, W, 3); not grey (R, G and B nearly equal everywhere); not all black or
    nearly uniform (no field of view found).
    """
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise FundusImageError(
            path, f"expected a uint8 RGB image (H, W, 3), got {image.dtype} {image.shape}"
        )
    if min(image.shape[:2]) < 8:
        raise FundusImageError(path, f"image too small ({image.shape[1]}x{image.shape[0]} px)")
    # Subsample big photographs: the checks are statistics, 256k pixels are plenty.
    step = max(1, int(np.sqrt(image.shape[0] * image.shape[1] / 262144)))
    # channel planes with OpenCV (numpy reduces a last axis of 3 slowly); the same integers
    # as the int16 arithmetic they replace, so the same statistics
    red, green, blue = cv2.split(np.ascontiguousarray(image[::step, ::step]))
    brightness = cv2.max(cv2.max(red, green), blue)
    if float(brightness.std()) < MIN_CONTRAST:
        level = float(brightness.mean())
        what = "all black" if level < FOV_BRIGHTNESS else f"uniform (brightness {level:.0f})"
        raise FundusImageError(path, f"no field of view found: image is {what}")
    if float((brightness > FOV_BRIGHTNESS).mean()) < MIN_FOV_FRACTION:
        raise FundusImageError(path, "no field of view found: image is (nearly) all black")
    chroma = cv2.add(cv2.absdiff(red, green), cv2.absdiff(green, blue), dtype=cv2.CV_16U)
    if float(chroma.mean()) < GREY_TOLERANCE:
        raise FundusImageError(
            path, "not a colour fundus photograph: grey image (R, G and B are equal)"
        )


def read_fundus(
    path: str | Path, *, validate: bool = True, min_size: int | None = None
) -> np.ndarray:
    """Read a colour fundus photograph as a uint8 RGB array (H, W, 3).

    The file is decoded completely. How the less common kinds of file are handled, and why:

    * 16 bits per channel (48-bit PNG): PIL keeps the high byte of each channel, the 8-bit
      photograph a camera exports; converted.
    * Palette (``P``) and CMYK: converted to RGB, the palette's colours looked up pixel by pixel.
    * An alpha channel (``RGBA``, ``PA``, a palette with a transparent colour): composited onto
      black, the background of a fundus photograph. Alpha in a fundus image is a field-of-view
      mask; dropping it would bring back whatever colour lies under the transparent corners
      (often white), which the field-of-view search would take for part of the eye.
    * Grey (``L``, ``I;16``, ``LA``, 1-bit...): refused. A single-channel fundus image is a
      red-free or other monochrome capture, another modality than the colour photographs the
      grader learns from; copying the one channel into three would grade it as an eye with no
      red, not as the photograph it is.

    Args:
        path: image file (JPEG, PNG, TIFF, BMP...).
        validate: also run :func:`check_fundus` (grey, black, uniform images are refused).
        min_size: decode a JPEG at reduced size, keeping both sides at least this many pixels
            (``None``: full size). The training cache uses it: a 3,888 x 2,592 photograph cached
            at 224 px needs no more than a quarter of its pixels.

    Raises:
        FundusImageError: missing file, not an image, truncated or corrupt data, grey image,
            no field of view. The message names the file and the problem.
    """
    path = Path(path)
    img = _decode(path, min_size)
    if img.mode in _GREY_MODES:
        raise FundusImageError(
            path, f"not a colour fundus photograph: single-channel image (mode {img.mode})"
        )
    if img.mode in _ALPHA_MODES or (img.mode == "P" and "transparency" in img.info):
        try:
            rgba = img.convert("RGBA")
        except (OSError, ValueError) as err:
            raise FundusImageError(path, f"cannot convert mode {img.mode} to RGB ({err})") from None
        img = Image.alpha_composite(Image.new("RGBA", rgba.size, (0, 0, 0, 255)), rgba)
    if img.mode != "RGB":
        try:
            img = img.convert("RGB")
        except (OSError, ValueError) as err:
            raise FundusImageError(path, f"cannot convert mode {img.mode} to RGB ({err})") from None
    image = np.asarray(img, dtype=np.uint8)
    if validate:
        check_fundus(image, path)
    return image


def read_mask(path: str | Path, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Read a binary mask image (any mode) as a bool array: a pixel is set if any channel is > 0.

    Args:
        path: mask file (IDRiD ships ``.tif`` masks; some are RGB with the lesion in red).
        shape: expected (H, W); a mismatch raises, because a mask that does not cover its
            photograph pixel for pixel is useless.

    Raises:
        FundusImageError: unreadable file or wrong shape.
    """
    path = Path(path)
    img = _decode(path)
    if img.mode == "P":
        img = img.convert("RGB")
    arr = np.asarray(img)
    if arr.ndim == 3:
        arr = arr[..., :3].max(axis=2)
    mask = arr > 0
    if shape is not None and mask.shape != tuple(shape):
        raise FundusImageError(
            path,
            f"mask is {mask.shape[1]}x{mask.shape[0]} px but its photograph is "
            f"{shape[1]}x{shape[0]} px",
        )
    return mask


def image_size(path: str | Path) -> tuple[int, int]:
    """(height, width) of an image file from its header, without decoding the pixels."""
    path = Path(path)
    try:
        with Image.open(path) as img:
            return img.size[1], img.size[0]
    except FileNotFoundError:
        raise FundusImageError(path, "file not found") from None
    except (OSError, UnidentifiedImageError) as err:
        raise FundusImageError(path, f"not a readable image file ({err})") from None
