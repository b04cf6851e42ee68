"""Does validation lag the weights through batch normalisation? A small training run, measured.

    python scripts/batchnorm_lag.py [--size 64] [--epochs 8] [--momentum 0.99 0.9]

Chapter 2's validation kappa jumps from epoch to epoch early in training. Validation runs the
network in inference mode, where every batch-normalisation layer uses its *moving* averages of
batch statistics (``moving = momentum * moving + (1 - momentum) * batch``), not the statistics
the current weights produce. This script trains one grader per momentum on chapter 02's `cpu`
splits (rendered by ``render_chapter_splits.render("cpu")`` when missing), from the same seed,
and after every epoch scores the validation split twice:

* ``moving``: as validation does in training, with the moving averages as they are;
* ``reestimated``: with the same weights, after the averages are recomputed as the plain mean
  of ``--batches`` training batches' statistics (then put back, so training goes on unchanged).

When the two differ, the moving averages, not the weights, decide the validation score. It also
prints how many validation photographs fall in the most predicted grade. Only the momentum differs
between runs: it changes no gradient, so the weights follow nearly the same path. Results are
printed and written as JSON (``--out``). It takes about 12 minutes per momentum at 64 px on two
cores. These are synthetic photographs; no result here is clinical.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np

from drlib.data import FundusSequence, load_dataset
from drlib.metrics import quadratic_weighted_kappa
from drlib.modeling import build_densenet, set_batchnorm_momentum


def batchnorm_layers(model: keras.Model) -> list[keras.layers.BatchNormalization]:
    return [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]


def with_reestimated_statistics(model: keras.Model, batches: list[np.ndarray],
                                score: Callable[[], object]) -> object:
    """``score()`` with every batch-normalisation layer's moving averages replaced by the plain
    mean of the statistics of ``batches`` (training-mode calls with momentum k / (k + 1) for
    the k-th batch); the averages and momenta are restored afterwards, whatever happens."""
    layers = batchnorm_layers(model)
    saved = [(keras.ops.convert_to_numpy(layer.moving_mean),
              keras.ops.convert_to_numpy(layer.moving_variance), layer.momentum)
             for layer in layers]
    try:
        for k, batch in enumerate(batches):
            for layer in layers:
                layer.momentum = k / (k + 1.0)
            model(batch, training=True)
        return score()
    finally:
        for layer, (mean, variance, momentum) in zip(layers, saved, strict=True):
            layer.moving_mean.assign(mean)
            layer.moving_variance.assign(variance)
            layer.momentum = momentum


def split_arrays(folder: Path, size: int) -> tuple[np.ndarray, np.ndarray]:
    """A split's photographs preprocessed as in training (plain, ``size`` px) and their grades."""
    records, _ = load_dataset(folder, kind="synthetic", validate_images=False)
    sequence = FundusSequence(records, batch_size=100, image_size=size, preprocess="plain",
                              shuffle=False, workers=1)
    xs, ys = zip(*[sequence[i][:2] for i in range(len(sequence))], strict=True)
    y = np.concatenate(ys)
    return np.concatenate(xs).astype(np.float32), (y.argmax(1) if y.ndim == 2 else y)


def run(momentum: float, data: dict, args: argparse.Namespace) -> list[dict]:
    (x_train, g_train), (x_val, g_val) = data["train"], data["val"]
    keras.utils.set_random_seed(args.seed)
    model = build_densenet(args.size)
    set_batchnorm_momentum(model, momentum)
    model.compile(optimizer=keras.optimizers.Adam(args.learning_rate),
                  loss="categorical_crossentropy")
    y_train = keras.utils.to_categorical(g_train, 5)
    rng = np.random.default_rng(args.seed + 1)

    def score() -> tuple[float, int]:
        predicted = model.predict(x_val, batch_size=64, verbose=0).argmax(1)
        return (float(quadratic_weighted_kappa(g_val, predicted)),
                int(np.bincount(predicted, minlength=5).max()))

    rows = []
    for epoch in range(args.epochs):
        started = time.perf_counter()
        loss = model.fit(x_train, y_train, batch_size=args.batch_size, epochs=1, verbose=0,
                         shuffle=True).history["loss"][0]
        moving, moving_top = score()
        batches = [x_train[rng.choice(len(x_train), args.batch_size, replace=False)]
                   for _ in range(args.batches)]
        reestimated, reestimated_top = with_reestimated_statistics(model, batches, score)
        rows.append({"momentum": momentum, "epoch": epoch, "loss": float(loss),
                     "kappa_moving": moving, "top_grade_moving": moving_top,
                     "kappa_reestimated": reestimated, "top_grade_reestimated": reestimated_top,
                     "seconds": time.perf_counter() - started})
        print(f"momentum {momentum}: epoch {epoch} loss {loss:.3f}  validation kappa moving "
              f"{moving:.3f} (most predicted grade: {moving_top} of {len(g_val)})  re-estimated "
              f"{reestimated:.3f} ({reestimated_top} of {len(g_val)})", flush=True)
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64, help="input side in pixels")
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--momentum", type=float, nargs="+", default=[0.99, 0.9])
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--batches", type=int, default=40,
                        help="training batches whose statistics replace the moving averages")
    parser.add_argument("--n-train", type=int, default=None, help="first N training photographs")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="JSON file for the rows")
    args = parser.parse_args(argv)

    from render_chapter_splits import render  # scripts/ is on the path when run as a script

    folders = render("cpu")
    data = {split: split_arrays(folder, args.size) for split, folder in folders.items()}
    if args.n_train is not None:
        data["train"] = tuple(a[: args.n_train] for a in data["train"])
    rows = [row for momentum in args.momentum for row in run(momentum, data, args)]
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(rows, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
