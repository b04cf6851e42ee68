"""Loaders for the fundus data sets of the course, one function per folder layout.

Every loader returns ``(records, report)``: a list of :class:`~drlib.records.FundusRecord` and a
:class:`~drlib.records.LoadReport`. Each checks every CSV row (grade an integer 0..4, id not
duplicated, photograph present) and every photograph file (has a row); with
``validate_images=True`` it also decodes every photograph (:func:`drlib.image_io.read_fundus`)
and checks masks against it.

* ``strict=True`` (default): the first problem raises :class:`~drlib.records.DatasetError`
  (:class:`~drlib.image_io.FundusImageError` for a photograph), naming the CSV file and row or
  the image file, and the problem.
* ``strict=False``: the good records are returned and the report lists every skipped row or file
  with the reason. Nothing is dropped without a line in the report.

Structural problems (CSV file or image folder missing, a required column absent) raise in both
modes: there is no good part to load.

Layouts:

* EyePACS / Kaggle 2015: ``trainLabels.csv`` (image, level) + ``train/<image>.jpeg``.
* APTOS 2019: ``train.csv`` (id_code, diagnosis) + ``train_images/<id_code>.png``.
* IDRiD: ``B. Disease Grading`` (516 graded photographs) and ``A. Segmentation`` (81 photographs
  with lesion masks), see :func:`load_idrid`.
* Generic: any image folder + CSV with configurable column names (:func:`load_generic`).
* Synthetic cache split (``drlib.dataset_builder``): the EyePACS layout plus ``masks/*.npz`` and
  ``inventory.jsonl`` (:func:`load_synthetic`).

:func:`load_dataset` dispatches on a kind or detects the layout of a folder.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from drlib.image_io import (
    IMAGE_EXTENSIONS,
    FundusImageError,
    image_size,
    read_fundus,
    read_mask,
)
from drlib.records import N_GRADES, DatasetError, FundusRecord, LoadReport

AUTO_VALIDATE_LIMIT = 2000
"""``validate_images=None`` decodes every photograph at load time when a set has at most this
many rows (a few seconds); bigger sets (EyePACS: 35,126 photographs) are checked when read."""

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
"""IDRiD segmentation file suffix -> mask name of :mod:`drlib.lesion_types`."""

_IDRID_MASK_RE = re.compile(
    r"^(IDRiD_\d+)_(" + "|".join(IDRID_MASK_CODES) + r")\.(tif|tiff|png|jpg|bmp)$", re.IGNORECASE
)

Kind = Literal["eyepacs", "aptos", "idrid", "generic", "synthetic"]
KINDS: tuple[str, ...] = ("eyepacs", "aptos", "idrid", "generic", "synthetic")

Loaded = tuple[list[FundusRecord], LoadReport]


# --------------------------------------------------------------------------- problem handling


def _problem(report: LoadReport, strict: bool, item: str | Path, problem: str) -> None:
    """Raise in strict mode, else note the skipped item in the report."""
    if strict:
        raise DatasetError(item, problem)
    report.skip(item, problem)


def _parse_grade(raw: str | None) -> int | None:
    """Grade 0..4 from a CSV cell ("2", " 2 ", "2.0"), or None if it is not one."""
    if raw is None:
        return None
    text = raw.strip()
    try:
        value = float(text)
    except ValueError:
        return None
    if not value.is_integer() or not 0 <= value < N_GRADES:
        return None
    return int(value)


# --------------------------------------------------------------------------- CSV and folder


def _read_csv(csv_path: Path, required: Iterable[str]) -> tuple[dict[str, str], list[tuple]]:
    """Read a CSV file: (stripped column name -> header as written, [(line number, row)]).

    Column names are matched after stripping spaces (IDRiD writes "Risk of macular edema ").
    Rows whose cells are all empty (trailing ",,," lines of spreadsheet exports) carry no data
    and are passed over. Raises DatasetError when the file is missing or a column is absent.
    """
    if not csv_path.is_file():
        raise DatasetError(csv_path, "CSV file not found")
    try:
        with csv_path.open(newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            header = reader.fieldnames or []
            columns = {name.strip(): name for name in header if name and name.strip()}
            missing = [c for c in required if c not in columns]
            if missing:
                raise DatasetError(
                    csv_path,
                    f"missing column(s) {missing}; the header has {list(columns)}",
                )
            rows = []
            for row in reader:
                values = [v for k, v in row.items() if k is not None and isinstance(v, str)]
                if not any(v.strip() for v in values):
                    continue
                rows.append((reader.line_num, row))
    except UnicodeDecodeError as err:
        raise DatasetError(csv_path, f"not a UTF-8 text CSV file ({err.reason})") from None
    except csv.Error as err:
        raise DatasetError(csv_path, f"malformed CSV ({err})") from None
    return columns, rows


def _image_files(folder: Path, extensions: tuple[str, ...]) -> list[Path]:
    """Non-hidden files in ``folder`` whose extension (any case) is one of ``extensions``."""
    exts = {e.lower() for e in extensions}
    with os.scandir(folder) as it:
        files = [
            Path(entry.path)
            for entry in it
            if entry.is_file() and not entry.name.startswith(".")
            and Path(entry.name).suffix.lower() in exts
        ]
    return sorted(files)


class _ImageIndex:
    """Photographs of one folder, found by id (file stem) or by full file name."""

    def __init__(self, folder: Path, extensions: tuple[str, ...]) -> None:
        self.folder = folder
        self.extensions = tuple(e.lower() for e in extensions)
        rank = {e: i for i, e in enumerate(self.extensions)}
        self.by_name: dict[str, Path] = {}
        self.by_stem: dict[str, list[Path]] = {}
        for path in _image_files(folder, extensions):
            self.by_name[path.name] = path
            self.by_stem.setdefault(path.stem, []).append(path)
        for paths in self.by_stem.values():
            paths.sort(key=lambda p: rank[p.suffix.lower()])

    def candidates(self, image_id: str) -> list[Path]:
        """Files for ``image_id``: the file named exactly so, else files with that stem."""
        if image_id in self.by_name and Path(image_id).suffix.lower() in self.extensions:
            return [self.by_name[image_id]]
        return list(self.by_stem.get(image_id, []))

    def all_files(self) -> list[Path]:
        return sorted(self.by_name.values())


@dataclass
class _CsvLayout:
    """Result of reading one CSV + image folder, before photographs are decoded."""

    records: list[FundusRecord]
    report: LoadReport
    csv_ids: set[str] = field(default_factory=set)


def _read_csv_layout(
    *,
    csv_path: Path,
    images_dir: Path,
    id_column: str,
    grade_column: str | None,
    extensions: tuple[str, ...],
    source: str,
    strict: bool,
    allow_unlisted: bool,
    extra_from_row: Callable[[str, Mapping[str, str]], dict[str, Any]] | None = None,
) -> _CsvLayout:
    """Check every row of ``csv_path`` against ``images_dir`` and build records."""
    csv_path = Path(csv_path)
    images_dir = Path(images_dir)
    required = [id_column] + ([grade_column] if grade_column else [])
    columns, rows = _read_csv(csv_path, required)
    if not images_dir.is_dir():
        raise DatasetError(images_dir, f"image folder not found (needed by {csv_path})")
    index = _ImageIndex(images_dir, extensions)
    report = LoadReport(source=f"{source} {csv_path.parent}")
    records: list[FundusRecord] = []
    first_row: dict[str, int] = {}
    used: set[Path] = set()

    for line, row in rows:
        image_id = (row.get(columns[id_column]) or "").strip()
        item = f"{csv_path} row {line} (image {image_id!r})"
        if not image_id:
            _problem(report, strict, f"{csv_path} row {line}", "empty image id")
            continue
        if image_id in first_row:
            _problem(
                report, strict, item,
                f"duplicate image id {image_id!r} (first at row {first_row[image_id]}); "
                "this later row is skipped",
            )
            continue
        first_row[image_id] = line
        grade: int | None = None
        if grade_column:
            raw = row.get(columns[grade_column])
            grade = _parse_grade(raw)
            if grade is None:
                _problem(
                    report, strict, item,
                    f"unknown grade {raw!r} in column {grade_column!r} "
                    "(expected an integer 0..4)",
                )
                continue
        found = index.candidates(image_id)
        if not found:
            _problem(
                report, strict, item,
                f"image file not found: no {image_id}{{{','.join(extensions)}}} "
                f"in {images_dir}",
            )
            continue
        path = found[0]
        used.add(path)
        for other in found[1:]:
            used.add(other)
            _problem(
                report, strict, other,
                f"second file for image {image_id!r}: {path.name} is used, this one is not",
            )
        extra: dict[str, Any] = {"csv_row": line}
        if extra_from_row is not None:
            try:
                extra.update(extra_from_row(image_id, {k: row.get(v) for k, v in columns.items()}))
            except ValueError as err:
                _problem(report, strict, item, str(err))
                continue
        records.append(FundusRecord(image_id, path, grade, source, extra=extra))

    claimed = set(first_row)
    for path in index.all_files():
        if path in used or path.stem in claimed or path.name in claimed:
            continue
        if allow_unlisted:
            report.unlisted.append(str(path))
        else:
            _problem(report, strict, path, f"image file has no row in {csv_path}")
    report.loaded = len(records)
    return _CsvLayout(records, report, set(first_row))


# --------------------------------------------------------------------------- decoding check


RecordCheck = Callable[[FundusRecord, np.ndarray], None]


def _validate(
    records: list[FundusRecord],
    report: LoadReport,
    strict: bool,
    check: RecordCheck | None = None,
    threads: int | None = None,
) -> list[FundusRecord]:
    """Decode every photograph (and run ``check`` on it); keep the records that pass.

    Strict mode raises the first failure in record order: FundusImageError for a photograph,
    DatasetError for its masks.
    """

    def one(record: FundusRecord) -> DatasetError | None:
        try:
            image = read_fundus(record.image_path)
            if check is not None:
                check(record, image)
        except DatasetError as err:
            return err
        return None

    threads = threads or min(4, os.cpu_count() or 1)
    kept: list[FundusRecord] = []
    pool = ThreadPoolExecutor(max_workers=threads)
    try:
        for record, err in zip(records, pool.map(one, records), strict=True):
            if err is None:
                kept.append(record)
            elif strict:
                raise err
            else:
                report.skip(err.item, err.problem)
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
    report.loaded = len(kept)
    return kept


def _check_any_masks(record: FundusRecord, image: np.ndarray) -> None:
    if record.masks_path is not None:
        _check_synthetic_masks(record, image)
    elif record.mask_paths:
        _check_idrid_masks(record, image)


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
    return _validate(records, report, strict, _check_any_masks, threads), report


def _should_validate(validate_images: bool | None, n: int) -> bool:
    return n <= AUTO_VALIDATE_LIMIT if validate_images is None else bool(validate_images)


# --------------------------------------------------------------------------- EyePACS / Kaggle


def _eyepacs_extra(image_id: str, row: Mapping[str, str]) -> dict[str, Any]:
    """Kaggle ids are ``<patient>_<left|right>``: keep patient and eye (patient-level splits)."""
    patient, _, eye = image_id.rpartition("_")
    if eye in ("left", "right") and patient:
        return {"patient": patient, "eye": eye}
    return {}


def load_eyepacs(
    root: str | Path | None = None,
    strict: bool = True,
    *,
    csv_path: str | Path | None = None,
    images_dir: str | Path | None = None,
    extensions: tuple[str, ...] = (".jpeg", ".jpg", ".png"),
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
            :data:`AUTO_VALIDATE_LIMIT` rows.
        allow_unlisted: photographs without a CSV row are listed in ``report.unlisted``
            instead of being problems (for a CSV that names a subset of a folder).

    Records carry ``extra["patient"]`` and ``extra["eye"]`` parsed from ids like ``10_left``.
    """
    return _load_eyepacs_like(
        root, strict, csv_path=csv_path, images_dir=images_dir, extensions=extensions,
        validate_images=validate_images, allow_unlisted=allow_unlisted, source="eyepacs",
    )


