"""Benchmark: training throughput of the course's DenseNet121 grader, three ways, one machine.

Measured in the same run, on the same model shape and batch:

(i)   **pipeline**: ``model.fit`` fed by ``drlib.data.pipeline.FundusSequence`` reading a synthetic
      split from disk (JPEG decode, eye centring, resize), as the training chapter does;
(ii)  **in-memory**: the same compiled model fed one random batch already in memory
      (the baseline for (i): what the model alone can do);
(iii) **torch**: torchvision's ``densenet121`` (5 classes) in native PyTorch with bfloat16
      autocast and channels-last tensors, run in a subprocess (the baseline for the framework);
(iv)  **cache**: ``model.fit`` fed by ``drlib.data.cache.CacheSequence`` (shuffled, seeded)
      reading the same split from a training cache (``drlib cache``: preprocessed once,
      memory-mapped shards), the way a full-size data set is trained.

Reported ratios (targets on the GPU machine): pipeline / in-memory >= 0.9 and cache / in-memory
>= 0.9 (the input pipeline keeps the accelerator busy) and Keras / torch >= 1.1 (Keras 3 on JAX
is not slower than native PyTorch). Results go to ``benchmarks/out/bench_train_throughput.json``.

Modes. ``--full`` (default when an accelerator is visible): 224 px, batch 64, mixed bfloat16;
meant for the GPU machine with ``KERAS_BACKEND=jax``. ``--quick`` (default on a CPU): 64 px,
batch 8, a few steps, float32, torch skipped when torchvision is absent. Quick numbers only
show that the benchmark runs; **the real numbers are owed to the GPU machine**.

    KERAS_BACKEND=jax python benchmarks/bench_train_throughput.py --full
    .venv/bin/python benchmarks/bench_train_throughput.py            # quick on a CPU
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "out" / "bench_train_throughput.json"
TARGETS = {"pipeline_over_memory": 0.9, "cache_over_memory": 0.9, "keras_over_torch": 1.1}
MODES = {
    "full": dict(size=224, render_size=512, batch=64, steps=30, warmup=3, precision="on"),
    "quick": dict(size=64, render_size=64, batch=8, steps=3, warmup=1, precision="off"),
}
SEED = 0


def torch_throughput(size: int, batch: int, steps: int, warmup: int) -> dict:
    """torchvision DenseNet121 training images/s (bf16 autocast + channels_last on CUDA)."""
    import torch
    import torch.nn.functional as F
    import torchvision

    torch.manual_seed(SEED)
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    model = torchvision.models.densenet121(weights=None, num_classes=5).to(device)
    model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-4)
    x = (torch.rand(batch, 3, size, size, device=device) * 255).contiguous(
        memory_format=torch.channels_last
    )
    y = torch.randint(0, 5, (batch,), device=device)
    mean = torch.tensor([0.485, 0.456, 0.406], device=device).view(1, 3, 1, 1) * 255
    std = torch.tensor([0.229, 0.224, 0.225], device=device).view(1, 3, 1, 1) * 255
    model.train()

    def step() -> None:
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=cuda):
            loss = F.cross_entropy(model((x - mean) / std), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    for _ in range(warmup):
        step()
    if cuda:
        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    if cuda:
        torch.cuda.synchronize()
    seconds = time.perf_counter() - start
    return {"images_per_s": steps * batch / seconds, "seconds": seconds, "steps": steps,
            "batch_size": batch, "device": str(device), "bf16_autocast": cuda,
            "torch_version": torch.__version__}


def run_torch_subprocess(settings: dict) -> dict | None:
    """(iii) in a fresh process, so PyTorch and JAX do not share the accelerator's memory."""
    if importlib.util.find_spec("torch") is None or importlib.util.find_spec("torchvision") is None:
        print("torch: skipped (torch/torchvision not installed here)")
        return None
    args = [sys.executable, __file__, "--torch-only", json.dumps(settings)]
    proc = subprocess.run(args, capture_output=True, text=True)
    if proc.returncode != 0:
        print(f"torch: failed\n{proc.stderr[-2000:]}")
        return None
    return json.loads(proc.stdout.strip().splitlines()[-1])


