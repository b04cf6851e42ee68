"""One split of the synthetic cache written by :mod:`drlib.data.synthetic_splits`.

A split folder is the EyePACS layout plus the generator's ground truth: ``trainLabels.csv``
(image, level), ``train/<image>.jpeg``, ``masks/<image>.npz`` (:mod:`drlib.data.masks` format)
and ``inventory.jsonl`` (one JSON object per photograph: grade, eye, lesion inventory).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from drlib.data.loaders.csv_layout import CsvLayout, Loaded, report_problem
from drlib.data.loaders.eyepacs import EYEPACS_EXTENSIONS, load_eyepacs_like
from drlib.data.masks import load_masks
from drlib.data.records import DatasetError, FundusRecord, LoadReport
from drlib.data.synthetic_splits import split_problems


def _read_inventory(path: Path, report: LoadReport, strict: bool) -> dict[str, dict]:
    """``inventory.jsonl``: one JSON object per line with at least "image"."""
    if not path.is_file():
        raise DatasetError(path, "inventory file not found")
    entries: dict[str, dict] = {}
    with path.open(encoding="utf-8") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            item = f"{path} line {number}"
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as err:
                report_problem(report, strict, item, f"not valid JSON ({err.msg})")
                continue
            if not isinstance(entry, dict) or not isinstance(entry.get("image"), str):
                report_problem(report, strict, item, "entry has no \"image\" id")
                continue
            if entry["image"] in entries:
                report_problem(
                    report, strict, item, f"duplicate inventory entry for {entry['image']!r}"
                )
                continue
            entries[entry["image"]] = entry
    return entries


def check_synthetic_masks(record: FundusRecord, image: np.ndarray) -> None:
    """Load the ``.npz`` masks of ``record`` and check every mask has the photograph's (H, W)."""
    try:
        masks, quadrants = load_masks(record.masks_path)
    except ValueError as err:
        raise DatasetError(record.masks_path, f"unreadable mask file ({err})") from None
    shapes = {m.shape for m in masks.values()} | {quadrants.shape}
    if shapes != {image.shape[:2]}:
        raise DatasetError(
            record.masks_path,
            f"mask shapes {sorted(shapes)} do not match photograph {record.image_path.name} "
            f"{image.shape[:2]}",
        )


def load_synthetic(
    root: str | Path,
    strict: bool = True,
    *,
    split: str | None = None,
    validate_images: bool | None = None,
    verify: bool = True,
) -> Loaded:
    """Load one split of the synthetic cache written by ``drlib.data.synthetic_splits``.

    Layout of a split folder: ``trainLabels.csv`` (image,level), ``train/<image>.jpeg``,
    ``masks/<image>.npz`` (:mod:`drlib.data.masks` format), ``inventory.jsonl``.
    It is read with the EyePACS loader; each record then gets ``masks_path`` and
    ``extra["inventory"]`` (the lesion inventory), ``extra["eye"]`` and ``extra["split"]``.
    A row whose mask file or inventory entry is missing, or whose inventory grade differs from
    the CSV grade, is a problem; so is an inventory entry or mask file without a CSV row.

    Args:
        root: the split folder, or the cache root when ``split`` is given.
        split: split name (``root/split``).
        strict, validate_images: as in :func:`~drlib.data.loaders.eyepacs.load_eyepacs`;
            validation also loads every mask file and checks it covers its photograph.
        verify: hash every photograph, mask and label against the split's ``manifest.json``
            (when there is one) first (:func:`drlib.data.synthetic_splits.split_problems`): a
            file that differs is a problem naming the file, so a tampered or damaged cached
            split is never loaded silently.
    """
    split_dir = Path(root) / split if split else Path(root)
    if not split_dir.is_dir():
        raise DatasetError(split_dir, "synthetic split folder not found")

    def prepare(layout: CsvLayout) -> None:
        report = layout.report
        inventory = _read_inventory(split_dir / "inventory.jsonl", report, strict)
        masks_dir = split_dir / "masks"
        changed: dict[str, str] = {}
        if verify and (split_dir / "manifest.json").is_file():
            for found in split_problems(split_dir):
                if found.image is None:
                    report_problem(report, strict, split_dir / "manifest.json", found.problem)
                elif not found.missing:  # a missing file is reported by the checks below
                    changed[found.image] = found.problem
        kept = []
        for record in layout.records:
            if record.image_id in changed:
                report_problem(report, strict, record.image_path, changed[record.image_id])
                continue
            masks_path = masks_dir / f"{record.image_id}.npz"
            entry = inventory.get(record.image_id)
            if not masks_path.is_file():
                report_problem(
                    report, strict, masks_path, f"mask file for {record.image_id!r} not found"
                )
                continue
            if entry is None:
                report_problem(
                    report, strict, record.image_path,
                    f"no entry for {record.image_id!r} in {split_dir / 'inventory.jsonl'}",
                )
                continue
            if "grade" in entry and entry["grade"] != record.grade:
                report_problem(
                    report, strict, record.image_path,
                    f"grade {record.grade} in trainLabels.csv but {entry['grade']!r} in "
                    "inventory.jsonl",
                )
                continue
            record.masks_path = masks_path
            record.extra.update(
                inventory=entry.get("inventory", {}), eye=entry.get("eye"), split=split_dir.name
            )
            kept.append(record)
        for image_id in sorted(set(inventory) - layout.csv_ids):
            report_problem(
                report, strict, split_dir / "inventory.jsonl",
                f"entry {image_id!r} has no row in trainLabels.csv",
            )
        if masks_dir.is_dir():
            for path in sorted(masks_dir.glob("*.npz")):
                if path.stem not in layout.csv_ids:
                    report_problem(report, strict, path, "mask file has no row in trainLabels.csv")
        layout.records[:] = kept
        report.loaded = len(kept)

    return load_eyepacs_like(
        split_dir, strict, csv_path=None, images_dir=None, extensions=EYEPACS_EXTENSIONS,
        validate_images=validate_images, allow_unlisted=False, source="synthetic",
        check=check_synthetic_masks, prepare=prepare,
    )
