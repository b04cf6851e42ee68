"""Loaders for the fundus data sets of the course, one module per folder layout.

Every loader returns ``(records, report)``: a list of :class:`~drlib.data.records.FundusRecord`
and a :class:`~drlib.data.records.LoadReport`. Each checks every CSV row (grade an integer
0..4, id not duplicated, photograph present) and every photograph file (has a row); with
``validate_images=True`` it also decodes every photograph (:func:`drlib.data.image_io.read_fundus`)
and checks masks against it.

* ``strict=True`` (default): the first problem raises :class:`~drlib.data.records.DatasetError`
  (:class:`~drlib.data.image_io.FundusImageError` for a photograph), naming the CSV file and row
  or the image file, and the problem.
* ``strict=False``: the good records are returned and the report lists every skipped row or
  file with the reason. Nothing is dropped without a line in the report.

Structural problems (CSV file or image folder missing, a required column absent) raise in both
modes: there is no good part to load.

Layouts, one module each:

* :mod:`~drlib.data.loaders.eyepacs`: EyePACS / Kaggle 2015, ``trainLabels.csv`` (image, level)
  + ``train/<image>.jpeg`` (:func:`load_eyepacs`).
* :mod:`~drlib.data.loaders.aptos`: APTOS 2019, ``train.csv`` (id_code, diagnosis)
  + ``train_images/<id_code>.png`` (:func:`load_aptos`).
* :mod:`~drlib.data.loaders.idrid`: IDRiD, ``B. Disease Grading`` (516 graded photographs) and
  ``A. Segmentation`` (81 photographs with lesion masks) (:func:`load_idrid`).
* :mod:`~drlib.data.loaders.generic`: any image folder + CSV with configurable column names
  (:func:`load_generic`).
* :mod:`~drlib.data.loaders.synthetic`: a split of the synthetic cache
  (:mod:`drlib.data.synthetic_splits`), the EyePACS layout plus ``masks/*.npz`` and
  ``inventory.jsonl`` (:func:`load_synthetic`).

What they share (reading the CSV, finding photographs, checking rows, reporting problems,
decoding) is :mod:`~drlib.data.loaders.csv_layout`; reading the masks of any record and the
deferred image check are :mod:`~drlib.data.loaders.record_masks`. :func:`load_dataset`
dispatches on a kind or detects the layout of a folder (:func:`detect_layout`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from drlib.data.image_io import FundusImageError
from drlib.data.loaders.aptos import load_aptos
from drlib.data.loaders.csv_layout import AUTO_VALIDATE_LIMIT, Loaded, find_subdir
from drlib.data.loaders.eyepacs import load_eyepacs
from drlib.data.loaders.generic import load_generic
from drlib.data.loaders.idrid import IDRID_MASK_CODES, load_idrid, load_idrid_masks
from drlib.data.loaders.record_masks import check_images, load_record_masks
from drlib.data.loaders.synthetic import load_synthetic
from drlib.data.records import DatasetError

KINDS: tuple[str, ...] = ("eyepacs", "aptos", "idrid", "generic", "synthetic")
"""The data set kinds :func:`load_dataset` knows, as :func:`detect_layout` names them."""

_LOADERS: dict[str, Callable[..., Loaded]] = {
    "eyepacs": load_eyepacs,
    "aptos": load_aptos,
    "idrid": load_idrid,
    "generic": load_generic,
    "synthetic": load_synthetic,
}


def detect_layout(root: str | Path) -> str:
    """Which loader fits the folder ``root``: one of :data:`KINDS`.

    Raises DatasetError when no known layout is found (the message lists what was looked for).
    """
    root = Path(root)
    if not root.is_dir():
        raise DatasetError(root, "data set folder not found")
    if (root / "trainLabels.csv").is_file() and (root / "train").is_dir():
        if (root / "inventory.jsonl").is_file() and (root / "masks").is_dir():
            return "synthetic"
        return "eyepacs"
    if (root / "train.csv").is_file() and (root / "train_images").is_dir():
        return "aptos"
    if find_subdir(root, "disease grading") or find_subdir(root, "segmentation"):
        return "idrid"
    if len(list(root.glob("*.csv"))) == 1:
        return "generic"
    raise DatasetError(
        root,
        "unknown layout: expected trainLabels.csv + train/ (EyePACS; with inventory.jsonl + "
        "masks/: synthetic), train.csv + train_images/ (APTOS), 'B. Disease Grading' or "
        "'A. Segmentation' (IDRiD), or one CSV file beside the photographs (generic)",
    )


def load_dataset(
    spec: str | Path | Mapping[str, Any],
    strict: bool = True,
    *,
    kind: str | None = None,
    **options: Any,
) -> Loaded:
    """Load a data set described by a folder or a spec mapping.

    Args:
        spec: a folder (layout detected by :func:`detect_layout` unless ``kind`` is given), or a
            mapping ``{"kind": ..., "root": ..., <loader options>}``.
        strict: as in :func:`load_eyepacs`.
        kind: one of :data:`KINDS`; overrides detection.
        options: passed to the loader (e.g. ``split="test"``, ``validate_images=False``).

    Example:
        ``load_dataset({"kind": "generic", "root": "photos", "id_column": "file",
        "grade_column": "dr_grade"}, strict=False)``
    """
    if isinstance(spec, Mapping):
        options = {**{k: v for k, v in spec.items() if k not in ("kind", "root")}, **options}
        kind = kind or spec.get("kind")
        if "root" not in spec:
            raise ValueError("a data set spec mapping needs a 'root'")
        root = Path(spec["root"])
    else:
        root = Path(spec)
    kind = kind or detect_layout(root)
    if kind not in _LOADERS:
        raise ValueError(f"unknown data set kind {kind!r}; use one of {KINDS}")
    return _LOADERS[kind](root, strict, **options)


__all__ = [
    "AUTO_VALIDATE_LIMIT",
    "IDRID_MASK_CODES",
    "KINDS",
    "DatasetError",
    "FundusImageError",
    "Loaded",
    "check_images",
    "detect_layout",
    "load_aptos",
    "load_dataset",
    "load_eyepacs",
    "load_generic",
    "load_idrid",
    "load_idrid_masks",
    "load_record_masks",
    "load_synthetic",
]
