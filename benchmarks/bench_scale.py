"""Benchmark: ``drlib cache`` on growing folders of camera-size photographs (memory, time).

A folder of synthetic photographs in the Kaggle/EyePACS layout (``trainLabels.csv`` +
``train/<id>.jpeg``) at camera-like sizes, 2,000 to 3,500 px wide (3:2, the eye centred between
black bands, like EyePACS' 3,888 x 2,592 frames), is generated once under ``--root`` (default:
``<data dir>/bench_scale``). The generator is slow, so a pool of photographs is rendered at
512 px and every file is one of them, flipped, with its brightness changed and enlarged with
OpenCV to its own width: the bytes differ from file to file, and decoding them costs what
decoding a camera's JPEG costs. These are synthetic images, not clinical data.

Then ``python -m drlib cache`` (a fresh process each time, into an empty folder) caches the first
N photographs for each N of the mode, and the table gives, per N: the wall time, photographs per
second, the peak memory of the whole process tree (resident set of the command and its worker
processes, summed, sampled every 50 ms), and both as ratios to the smallest N: time per
photograph (goal: about 1 or below, time linear in N) and peak memory (goal: about 1, memory
flat). Results go to ``benchmarks/out/bench_scale.json``.

    .venv/bin/python benchmarks/bench_scale.py            # --quick: 100 and 300 photographs
    .venv/bin/python benchmarks/bench_scale.py --full     # 1,000, 3,000 and 10,000 photographs

The full mode writes about 10,000 JPEGs (a few GB) once and takes tens of minutes on a few cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import numpy as np

OUT = Path(__file__).resolve().parent / "out" / "bench_scale.json"
MODES = {
    "quick": dict(counts=(100, 300), size=224, pool=8),
    "full": dict(counts=(1000, 3000, 10000), size=224, pool=64),
}
WIDTHS = (2000, 3500)
ASPECT = 1.5  # width / height, as EyePACS' 3,888 x 2,592
RENDER_SIZE = 512
JPEG_QUALITY = 92
SEED = 0
GENERATOR = 1  # bump when the generated photographs change: the folder is regenerated


def image_id(i: int) -> str:
    return f"{i // 2 + 1}_{'left' if i % 2 == 0 else 'right'}"


def render_pool(n: int) -> tuple[list[np.ndarray], list[int]]:
    from drlib.synth.render import render_fundus

    samples = [render_fundus(np.random.SeedSequence(SEED, spawn_key=(k,)), size=RENDER_SIZE)
               for k in range(n)]
    return [s.image for s in samples], [int(s.label) for s in samples]


def camera_photograph(base: np.ndarray, i: int) -> bytes:
    """Photograph ``i``: ``base`` flipped and re-exposed, enlarged to a camera's frame, JPEG."""
    import cv2

    rng = np.random.default_rng([SEED, i])
    width = int(rng.integers(WIDTHS[0], WIDTHS[1] + 1))
    height = int(round(width / ASPECT))
    image = base[:, ::-1] if rng.random() < 0.5 else base
    image = np.clip(image.astype(np.float32) * rng.uniform(0.85, 1.15), 0, 255).astype(np.uint8)
    eye = cv2.resize(image, (height, height), interpolation=cv2.INTER_LINEAR)
    frame = np.zeros((height, width, 3), dtype=np.uint8)
    left = (width - height) // 2
    frame[:, left : left + height] = eye
    ok, data = cv2.imencode(".jpg", frame[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise RuntimeError(f"could not encode photograph {i}")
    return data.tobytes()


def _write_chunk(args: tuple[Path, list[np.ndarray], list[int]]) -> int:
    from drlib.runtime.atomic import atomic_write_bytes

    folder, pool, indices = args
    for i in indices:
        path = folder / f"{image_id(i)}.jpeg"
        if not path.is_file():
            atomic_write_bytes(path, camera_photograph(pool[i % len(pool)], i))
    return len(indices)


def generate(root: Path, n: int, pool_size: int, workers: int) -> tuple[Path, list[int]]:
    """The photographs 0..n-1 under ``root/photos`` (only missing ones are written)."""
    photos = root / "photos"
    settings = {"generator": GENERATOR, "pool": pool_size, "widths": list(WIDTHS), "seed": SEED,
                "render_size": RENDER_SIZE, "quality": JPEG_QUALITY}
    stamp = root / "photos.json"
    if stamp.is_file() and json.loads(stamp.read_text()).get("settings") != settings:
        shutil.rmtree(photos, ignore_errors=True)
        stamp.unlink()
    photos.mkdir(parents=True, exist_ok=True)
    known = json.loads(stamp.read_text()) if stamp.is_file() else {}
    labels = known.get("labels")
    missing = [i for i in range(n) if not (photos / f"{image_id(i)}.jpeg").is_file()]
    if missing or labels is None:
        start = time.perf_counter()
        pool, labels = render_pool(pool_size)
        chunks = [missing[k::workers * 4] for k in range(workers * 4)]
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as ex:
            list(ex.map(_write_chunk, [(photos, pool, c) for c in chunks if c]))
        print(f"generated {len(missing)} photograph(s) in {time.perf_counter() - start:.1f} s "
              f"under {photos}")
        from drlib.runtime.atomic import atomic_write_text

        atomic_write_text(stamp, json.dumps({"settings": settings, "labels": labels}) + "\n")
    return photos, labels


def data_set(root: Path, photos: Path, labels: list[int], n: int) -> Path:
    """``root/n<N>``: trainLabels.csv + train/ (hard links to the first ``n`` photographs)."""
    folder = root / f"n{n}"
    train = folder / "train"
    labels_csv = folder / "trainLabels.csv"
    if train.is_dir() and len(list(train.iterdir())) == n and labels_csv.is_file():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    train.mkdir(parents=True)
    rows = []
    for i in range(n):
        name = f"{image_id(i)}.jpeg"
        try:
            os.link(photos / name, train / name)
        except OSError:
            shutil.copyfile(photos / name, train / name)
        rows.append(f"{image_id(i)},{labels[i % len(labels)]}\n")
    (folder / "trainLabels.csv").write_text("image,level\n" + "".join(rows))
    return folder


def tree_rss(pid: int) -> int:
    """Resident bytes of process ``pid`` and all its descendants (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
            children.setdefault(int(fields[1]), []).append(int(entry))
        except (OSError, IndexError, ValueError):
            continue
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        stack += children.get(p, [])
        try:
            with open(f"/proc/{p}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1]) * 1024
                        break
        except OSError:
            continue
    return total


def run_cache(source: Path, out: Path, size: int, workers: int) -> dict:
    shutil.rmtree(out, ignore_errors=True)
    cmd = [sys.executable, "-m", "drlib", "cache", str(source), str(out), "--size", str(size),
           "--workers", str(workers), "--quiet"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)
    peak = 0
    while proc.poll() is None:
        peak = max(peak, tree_rss(proc.pid))
        time.sleep(0.05)
    seconds = time.perf_counter() - start
    stdout, stderr = proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"drlib cache failed ({proc.returncode}):\n{stdout}\n{stderr}")
    manifest = json.loads((out / "manifest.json").read_text())
    shard_bytes = sum(e["npy_bytes"] for e in manifest["shards"])
    shutil.rmtree(out, ignore_errors=True)
    return {"seconds": seconds, "peak_rss_bytes": peak, "cached": manifest["cached"],
            "cache_bytes": shard_bytes, "summary": stdout.strip().splitlines()[:2]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="100 and 300 photographs (default)")
    mode.add_argument("--full", action="store_true", help="1,000, 3,000 and 10,000 photographs")
    parser.add_argument("--counts", type=int, nargs="+", help="photograph counts to cache")
    parser.add_argument("--size", type=int, help="cache size in pixels (default 224)")
    parser.add_argument("--workers", type=int, help="worker processes (default: every core)")
    parser.add_argument("--root", type=Path, help="where the generated folder is kept "
                                                  "(default: <data dir>/bench_scale)")
    parser.add_argument("--out", type=Path, default=OUT, help="JSON output file")
    args = parser.parse_args()

    from drlib.runtime.paths import data_dir

    name = "full" if args.full else "quick"
    settings = dict(MODES[name])
    if args.counts:
        settings["counts"] = tuple(sorted(args.counts))
        name = f"{name} settings, counts from --counts"
    if args.size:
        settings["size"] = args.size
    workers = args.workers or len(os.sched_getaffinity(0))
    root = args.root or data_dir() / "bench_scale"
    counts = settings["counts"]
    print(f"mode {name}: cache {', '.join(map(str, counts))} photographs "
          f"({WIDTHS[0]}-{WIDTHS[1]} px wide JPEG, synthetic) at {settings['size']} px, "
          f"{workers} worker(s); folder {root}")
    photos, labels = generate(root, max(counts), settings["pool"], workers)
    rows = []
    for n in counts:
        source = data_set(root, photos, labels, n)
        result = run_cache(source, root / "cache", settings["size"], workers)
        rows.append({"images": n, **result})
    first = rows[0]
    per_image0 = first["seconds"] / first["images"]
    print()
    print("| photographs | seconds | photographs/s | time per photograph vs first | "
          "peak memory (MiB) | peak memory vs first |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        row["images_per_s"] = row["images"] / row["seconds"]
        row["time_per_image_ratio"] = row["seconds"] / row["images"] / per_image0
        row["peak_rss_ratio"] = row["peak_rss_bytes"] / first["peak_rss_bytes"]
        print(f"| {row['images']:,} | {row['seconds']:.1f} | {row['images_per_s']:.1f} | "
              f"{row['time_per_image_ratio']:.2f} | {row['peak_rss_bytes'] / 2**20:.0f} | "
              f"{row['peak_rss_ratio']:.2f} |")
    print("\ngoals: time per photograph vs first about 1 or below (linear); peak memory vs first "
          "about 1 (flat). Wall time includes starting Python and the worker processes.")
    result = {"mode": name, "settings": {**settings, "workers": workers, "widths": WIDTHS},
              "rows": rows, "note": "synthetic photographs, not clinical data"}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
