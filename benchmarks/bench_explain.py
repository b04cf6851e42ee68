"""Benchmark: explanation maps (saliency, Grad-CAM, CAM) against peers and floors, one run.

Four pairs, each a contender of :mod:`drlib.explain` and a baseline measured in the same run, on
the same grader (:func:`drlib.modeling.build_densenet`), the same images, the same explained
classes and the same batch size:

1. ``drlib.explain.saliency`` (``reduce="max_abs"``) vs tf-keras-vis ``Saliency``
   (``ReplaceToLinear``, ``normalize_map=False``: the same map, max_c |dS_c/dI|);
   target: at least 1.0x its images/s;
2. ``drlib.explain.grad_cam`` vs tf-keras-vis ``Gradcam`` (``penultimate_layer="relu"``,
   ``seek_penultimate_conv_layer=False`` so that it uses that layer and not the last ``Conv``
   before it, ``expand_cam=False``, ``normalize_cam=False``); target: at least 1.0x;
3. ``drlib.explain.class_activation_maps`` vs plain inference (the grader's
   ``predict_on_batch``); target: at least 0.8x;
4. ``drlib.explain.saliency`` vs a bare forward + backward pass: the gradient of the summed
   chosen class scores with respect to the input, written directly for the backend
   (TensorFlow: ``tf.function`` + ``GradientTape`` over the scores sub-model; JAX: ``jax.jit``
   of ``jax.grad`` of ``stateless_call``; PyTorch: autograd), which any saliency must at least do;
   target: at least 0.8x.

Every contender and baseline takes the whole image set in batches of ``--batch`` and returns
float32 numpy arrays on the host. Each is called once first (tracing, compilation, tf-keras-vis'
model clone), and that warm-up is timed and reported separately, not in the throughput (drlib
caches its sub-models and compiled functions per model, so a contender that reuses one an earlier
contender built warms up faster: Grad-CAM builds the features model CAM uses). Then
``--repeats`` rounds (more for a pair whose calls are both short: until one side has
``min_seconds`` of samples, at most five times as many rounds) run every pair back to back,
alternating which of the two goes first (A B, B A, ...), so that load from other processes hits
both. Throughput is images over the median seconds per call; the ratio is contender / baseline
images/s (above 1 = faster) taken in each round, from the two calls made back to back, and its
median over the rounds (so it can differ from the quotient of the two medians, which the JSON
keeps as ``ratio_of_medians``). The warm-up outputs are compared (relative max difference) to
show that each pair computes the same thing.

Images: synthetic fundus photographs from :func:`drlib.data.synthetic_cohort.render_cohort`
(``--images cohort``, default; at most 64 distinct eyes, repeated to fill the batches) or uniform
random pixels (``--images random``). Explained classes: each eye's grade, passed explicitly to
every contender (tf-keras-vis needs them; drlib's default ``classes=None`` would add one forward
pass to choose the predicted class, which is not timed here). Weights: a freshly
built grader with a fixed seed (``--manifest`` loads a trained one instead, e.g. the shipped
``models/densenet121_cpu.manifest.json``, 192 px); timings do not depend on the weights.

Modes. ``--quick`` (default on a CPU, what ``make bench`` runs): 128 px, batch 8, one batch,
3 rounds, about two minutes on 2 cores. ``--full`` (default when an accelerator is visible):
224 px, batch 64, 4 batches, 7 rounds; on the GPU machine run

    KERAS_BACKEND=jax python benchmarks/bench_explain.py --full

where the tf-keras-vis pairs are skipped (it needs TensorFlow) with the reason printed.
Results: ``benchmarks/out/bench_explain.json`` (backend, device, settings, raw timings, ratios).

    .venv/bin/python benchmarks/bench_explain.py            # quick on a CPU
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

OUT = Path(__file__).resolve().parent / "out" / "bench_explain.json"
MODES = {
    "quick": dict(size=128, batch=8, batches=1, repeats=3, min_seconds=8.0),
    "full": dict(size=224, batch=64, batches=4, repeats=7, min_seconds=10.0),
}
MAX_ROUNDS_FACTOR = 5
MAX_DISTINCT_EYES = 64
SEED = 0
TKV_SKIPPED = "tf-keras-vis needs the TensorFlow backend"

# (key, contender, baseline, target throughput ratio contender / baseline)
PAIRS = (
    ("saliency_vs_tf_keras_vis", "drlib saliency", "tf-keras-vis Saliency", 1.0),
    ("grad_cam_vs_tf_keras_vis", "drlib grad_cam", "tf-keras-vis Gradcam", 1.0),
    ("cam_vs_inference", "drlib class_activation_maps", "predict_on_batch", 0.8),
    ("saliency_vs_bare_gradient", "drlib saliency", "bare forward+backward", 0.8),
)


def make_images(kind: str, n: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` float32 RGB images in [0, 255] and one explained class (the eye's grade) each."""
    grades = np.arange(n) % 5
    if kind == "random":
        rng = np.random.default_rng(SEED)
        images = rng.uniform(0.0, 255.0, (n, size, size, 3)).astype(np.float32)
        return images, grades.astype(np.int32)
    from drlib.data.synthetic_cohort import render_cohort

    distinct = min(n, MAX_DISTINCT_EYES)
    cohort = render_cohort(grades[:distinct].tolist(), seed=SEED, image_size=size,
                           render_size=max(2 * size, 256))
    index = np.arange(n) % distinct
    return cohort.images[index].astype(np.float32), cohort.grades[index].astype(np.int32)


