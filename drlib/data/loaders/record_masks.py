"""Masks of any loaded record, whichever storage its data set uses, and the deferred image check.

Synthetic records point to one ``.npz`` file (``record.masks_path``), IDRiD records to one file
per lesion type (``record.mask_paths``); :func:`load_record_masks` reads either, and
:func:`check_images` decodes photographs (and checks their masks) of records loaded without
``validate_images``.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from drlib.data.loaders.csv_layout import Loaded, validate_records
from drlib.data.loaders.idrid import check_idrid_masks, load_idrid_masks
from drlib.data.loaders.synthetic import check_synthetic_masks
from drlib.data.masks import load_masks
from drlib.data.records import DatasetError, FundusRecord, LoadReport


def load_record_masks(record: FundusRecord) -> dict[str, np.ndarray]:
    """The masks of any record, aligned with its photograph: bool (H, W) arrays by name.

    Synthetic records read their ``.npz`` (:func:`drlib.data.masks.load_masks`, every mask
    name), IDRiD records their per-lesion files
    (:func:`~drlib.data.loaders.idrid.load_idrid_masks`). A record without masks raises
    DatasetError.
    """
    if record.masks_path is not None:
        try:
            return load_masks(record.masks_path)[0]
        except ValueError as err:
            raise DatasetError(record.masks_path, f"unreadable mask file ({err})") from None
    if record.mask_paths:
        return load_idrid_masks(record)
    raise DatasetError(record.image_path, f"no masks for image {record.image_id!r}")


def check_record_masks(record: FundusRecord, image: np.ndarray) -> None:
    """Check the masks of ``record`` (either storage form, if it has any) cover ``image``."""
    if record.masks_path is not None:
        check_synthetic_masks(record, image)
    elif record.mask_paths:
        check_idrid_masks(record, image)


def check_images(
    records: Iterable[FundusRecord], strict: bool = True, *, threads: int | None = None
) -> Loaded:
    """Decode every photograph of ``records`` now, and check its masks cover it.

    What ``validate_images=True`` does inside the loaders, for sets loaded without it (a big
    EyePACS folder): run it once before a long training run rather than meet a truncated file
    in epoch 3. Returns the good records and a report; strict mode raises on the first problem.
    """
    records = list(records)
    report = LoadReport(source=f"image check of {len(records)} records")
    return validate_records(records, report, strict, check_record_masks, threads), report
