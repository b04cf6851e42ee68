"""Building synthetic splits on disk in the Kaggle/EyePACS layout, on every core.

    <root>/<split>/trainLabels.csv      image,level (the recorded label)
    <root>/<split>/train/<image>.jpeg   photographs
    <root>/<split>/masks/<image>.npz    every mask + the quadrant map (drlib.masks)
    <root>/<split>/inventory.jsonl      per image: true grade, eye, presentation, lesion inventory
    <root>/<split>/manifest.json        generator version, configuration, seeds, fingerprint

Each image's seed is derived from (base seed, split, index), so splits never share a seed and a
split is the same bytes wherever and whenever it is built. A finished split is reused when its
manifest matches the request; a half-written one is never mistaken for a finished one (it is
written under a temporary name and renamed at the end).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
from multiprocessing import get_context
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from drlib.lesion_plan import class_prior
from drlib.masks import save_masks
from drlib.synth import GENERATOR_VERSION, SynthConfig, render_fundus

SPLIT_CODES = {"train": 1, "val": 2, "test": 3}
JPEG_QUALITY = 95


def image_seed(base_seed: int, split: str, index: int) -> int:
    """The seed of image ``index`` of ``split``: disjoint across splits, stable across runs."""
    code = SPLIT_CODES.get(split)
    if code is None:
        code = int.from_bytes(hashlib.sha256(split.encode()).digest()[:4], "little") + 100
    return int(np.random.SeedSequence([int(base_seed), code, int(index)]).generate_state(1)[0])


def split_grades(n: int, base_seed: int, split: str, prior) -> np.ndarray:
    """Target grades of a split, drawn from the class prior with the split's own generator."""
    code = SPLIT_CODES.get(split, 99)
    rng = np.random.default_rng(np.random.SeedSequence([int(base_seed), code, 271828]))
    return rng.choice(5, size=n, p=class_prior(prior))


def _encode_jpeg(image: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=JPEG_QUALITY)
    return buf.getvalue()


def _render_to_disk(job: tuple) -> dict:
    out_dir, image_id, seed, grade, config = job
    sample = render_fundus(seed, int(grade), config)
    jpeg = _encode_jpeg(sample.image)
    (Path(out_dir) / "train" / f"{image_id}.jpeg").write_bytes(jpeg)
    mask_path = Path(out_dir) / "masks" / f"{image_id}.npz"
    save_masks(mask_path, sample.masks, sample.quadrants)
    return {
        "image": image_id, "seed": int(seed), "level": int(sample.label),
        "grade": int(sample.grade), "eye": sample.eye, "presentation": sample.presentation,
        "inventory": sample.inventory.to_dict(),
        "sha256": hashlib.sha256(jpeg).hexdigest(),
        "mask_sha256": hashlib.sha256(mask_path.read_bytes()).hexdigest(),
    }


def _render_to_array(job: tuple) -> tuple[np.ndarray, int]:
    seed, grade, config, size = job
    sample = render_fundus(seed, int(grade), config)
    image = sample.image
    if image.shape[0] != size:
        image = cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)
    return image, int(sample.label)


def _pool_map(fn, jobs: list, workers: int | None, desc: str, progress: bool):
    """Map over jobs on ``workers`` processes (spawned: safe after TensorFlow/JAX started)."""
    from tqdm.auto import tqdm

    workers = workers or os.cpu_count() or 1
    if workers == 1 or len(jobs) < 8:
        return [fn(j) for j in tqdm(jobs, desc=desc, disable=not progress)]
    chunk = max(1, min(32, len(jobs) // (4 * workers)))
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        return list(tqdm(pool.map(fn, jobs, chunksize=chunk), total=len(jobs), desc=desc,
                         disable=not progress))


def split_request(split: str, n: int, base_seed: int, prior, config: SynthConfig) -> dict:
    """What identifies a split: the entries of its manifest that a cached copy must match."""
    return {"generator_version": GENERATOR_VERSION, "split": split, "n": int(n),
            "seed": int(base_seed),
            "prior": prior if isinstance(prior, str) else [float(p) for p in prior],
            "config": asdict(config)}


def split_fingerprint(rows: list[dict]) -> str:
    """sha256 over every image's and mask file's hash and label, in order."""
    h = hashlib.sha256()
    for r in rows:
        h.update(f"{r['image']},{r['level']},{r['sha256']},{r['mask_sha256']}\n".encode())
    return h.hexdigest()


def build_split(root: str | Path, split: str, n: int, seed: int = 0, prior="eyepacs",
                config: SynthConfig | None = None, size: int | None = None,
                workers: int | None = None, progress: bool = True) -> Path:
    """Write (or reuse) one synthetic split; returns its folder ``<root>/<split>``."""
    config = config or SynthConfig()
    if size is not None:
        config = SynthConfig(**{**asdict(config), "size": int(size)})
    root = Path(root)
    target = root / split
    wanted = split_request(split, n, seed, prior, config)
    differences = cached_split_differences(target, wanted)
    if differences == {}:
        return target
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
            fh.write(json.dumps({k: r[k] for k in ("image", "seed", "grade", "level", "eye",
                                                    "presentation", "inventory")}) + "\n")
    counts = np.bincount([r["level"] for r in rows], minlength=5).tolist()
    (tmp / "manifest.json").write_text(json.dumps(
        {**wanted, "grade_counts": counts, "fingerprint": split_fingerprint(rows)}, indent=2))
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    return target


def build_splits(root: str | Path, counts: dict[str, int], seed: int = 0, prior="eyepacs",
                 config: SynthConfig | None = None, size: int | None = None,
                 workers: int | None = None, progress: bool = True) -> dict[str, Path]:
    """Several splits at once, e.g. ``{"train": 2000, "val": 500, "test": 500}``."""
    return {split: build_split(root, split, n, seed, prior, config, size, workers, progress)
            for split, n in counts.items()}


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


def render_arrays(n: int, seed: int = 0, size: int = 224, prior="eyepacs", split: str = "train",
                  config: SynthConfig | None = None, workers: int | None = None,
                  progress: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """Render ``n`` photographs straight into memory, resized to ``size`` (area interpolation).

    They are the same photographs as ``build_split(..., split, n, seed)`` writes (before JPEG
    storage), rendered at ``config.size`` (default 512) and then resized.
    Returns (uint8 images (n, size, size, 3), int labels (n,)).
    """
    config = config or SynthConfig()
    grades = split_grades(n, seed, split, prior)
    jobs = [(image_seed(seed, split, i), grades[i], config, size) for i in range(n)]
    out = _pool_map(_render_to_array, jobs, workers, f"rendering {split}", progress)
    images = np.stack([o[0] for o in out]) if out else np.zeros((0, size, size, 3), np.uint8)
    return images, np.array([o[1] for o in out], dtype=np.int64)
