"""Reading a training cache without loading it: memory-mapped shards behind one array-like.

:func:`open_cache` checks the manifest (complete, every shard's index file hashing to its
sha256, every pixel file of the recorded size; with ``verify=True`` the pixel files are hashed
too) and returns a :class:`TrainingCache`: the photographs' ids, source files and grades, and
:attr:`TrainingCache.images`, a :class:`CachedImages` that indexes like a uint8 array
(N, S, S, 3) but reads only the rows asked for, from shards opened with
``np.load(mmap_mode="r")``. The operating system's page cache does the rest: memory held by the
process stays at a batch or so, whatever N is.

``(cache.images, cache.grades)`` can be given to :func:`drlib.training.train` like in-memory
arrays; :class:`drlib.data.cache.CacheSequence` adds FundusSequence's seeded augmentation.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from drlib.data.cache.manifest import CacheError, read_manifest, sha256_text, shard_problem
from drlib.data.records import FundusRecord, SkippedItem

MAX_OPEN_SHARDS = 64
"""Memory maps kept open at once (each holds a file descriptor); older ones are closed."""


class CachedImages:
    """The cached photographs as one read-only, array-like uint8 (N, S, S, 3).

    Indexing with an int, a slice or an array of ints returns a NumPy array holding only those
    rows (copied out of the memory-mapped shards); ``len``, ``shape``, ``dtype`` and ``ndim``
    behave as for an array.
    """

    def __init__(self, folder: Path, shard_files: list[str], rows: list[int], size: int) -> None:
        self.folder = Path(folder)
        self.shard_files = list(shard_files)
        self.offsets = np.concatenate([[0], np.cumsum(rows, dtype=np.int64)])
        self.size = int(size)
        self.shape = (int(self.offsets[-1]), self.size, self.size, 3)
        self.dtype = np.dtype(np.uint8)
        self.ndim = 4
        self._open: OrderedDict[int, np.ndarray] = OrderedDict()

    def __len__(self) -> int:
        return self.shape[0]

    def __getstate__(self) -> dict[str, Any]:  # worker processes open their own maps
        return {**self.__dict__, "_open": OrderedDict()}

    def shard(self, k: int) -> np.ndarray:
        """Shard ``k`` as a read-only memory map (N_k, S, S, 3)."""
        array = self._open.get(k)
        if array is None:
            array = np.load(self.folder / self.shard_files[k], mmap_mode="r")
            if len(self._open) >= MAX_OPEN_SHARDS:
                self._open.popitem(last=False)
            self._open[k] = array
        else:
            self._open.move_to_end(k)
        return array

    def _rows(self, key: Any) -> tuple[np.ndarray, bool]:
        n = len(self)
        if isinstance(key, slice):
            return np.arange(n)[key], False
        if isinstance(key, int | np.integer):
            return np.array([int(key)]), True
        rows = np.asarray(key)
        if rows.dtype == bool:
            if rows.shape != (n,):
                raise IndexError(f"boolean index of shape {rows.shape} for {n} images")
            return np.flatnonzero(rows), False
        if rows.ndim != 1 or not np.issubdtype(rows.dtype, np.integer):
            raise IndexError("index the cached images with an int, a slice or a 1-D int array")
        return rows.astype(np.int64), False

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, tuple):
            return self[key[0]][(slice(None), *key[1:])] if not isinstance(key[0], int) \
                else self[key[0]][key[1:]]
        rows, single = self._rows(key)
        n = len(self)
        if rows.size and (rows.min() < -n or rows.max() >= n):
            raise IndexError(f"index out of range for {n} cached images")
        rows = np.where(rows < 0, rows + n, rows)
        out = np.empty((rows.size, self.size, self.size, 3), dtype=np.uint8)
        shards = np.searchsorted(self.offsets, rows, side="right") - 1
        for k in np.unique(shards):
            here = shards == k
            local = rows[here] - self.offsets[k]
            out[here] = self.shard(int(k))[local]
        return out[0] if single else out

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self[:]
        return out if dtype is None else out.astype(dtype)


@dataclass
class TrainingCache:
    """An opened training cache (see :func:`open_cache`).

    Attributes:
        folder: the cache folder.
        manifest: its manifest.
        images: the photographs, array-like uint8 (N, S, S, 3), read on demand.
        grades: int64 (N,), -1 for an ungraded photograph.
        ids: image ids, in cache order (the data set's record order, skipped ones left out).
        files: source files (relative to the data set folder where they are inside it).
        skipped: CSV rows and photographs that are not in the cache, with the reason.
    """

    folder: Path
    manifest: dict[str, Any]
    images: CachedImages
    grades: np.ndarray
    ids: list[str]
    files: list[str]
    skipped: list[SkippedItem] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def size(self) -> int:
        """Side of the cached images in pixels."""
        return int(self.manifest["size"])

    @property
    def preprocess(self) -> str:
        """The preprocessing the photographs went through ("plain" or "graham")."""
        return str(self.manifest["preprocess"])

    def arrays(self, indices: Any = None) -> tuple[Any, np.ndarray]:
        """``(images, grades)`` for :func:`drlib.training.train`; ``indices`` selects rows (the
        images of a subset are then read into memory)."""
        if indices is None:
            return self.images, self.grades
        indices = np.asarray(indices)
        return self.images[indices], self.grades[indices]

    def records(self) -> list[FundusRecord]:
        """One :class:`~drlib.data.records.FundusRecord` per cached photograph, in cache order
        (source file, grade, data set kind): for :func:`drlib.data.patients.split_by_patient`,
        whose parts :meth:`index_of` turns back into cache positions."""
        root = Path(self.manifest["source"])
        kind = str(self.manifest.get("kind") or "cache")
        return [FundusRecord(image_id, root / file, None if grade < 0 else int(grade), kind)
                for image_id, file, grade in zip(self.ids, self.files, self.grades, strict=True)]

    def index_of(self, ids: Any) -> np.ndarray:
        """Positions of the given image ids in the cache (KeyError for an id not cached)."""
        where = {image_id: i for i, image_id in enumerate(self.ids)}
        return np.array([where[i] for i in ids], dtype=np.int64)


def open_cache(folder: str | Path, *, verify: bool = False) -> TrainingCache:
    """Open the training cache in ``folder`` for reading.

    Args:
        folder: a folder written by :func:`~drlib.data.cache.build_cache` (``drlib cache``).
        verify: also hash every pixel file against the manifest (reads the whole cache once).

    Raises:
        CacheError: no manifest, an unfinished build, or a shard file missing, of the wrong size
            or (with ``verify``) not matching its sha256; the message names the file.
    """
    folder = Path(folder)
    manifest = read_manifest(folder)
    if manifest is None:
        raise CacheError(folder, "no training cache here (no manifest.json); build one with "
                                 "`drlib cache SOURCE FOLDER --size S`")
    if not manifest.get("complete"):
        raise CacheError(folder / "manifest.json",
                         "the cache is unfinished (was its build interrupted?): rerun the same "
                         "`drlib cache` command to finish it")
    if len(manifest["shards"]) != manifest["shard_count"]:
        raise CacheError(folder / "manifest.json",
                         f"lists {len(manifest['shards'])} of {manifest['shard_count']} shards")
    files, rows, ids, sources, grades = [], [], [], [], []
    for entry in manifest["shards"]:
        if verify:
            problem = shard_problem(folder, entry)
        else:
            npy = folder / entry["npy"]
            problem = None if npy.is_file() and npy.stat().st_size == entry["npy_bytes"] else \
                f"{entry['npy']} is missing or not {entry['npy_bytes']} bytes"
        meta_path = folder / entry["meta"]
        try:
            meta_text = meta_path.read_text(encoding="utf-8")
        except OSError:
            meta_text = None
        if problem is None and (meta_text is None
                                or sha256_text(meta_text) != entry["meta_sha256"]):
            problem = f"{entry['meta']} is missing or does not match its sha256 in the manifest"
        if problem is not None:
            raise CacheError(folder, f"damaged cache: {problem}; rerun `drlib cache` with the "
                                     "same arguments to rebuild it")
        members = [m for m in json.loads(meta_text)["members"] if m["row"] is not None]
        files.append(entry["npy"])
        rows.append(len(members))
        ids += [m["id"] for m in members]
        sources += [m["file"] for m in members]
        grades += [-1 if m["grade"] is None else int(m["grade"]) for m in members]
    images = CachedImages(folder, files, rows, int(manifest["size"]))
    skipped = [SkippedItem(s["item"], s["problem"]) for s in manifest.get("skipped", [])]
    return TrainingCache(folder=folder, manifest=manifest, images=images,
                         grades=np.array(grades, dtype=np.int64), ids=ids, files=sources,
                         skipped=skipped)