def batches(n: int, batch: int) -> list[slice]:
    return [slice(start, start + batch) for start in range(0, n, batch)]


def bare_gradient(model: Any, batch: int) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """The floor of saliency: d/dx sum_i S[i, c_i], compiled for the backend, batch by batch."""
    import keras

    from drlib.modeling.densenet import SCORES_LAYER

    scores = keras.Model(model.input, model.get_layer(SCORES_LAYER).output, name="bare_scores")
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function
        def step(x, columns):
            with tf.GradientTape() as tape:
                tape.watch(x)
                s = scores(x, training=False)
                total = tf.reduce_sum(tf.gather(s, columns, axis=1, batch_dims=1))
            return tape.gradient(total, x)

        def one(x: np.ndarray, columns: np.ndarray) -> np.ndarray:
            return step(tf.convert_to_tensor(x), tf.convert_to_tensor(columns)).numpy()
    elif backend == "jax":
        import jax
        import jax.numpy as jnp

        def total(trainable, non_trainable, x, columns):
            s, _ = scores.stateless_call(trainable, non_trainable, x, training=False)
            return jnp.sum(jnp.take_along_axis(s, columns[:, None], axis=1))

        step = jax.jit(jax.grad(total, argnums=2))

        def one(x: np.ndarray, columns: np.ndarray) -> np.ndarray:
            # the weights are arguments, not constants: Keras may replace their buffers
            trainable = [v.value for v in scores.trainable_variables]
            non_trainable = [v.value for v in scores.non_trainable_variables]
            return np.asarray(step(trainable, non_trainable, jnp.asarray(x), jnp.asarray(columns)))
    elif backend == "torch":
        import torch

        def one(x: np.ndarray, columns: np.ndarray) -> np.ndarray:
            xt = keras.ops.convert_to_tensor(x).detach().requires_grad_(True)
            s = scores(xt, training=False)
            index = torch.as_tensor(columns, dtype=torch.long, device=s.device)[:, None]
            (g,) = torch.autograd.grad(torch.gather(s, 1, index).sum(), xt)
            return g.detach().cpu().numpy()
    else:
        raise ValueError(f"no bare gradient for the Keras backend {backend!r}")

    def run(x: np.ndarray, classes: np.ndarray) -> np.ndarray:
        return np.concatenate([one(x[b], classes[b]) for b in batches(len(x), batch)])

    return run


