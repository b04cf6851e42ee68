"""What a loaded data set is made of: one record per photograph, and a report of what was skipped.

Every loader in :mod:`drlib.data.loaders` returns ``(records, report)``. A record says where a
photograph is, its grade and where its masks are; it does not hold pixels, so a list of 35,000
records costs almost nothing. The report is the other half of the promise that nothing is dropped
silently: every CSV row or file that did not become a record is listed in it with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple


class DatasetError(ValueError):
    """A data set (CSV file, folder, row or image) is not usable as it stands.

    The message always names the item (file, or CSV file and row) and the problem.
    """

    def __init__(self, item: str | Path, problem: str) -> None:
        self.item = str(item)
        self.problem = problem
        super().__init__(f"{self.item}: {problem}")


class SkippedItem(NamedTuple):
    """One thing that did not become a record: a file or CSV row, and why."""

    item: str
    problem: str


@dataclass
class FundusRecord:
    """One fundus photograph of a data set, with where its grade and masks come from.

    Attributes:
        image_id: identifier from the data set's CSV (file name without extension).
        image_path: the photograph on disk.
        grade: DR grade 0..4, or ``None`` for ungraded photographs (e.g. IDRiD segmentation set).
        source: data set kind that produced the record ("eyepacs", "aptos", "idrid", ...).
        mask_paths: per-mask image files (IDRiD: one ``.tif`` per lesion), keyed by mask name
            from :mod:`drlib.core.lesion_types`; empty when the photograph has none.
        masks_path: one ``.npz`` file in :mod:`drlib.data.masks` format (synthetic data),
            or ``None``.
        extra: anything else the data set gives (eye, macular oedema risk, lesion inventory...).
    """

    image_id: str
    image_path: Path
    grade: int | None
    source: str
    mask_paths: dict[str, Path] = field(default_factory=dict)
    masks_path: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def has_masks(self) -> bool:
        """Whether masks are available for this photograph (either storage form)."""
        return bool(self.mask_paths) or self.masks_path is not None


@dataclass
class LoadReport:
    """What a loader did: how many records it made and what it skipped, with reasons.

    Attributes:
        source: what was loaded (data set kind and root folder).
        loaded: number of records returned.
        skipped: one :class:`SkippedItem` (item, problem) per CSV row or file not loaded.
        unlisted: image files present without a CSV row that the caller allowed
            (``allow_unlisted=True``); they are not problems, but they are not hidden either.
    """

    source: str
    loaded: int = 0
    skipped: list[SkippedItem] = field(default_factory=list)
    unlisted: list[str] = field(default_factory=list)

    def skip(self, item: str | Path, problem: str) -> None:
        """Record that ``item`` was not loaded because of ``problem``."""
        self.skipped.append(SkippedItem(str(item), problem))

    @property
    def ok(self) -> bool:
        """True when nothing was skipped."""
        return not self.skipped

    def problems(self) -> list[str]:
        """The skipped items as ``"item: problem"`` lines."""
        return [f"{s.item}: {s.problem}" for s in self.skipped]

    def __str__(self) -> str:
        lines = [f"{self.source}: loaded {self.loaded}, skipped {len(self.skipped)}"]
        lines += [f"  skipped {line}" for line in self.problems()]
        if self.unlisted:
            lines.append(f"  {len(self.unlisted)} image file(s) without a CSV row (allowed):")
            lines += [f"    {item}" for item in self.unlisted]
        return "\n".join(lines)

    def raise_if_any(self) -> None:
        """Raise :class:`DatasetError` listing every skipped item, if there is one."""
        if self.skipped:
            first = self.skipped[0]
            more = len(self.skipped) - 1
            problem = first.problem
            if more:
                problem += f" (and {more} more skipped item(s):\n" + "\n".join(
                    f"  {line}" for line in self.problems()[1:]
                ) + ")"
            raise DatasetError(first.item, problem)
