"""EyePACS / Kaggle 2015: ``trainLabels.csv`` (image, level) + ``train/<image>.jpeg``."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from drlib.data.loaders.csv_layout import (
    CsvLayout,
    Loaded,
    RecordCheck,
    read_csv_layout,
    should_validate,
    validate_records,
)
from drlib.data.patients import parse_eye_id

EYEPACS_EXTENSIONS = (".jpeg", ".jpg", ".png")
"""Photograph extensions searched, in order of preference."""


def eyepacs_extra(image_id: str, row: Mapping[str, str]) -> dict[str, Any]:
    """Kaggle ids are ``<patient>_<left|right>``: keep patient and eye (patient-level splits,
    :mod:`drlib.data.patients`). Other ids add nothing."""
    parsed = parse_eye_id(image_id)
    if parsed is None:
        return {}
    patient, eye = parsed
    return {"patient": patient, "eye": eye}


def load_eyepacs(
    root: str | Path | None = None,
    strict: bool = True,
    *,
    csv_path: str | Path | None = None,
    images_dir: str | Path | None = None,
    extensions: tuple[str, ...] = EYEPACS_EXTENSIONS,
    validate_images: bool | None = None,
    allow_unlisted: bool = False,
) -> Loaded:
    """Load the Kaggle/EyePACS 2015 layout: ``trainLabels.csv`` (image,level) + ``train/``.

    Args:
        root: folder holding ``trainLabels.csv`` and ``train/``.
        strict: raise on the first problem (True) or skip and report (False).
        csv_path, images_dir: explicit CSV and image folder (e.g. the Kaggle test set,
            ``retinopathy_solution.csv`` + ``test/``); override the defaults under ``root``.
        extensions: image extensions searched, in order of preference.
        validate_images: decode every photograph now; ``None``: only for sets of at most
            :data:`~drlib.data.loaders.csv_layout.AUTO_VALIDATE_LIMIT` rows.
        allow_unlisted: photographs without a CSV row are listed in ``report.unlisted``
            instead of being problems (for a CSV that names a subset of a folder).

    Records carry ``extra["patient"]`` and ``extra["eye"]`` parsed from ids like ``10_left``
    (:func:`drlib.data.patients.parse_eye_id`).
    """
    return load_eyepacs_like(
        root, strict, csv_path=csv_path, images_dir=images_dir, extensions=extensions,
        validate_images=validate_images, allow_unlisted=allow_unlisted, source="eyepacs",
    )


def load_eyepacs_like(
    root: str | Path | None,
    strict: bool,
    *,
    csv_path: str | Path | None,
    images_dir: str | Path | None,
    extensions: tuple[str, ...],
    validate_images: bool | None,
    allow_unlisted: bool,
    source: str,
    check: RecordCheck | None = None,
    prepare: Callable[[CsvLayout], None] | None = None,
) -> Loaded:
    """The EyePACS layout read as ``source``: :func:`load_eyepacs`, and the synthetic cache,
    whose ``prepare`` adds masks and inventory to the layout before the photographs are
    decoded (with ``check`` run on each)."""
    if root is None and (csv_path is None or images_dir is None):
        raise TypeError("give root, or both csv_path and images_dir")
    root = Path(root) if root is not None else None
    layout = read_csv_layout(
        csv_path=Path(csv_path) if csv_path else root / "trainLabels.csv",
        images_dir=Path(images_dir) if images_dir else root / "train",
        id_column="image", grade_column="level", extensions=extensions, source=source,
        strict=strict, allow_unlisted=allow_unlisted, extra_from_row=eyepacs_extra,
    )
    if prepare is not None:
        prepare(layout)
    records = layout.records
    if should_validate(validate_images, len(records)):
        records = validate_records(records, layout.report, strict, check)
    return records, layout.report