def tf_keras_vis_runners(model: Any, batch: int) -> dict[str, Callable] | str:
    """tf-keras-vis' Saliency and Gradcam, batch by batch, or the reason they cannot run."""
    import keras

    if keras.backend.backend() != "tensorflow":
        return f"{TKV_SKIPPED} (KERAS_BACKEND={keras.backend.backend()} here)"
    try:
        from tf_keras_vis.gradcam import Gradcam
        from tf_keras_vis.saliency import Saliency
        from tf_keras_vis.utils.model_modifiers import ReplaceToLinear
        from tf_keras_vis.utils.scores import CategoricalScore
    except ImportError as err:
        return f"tf-keras-vis is not installed ({err})"
    # tf-keras-vis passes the image as a one-element list; Keras 3 warns about the structure
    warnings.filterwarnings("ignore", message="The structure of `inputs` doesn't match",
                            category=UserWarning)
    holder: dict[str, Any] = {}

    def saliency(x: np.ndarray, classes: np.ndarray) -> np.ndarray:
        if "saliency" not in holder:  # the clone is part of the warm-up
            holder["saliency"] = Saliency(model, model_modifier=ReplaceToLinear(), clone=True)
        vis = holder["saliency"]
        return np.concatenate([
            np.asarray(vis(CategoricalScore(classes[b].tolist()), x[b], normalize_map=False))
            for b in batches(len(x), batch)])

    def gradcam(x: np.ndarray, classes: np.ndarray) -> np.ndarray:
        if "gradcam" not in holder:
            holder["gradcam"] = Gradcam(model, model_modifier=ReplaceToLinear(), clone=True)
        vis = holder["gradcam"]
        return np.concatenate([
            np.asarray(vis(CategoricalScore(classes[b].tolist()), x[b], penultimate_layer="relu",
                           seek_penultimate_conv_layer=False, expand_cam=False,
                           normalize_cam=False))
            for b in batches(len(x), batch)])

    return {"tf-keras-vis Saliency": saliency, "tf-keras-vis Gradcam": gradcam}


def runners(model: Any, batch: int) -> tuple[dict[str, Callable], dict[str, str]]:
    """Every contender and baseline as ``fn(images, classes) -> numpy array``; skip reasons."""
    from drlib import explain

    def predict(x: np.ndarray, classes: np.ndarray) -> np.ndarray:
        return np.concatenate([np.asarray(model.predict_on_batch(x[b]))
                               for b in batches(len(x), batch)])

    fns: dict[str, Callable] = {
        "drlib saliency": lambda x, c: explain.saliency(model, x, c, batch_size=batch),
        "drlib grad_cam": lambda x, c: explain.grad_cam(model, x, c, batch_size=batch),
        "drlib class_activation_maps": lambda x, c: explain.class_activation_maps(
            model, x, c, batch_size=batch),
        "predict_on_batch": predict,
        "bare forward+backward": bare_gradient(model, batch),
    }
    skipped: dict[str, str] = {}
    tkv = tf_keras_vis_runners(model, batch)
    if isinstance(tkv, str):
        skipped = {"tf-keras-vis Saliency": tkv, "tf-keras-vis Gradcam": tkv}
    else:
        fns.update(tkv)
    return fns, skipped


def relative_difference(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / max(np.abs(b).max(), 1e-30))


