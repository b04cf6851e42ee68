"""Building synthetic splits on disk in the Kaggle/EyePACS layout, on every core.

    <root>/<split>/trainLabels.csv      image,level (the recorded label)
    <root>/<split>/train/<image>.jpeg   photographs
    <root>/<split>/masks/<image>.npz    every mask + the quadrant map (drlib.data.masks)
    <root>/<split>/inventory.jsonl      per image: true grade, eye, presentation, lesion inventory
    <root>/<split>/manifest.json        generator version, configuration, seeds, fingerprint

Each image's random stream is a :class:`numpy.random.SeedSequence` spawned from the base seed with
the key (split, index), so two images never share a stream (no 32-bit seeds that could collide)
and a split is the same bytes wherever and whenever it is built.

A split proves what it holds: its manifest records the sha256 of every image and mask file, and
its fingerprint is computed from those bytes (:func:`split_fingerprint`), never copied from a
stored string. A cached split is reused only when its manifest matches the request *and* its files
still hash to what the manifest records (:func:`verify_split`); a tampered or damaged file fails
loudly, naming the first file that differs. A half-written split is never mistaken for a finished
one (it is written under a temporary name and renamed at the end), and two processes asking for
the same split at once do not both write it: the second waits on a lock file
(``<root>/.<split>.lock``) and then reuses what the first built.

A chapter keeps its splits in one folder named by :func:`chapter_cache`, and builds them with
:func:`build_chapter_splits`; a script that renders a chapter's data ahead of it (the GPU
session's ``data`` job) calls the same two, so both name and fill the same folder.
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import io
import json
import os
import shutil
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict
from multiprocessing import current_process, get_context
from pathlib import Path
from typing import NamedTuple

import cv2
import numpy as np
from PIL import Image

from drlib.core.grades import class_prior
from drlib.data.masks import save_masks
from drlib.data.records import DatasetError
from drlib.runtime.memory import reuse_large_allocations
from drlib.synth.render import GENERATOR_VERSION, SynthConfig, render_fundus

SPLIT_CODES = {"train": 1, "val": 2, "test": 3}
JPEG_QUALITY = 95  # for a camera that did not compress (jpeg_quality 100)


class SplitIntegrityError(DatasetError):
    """A cached split's files do not hash to what its manifest records."""


def split_code(split: str) -> int:
    """A number for a split name: 1, 2, 3 for train, val, test; a stable hash otherwise."""
    code = SPLIT_CODES.get(split)
    if code is None:
        code = int.from_bytes(hashlib.sha256(split.encode()).digest()[:4], "little") + 100
    return code


def image_seed(base_seed: int, split: str, index: int) -> np.random.SeedSequence:
    """The random stream of image ``index`` of ``split``.

    The child ``(split, index)`` of the base seed's SeedSequence, exactly what
    ``SeedSequence(base_seed, spawn_key=(split,)).spawn(...)[index]`` gives: distinct spawn keys
    give independent streams, so images of different splits (or of one split) never share one.
    """
    return np.random.SeedSequence(int(base_seed), spawn_key=(split_code(split), int(index)))


def split_grades(n: int, base_seed: int, split: str, prior) -> np.ndarray:
    """Target grades of a split, drawn from the class prior with the split's own generator."""
    rng = np.random.default_rng(np.random.SeedSequence([int(base_seed), split_code(split), 271828]))
    return rng.choice(5, size=n, p=class_prior(prior))


