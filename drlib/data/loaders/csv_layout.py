"""What every loader shares: a CSV file beside a folder of photographs, checked row by row.

:func:`read_csv_layout` reads the CSV file (:func:`read_csv`), finds each row's photograph in
the folder (:class:`ImageIndex`) and builds one :class:`~drlib.data.records.FundusRecord` per
good row; every bad row or stray file goes through :func:`report_problem`, which raises in strict
mode and notes the item in the :class:`~drlib.data.records.LoadReport` otherwise.
:func:`validate_records` then decodes the photographs when asked (:func:`should_validate`).
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from drlib.core.grades import N_GRADES
from drlib.data.image_io import read_fundus
from drlib.data.records import DatasetError, FundusRecord, LoadReport

AUTO_VALIDATE_LIMIT = 2000
"""``validate_images=None`` decodes every photograph at load time when a set has at most this
many rows (a few seconds); bigger sets (EyePACS: 35,126 photographs) are checked when read."""

Loaded = tuple[list[FundusRecord], LoadReport]
"""What every loader returns: the good records and the report of what was skipped."""

RecordCheck = Callable[[FundusRecord, np.ndarray], None]
"""A check of a record against its decoded photograph (e.g. its masks cover it); raises
DatasetError."""


# --------------------------------------------------------------------------- problem handling


def report_problem(report: LoadReport, strict: bool, item: str | Path, problem: str) -> None:
    """Raise ``DatasetError(item, problem)`` in strict mode, else note the skipped item."""
    if strict:
        raise DatasetError(item, problem)
    report.skip(item, problem)


def parse_grade(raw: str | None) -> int | None:
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


def read_csv(csv_path: Path, required: Iterable[str]) -> tuple[dict[str, str], list[tuple]]:
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


def image_files(folder: Path, extensions: tuple[str, ...]) -> list[Path]:
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


def find_subdir(parent: Path, *keywords: str) -> Path | None:
    """The subfolder of ``parent`` whose name contains every keyword (case-insensitive)."""
    if not parent.is_dir():
        return None
    for child in sorted(parent.iterdir()):
        name = child.name.lower()
        if child.is_dir() and all(k in name for k in keywords):
            return child
    return None


class ImageIndex:
    """Photographs of one folder, found by id (file stem) or by full file name."""

    def __init__(self, folder: Path, extensions: tuple[str, ...]) -> None:
        self.folder = folder
        self.extensions = tuple(e.lower() for e in extensions)
        rank = {e: i for i, e in enumerate(self.extensions)}
        self.by_name: dict[str, Path] = {}
        self.by_stem: dict[str, list[Path]] = {}
        for path in image_files(folder, extensions):
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
        """Every photograph of the folder, sorted."""
        return sorted(self.by_name.values())


@dataclass
class CsvLayout:
    """Result of reading one CSV + image folder, before photographs are decoded.

    ``csv_ids`` holds every id that has a CSV row, including rows skipped for a bad grade or a
    missing file (so their files are not reported a second time as having no row).
    """

    records: list[FundusRecord]
    report: LoadReport
    csv_ids: set[str] = field(default_factory=set)


def read_csv_layout(
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
) -> CsvLayout:
    """Check every row of ``csv_path`` against ``images_dir`` and build records.

    A row is a problem when its id is empty or repeated, its grade is not 0..4, or no file
    matches its id; a file is a problem when it matches no row (unless ``allow_unlisted``:
    then it is listed in ``report.unlisted``) or is a second file for an id. Each record's
    ``extra`` gets ``csv_row`` and whatever ``extra_from_row(image_id, row)`` returns; a
    ``ValueError`` from it makes the row a problem.
    """
    csv_path = Path(csv_path)
    images_dir = Path(images_dir)
    required = [id_column] + ([grade_column] if grade_column else [])
    columns, rows = read_csv(csv_path, required)
    if not images_dir.is_dir():
        raise DatasetError(images_dir, f"image folder not found (needed by {csv_path})")
    index = ImageIndex(images_dir, extensions)
    report = LoadReport(source=f"{source} {csv_path.parent}")
    records: list[FundusRecord] = []
    first_row: dict[str, int] = {}
    used: set[Path] = set()

    for line, row in rows:
        image_id = (row.get(columns[id_column]) or "").strip()
        item = f"{csv_path} row {line} (image {image_id!r})"
        if not image_id:
            report_problem(report, strict, f"{csv_path} row {line}", "empty image id")
            continue
        if image_id in first_row:
            report_problem(
                report, strict, item,
                f"duplicate image id {image_id!r} (first at row {first_row[image_id]}); "
                "this later row is skipped",
            )
            continue
        first_row[image_id] = line
        grade: int | None = None
        if grade_column:
            raw = row.get(columns[grade_column])
            grade = parse_grade(raw)
            if grade is None:
                report_problem(
                    report, strict, item,
                    f"unknown grade {raw!r} in column {grade_column!r} "
                    "(expected an integer 0..4)",
                )
                continue
        found = index.candidates(image_id)
        if not found:
            report_problem(
                report, strict, item,
                f"image file not found: no {image_id}{{{','.join(extensions)}}} "
                f"in {images_dir}",
            )
            continue
        path = found[0]
        used.add(path)
        for other in found[1:]:
            used.add(other)
            report_problem(
                report, strict, other,
                f"second file for image {image_id!r}: {path.name} is used, this one is not",
            )
        extra: dict[str, Any] = {"csv_row": line}
        if extra_from_row is not None:
            try:
                extra.update(extra_from_row(image_id, {k: row.get(v) for k, v in columns.items()}))
            except ValueError as err:
                report_problem(report, strict, item, str(err))
                continue
        records.append(FundusRecord(image_id, path, grade, source, extra=extra))

    claimed = set(first_row)
    for path in index.all_files():
        if path in used or path.stem in claimed or path.name in claimed:
            continue
        if allow_unlisted:
            report.unlisted.append(str(path))
        else:
            report_problem(report, strict, path, f"image file has no row in {csv_path}")
    report.loaded = len(records)
    return CsvLayout(records, report, set(first_row))


# --------------------------------------------------------------------------- decoding check


def should_validate(validate_images: bool | None, n: int) -> bool:
    """The loaders' ``validate_images`` rule: ``None`` means "if ``n`` is at most
    :data:`AUTO_VALIDATE_LIMIT`"."""
    return n <= AUTO_VALIDATE_LIMIT if validate_images is None else bool(validate_images)


def validate_records(
    records: list[FundusRecord],
    report: LoadReport,
    strict: bool,
    check: RecordCheck | None = None,
    threads: int | None = None,
) -> list[FundusRecord]:
    """Decode every photograph (and run ``check`` on it); keep the records that pass.

    Strict mode raises the first failure in record order: FundusImageError for a photograph,
    DatasetError for its masks. Lenient mode notes each failure in ``report``.
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