def agreement(outputs: dict[str, Any]) -> dict[str, float]:
    """Does each pair compute the same thing? Relative max differences of the warm-up outputs."""
    out: dict[str, float] = {}
    sal = outputs.get("drlib saliency")
    if sal is not None and "tf-keras-vis Saliency" in outputs:
        out["saliency_vs_tf_keras_vis"] = relative_difference(
            sal.maps, outputs["tf-keras-vis Saliency"])
    if "drlib grad_cam" in outputs and "tf-keras-vis Gradcam" in outputs:
        out["grad_cam_vs_tf_keras_vis"] = relative_difference(
            outputs["drlib grad_cam"].maps, outputs["tf-keras-vis Gradcam"])
    if "drlib class_activation_maps" in outputs and "predict_on_batch" in outputs:
        scores = outputs["drlib class_activation_maps"].scores.astype(np.float64)
        softmax = np.exp(scores - scores.max(axis=1, keepdims=True))
        softmax /= softmax.sum(axis=1, keepdims=True)
        out["cam_vs_inference"] = relative_difference(softmax, outputs["predict_on_batch"])
    if sal is not None and "bare forward+backward" in outputs:
        out["saliency_vs_bare_gradient"] = relative_difference(
            sal.gradients, outputs["bare forward+backward"])
    return out


def measure(fns: dict[str, Callable], x: np.ndarray, classes: np.ndarray, repeats: int,
            min_seconds: float
            ) -> tuple[dict[str, float], dict[str, dict[str, list[float]]], dict[str, Any]]:
    """Warm-up seconds of every function, then interleaved timed rounds: per pair, the seconds
    per call of its contender and of its baseline (each pair keeps its own samples).

    Every pair runs at least ``repeats`` rounds; a pair whose calls are short keeps going (up to
    ``MAX_ROUNDS_FACTOR * repeats`` rounds) until one side has ``min_seconds`` of samples, so
    that a brief spike of load from other processes does not decide its median."""
    warmup: dict[str, float] = {}
    outputs: dict[str, Any] = {}
    for name, fn in fns.items():
        start = time.perf_counter()
        outputs[name] = fn(x, classes)
        warmup[name] = time.perf_counter() - start
        print(f"  warm-up {name}: {warmup[name]:.2f} s")
    pairs = [p for p in PAIRS if p[1] in fns and p[2] in fns]
    seconds = {key: {"contender": [], "baseline": []} for key, *_ in pairs}

    def wanted(key: str) -> bool:
        done = seconds[key]
        rounds = len(done["contender"])
        return rounds < repeats or (
            rounds < MAX_ROUNDS_FACTOR * repeats
            and max(sum(done["contender"]), sum(done["baseline"])) < min_seconds)

    round_ = 0
    while active := [p for p in pairs if wanted(p[0])]:
        for key, contender, baseline, _ in active:
            order = [("contender", contender), ("baseline", baseline)]
            for role, name in order if round_ % 2 == 0 else order[::-1]:
                start = time.perf_counter()
                fns[name](x, classes)
                seconds[key][role].append(time.perf_counter() - start)
        round_ += 1
        print(f"  round {round_}: {', '.join(key for key, *_ in active)}")
    return warmup, seconds, outputs