def _encode_jpeg(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


def _render_to_disk(job: tuple) -> dict:
    out_dir, image_id, seed, grade, config = job
    sample = render_fundus(seed, int(grade), config)
    # the camera's own JPEG (encoded once); an uncompressed camera's image is encoded here
    jpeg = sample.jpeg if sample.jpeg is not None else _encode_jpeg(sample.image)
    image_path = Path(out_dir) / "train" / f"{image_id}.jpeg"
    image_path.write_bytes(jpeg)
    mask_path = Path(out_dir) / "masks" / f"{image_id}.npz"
    save_masks(mask_path, sample.masks, sample.quadrants)
    return {
        "image": image_id, "seed": list(sample.seed), "level": int(sample.label),
        "grade": int(sample.grade), "grades": dict(sample.grades), "eye": sample.eye,
        "presentation": sample.presentation,
        "inventory": sample.inventory.to_dict(),
        # the bytes on disk, hashed as every later check hashes them (the split's fingerprint
        # is computed from these rows, so the files are not read a second time)
        "sha256": _sha256_file(image_path),
        "mask_sha256": _sha256_file(mask_path),
    }


def _worker_init() -> None:
    """Set up a builder process: one process per core, so OpenCV runs single-threaded in each
    (its default thread pool per process would put cores x cores threads on the machine; the
    pixels do not depend on the thread count), and freed large blocks are kept for reuse."""
    cv2.setNumThreads(1)
    reuse_large_allocations()


def _pool_map(fn, jobs: list, workers: int | None, desc: str, progress: bool):
    """Map over jobs on ``workers`` processes (spawned: safe after TensorFlow/JAX started)."""
    from tqdm.auto import tqdm

    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(jobs) < 8:
        return [fn(j) for j in tqdm(jobs, desc=desc, disable=not progress)]
    chunk = max(1, min(32, len(jobs) // (4 * workers)))
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn"),
                             initializer=_worker_init) as pool:
        return list(tqdm(pool.map(fn, jobs, chunksize=chunk), total=len(jobs), desc=desc,
                         disable=not progress))


def split_request(split: str, n: int, base_seed: int, prior, config: SynthConfig) -> dict:
    """What identifies a split: the entries of its manifest that a cached copy must match."""
    return {"generator_version": GENERATOR_VERSION, "split": split, "n": int(n),
            "seed": int(base_seed),
            "prior": prior if isinstance(prior, str) else [float(p) for p in prior],
            "config": asdict(config)}


def _sha256_file(path: Path) -> str | None:
    """The file's sha256, or None when it is missing."""
    if not path.is_file():
        return None
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_hashes(split_dir: str | Path) -> list[dict]:
    """Every image of a split in label-file order, with its label and its files' sha256."""
    with open(split_dir / "trainLabels.csv", newline="") as fh:
        labels = [(row["image"], int(row["level"])) for row in csv.DictReader(fh)]
    return [{"image": image, "level": level,
             "sha256": _sha256_file(split_dir / "train" / f"{image}.jpeg"),
             "mask_sha256": _sha256_file(split_dir / "masks" / f"{image}.npz")}
            for image, level in labels]


def fingerprint_of_rows(rows: list[dict]) -> str:
    """sha256 over every image's and mask file's hash and label, in order."""
    h = hashlib.sha256()
    for r in rows:
        h.update(f"{r['image']},{r['level']},{r['sha256']},{r['mask_sha256']}\n".encode())
    return h.hexdigest()


def split_fingerprint(split_dir: str | Path) -> str:
    """The fingerprint of a split on disk, computed from the bytes of its images, masks and labels.

    Raises:
        FileNotFoundError: an image or mask listed in the label file is missing.
    """
    split_dir = Path(split_dir)
    rows = file_hashes(split_dir)
    for row in rows:
        if row["sha256"] is None or row["mask_sha256"] is None:
            raise FileNotFoundError(f"{split_dir}: the image or mask of {row['image']} is missing")
    return fingerprint_of_rows(rows)


_CHECKS = (("image", "trainLabels.csv"), ("level", "trainLabels.csv"),
           ("sha256", "train/{}.jpeg"), ("mask_sha256", "masks/{}.npz"))


class SplitProblem(NamedTuple):
    """One way a cached split differs from its manifest."""

    image: str | None  # the image id; None for a problem of the whole split
    problem: str  # names the file
    missing: bool = False  # the file is not there at all (rather than changed)


def split_problems(split_dir: str | Path) -> list[SplitProblem]:
    """Every way a cached split's files differ from its manifest.

    A whole-split problem (no file hashes recorded, a different number of images, an edited
    manifest) has no image id. Each problem names the file. Empty: the split is what its
    manifest says, byte for byte.
    """
    return _check_split(split_dir)[0]


def _check_split(split_dir: str | Path) -> tuple[list[SplitProblem], str | None]:
    """:func:`split_problems`, and the fingerprint of the files' bytes it hashed (each file once;
    ``None`` when the manifest records no file hashes)."""
    split_dir = Path(split_dir)
    manifest = read_manifest(split_dir)
    recorded = manifest.get("files")
    if not recorded:
        return [SplitProblem(None, f"{split_dir / 'manifest.json'}: records no file hashes")], None
    rows = file_hashes(split_dir)
    problems: list[SplitProblem] = []
    for want, have in zip(recorded, rows, strict=False):
        for key, where in _CHECKS:
            if want[key] == have[key]:
                continue
            path = split_dir / where.format(want["image"])
            if have[key] is None:
                problems.append(SplitProblem(want["image"], f"{path}: missing from the cached "
                                             "split", missing=True))
            else:
                problems.append(SplitProblem(
                    want["image"], f"{path} (image {want['image']}): {key} differs from the "
                    f"split's manifest (recorded {want[key]!r}, found {have[key]!r})"))
            break
    if len(recorded) != len(rows):
        problems.append(SplitProblem(None, f"{split_dir / 'trainLabels.csv'}: lists {len(rows)} "
                                           f"images, the manifest {len(recorded)}"))
    fingerprint = fingerprint_of_rows(rows)
    if not problems and fingerprint != manifest.get("fingerprint"):
        problems.append(SplitProblem(None, f"{split_dir / 'manifest.json'}: fingerprint does not "
                                           "match the files (the manifest itself was edited)"))
    return problems, fingerprint


def verify_split(split_dir: str | Path) -> str:
    """Hash a cached split's files and check them against its manifest; return the fingerprint.

    The fingerprint is computed from the bytes just hashed (each file read once), so it is what
    :func:`split_fingerprint` would return, without reading the files a second time.

    Raises:
        SplitIntegrityError: a file is missing, added, or its bytes or label differ from what the
            manifest records; the message names the first such file (:func:`split_problems`
            lists them all).
    """
    problems, fingerprint = _check_split(split_dir)
    if problems:
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise SplitIntegrityError(Path(split_dir), problems[0].problem + more)
    return fingerprint


def build_split(root: str | Path, split: str, n: int, seed: int = 0, prior="eyepacs",
                config: SynthConfig | None = None, size: int | None = None,
                label_scale: str | None = None, workers: int | None = None,
                progress: bool = True) -> Path:
    """Write (or reuse) one synthetic split; returns its folder ``<root>/<split>``.

    ``size`` and ``label_scale`` override ``config``'s (the render size, and the grading scale of
    the recorded label ``level``: "icdr" or "table1"; every image's grade on every scale is in
    ``inventory.jsonl``). A cached split is reused only when it matches the request and its files
    still hash to its manifest.

    Raises:
        SplitIntegrityError: the cached split matching the request has a damaged or changed file.
    """
    return build_split_fingerprinted(root, split, n, seed=seed, prior=prior, config=config,
                                     size=size, label_scale=label_scale, workers=workers,
                                     progress=progress)[0]


def build_split_fingerprinted(root: str | Path, split: str, n: int, seed: int = 0,
                              prior="eyepacs", config: SynthConfig | None = None,
                              size: int | None = None, label_scale: str | None = None,
                              workers: int | None = None,
                              progress: bool = True) -> tuple[Path, str]:
    """:func:`build_split`, and the split's fingerprint: ``(folder, fingerprint)``.

    The fingerprint is :func:`split_fingerprint` of the folder, computed from the files' bytes
    in the pass that hashes them anyway (:func:`verify_split` for a reused split, the hashes
    taken as each file is written for a new one), so getting it costs no second pass over the
    files.

    Raises:
        SplitIntegrityError: the cached split matching the request has a damaged or changed file.
    """
    config = config or SynthConfig()
    if size is not None:
        config = SynthConfig(**{**asdict(config), "size": int(size)})
    if label_scale is not None:
        config = SynthConfig(**{**asdict(config), "label_scale": label_scale})
    root = Path(root)
    _refuse_in_worker_start()
    with _split_lock(root, split):  # another process building this split finishes first
        return _build_split_locked(root, split, n, seed, prior, config, workers, progress)


def _refuse_in_worker_start() -> None:
    """Fail at once where a spawned worker process is re-running its parent's main script.

    The builder renders on spawned worker processes, and spawning re-imports the main script
    in each of them. A script that builds a split at its top level (no ``if __name__ ==
    "__main__":``) would have every worker build the same split again: each would wait for the
    parent's lock while the parent waits for the workers, and nothing would ever finish.
    """
    if getattr(current_process(), "_inheriting", False):
        raise RuntimeError(
            "a synthetic split was requested while a worker process was starting: the script "
            "that builds it runs on import (the split builder spawns worker processes, and "
            "each re-imports the main script). Put the script's work under "
            "`if __name__ == \"__main__\":`, or pass workers=1.")


@contextmanager
def _split_lock(root: Path, split: str) -> Iterator[None]:
    """Hold an exclusive lock on ``<root>/.<split>.lock`` (released when the process dies)."""
    root.mkdir(parents=True, exist_ok=True)
    with open(root / f".{split}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build_split_locked(root: Path, split: str, n: int, seed: int, prior, config: SynthConfig,
                        workers: int | None, progress: bool) -> tuple[Path, str]:
    target = root / split
    wanted = split_request(split, n, seed, prior, config)
    differences = cached_split_differences(target, wanted)
    if differences == {}:
        return target, verify_split(target)  # reuse only what still hashes to its manifest
    if differences is not None:
        shutil.rmtree(target)
    tmp = root / f".{split}.partial"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "train").mkdir(parents=True)
    (tmp / "masks").mkdir()
    grades = split_grades(n, seed, split, prior)
    jobs = [(str(tmp), f"synth_{split}_{i:06d}", image_seed(seed, split, i), grades[i], config)
            for i in range(n)]
    rows = _pool_map(_render_to_disk, jobs, workers, f"rendering {split}", progress)
    with open(tmp / "trainLabels.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["image", "level"])
        writer.writerows([r["image"], r["level"]] for r in rows)
    with open(tmp / "inventory.jsonl", "w") as fh:
        for r in rows:
            fh.write(json.dumps({k: r[k] for k in ("image", "seed", "grade", "grades", "level",
                                                    "eye", "presentation", "inventory")}) + "\n")
    counts = np.bincount([r["level"] for r in rows], minlength=5).tolist()
    files = [{k: r[k] for k in ("image", "level", "sha256", "mask_sha256")} for r in rows]
    fingerprint = fingerprint_of_rows(files)  # = split_fingerprint(tmp), from the same hashes
    (tmp / "manifest.json").write_text(json.dumps(
        {**wanted, "grade_counts": counts, "fingerprint": fingerprint, "files": files}, indent=2))
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target, fingerprint


def chapter_cache(root: str | Path, chapter: str, label_scale: str, render_size: int,
                  seed: int) -> Path:
    """The folder of a chapter's synthetic splits: ``<root>/<chapter>_<scale>_<size>px_seed<seed>``
    (e.g. ``ch02_icdr_384px_seed0``). A model's manifest records this name (its
    ``dataset_fingerprint["cache"]``), so that later chapters can find and rebuild its data."""
    return Path(root) / f"{chapter}_{label_scale}_{int(render_size)}px_seed{int(seed)}"


def build_chapter_splits(root: str | Path, chapter: str, *, n_train: int, n_val: int,
                         prior, val_prior, seed: int, render_size: int, label_scale: str,
                         workers: int | None = None, progress: bool = True) -> dict[str, Path]:
    """A chapter's training and validation splits in :func:`chapter_cache`, built or reused.

    The training split has ``n_train`` photographs drawn with grade distribution ``prior``, the
    validation split ``n_val`` with ``val_prior``; both are rendered at ``render_size`` px with
    labels on ``label_scale``, from ``seed``. Returns ``{"train": folder, "val": folder}``.
    """
    return build_chapter_splits_fingerprinted(
        root, chapter, n_train=n_train, n_val=n_val, prior=prior, val_prior=val_prior, seed=seed,
        render_size=render_size, label_scale=label_scale, workers=workers, progress=progress)[0]


def build_chapter_splits_fingerprinted(
        root: str | Path, chapter: str, *, n_train: int, n_val: int, prior, val_prior,
        seed: int, render_size: int, label_scale: str, workers: int | None = None,
        progress: bool = True) -> tuple[dict[str, Path], dict[str, str]]:
    """:func:`build_chapter_splits`, and each split's fingerprint: ``(folders, fingerprints)``.

    The fingerprints come from the pass that hashes every file anyway (see
    :func:`build_split_fingerprinted`), so a chapter that records them reads no file twice.
    """
    cache = chapter_cache(root, chapter, label_scale, render_size, seed)
    built = {split: build_split_fingerprinted(cache, split, n, seed=seed, prior=split_prior,
                                              size=render_size, label_scale=label_scale,
                                              workers=workers, progress=progress)
             for split, n, split_prior in (("train", n_train, prior), ("val", n_val, val_prior))}
    return ({split: folder for split, (folder, _) in built.items()},
            {split: fingerprint for split, (_, fingerprint) in built.items()})


def cached_split_differences(split_dir: str | Path, request: dict) -> dict | None:
    """How a finished split cached in ``split_dir`` differs from ``request``.

    ``None`` when no finished split is there; otherwise ``{entry: (cached, requested)}`` for
    every entry of :func:`split_request` that differs (empty: the cached split can be reused).
    """
    manifest_path = Path(split_dir) / "manifest.json"
    if not manifest_path.exists():
        return None
    have = json.loads(manifest_path.read_text())
    return {k: (have.get(k), v) for k, v in request.items() if have.get(k) != v}


def read_manifest(split_dir: str | Path) -> dict:
    return json.loads((Path(split_dir) / "manifest.json").read_text())
