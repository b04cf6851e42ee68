"""IDRiD (Indian Diabetic Retinopathy Image Dataset): graded photographs and lesion masks.

IDRiD comes in two parts, numbered independently: ``B. Disease Grading`` (516 graded
photographs, a CSV of grades) and ``A. Segmentation`` (81 photographs with one mask file per
lesion type). See :func:`load_idrid`.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np

from drlib.data.image_io import IMAGE_EXTENSIONS, image_size, read_mask
from drlib.data.loaders.csv_layout import (
    CsvLayout,
    Loaded,
    find_subdir,
    image_files,
    read_csv_layout,
    report_problem,
    should_validate,
    validate_records,
)
from drlib.data.records import DatasetError, FundusRecord, LoadReport

IDRID_MASK_CODES: dict[str, str] = {
    "MA": "microaneurysm",
    # IDRiD marks all haemorrhages (dot, blot and flame) as one class "HE"; the course's lesion
    # vocabulary separates them, and dot/blot is the closest single name. Read IDRiD
    # "dot_blot_haemorrhage" masks as "any haemorrhage".
    "HE": "dot_blot_haemorrhage",
    "EX": "hard_exudate",
    "SE": "cotton_wool_spot",  # IDRiD "soft exudates" are cotton wool spots
    "OD": "optic_disc",
}
"""IDRiD segmentation file suffix -> mask name of :mod:`drlib.core.lesion_types`."""

IDRID_EXTENSIONS = (".jpg", ".jpeg", ".png", ".tif")
"""Photograph extensions of both IDRiD parts, in order of preference."""

_MASK_NAME_RE = re.compile(
    r"^(IDRiD_\d+)_(" + "|".join(IDRID_MASK_CODES) + r")\.(tif|tiff|png|jpg|bmp)$", re.IGNORECASE
)


def _split_keyword(split: str) -> str:
    """The word that names a split's folders and CSV (``"train"`` or ``"test"``)."""
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return split


def _idrid_extra(image_id: str, row: Mapping[str, str]) -> dict[str, Any]:
    raw = row.get("Risk of macular edema")
    if raw is None:
        return {}
    risk = raw.strip()
    if not risk:
        return {"macular_edema_risk": None}
    try:
        return {"macular_edema_risk": int(float(risk))}
    except ValueError:
        raise ValueError(f"unknown macular edema risk {raw!r} (expected 0, 1 or 2)") from None


def _file_digest(path: Path) -> str:
    digest = hashlib.sha1()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _idrid_grading(root: Path, split: str, strict: bool) -> CsvLayout:
    kw = _split_keyword(split)
    grading = find_subdir(root, "disease grading")
    if grading is None:
        raise DatasetError(root, "no 'B. Disease Grading' folder")
    images = find_subdir(grading, "original images")
    truths = find_subdir(grading, "groundtruth")
    images = find_subdir(images, kw) if images else None
    if images is None:
        raise DatasetError(grading, f"no '1. Original Images/<{kw} set>' folder")
    csvs = sorted(p for p in truths.glob("*.csv") if kw in p.name.lower()) if truths else []
    if len(csvs) != 1:
        raise DatasetError(
            truths or grading,
            f"expected one '{kw}' labels CSV in '2. Groundtruths', found {[p.name for p in csvs]}",
        )
    return read_csv_layout(
        csv_path=csvs[0], images_dir=images, id_column="Image name",
        grade_column="Retinopathy grade", extensions=IDRID_EXTENSIONS,
        source="idrid", strict=strict, allow_unlisted=False, extra_from_row=_idrid_extra,
    )


def _idrid_segmentation(
    root: Path, split: str, strict: bool
) -> tuple[list[FundusRecord], LoadReport]:
    kw = _split_keyword(split)
    seg = find_subdir(root, "segmentation")
    if seg is None:
        raise DatasetError(root, "no 'A. Segmentation' folder")
    images_parent = find_subdir(seg, "original images")
    images = find_subdir(images_parent, kw) if images_parent else None
    truths_parent = find_subdir(seg, "groundtruth")
    truths = find_subdir(truths_parent, kw) if truths_parent else None
    if images is None:
        raise DatasetError(seg, f"no '1. Original Images/<{kw} set>' folder")
    if truths is None:
        raise DatasetError(seg, f"no '2. All Segmentation Groundtruths/<{kw} set>' folder")
    report = LoadReport(source=f"idrid segmentation {seg}")
    records: dict[str, FundusRecord] = {}
    for path in image_files(images, IDRID_EXTENSIONS):
        records[path.stem] = FundusRecord(
            path.stem, path, None, "idrid", extra={"idrid_part": "segmentation"}
        )
    for dirpath, _, filenames in sorted(os.walk(truths)):
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if name.startswith(".") or path.suffix.lower() not in IMAGE_EXTENSIONS:
                continue
            match = _MASK_NAME_RE.match(name)
            if match is None:
                report_problem(
                    report, strict, path,
                    "not an IDRiD mask name (expected IDRiD_NN_<MA|HE|EX|SE|OD>.tif)",
                )
                continue
            image_id, code = match.group(1), match.group(2).upper()
            record = records.get(image_id)
            if record is None:
                report_problem(
                    report, strict, path, f"mask for image {image_id!r}, which is not in {images}"
                )
                continue
            mask_name = IDRID_MASK_CODES[code]
            if mask_name in record.mask_paths:
                report_problem(
                    report, strict, path,
                    f"second {code} mask for {image_id!r} "
                    f"({record.mask_paths[mask_name].name} is used)",
                )
                continue
            record.mask_paths[mask_name] = path
    out = list(records.values())
    report.loaded = len(out)
    return out, report