def keras_throughputs(settings: dict, workers: int) -> tuple[dict, dict, dict, dict]:
    """(ii) in-memory, then (i) pipeline and (iv) cache, on one compiled DenseNet121."""
    import keras  # noqa: F401  (after drlib chose the backend)

    from drlib.data.cache import CacheSequence, build_cache
    from drlib.data.loaders import load_dataset
    from drlib.data.pipeline import FundusSequence
    from drlib.data.synthetic_splits import build_split
    from drlib.modeling.densenet import build_densenet
    from drlib.runtime.devices import describe_devices
    from drlib.training import (
        RandomBatches,
        configure_precision,
        measure_fit_throughput,
        seed_everything,
    )

    policy = configure_precision(settings["precision"])
    seed_everything(SEED)
    size, batch, steps, warmup = (settings[k] for k in ("size", "batch", "steps", "warmup"))
    model = build_densenet(size)
    memory = measure_fit_throughput(model, RandomBatches(batch, size, max(steps, warmup)),
                                    steps, warmup)
    print(f"in-memory: {memory['images_per_s']:.1f} images/s")

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        split = build_split(tmp, "bench", batch * max(steps, warmup), seed=SEED,
                            size=settings["render_size"], workers=workers, progress=False)
        render_s = time.perf_counter() - start
        records, _ = load_dataset(split, kind="synthetic", validate_images=False)
        sequence = FundusSequence(records, batch_size=batch, image_size=size, preprocess="plain",
                                  shuffle=True, seed=SEED, drop_remainder=True, workers=workers)
        pipeline = measure_fit_throughput(model, sequence, steps, warmup)
        start = time.perf_counter()
        build_cache(split, Path(tmp) / "cache", size, workers=workers)
        cache_s = time.perf_counter() - start
        cached = CacheSequence(Path(tmp) / "cache", batch_size=batch, shuffle=True, seed=SEED,
                               drop_remainder=True)
        cache = measure_fit_throughput(model, cached, steps, warmup)
    cache["build_s"] = cache_s
    pipeline["render_s"] = render_s
    pipeline["workers"] = workers
    print(f"pipeline:  {pipeline['images_per_s']:.1f} images/s "
          f"({workers} workers, photographs rendered at {settings['render_size']} px)")
    print(f"cache:     {cache['images_per_s']:.1f} images/s (memory-mapped training cache, "
          f"built in {cache_s:.1f} s)")
    return memory, pipeline, cache, {**describe_devices(), "dtype_policy": policy}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="tiny CPU run (default on a CPU)")
    mode.add_argument("--full", action="store_true", help="reference run (default on a GPU)")
    parser.add_argument("--size", type=int, help="input side in pixels")
    parser.add_argument("--batch", type=int, help="batch size")
    parser.add_argument("--steps", type=int, help="timed steps per measurement")
    parser.add_argument("--workers", type=int, help="input pipeline workers (default: cores)")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch baseline")
    parser.add_argument("--out", type=Path, default=OUT, help="JSON output file")
    parser.add_argument("--torch-only", help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.torch_only:  # subprocess entry point for (iii)
        s = json.loads(args.torch_only)
        print(json.dumps(torch_throughput(s["size"], s["batch"], s["steps"], s["warmup"])))
        return

    import os

    import drlib  # noqa: F401  (sets the Keras backend policy)
    from drlib.runtime.devices import has_accelerator

    name = "quick" if args.quick else "full" if args.full else (
        "full" if has_accelerator() else "quick")
    settings = dict(MODES[name])
    for key in ("size", "batch", "steps"):
        if getattr(args, key) is not None:
            settings[key] = getattr(args, key)
    workers = args.workers or len(os.sched_getaffinity(0))
    print(f"mode {name}: {settings}")

    memory, pipeline, cache, device = keras_throughputs(settings, workers)
    torch_result = None if args.no_torch else run_torch_subprocess(settings)
    if torch_result:
        print(f"torch:     {torch_result['images_per_s']:.1f} images/s "
              f"({torch_result['device']}, bf16 autocast {torch_result['bf16_autocast']})")

    ratios = {"pipeline_over_memory": pipeline["images_per_s"] / memory["images_per_s"],
              "cache_over_memory": cache["images_per_s"] / memory["images_per_s"]}
    if torch_result:
        ratios["keras_over_torch"] = memory["images_per_s"] / torch_result["images_per_s"]
    for key, value in ratios.items():
        verdict = "meets" if value >= TARGETS[key] else "below"
        print(f"{key}: {value:.2f} ({verdict} target {TARGETS[key]})")
    note = (
        "reference numbers (GPU machine, KERAS_BACKEND=jax, mixed_bfloat16)" if name == "full"
        else "quick CPU run: shows the benchmark works; the real numbers are owed to the GPU "
        "machine (run with KERAS_BACKEND=jax --full there)"
    )
    print(note)
    result = {"mode": name, "settings": settings, "device": device, "in_memory": memory,
              "pipeline": pipeline, "cache": cache, "torch": torch_result, "ratios": ratios,
              "targets": TARGETS, "note": note}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