def make_model(manifest: Path | None, settings: dict[str, Any]) -> Any:
    """The grader: built with a fixed seed, or loaded from a manifest (its input size wins)."""
    import keras

    from drlib.modeling import build_densenet, load_densenet

    if manifest is not None:
        model = load_densenet(manifest)
        settings["size"] = int(model.input.shape[1])
        settings["weights"] = str(manifest)
    else:
        keras.utils.set_random_seed(SEED)
        model = build_densenet(settings["size"], weights=None)
        settings["weights"] = f"random (seed {SEED})"
    return model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="small CPU run (default on a CPU)")
    mode.add_argument("--full", action="store_true", help="reference run (default on a GPU)")
    parser.add_argument("--size", type=int, help="input side in pixels")
    parser.add_argument("--batch", type=int, help="batch size of every contender and baseline")
    parser.add_argument("--batches", type=int, help="batches per timed call")
    parser.add_argument("--repeats", type=int, help="timed rounds (medians are taken)")
    parser.add_argument("--images", choices=("cohort", "random"), default="cohort",
                        help="synthetic fundus photographs (default) or random pixels")
    parser.add_argument("--manifest", type=Path,
                        help="load this trained grader (its input size wins over --size)")
    parser.add_argument("--out", type=Path, default=OUT, help="JSON output file")
    args = parser.parse_args()

    import drlib  # noqa: F401  (sets the Keras backend policy before keras is imported)
    from drlib.runtime.devices import describe_devices, has_accelerator

    name = "quick" if args.quick else "full" if args.full else (
        "full" if has_accelerator() else "quick")
    settings: dict[str, Any] = dict(MODES[name])
    for key in ("size", "batch", "batches", "repeats"):
        if getattr(args, key) is not None:
            settings[key] = getattr(args, key)
    device = describe_devices()
    total_start = time.perf_counter()

    start = time.perf_counter()
    model = make_model(args.manifest, settings)
    build_s = time.perf_counter() - start
    n = settings["batch"] * settings["batches"]
    start = time.perf_counter()
    x, classes = make_images(args.images, n, settings["size"])
    images_s = time.perf_counter() - start
    settings["images"] = (
        f"render_cohort (synthetic fundus photographs, at most {MAX_DISTINCT_EYES} distinct eyes)"
        if args.images == "cohort" else "uniform random pixels in [0, 255]")
    settings["images_per_call"] = n
    print(f"mode {name}: {settings}")
    print(f"backend {device['backend']} on {device['description']}; model ready in "
          f"{build_s:.1f} s, images in {images_s:.1f} s")

    fns, skipped = runners(model, settings["batch"])
    for what, why in skipped.items():
        print(f"skipped {what}: {why}")
    warmup, seconds, outputs = measure(fns, x, classes, settings["repeats"],
                                       settings["min_seconds"])
    agree = agreement(outputs)

    rows, results = [], {}
    for key, contender, baseline, target in PAIRS:
        if contender not in fns or baseline not in fns:
            results[key] = {"contender": contender, "baseline": baseline, "target": target,
                            "skipped": skipped.get(baseline, skipped.get(contender))}
            rows.append((contender, baseline, "-", "-", "-", f"{target:.1f}x", "skipped"))
            continue
        t_c, t_b = seconds[key]["contender"], seconds[key]["baseline"]
        rate_c, rate_b = n / statistics.median(t_c), n / statistics.median(t_b)
        # each round's contender and baseline ran back to back, under the same load
        ratio = statistics.median(b / c for c, b in zip(t_c, t_b, strict=True))
        met = ratio >= target
        results[key] = {"contender": contender, "baseline": baseline, "target": target,
                        "contender_images_per_s": rate_c, "baseline_images_per_s": rate_b,
                        "ratio": ratio, "met": met, "ratio_of_medians": rate_c / rate_b,
                        "contender_seconds": t_c, "baseline_seconds": t_b,
                        "relative_difference": agree.get(key)}
        rows.append((contender, baseline, f"{rate_c:.2f}", f"{rate_b:.2f}", f"{ratio:.2f}x",
                     f"{target:.1f}x", "yes" if met else "no"))

    header = ("contender", "baseline", "contender img/s", "baseline img/s", "ratio", "target",
              "met")
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header))]
    print()
    for row in (header, tuple("-" * w for w in widths), *rows):
        print("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    print()
    print("warm-up (tracing/compilation, first call; not in the throughput): " + ", ".join(
        f"{k} {v:.1f} s" for k, v in warmup.items()))
    print("agreement (relative max difference of each pair's outputs): " + ", ".join(
        f"{k} {v:.1e}" for k, v in agree.items()))
    total_s = time.perf_counter() - total_start
    note = (
        "reference settings" if name == "full" else
        "quick CPU run: ratios on this machine at small settings; the GPU figures come from "
        "`KERAS_BACKEND=jax python benchmarks/bench_explain.py --full` on the GPU machine"
    )
    print(f"{note}; total {total_s:.0f} s")

    result = {"mode": name, "backend": device["backend"], "device": device,
              "settings": settings, "model_ready_s": build_s, "images_s": images_s,
              "warmup_s": warmup, "pairs": results,
              "agreement": agree, "skipped": skipped, "total_s": total_s, "note": note}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
