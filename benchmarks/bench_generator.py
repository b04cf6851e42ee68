"""Benchmark: synthetic fundus generator throughput at 512 px with every mask.

Target (issue "Data"): at least 100 images/s per core, so that 16 cores outrun GPU training at
~600 img/s. Baseline in the same run: the unavoidable floor of any 512 px photograph source,
decoding one 512 px JPEG from memory and allocating its 15 masks (what a loader of stored
images would pay). Reported: images/s per core, the ratio to the 100 img/s target, and the
ratio of the generator's time per image to that floor. Seeds and sizes are fixed.

    .venv/bin/python benchmarks/bench_generator.py [--n 60] [--size 512]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np

from drlib.core.lesion_types import MASK_NAMES
from drlib.synth.render import SynthConfig, render_fundus

TARGET_PER_CORE = 100.0


def time_generator(n: int, size: int) -> float:
    cfg = SynthConfig(size=size)
    render_fundus(0, 2, cfg)  # warm the cached fields
    t = time.perf_counter()
    for seed in range(n):
        render_fundus(1000 + seed, seed % 5, cfg)
    return (time.perf_counter() - t) / n


def time_floor(n: int, size: int) -> float:
    image = render_fundus(0, 2, SynthConfig(size=size)).image
    ok, buf = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 95])
    t = time.perf_counter()
    for _ in range(n):
        cv2.imdecode(buf, cv2.IMREAD_COLOR)
        _ = {name: np.zeros((size, size), bool) for name in MASK_NAMES}
    return (time.perf_counter() - t) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=60)
    parser.add_argument("--size", type=int, default=512)
    args = parser.parse_args()
    per_image = time_generator(args.n, args.size)
    floor = time_floor(args.n, args.size)
    rate = 1.0 / per_image
    result = {
        "size": args.size, "images": args.n, "seconds_per_image": per_image,
        "images_per_second_per_core": rate, "target_per_core": TARGET_PER_CORE,
        "ratio_to_target": rate / TARGET_PER_CORE, "floor_seconds_per_image": floor,
        "ratio_to_floor": per_image / floor,
    }
    print(f"generator at {args.size} px with all {len(MASK_NAMES)} masks, one core, "
          f"{args.n} images")
    print(f"  {rate:.1f} images/s per core ({per_image * 1e3:.1f} ms/image)")
    print(f"  ratio to the {TARGET_PER_CORE:.0f} img/s/core target: {rate / TARGET_PER_CORE:.2f}")
    print(f"  ratio to the JPEG-decode floor ({floor * 1e3:.2f} ms/image): "
          f"{per_image / floor:.1f}x")
    out = Path(__file__).parent / "out"
    out.mkdir(exist_ok=True)
    (out / "generator.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
