"""APTOS 2019 blindness detection: ``train.csv`` (id_code, diagnosis) + ``train_images/``."""

from __future__ import annotations

from pathlib import Path

from drlib.data.loaders.csv_layout import (
    Loaded,
    read_csv_layout,
    should_validate,
    validate_records,
)


def load_aptos(
    root: str | Path | None = None,
    strict: bool = True,
    *,
    csv_path: str | Path | None = None,
    images_dir: str | Path | None = None,
    extensions: tuple[str, ...] = (".png", ".jpg", ".jpeg"),
    validate_images: bool | None = None,
    allow_unlisted: bool = False,
) -> Loaded:
    """Load the APTOS 2019 layout: ``train.csv`` (id_code,diagnosis) + ``train_images/``.

    Arguments as :func:`~drlib.data.loaders.eyepacs.load_eyepacs`. APTOS ids (``000c1434d8d7``)
    do not say which photographs share a patient: each is its own patient.
    """
    if root is None and (csv_path is None or images_dir is None):
        raise TypeError("give root, or both csv_path and images_dir")
    root = Path(root) if root is not None else None
    layout = read_csv_layout(
        csv_path=Path(csv_path) if csv_path else root / "train.csv",
        images_dir=Path(images_dir) if images_dir else root / "train_images",
        id_column="id_code", grade_column="diagnosis", extensions=extensions, source="aptos",
        strict=strict, allow_unlisted=allow_unlisted,
    )
    records = layout.records
    if should_validate(validate_images, len(records)):
        records = validate_records(records, layout.report, strict)
    return records, layout.report
