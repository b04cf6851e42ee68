"""Which photographs a screening run grades, and each one prepared as the model's training did.

:func:`collect_images` turns the command line's paths into a sorted list of image files: a file
is taken as given (whatever its name: if it is not an image, reading it says so), a folder is
searched recursively for the extensions of :data:`IMAGE_SUFFIXES`. Other files in a folder are not
photographs to grade, but they are not hidden either: they are listed as *ignored*. The run's own
outputs (its ``images/`` folder, ``results.csv``, ``summary.json``, ``report.html`` and their
half-written leftovers) are left out of a folder's search, so an output folder inside the input
folder changes nothing on the next run. A path that does not exist is neither a photograph nor
skipped: it is listed as *not found*.

:func:`prepare_image` reads one photograph with :func:`drlib.data.image_io.read_fundus` (the whole
file is decoded, so a truncated file fails here; grey, black and uniform images are refused) and
applies the model's preprocessing (``PREPROCESSORS[preprocess](image, masks, size=image_size)``,
as :class:`drlib.data.pipeline.FundusSequence` did in training), carrying the field-of-view mask
along for the overlays. Every failure is a :class:`~drlib.data.image_io.FundusImageError` naming
the file and the problem.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from drlib.data.image_io import IMAGE_EXTENSIONS, FundusImageError, read_fundus
from drlib.data.image_io import image_size as image_size_of
from drlib.data.preprocess import PREPROCESSORS, find_field_of_view
from drlib.data.records import SkippedItem
from drlib.runtime.atomic import PARTIAL_MARK, is_debris

IMAGE_SUFFIXES: tuple[str, ...] = tuple(IMAGE_EXTENSIONS)
"""Extensions (lower case) searched for in folders: JPEG, PNG, TIFF and BMP."""


@dataclass
class InputList:
    """What the command line's paths hold.

    Attributes:
        images: image files to grade, in order (each folder's files sorted by path).
        skipped: photographs that cannot be used, with the reason (empty here: the run adds
            those that fail).
        ignored: files inside the folders that are not images by their extension.
        not_found: paths given that do not exist (not counted as photographs).
        from_folder: whether any path was a folder (the progress bar is shown for folders).
    """

    images: list[Path] = field(default_factory=list)
    skipped: list[SkippedItem] = field(default_factory=list)
    ignored: list[SkippedItem] = field(default_factory=list)
    not_found: list[Path] = field(default_factory=list)
    from_folder: bool = False


def _excluded(path: Path, excluded: Sequence[Path]) -> bool:
    """Whether ``path`` is one of ``excluded`` (files), inside one of them (folders), or the
    half-written leftover of one (``.<name>.partial-*``, :mod:`drlib.runtime.atomic`)."""
    try:
        resolved = path.resolve()
    except OSError:
        return False
    for item in excluded:
        if resolved.is_relative_to(item):
            return True
        if resolved.parent == item.parent and is_debris(resolved) \
                and resolved.name.startswith(f".{item.name}{PARTIAL_MARK}"):
            return True
    return False


def collect_images(paths: Sequence[str | Path],
                   exclude: str | Path | Iterable[str | Path] | None = None) -> InputList:
    """The image files named by ``paths`` (files, or folders searched recursively).

    Args:
        paths: files and folders, in the order given. Each folder's files are sorted by path.
        exclude: files and folders never taken from a folder's search, nor listed as ignored
            (the run's own outputs: its ``images/`` folder and its CSV, JSON and HTML files, so
            that a second run over a folder holding the output folder neither grades the first
            run's overlays nor counts its tables as ignored files). A file named in ``paths``
            is taken all the same.

    A file reached twice (named, and inside a named folder) is graded once.
    """
    found = InputList()
    if exclude is None:
        exclude = ()
    elif isinstance(exclude, str | Path):
        exclude = (exclude,)
    excluded = [Path(item).resolve() for item in exclude]
    seen: set[Path] = set()

    def take(path: Path) -> None:
        key = path.resolve()
        if key not in seen:
            seen.add(key)
            found.images.append(path)

    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            found.from_folder = True
            files: Iterable[Path] = sorted(
                (p for p in path.rglob("*") if p.is_file()), key=lambda p: p.as_posix())
            for file in files:
                if _excluded(file, excluded):
                    continue
                if file.suffix.lower() in IMAGE_SUFFIXES:
                    take(file)
                else:
                    found.ignored.append(SkippedItem(
                        str(file), f"not an image file extension ({file.suffix or 'none'}; "
                        f"looked for {', '.join(IMAGE_SUFFIXES)})"))
        elif path.exists():
            take(path)
        else:
            found.not_found.append(path)
    return found


@dataclass(frozen=True)
class PreparedImage:
    """One photograph as the model sees it.

    Attributes:
        path: the file.
        image: uint8 (S, S, 3), the model's input (S = the manifest's image size).
        fov: bool (S, S), the field of view in that image.
        original_shape: (H, W) of the photograph on disk.
    """

    path: Path
    image: np.ndarray
    fov: np.ndarray
    original_shape: tuple[int, int]


DRAFT_FACTOR = 2
"""A JPEG is decoded at reduced size (PIL ``draft``: 1/2, 1/4 or 1/8, in the decoder) as long as
both its sides stay at least this many times the model's input size: an 8,000 x 6,000 photograph
graded at 224 px is decoded at 1,000 x 750 instead of 48 megapixels."""


def prepare_image(path: str | Path, image_size: int, preprocess: str = "plain") -> PreparedImage:
    """Read ``path`` and preprocess it as the model was trained (``preprocess``, ``image_size``).

    The preprocessing is ``PREPROCESSORS[preprocess]`` with the field of view that function would
    find itself (:func:`drlib.data.preprocess.find_field_of_view`), so the image is exactly the
    one training fed the network; the field-of-view mask goes through the same crop and resize.
    A JPEG much larger than the input is decoded at reduced size (:data:`DRAFT_FACTOR`);
    ``original_shape`` is the size of the file all the same.

    Raises:
        FundusImageError: the file is missing, not an image, truncated or corrupt, grey, black
            or uniform, or has no field of view; the message names the file and the problem.
        ValueError: ``preprocess`` is not a name of :data:`~drlib.data.preprocess.PREPROCESSORS`.
    """
    if preprocess not in PREPROCESSORS:
        raise ValueError(f"unknown preprocess {preprocess!r}; use one of {sorted(PREPROCESSORS)}")
    path = Path(path)
    photograph = read_fundus(path, min_size=DRAFT_FACTOR * int(image_size))
    try:
        fov = find_field_of_view(photograph)
        image, masks = PREPROCESSORS[preprocess](
            photograph, {"fov": fov.mask}, size=int(image_size), fov=fov)
    except ValueError as err:  # FieldOfViewError, and anything else the geometry refuses
        raise FundusImageError(path, f"cannot preprocess: {err}") from None
    expected = (int(image_size), int(image_size), 3)
    if image.shape != expected:
        raise FundusImageError(
            path, f"preprocessing gave shape {image.shape}, expected {expected}")
    mask = masks["fov"]
    if not mask.any():  # cannot happen for a found field of view; keep the maps drawable anyway
        mask = np.ones(image.shape[:2], dtype=bool)
    return PreparedImage(path=path, image=image, fov=mask, original_shape=image_size_of(path))
