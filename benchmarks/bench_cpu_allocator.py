"""Benchmark: TensorFlow's CPU allocator, plain against BFC, on a training step fed by a PyDataset.

``drlib`` sets ``TF_CPU_ALLOCATOR_USE_BFC=true`` before TensorFlow loads (unless the variable is
set; ``drlib.runtime.backend.ensure``). This script measures why: the same DenseNet121 training
steps, on batches served by ``FundusSequence`` from in-memory images as chapter 02 trains, once
in a fresh process with the variable ``false`` (the baseline: TensorFlow's default allocator) and
once with ``true``. Reported per setting: seconds per step (median over the timed steps, the
compiling first steps left out) and the share of the process's CPU time spent in the kernel; and
the ratio ``bfc_speedup`` = baseline seconds per step / BFC seconds per step (above 1: BFC is
faster). TensorFlow backend only (the allocator is TensorFlow's).

    .venv/bin/python benchmarks/bench_cpu_allocator.py [--quick | --full] [--steps N]

``--quick`` (the default, what ``make bench`` runs): 96 px; ``--full``: 192 px, the `cpu`
profile's input. Batch 16, seeds fixed. Output: ``benchmarks/out/bench_cpu_allocator.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out" / "bench_cpu_allocator.json"
MODES = {"quick": dict(size=96, steps=6, warmup=2), "full": dict(size=192, steps=6, warmup=2)}
BATCH = 16
VARIABLE = "TF_CPU_ALLOCATOR_USE_BFC"

# Run in a fresh interpreter per setting: TensorFlow reads the variable once, when it loads.
CHILD = r"""
import json, os, sys, time
import numpy as np
import drlib  # noqa: F401  (keeps an explicit TF_CPU_ALLOCATOR_USE_BFC)
import keras
from drlib.data import FundusSequence
from drlib.modeling import build_densenet

size, batch, steps, warmup = (int(a) for a in sys.argv[1:5])
rng = np.random.default_rng(0)
n = batch * (steps + warmup)
images = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
grades = rng.integers(0, 5, n)
data = FundusSequence(images=images, grades=grades, preprocess=None, batch_size=batch,
                      image_size=size, shuffle=False, drop_remainder=True)
keras.utils.set_random_seed(0)
model = build_densenet(size)
model.compile(optimizer=keras.optimizers.Adam(1e-4), loss="categorical_crossentropy")
marks = []

class Clock(keras.callbacks.Callback):
    def on_train_batch_end(self, batch, logs=None):
        marks.append((time.perf_counter(), os.times()))

model.fit(data, epochs=1, verbose=0, callbacks=[Clock()])
timed = marks[warmup - 1:]
seconds = [b[0] - a[0] for a, b in zip(timed, timed[1:])]
cpu = [(b[1].user - a[1].user, b[1].system - a[1].system) for a, b in zip(timed, timed[1:])]
user, system = (sum(c[i] for c in cpu) for i in (0, 1))
print(json.dumps({"allocator_variable": os.environ.get("TF_CPU_ALLOCATOR_USE_BFC"),
                  "seconds_per_step": float(np.median(seconds)), "steps": len(seconds),
                  "system_share_of_cpu": system / (user + system)}))
"""


def measure(bfc: bool, size: int, steps: int, warmup: int) -> dict:
    env = {**os.environ, VARIABLE: "true" if bfc else "false", "KERAS_BACKEND": "tensorflow",
           "TF_CPP_MIN_LOG_LEVEL": "2"}
    result = subprocess.run(
        [sys.executable, "-c", CHILD, str(size), str(BATCH), str(steps), str(warmup)],
        env=env, capture_output=True, text=True, timeout=3600,
    )
    if result.returncode != 0:
        raise RuntimeError(f"the {VARIABLE}={env[VARIABLE]} run failed:\n{result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="96 px (default)")
    mode.add_argument("--full", action="store_true", help="192 px, the cpu profile's input")
    parser.add_argument("--steps", type=int, help="timed steps per setting")
    parser.add_argument("--out", type=Path, default=OUT, help="JSON output file")
    args = parser.parse_args(argv)
    name = "full" if args.full else "quick"
    settings = {**MODES[name], **({"steps": args.steps} if args.steps else {})}
    baseline = measure(False, **settings)
    bfc = measure(True, **settings)
    report = {
        "mode": name, "settings": {**settings, "batch": BATCH}, "cpu_cores": os.cpu_count(),
        "default_allocator": baseline, "bfc_allocator": bfc,
        "ratios": {"bfc_speedup": baseline["seconds_per_step"] / bfc["seconds_per_step"]},
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    for label, run in (("default allocator", baseline), ("BFC allocator", bfc)):
        print(f"{label:18s} {run['seconds_per_step']:.2f} s/step, "
              f"{100 * run['system_share_of_cpu']:.0f}% of CPU time in the kernel")
    print(f"bfc_speedup (default s/step over BFC s/step, {settings['size']} px, batch {BATCH}): "
          f"{report['ratios']['bfc_speedup']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
