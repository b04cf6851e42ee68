"""Benchmark: synthetic fundus generator throughput at 512 px with every mask, and where it goes.

Target (issue "synthetic eye v2"): at least 100 images/s per core at 512 px, *including* what the
data-set builder adds per image (the JPEG bytes and the packed mask file). Measured on one core
(OpenCV held to one thread; the builder runs one process per core). Baseline in the same run: the
floor of any 512 px photograph source, decoding one 512 px JPEG from memory and allocating its
masks. Reported: images/s per core, the ratio to the target, the ratio to that floor, and the
per-stage profile (milliseconds per image in each step of ``render_fundus`` and the builder;
"other" is the rest of ``render_fundus``: plan bookkeeping, mask thresholds, Python overhead).

The stage profile wraps the functions ``render_fundus`` calls by name, so the same script profiles
an older generator: run it with ``PYTHONPATH`` set to a checkout of an earlier commit (stages
that do not exist there are left out). Seeds and sizes are fixed.

    .venv/bin/python benchmarks/bench_generator.py [--n 60] [--size 512]
"""

from __future__ import annotations

import argparse
import functools
import json
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

import drlib.synth.render as render
from drlib.core.lesion_types import MASK_NAMES
from drlib.data.masks import save_masks
from drlib.synth.render import SynthConfig, render_fundus

TARGET_PER_CORE = 100.0
# functions of drlib.synth.render's namespace timed as stages, in pipeline order
STAGES = ("sample_geometry", "sample_plan", "sample_camera", "_fundus_background",
          "grow_vessel_tree", "LesionPainter", "draw_vessels", "_apply_vessels",
          "paint_lesions", "apply_camera", "quadrant_map", "ellipse_mask",
          "inventory_from_instances", "grade_all")


_SCRATCH = tempfile.TemporaryDirectory(prefix="bench_generator_")


def builder_writes(sample) -> None:
    """What the data-set builder adds for one image: its JPEG (encoded here only when the
    generator did not keep its camera's bytes) and its packed mask file, both written to disk."""
    jpeg = getattr(sample, "jpeg", None)
    if jpeg is None:
        ok, buf = cv2.imencode(".jpg", cv2.cvtColor(sample.image, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, 95])
        jpeg = buf.tobytes()
    folder = Path(_SCRATCH.name)
    (folder / "image.jpeg").write_bytes(jpeg)
    save_masks(folder / "image.npz", sample.masks, sample.quadrants)


def time_generator(n: int, size: int) -> float:
    """Seconds per image: render plus the builder's bytes."""
    cfg = SynthConfig(size=size)
    builder_writes(render_fundus(0, 2, cfg))  # warm caches and imports
    t = time.perf_counter()
    for seed in range(n):
        builder_writes(render_fundus(1000 + seed, seed % 5, cfg))
    return (time.perf_counter() - t) / n


def stage_profile(n: int, size: int) -> dict[str, float]:
    """Milliseconds per image in each stage (wrapping the stage functions by name)."""
    totals: dict[str, float] = defaultdict(float)
    originals = {}

    def timed(name, fn):
        @functools.wraps(fn)
        def wrapper(*args, **kwargs):
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                totals[name] += time.perf_counter() - t
        return wrapper

    for name in STAGES:
        if hasattr(render, name):
            originals[name] = getattr(render, name)
            setattr(render, name, timed(name, originals[name]))
    painter = originals.get("LesionPainter")  # the class itself, not its timed constructor
    paint = getattr(painter, "paint", None) if painter is not None else None
    if paint is not None:
        painter.paint = timed("LesionPainter.paint", paint)
    try:
        cfg = SynthConfig(size=size)
        render.render_fundus(0, 2, cfg)
        totals.clear()
        t_render = t_builder = 0.0
        for seed in range(n):
            t = time.perf_counter()
            sample = render.render_fundus(1000 + seed, seed % 5, cfg)
            t_render += time.perf_counter() - t
            t = time.perf_counter()
            builder_writes(sample)
            t_builder += time.perf_counter() - t
    finally:
        for name, fn in originals.items():
            setattr(render, name, fn)
        if paint is not None:
            painter.paint = paint
    profile = {name: 1e3 * totals[name] / n for name in totals}
    profile["other (render_fundus)"] = 1e3 * t_render / n - sum(profile.values())
    profile["builder: JPEG + masks"] = 1e3 * t_builder / n
    return profile


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
    parser.add_argument("--out", default=str(Path(__file__).parent / "out" / "generator.json"))
    args = parser.parse_args()
    cv2.setNumThreads(1)  # one core: the builder runs one process per core ...
    try:  # ... each with the allocator setting its workers get (absent before version 2)
        from drlib.runtime.memory import reuse_large_allocations
    except ImportError:
        pass
    else:
        reuse_large_allocations()
    per_image = time_generator(args.n, args.size)
    floor = time_floor(args.n, args.size)
    profile = stage_profile(args.n, args.size)
    rate = 1.0 / per_image
    result = {
        "generator_version": render.GENERATOR_VERSION, "size": args.size, "images": args.n,
        "seconds_per_image": per_image, "images_per_second_per_core": rate,
        "target_per_core": TARGET_PER_CORE, "ratio_to_target": rate / TARGET_PER_CORE,
        "floor_seconds_per_image": floor, "ratio_to_floor": per_image / floor,
        "stage_ms_per_image": profile,
    }
    print(f"generator {render.GENERATOR_VERSION} at {args.size} px with all {len(MASK_NAMES)} "
          f"masks and the builder's bytes, one core, {args.n} images")
    print(f"  {rate:.1f} images/s per core ({per_image * 1e3:.1f} ms/image)")
    print(f"  ratio to the {TARGET_PER_CORE:.0f} img/s/core target: {rate / TARGET_PER_CORE:.2f}")
    print(f"  ratio to the JPEG-decode floor ({floor * 1e3:.2f} ms/image): "
          f"{per_image / floor:.1f}x")
    print("  stage profile (ms per image):")
    for name, ms in sorted(profile.items(), key=lambda kv: -kv[1]):
        print(f"    {name:28s} {ms:7.2f}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
