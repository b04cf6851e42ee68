"""Building a training cache: a data set folder, preprocessed once, on every core, resumable.

:func:`build_cache` loads any folder :func:`drlib.data.loaders.load_dataset` reads (EyePACS,
APTOS, IDRiD, generic CSV, synthetic), cuts its photographs into fixed-size shards (consecutive
records; :func:`shard_images_for` sizes them to about 64 MiB of pixels) and hands each shard to a
worker *process*. A worker hashes every source file, decodes it (a JPEG at reduced size: the
decoder itself shrinks it by 2, 4 or 8 while both sides stay at least :func:`decode_size`),
preprocesses it exactly as
:class:`~drlib.data.pipeline.FundusSequence` does, and writes the shard's pixels and its index
file atomically. The parent only collects the shards' manifest entries and rewrites the
manifest after each one, so the memory of the whole build is a few shards, whatever the number
of photographs.

Resuming: a rerun with the same settings removes the debris of killed writers, and a worker
given a shard the manifest already lists first checks it (both files hash to the manifest's
sha256, the member list is the same, every source file still has the size and modification
time it had) and reuses it; anything else is rebuilt. A photograph that cannot be used
(unreadable, truncated, not an image, grey, no field of view) is listed with the reason and the
rest of its shard is cached.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np

from drlib.data.cache.manifest import (
    FORMAT,
    MANIFEST,
    SHARDS,
    VERSION,
    CacheError,
    dumps,
    read_manifest,
    settings_differences,
    sha256_file,
    sha256_text,
    shard_names,
    shard_problem,
    write_manifest,
)
from drlib.data.image_io import read_fundus
from drlib.data.loaders import load_dataset
from drlib.data.preprocess import PREPROCESSORS, WORKING_SIZE
from drlib.data.records import DatasetError, FundusRecord, SkippedItem
from drlib.runtime.atomic import atomic_path, atomic_write_text, remove_debris
from drlib.runtime.storage import OutputFolderError, check_output_folder

DRAFT_OVERSAMPLING = 2
"""A JPEG is decoded at reduced size only while both its sides stay at least this many times
the cache size: the preprocessing's area interpolation then still averages over 2 x 2 decoded
pixels or more per cached pixel."""


def decode_size(size: int) -> int:
    """The smallest side a JPEG is decoded at for a cache of ``size`` px: :data:`DRAFT_OVERSAMPLING`
    times ``size``, and never below the preprocessing's working size
    (:data:`~drlib.data.preprocess.WORKING_SIZE`, 512 px), so that the field of view is found at
    the resolution a full decode would give it: the eye's centre and radius, and so the crop,
    stay those of the full photograph. A 3,888 x 2,592 EyePACS photograph is decoded at a
    quarter of its size (972 x 648) for 224 px, at half for 512 px."""
    return max(DRAFT_OVERSAMPLING * int(size), WORKING_SIZE)

SHARD_BYTES = 64 * 2**20
"""Default pixel bytes per shard; a worker holds one shard in memory while it fills it."""

Progress = Callable[[int, int, dict[str, Any]], None]
"""``progress(photographs done, photographs planned, shard entry)``, called after each shard."""


@dataclass
class CacheSummary:
    """What :func:`build_cache` did.

    Attributes:
        folder: the cache folder.
        planned: photographs the data set's records name.
        cached: photographs in the cache.
        skipped: every CSV row or photograph left out, with the reason.
        shards: number of shards; ``built`` of them written by this run, ``reused`` verified
            and kept from an earlier one.
        seconds: wall time of the build.
    """

    folder: Path
    planned: int
    cached: int
    skipped: list[SkippedItem] = field(default_factory=list)
    shards: int = 0
    built: int = 0
    reused: int = 0
    seconds: float = 0.0

    def lines(self, max_listed: int = 20) -> list[str]:
        """The summary in words: counts, shards, speed, and the first ``max_listed`` skipped
        items with their reasons (the manifest lists every one)."""
        rate = self.planned / self.seconds if self.seconds > 0 else float("nan")
        out = [f"cached {self.cached} of {self.planned} photograph(s) into {self.folder}/; "
               f"skipped {len(self.skipped)}",
               f"shards: {self.shards} ({self.built} written, {self.reused} verified and "
               f"reused); {self.seconds:.1f} s, {rate:.1f} photographs/s"]
        out += [f"  skipped {item.item}: {item.problem}" for item in self.skipped[:max_listed]]
        if len(self.skipped) > max_listed:
            out.append(f"  ... and {len(self.skipped) - max_listed} more: see "
                       f"{self.folder / 'manifest.json'}")
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())


MIN_SHARD_IMAGES = 16
TARGET_SHARDS = 64


def shard_images_for(size: int, n: int | None = None, shard_bytes: int = SHARD_BYTES) -> int:
    """Photographs per shard: at most ``shard_bytes`` of uint8 pixels (a worker's memory), and
    for a set of ``n`` photographs small enough to make about :data:`TARGET_SHARDS` shards (every
    core gets work), but not fewer than :data:`MIN_SHARD_IMAGES` photographs."""
    by_bytes = max(1, int(shard_bytes) // (int(size) * int(size) * 3))
    if n is None:
        return by_bytes
    return max(1, min(by_bytes, max(MIN_SHARD_IMAGES, -(-int(n) // TARGET_SHARDS))))


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root).as_posix()
    except ValueError:
        return str(path.resolve())


# --------------------------------------------------------------------------- worker side


def _worker_init() -> None:
    import cv2

    cv2.setNumThreads(1)  # one process per core already; OpenCV threads would oversubscribe


def _sources_unchanged(folder: Path, entry: dict[str, Any], members: list[list]) -> str | None:
    import json

    meta = json.loads((folder / entry["meta"]).read_text(encoding="utf-8"))
    for (_, path, _, _), item in zip(members, meta["members"], strict=True):
        try:
            stat = os.stat(path)
        except OSError:
            return f"{path} is gone"
        if (stat.st_size, stat.st_mtime_ns) != (item["bytes"], item["mtime_ns"]):
            return f"{path} changed since it was cached"
    return None


def _prepare(path: str, size: int, preprocess: str, min_size: int | None) -> np.ndarray:
    from drlib.data.image_io import FundusImageError

    image = read_fundus(path, min_size=min_size)
    try:
        image, _ = PREPROCESSORS[preprocess](image, None, size=size)
    except ValueError as err:  # no field of view...: the words FundusSequence uses
        raise FundusImageError(path, f"cannot preprocess: {err}") from None
    if image.shape != (size, size, 3):
        raise FundusImageError(
            path, f"preprocessing gave shape {image.shape}, expected {(size, size, 3)}")
    return image


def build_shard(job: dict[str, Any]) -> dict[str, Any]:
    """Reuse (after verification) or build one shard; returns its manifest entry.

    ``job``: ``folder``, ``shard`` (its number), ``members`` (``[id, path, file, grade]`` per
    photograph), ``size``, ``preprocess``, ``min_size`` (reduced JPEG decoding, or ``None``)
    and ``previous`` (the manifest's entry for this shard, or ``None``). Runs in a worker
    process; every file it writes is written atomically.
    """
    folder = Path(job["folder"])
    members = job["members"]
    members_sha256 = sha256_text(dumps([[m[0], m[2], m[3]] for m in members]))
    previous = job.get("previous")
    if previous is not None and previous.get("members_sha256") == members_sha256:
        if shard_problem(folder, previous) is None \
                and _sources_unchanged(folder, previous, members) is None:
            return {**previous, "reused": True}

    size = int(job["size"])
    pixels = np.empty((len(members), size, size, 3), dtype=np.uint8)
    items, skipped, rows = [], [], 0
    for image_id, path, file, grade in members:
        item: dict[str, Any] = {"id": image_id, "file": file, "grade": grade}
        try:
            stat = os.stat(path)
            item.update(bytes=stat.st_size, mtime_ns=stat.st_mtime_ns, sha256=sha256_file(path))
        except OSError as err:
            item.update(bytes=None, mtime_ns=None, sha256=None)
            problem = f"cannot read the file ({err.strerror or err})"
        else:
            try:
                pixels[rows] = _prepare(path, size, job["preprocess"], job["min_size"])
                problem = None
            except DatasetError as err:  # FundusImageError: the loaders' words for bad files
                problem = err.problem
            except Exception as err:  # one bad file must not stop the shard
                problem = f"cannot read ({type(err).__name__}: {err})"
        if problem is None:
            item.update(row=rows, problem=None)
            rows += 1
        else:
            item.update(row=None, problem=problem)
            skipped.append([path, problem])
        items.append(item)

    npy, meta = shard_names(int(job["shard"]))
    with atomic_path(folder / npy) as tmp:
        np.save(tmp, pixels[:rows])
    del pixels
    meta_text = dumps({"shard": int(job["shard"]), "members": items})
    atomic_write_text(folder / meta, meta_text)
    return {
        "shard": int(job["shard"]),
        "npy": npy, "npy_bytes": (folder / npy).stat().st_size,
        "npy_sha256": sha256_file(folder / npy),
        "meta": meta, "meta_bytes": len(meta_text.encode("utf-8")),
        "meta_sha256": sha256_text(meta_text),
        "members_sha256": members_sha256,
        "images": len(members), "rows": rows, "skipped": skipped,
        "reused": False,
    }


# --------------------------------------------------------------------------- parent side


def _plan(records: Sequence[FundusRecord], root: Path, per_shard: int) -> list[list[list]]:
    members = [[r.image_id, str(Path(r.image_path).resolve()), _relative(Path(r.image_path), root),
                None if r.grade is None else int(r.grade)] for r in records]
    return [members[i : i + per_shard] for i in range(0, len(members), per_shard)]


def _check_writable(folder: Path, bytes_needed: int) -> None:
    """Before any work: the cache folder can be written and its disk has room."""
    try:
        check_output_folder(folder, bytes_needed, what="the cache folder")
        (folder / SHARDS).mkdir(exist_ok=True)
    except OutputFolderError as err:
        raise CacheError(folder, err.problem) from None
    except OSError as err:
        raise CacheError(folder, f"cannot create {folder / SHARDS} ({err.strerror or err})") \
            from None


def build_cache(
    source: str | Path,
    folder: str | Path,
    size: int,
    preprocess: str = "plain",
    *,
    workers: int | None = None,
    kind: str | None = None,
    shard_images: int | None = None,
    reduced_decode: bool = True,
    progress: Progress | None = None,
    loader_options: dict[str, Any] | None = None,
) -> CacheSummary:
    """Preprocess every photograph of the data set ``source`` into a training cache in ``folder``.

    Args:
        source: a data set folder (layout detected, or ``kind``), or a spec mapping, as
            :func:`~drlib.data.loaders.load_dataset` takes. It is loaded leniently: CSV rows and
            files the loader refuses are listed in the manifest with the reason.
        folder: the cache folder (created); a cache already there with the same settings is
            resumed, one with other settings is refused.
        size: side of the square cached images, in pixels.
        preprocess: ``"plain"`` or ``"graham"`` (:data:`~drlib.data.preprocess.PREPROCESSORS`).
        workers: worker processes (default: the cores this process may use); 1 builds in this
            process.
        kind: data set kind, overriding layout detection.
        shard_images: photographs per shard (default: what the cache in ``folder`` has, for a
            new cache :func:`shard_images_for` ``(size, number of photographs)``).
        reduced_decode: decode JPEGs at reduced size (see :func:`decode_size`); with
            ``False`` every photograph is decoded in full, so the cache holds exactly what
            :func:`~drlib.data.pipeline.load_arrays` would return.
        progress: called after each shard (:data:`Progress`).
        loader_options: passed to the loader (e.g. ``{"split": "test"}`` for IDRiD).

    Returns:
        A :class:`CacheSummary`.

    Raises:
        DatasetError: the data set folder cannot be read at all (the loader's structural errors).
        CacheError: ``folder`` cannot be written, or holds a cache with other settings.
    """
    start = time.perf_counter()
    size = int(size)
    if size < 8:
        raise ValueError(f"size must be at least 8 pixels, got {size}")
    if preprocess not in PREPROCESSORS:
        raise ValueError(f"unknown preprocess {preprocess!r}; use one of {sorted(PREPROCESSORS)}")
    folder = Path(folder)
    source_root = Path(source["root"] if isinstance(source, dict) else source).resolve()
    options = {"validate_images": False, **(loader_options or {})}
    records, report = load_dataset(source, strict=False, kind=kind, **options)
    kind = kind or (source.get("kind") if isinstance(source, dict) else None) \
        or (records[0].source if records else None)
    old = read_manifest(folder)
    if shard_images is None:  # resuming: the shards the cache has; else sized for this set
        shard_images = old["shard_images"] if old is not None and "shard_images" in old \
            else shard_images_for(size, len(records))
    per_shard = int(shard_images)
    settings = {"format": FORMAT, "version": VERSION, "source": str(source_root), "kind": kind,
                "size": size, "preprocess": preprocess, "reduced_decode": bool(reduced_decode),
                "shard_images": per_shard}
    if old is not None:
        differences = settings_differences(old, settings)
        if differences:
            listed = ", ".join(f"{k}: {a!r} in the cache, {b!r} wanted"
                               for k, (a, b) in differences.items())
            raise CacheError(folder / MANIFEST, f"holds a cache with other settings ({listed}); "
                             "choose another folder or delete this one")
    plan = _plan(records, source_root, per_shard)
    kept_bytes = sum(e["npy_bytes"] for e in (old or {}).get("shards", []))
    _check_writable(folder, max(0, len(records) * size * size * 3 - kept_bytes) + 2**20)
    remove_debris(folder)
    previous = {e["shard"]: e for e in (old or {}).get("shards", []) if e["shard"] < len(plan)}
    entries: dict[int, dict[str, Any]] = dict(previous)
    loader_skipped = [{"item": s.item, "problem": s.problem} for s in report.skipped]

    def save(complete: bool) -> None:
        shards = [entries[k] for k in sorted(entries)]
        skipped = loader_skipped + [{"item": item, "problem": problem}
                                    for e in shards for item, problem in e["skipped"]]
        write_manifest(folder, {
            **settings, "complete": complete, "planned": len(records) + len(loader_skipped),
            "records": len(records), "cached": sum(e["rows"] for e in shards),
            "shard_count": len(plan), "shards": shards, "skipped": skipped,
        })

    save(complete=False)
    min_size = decode_size(size) if reduced_decode else None
    jobs = [{"folder": str(folder), "shard": k, "members": members, "size": size,
             "preprocess": preprocess, "min_size": min_size, "previous": previous.get(k)}
            for k, members in enumerate(plan)]
    built = reused = done = 0

    def collect(entry: dict[str, Any]) -> None:
        nonlocal built, reused, done
        was_reused = entry.pop("reused")
        reused += was_reused
        built += not was_reused
        entries[entry["shard"]] = entry
        done += entry["images"]
        save(complete=False)
        if progress is not None:
            progress(done, len(records), {**entry, "reused": was_reused})

    if workers is None:
        workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") \
            else os.cpu_count() or 1
    workers = max(1, min(int(workers), len(jobs) or 1))
    if workers == 1:
        for job in jobs:
            collect(build_shard(job))
    else:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn"),
                                 initializer=_worker_init) as pool:
            pending: set[Future] = set()
            queue = iter(jobs)
            try:
                for job in queue:
                    pending.add(pool.submit(build_shard, job))
                    if len(pending) >= 2 * workers:  # bounded: a few shards in flight
                        finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                        for future in sorted(finished, key=lambda f: f.result()["shard"]):
                            collect(future.result())
                for future in sorted(wait(pending).done, key=lambda f: f.result()["shard"]):
                    collect(future.result())
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
    save(complete=True)
    wanted = {name for job in jobs for name in shard_names(job["shard"])}
    for stale in sorted((folder / SHARDS).iterdir()):
        if stale.is_file() and f"{SHARDS}/{stale.name}" not in wanted:
            stale.unlink()
    manifest = read_manifest(folder) or {}
    return CacheSummary(
        folder=folder, planned=manifest.get("planned", 0), cached=manifest.get("cached", 0),
        skipped=[SkippedItem(s["item"], s["problem"]) for s in manifest.get("skipped", [])],
        shards=len(plan), built=built, reused=reused, seconds=time.perf_counter() - start,
    )
