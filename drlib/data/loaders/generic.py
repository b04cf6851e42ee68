"""Any folder of photographs described by one CSV file, with configurable column names."""

from __future__ import annotations

from pathlib import Path

from drlib.data.image_io import IMAGE_EXTENSIONS
from drlib.data.loaders.csv_layout import (
    Loaded,
    read_csv_layout,
    should_validate,
    validate_records,
)
from drlib.data.records import DatasetError


def load_generic(
    root: str | Path,
    strict: bool = True,
    *,
    csv_path: str | Path | None = None,
    images_dir: str | Path | None = None,
    id_column: str = "image",
    grade_column: str | None = "level",
    extensions: tuple[str, ...] = IMAGE_EXTENSIONS,
    source: str = "generic",
    validate_images: bool | None = None,
    allow_unlisted: bool = False,
) -> Loaded:
    """Load any folder of photographs described by a CSV file.

    Args:
        root: folder of the data set.
        csv_path: the CSV file; default: the only ``*.csv`` file in ``root``.
        images_dir: folder of photographs; default ``root``.
        id_column: column with the image id (file name, with or without extension).
        grade_column: column with the grade 0..4, or ``None`` for an ungraded set
            (records get ``grade=None``).
        extensions: extensions searched when an id has none, in order of preference.
        source: name stored in each record's ``source``.
        strict, validate_images, allow_unlisted: as in
            :func:`~drlib.data.loaders.eyepacs.load_eyepacs`.
    """
    root = Path(root)
    if csv_path is None:
        if not root.is_dir():
            raise DatasetError(root, "data set folder not found")
        found = sorted(root.glob("*.csv"))
        if len(found) != 1:
            raise DatasetError(
                root,
                f"expected exactly one CSV file to describe the photographs, found "
                f"{[p.name for p in found]}; pass csv_path",
            )
        csv_path = found[0]
    layout = read_csv_layout(
        csv_path=Path(csv_path), images_dir=Path(images_dir) if images_dir else root,
        id_column=id_column, grade_column=grade_column, extensions=tuple(extensions),
        source=source, strict=strict, allow_unlisted=allow_unlisted,
    )
    records = layout.records
    if should_validate(validate_images, len(records)):
        records = validate_records(records, layout.report, strict)
    return records, layout.report
