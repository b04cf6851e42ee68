"""Benchmark: vectorised bootstrap of quadratic weighted kappa against a naive loop.

Baseline (same run, same machine, same resamples): a Python loop calling scikit-learn's
``cohen_kappa_score(weights="quadratic")`` once per resample, as a first implementation
would. Measured: :func:`drlib.metrics.bootstrap.bootstrap_kappas`, which builds all confusion
matrices with one ``bincount`` and scores them in one batched call. Both score exactly the
resamples of :func:`drlib.metrics.bootstrap.bootstrap_indices`, and the script checks they agree.

Prints the ratio measured / baseline (below 1 = faster) and the raw seconds for context.
Deterministic apart from the timings: fixed seed and sizes.

    .venv/bin/python benchmarks/bench_bootstrap.py
"""

from __future__ import annotations

import time

import numpy as np
from sklearn.metrics import cohen_kappa_score

from drlib.metrics.bootstrap import bootstrap_indices, bootstrap_kappas

N_IMAGES = 1000
RESAMPLES = 2000
SEED = 0
REPEATS = 5  # the vectorised version is timed as the best of a few repeats


def make_grades(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Kaggle-like grade mix and a grader that is off by one grade now and then."""
    rng = np.random.default_rng(seed)
    y = rng.choice(5, n, p=[0.735, 0.070, 0.151, 0.025, 0.019])
    pred = np.clip(y + rng.choice([-1, 0, 0, 0, 0, 1], n), 0, 4)
    return y, pred


def naive_bootstrap(y: np.ndarray, pred: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """One scikit-learn call per resample."""
    labels = list(range(5))
    return np.array(
        [
            cohen_kappa_score(y[i], pred[i], weights="quadratic", labels=labels)
            for i in bootstrap_indices(y.size, resamples, seed)
        ]
    )


def main() -> None:
    y, pred = make_grades(N_IMAGES, SEED)

    start = time.perf_counter()
    baseline = naive_bootstrap(y, pred, RESAMPLES, SEED)
    t_baseline = time.perf_counter() - start

    t_vectorised = np.inf
    for _ in range(REPEATS):
        start = time.perf_counter()
        vectorised = bootstrap_kappas(y, pred, RESAMPLES, SEED)
        t_vectorised = min(t_vectorised, time.perf_counter() - start)

    max_diff = float(np.max(np.abs(vectorised - baseline)))
    if max_diff > 1e-12:
        raise SystemExit(f"vectorised and naive bootstrap disagree by {max_diff:.3g}")

    ratio = t_vectorised / t_baseline
    print(f"bootstrap kappa: {RESAMPLES} resamples of {N_IMAGES} images, seed {SEED}")
    print(f"  baseline   (loop over sklearn cohen_kappa_score): {t_baseline:8.3f} s")
    print(f"  vectorised (bincount + batched kappa, best of {REPEATS}): {t_vectorised:8.3f} s")
    print(f"  max |difference| between the two: {max_diff:.2e}")
    print(f"ratio vectorised/baseline = {ratio:.4f}  (speed-up x{1 / ratio:.0f})")


if __name__ == "__main__":
    main()