def _load_eyepacs_like(
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
    prepare: Callable[[_CsvLayout], None] | None = None,
) -> Loaded:
    if root is None and (csv_path is None or images_dir is None):
        raise TypeError("give root, or both csv_path and images_dir")
    root = Path(root) if root is not None else None
    layout = _read_csv_layout(
        csv_path=Path(csv_path) if csv_path else root / "trainLabels.csv",
        images_dir=Path(images_dir) if images_dir else root / "train",
        id_column="image", grade_column="level", extensions=extensions, source=source,
        strict=strict, allow_unlisted=allow_unlisted, extra_from_row=_eyepacs_extra,
    )
    if prepare is not None:
        prepare(layout)
    records = layout.records
    if _should_validate(validate_images, len(records)):
        records = _validate(records, layout.report, strict, check)
    return records, layout.report


# --------------------------------------------------------------------------- APTOS 2019


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

    Arguments as :func:`load_eyepacs`.
    """
    if root is None and (csv_path is None or images_dir is None):
        raise TypeError("give root, or both csv_path and images_dir")
    root = Path(root) if root is not None else None
    layout = _read_csv_layout(
        csv_path=Path(csv_path) if csv_path else root / "train.csv",
        images_dir=Path(images_dir) if images_dir else root / "train_images",
        id_column="id_code", grade_column="diagnosis", extensions=extensions, source="aptos",
        strict=strict, allow_unlisted=allow_unlisted,
    )
    records = layout.records
    if _should_validate(validate_images, len(records)):
        records = _validate(records, layout.report, strict)
    return records, layout.report


# --------------------------------------------------------------------------- generic


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
        strict, validate_images, allow_unlisted: as in :func:`load_eyepacs`.
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
    layout = _read_csv_layout(
        csv_path=Path(csv_path), images_dir=Path(images_dir) if images_dir else root,
        id_column=id_column, grade_column=grade_column, extensions=tuple(extensions),
        source=source, strict=strict, allow_unlisted=allow_unlisted,
    )
    records = layout.records
    if _should_validate(validate_images, len(records)):
        records = _validate(records, layout.report, strict)
    return records, layout.report


# --------------------------------------------------------------------------- IDRiD


def _find_subdir(parent: Path, *keywords: str) -> Path | None:
    """The subfolder of ``parent`` whose name contains every keyword (case-insensitive)."""
    if not parent.is_dir():
        return None
    for child in sorted(parent.iterdir()):
        name = child.name.lower()
        if child.is_dir() and all(k in name for k in keywords):
            return child
    return None


def _split_keyword(split: str) -> str:
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    return "train" if split == "train" else "test"


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


def _idrid_grading(root: Path, split: str, strict: bool) -> _CsvLayout:
    kw = _split_keyword(split)
    grading = _find_subdir(root, "disease grading")
    if grading is None:
        raise DatasetError(root, "no 'B. Disease Grading' folder")
    images = _find_subdir(grading, "original images")
    truths = _find_subdir(grading, "groundtruth")
    images = _find_subdir(images, kw) if images else None
    if images is None:
        raise DatasetError(grading, f"no '1. Original Images/<{kw} set>' folder")
    csvs = sorted(p for p in truths.glob("*.csv") if kw in p.name.lower()) if truths else []
    if len(csvs) != 1:
        raise DatasetError(
            truths or grading,
            f"expected one '{kw}' labels CSV in '2. Groundtruths', found {[p.name for p in csvs]}",
        )
    return _read_csv_layout(
        csv_path=csvs[0], images_dir=images, id_column="Image name",
        grade_column="Retinopathy grade", extensions=(".jpg", ".jpeg", ".png", ".tif"),
        source="idrid", strict=strict, allow_unlisted=False, extra_from_row=_idrid_extra,
    )


def _idrid_segmentation(
    root: Path, split: str, strict: bool
) -> tuple[list[FundusRecord], LoadReport]:
    kw = _split_keyword(split)
    seg = _find_subdir(root, "segmentation")
    if seg is None:
        raise DatasetError(root, "no 'A. Segmentation' folder")
    images_parent = _find_subdir(seg, "original images")
    images = _find_subdir(images_parent, kw) if images_parent else None
    truths_parent = _find_subdir(seg, "groundtruth")
    truths = _find_subdir(truths_parent, kw) if truths_parent else None
    if images is None:
        raise DatasetError(seg, f"no '1. Original Images/<{kw} set>' folder")
    if truths is None:
        raise DatasetError(seg, f"no '2. All Segmentation Groundtruths/<{kw} set>' folder")
    report = LoadReport(source=f"idrid segmentation {seg}")
    records: dict[str, FundusRecord] = {}
    for path in _image_files(images, (".jpg", ".jpeg", ".png", ".tif")):
        records[path.stem] = FundusRecord(
            path.stem, path, None, "idrid", extra={"idrid_part": "segmentation"}
        )
    for dirpath, _, filenames in sorted(os.walk(truths)):
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if name.startswith(".") or path.suffix.lower() not in IMAGE_EXTENSIONS:
                continue
            match = _IDRID_MASK_RE.match(name)
            if match is None:
                _problem(report, strict, path,
                         "not an IDRiD mask name (expected IDRiD_NN_<MA|HE|EX|SE|OD>.tif)")
                continue
            image_id, code = match.group(1), match.group(2).upper()
            record = records.get(image_id)
            if record is None:
                _problem(report, strict, path, f"mask for image {image_id!r}, which is not in "
                         f"{images}")
                continue
            mask_name = IDRID_MASK_CODES[code]
            if mask_name in record.mask_paths:
                _problem(report, strict, path, f"second {code} mask for {image_id!r} "
                         f"({record.mask_paths[mask_name].name} is used)")
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

    Grading records carry ``extra["macular_edema_risk"]`` (0..2).
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
    if _should_validate(validate_images, len(records)):
        records = _validate(records, report, strict, _check_idrid_masks)
    return records, report


def _check_idrid_masks(record: FundusRecord, image: np.ndarray) -> None:
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


def load_record_masks(record: FundusRecord) -> dict[str, np.ndarray]:
    """The masks of any record, aligned with its photograph: bool (H, W) arrays by name.

    Synthetic records read their ``.npz`` (:func:`drlib.masks.load_masks`, every mask name),
    IDRiD records their per-lesion files (:func:`load_idrid_masks`). A record without masks
    raises DatasetError.
    """
    if record.masks_path is not None:
        from drlib.masks import load_masks

        try:
            return load_masks(record.masks_path)[0]
        except ValueError as err:
            raise DatasetError(record.masks_path, f"unreadable mask file ({err})") from None
    if record.mask_paths:
        return load_idrid_masks(record)
    raise DatasetError(record.image_path, f"no masks for image {record.image_id!r}")


# --------------------------------------------------------------------------- synthetic cache


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
                _problem(report, strict, item, f"not valid JSON ({err.msg})")
                continue
            if not isinstance(entry, dict) or not isinstance(entry.get("image"), str):
                _problem(report, strict, item, "entry has no \"image\" id")
                continue
            if entry["image"] in entries:
                _problem(report, strict, item, f"duplicate inventory entry for {entry['image']!r}")
                continue
            entries[entry["image"]] = entry
    return entries


def _check_synthetic_masks(record: FundusRecord, image: np.ndarray) -> None:
    from drlib.masks import load_masks

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
) -> Loaded:
    """Load one split of the synthetic cache written by ``drlib.dataset_builder``.

    Layout of a split folder: ``trainLabels.csv`` (image,level), ``train/<image>.jpeg``,
    ``masks/<image>.npz`` (:mod:`drlib.masks` format), ``inventory.jsonl``.
    It is read with the EyePACS loader; each record then gets ``masks_path`` and
    ``extra["inventory"]`` (the lesion inventory), ``extra["eye"]`` and ``extra["split"]``.
    A row whose mask file or inventory entry is missing, or whose inventory grade differs from
    the CSV grade, is a problem; so is an inventory entry or mask file without a CSV row.

    Args:
        root: the split folder, or the cache root when ``split`` is given.
        split: split name (``root/split``).
        strict, validate_images: as in :func:`load_eyepacs`; validation also loads every mask
            file and checks it covers its photograph.
    """
    split_dir = Path(root) / split if split else Path(root)
    if not split_dir.is_dir():
        raise DatasetError(split_dir, "synthetic split folder not found")

    def prepare(layout: _CsvLayout) -> None:
        report = layout.report
        inventory = _read_inventory(split_dir / "inventory.jsonl", report, strict)
        masks_dir = split_dir / "masks"
        kept = []
        for record in layout.records:
            masks_path = masks_dir / f"{record.image_id}.npz"
            entry = inventory.get(record.image_id)
            if not masks_path.is_file():
                _problem(report, strict, masks_path, f"mask file for {record.image_id!r} not "
                         "found")
                continue
            if entry is None:
                _problem(report, strict, record.image_path,
                         f"no entry for {record.image_id!r} in {split_dir / 'inventory.jsonl'}")
                continue
            if "grade" in entry and entry["grade"] != record.grade:
                _problem(report, strict, record.image_path,
                         f"grade {record.grade} in trainLabels.csv but {entry['grade']!r} in "
                         "inventory.jsonl")
                continue
            record.masks_path = masks_path
            record.extra.update(
                inventory=entry.get("inventory", {}), eye=entry.get("eye"), split=split_dir.name
            )
            kept.append(record)
        for image_id in sorted(set(inventory) - layout.csv_ids):
            _problem(report, strict, split_dir / "inventory.jsonl",
                     f"entry {image_id!r} has no row in trainLabels.csv")
        if masks_dir.is_dir():
            for path in sorted(masks_dir.glob("*.npz")):
                if path.stem not in layout.csv_ids:
                    _problem(report, strict, path, "mask file has no row in trainLabels.csv")
        layout.records[:] = kept
        report.loaded = len(kept)

    return _load_eyepacs_like(
        split_dir, strict, csv_path=None, images_dir=None, extensions=(".jpeg", ".jpg", ".png"),
        validate_images=validate_images, allow_unlisted=False, source="synthetic",
        check=_check_synthetic_masks, prepare=prepare,
    )


# --------------------------------------------------------------------------- dispatch


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
    if _find_subdir(root, "disease grading") or _find_subdir(root, "segmentation"):
        return "idrid"
    if len(list(root.glob("*.csv"))) == 1:
        return "generic"
    raise DatasetError(
        root,
        "unknown layout: expected trainLabels.csv + train/ (EyePACS; with inventory.jsonl + "
        "masks/: synthetic), train.csv + train_images/ (APTOS), 'B. Disease Grading' or "
        "'A. Segmentation' (IDRiD), or one CSV file beside the photographs (generic)",
    )


_LOADERS: dict[str, Callable[..., Loaded]] = {
    "eyepacs": load_eyepacs,
    "aptos": load_aptos,
    "idrid": load_idrid,
    "generic": load_generic,
    "synthetic": load_synthetic,
}


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
    "check_images",
    "DatasetError",
    "FundusImageError",
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