def load_idrid(
    root: str | Path,
    strict: bool = True,
    *,
    split: Literal["train", "test"] = "train",
    part: Literal["grading", "segmentation", "both"] = "both",
    validate_images: bool | None = None,
) -> Loaded:
    """Load IDRiD (Indian Diabetic Retinopathy Image Dataset) as distributed.

    Layout under ``root``::

        B. Disease Grading/1. Original Images/a. Training Set/IDRiD_001.jpg
        B. Disease Grading/2. Groundtruths/a. IDRiD_Disease Grading_Training Labels.csv
            columns "Image name", "Retinopathy grade", "Risk of macular edema "
        A. Segmentation/1. Original Images/a. Training Set/IDRiD_01.jpg
        A. Segmentation/2. All Segmentation Groundtruths/a. Training Set/
            1. Microaneurysms/IDRiD_01_MA.tif, 2. Haemorrhages/..._HE.tif,
            3. Hard Exudates/..._EX.tif, 4. Soft Exudates/..._SE.tif, 5. Optic Disc/..._OD.tif

    (test split: ``b. Testing Set`` and the ``Testing Labels`` CSV). Folder names are matched by
    keywords, so small spelling differences between IDRiD downloads do not matter.

    The two parts are numbered independently: segmentation photograph ``IDRiD_01`` is *not*
    grading photograph ``IDRiD_001``, so masks are never attached by number. With
    ``part="both"`` a segmentation photograph whose file is byte-identical to a grading
    photograph is merged into that graded record (``extra["segmentation_id"]``); the others
    are returned as records with ``grade=None``. Grading records without such a match have
    empty ``mask_paths``.

    Masks: MA -> microaneurysm, HE -> dot_blot_haemorrhage (IDRiD does not separate
    haemorrhage types: read it as "any haemorrhage"), EX -> hard_exudate, SE ->
    cotton_wool_spot, OD -> optic_disc. Read them with :func:`load_idrid_masks`.

    Grading records carry ``extra["macular_edema_risk"]`` (0..2). IDRiD does not say which
    photographs share a patient: each is its own patient.
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(root, "IDRiD folder not found")
    if part not in ("grading", "segmentation", "both"):
        raise ValueError(f"part must be 'grading', 'segmentation' or 'both', got {part!r}")
    records: list[FundusRecord] = []
    report = LoadReport(source=f"idrid {root} ({split}, {part})")
    if part in ("grading", "both"):
        layout = _idrid_grading(root, split, strict)
        records += layout.records
        report.skipped += layout.report.skipped
    if part in ("segmentation", "both"):
        seg_records, seg_report = _idrid_segmentation(root, split, strict)
        report.skipped += seg_report.skipped
        if part == "both" and records:
            by_digest = {_file_digest(r.image_path): r for r in records}
            for seg_record in seg_records:
                graded = by_digest.get(_file_digest(seg_record.image_path))
                if graded is None:
                    records.append(seg_record)
                else:
                    graded.mask_paths.update(seg_record.mask_paths)
                    graded.extra["segmentation_id"] = seg_record.image_id
        else:
            records += seg_records
    report.loaded = len(records)
    if should_validate(validate_images, len(records)):
        records = validate_records(records, report, strict, check_idrid_masks)
    return records, report


def check_idrid_masks(record: FundusRecord, image: np.ndarray) -> None:
    """Read every mask file of ``record`` and check it has the photograph's (H, W)."""
    for path in record.mask_paths.values():
        read_mask(path, shape=image.shape[:2])


def load_idrid_masks(
    record: FundusRecord, names: Iterable[str] | None = None
) -> dict[str, np.ndarray]:
    """Read the lesion masks of an IDRiD record as bool arrays of the photograph's (H, W).

    A lesion type without a file (IDRiD ships no soft-exudate mask for photographs without
    soft exudates) gets an all-False mask, as long as the record has any mask at all: the
    annotators looked and found none. A record without masks gives an empty dict.

    Args:
        record: a record from :func:`load_idrid`.
        names: mask names wanted; default all five IDRiD mask names.

    Raises:
        FundusImageError: a mask file is unreadable or does not match the photograph's size.
    """
    if not record.mask_paths:
        return {}
    shape = image_size(record.image_path)
    wanted = tuple(names) if names is not None else tuple(IDRID_MASK_CODES.values())
    masks: dict[str, np.ndarray] = {}
    for name in wanted:
        path = record.mask_paths.get(name)
        masks[name] = read_mask(path, shape) if path else np.zeros(shape, dtype=bool)
    return masks
