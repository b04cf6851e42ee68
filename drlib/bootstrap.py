"""Bootstrap confidence intervals for quadratic weighted kappa.

A single kappa on a test set of a few thousand images moves by a few hundredths from one
sample of patients to the next, which is as large as the gaps between Kaggle leaderboard
places. The percentile bootstrap makes that visible: resample the test images with
replacement ``R`` times, recompute kappa each time, and report the central 95% of the
``R`` values.

Vectorised: the ``R`` resamples are one (R, n) index array; each image is coded as
``true * K + pred``, and one ``bincount`` over ``code + r * K * K`` builds all R confusion
matrices at once, which :func:`drlib.kappa.kappa_from_confusion` scores in one call.
Large ``R * n`` is processed in fixed-size chunks of resamples (the chunking depends only
on ``n``, never on the machine, so a seed gives the same interval everywhere).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from drlib.kappa import N_GRADES, check_pair, confusion_matrix, kappa_from_confusion

_CHUNK_ELEMENTS = 1 << 22
"""Upper bound on the number of resampled indices held in memory at once (32 MiB int64)."""


@dataclass(frozen=True)
class KappaInterval:
    """A kappa estimate with its percentile bootstrap interval.

    ``estimate`` is kappa on the full sample; ``low``/``high`` the percentile interval at
    ``level``; ``resamples`` and ``seed`` say how to reproduce it. ``n_undefined`` counts
    resamples whose kappa was 0/0 (every resampled image the same grade, both in truth and
    prediction: only plausible for tiny samples); they are left out of the percentiles and
    counted here rather than dropped silently.
    """

    estimate: float
    low: float
    high: float
    resamples: int
    seed: int
    level: float = 0.95
    n_undefined: int = 0


def bootstrap_indices(n: int, resamples: int, seed: int) -> np.ndarray:
    """The (resamples, n) int64 array of resampled positions that :func:`bootstrap_kappa`
    uses for ``seed`` (exposed so a baseline can score exactly the same resamples)."""
    rng = np.random.default_rng(seed)
    return np.concatenate(
        [rng.integers(0, n, size=(r, n)) for r in _chunk_sizes(n, resamples)], axis=0
    )


def _chunk_sizes(n: int, resamples: int) -> list[int]:
    per_chunk = max(1, _CHUNK_ELEMENTS // max(n, 1))
    full, rest = divmod(resamples, per_chunk)
    return [per_chunk] * full + ([rest] if rest else [])


def bootstrap_kappas(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    resamples: int = 2000,
    seed: int = 0,
    n_classes: int = N_GRADES,
) -> np.ndarray:
    """Kappa of each of ``resamples`` bootstrap resamples, shape (resamples,); ``nan`` where
    a resample is degenerate. Resamples are those of :func:`bootstrap_indices`."""
    t, p = check_pair(y_true, y_pred, n_classes)
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    n = t.size
    cells = n_classes * n_classes
    codes = t * n_classes + p
    rng = np.random.default_rng(seed)
    out = []
    for r in _chunk_sizes(n, resamples):
        idx = rng.integers(0, n, size=(r, n))
        flat = codes[idx] + (np.arange(r, dtype=np.int64) * cells)[:, None]
        confusion = np.bincount(flat.ravel(), minlength=r * cells).reshape(r, n_classes, n_classes)
        out.append(np.atleast_1d(kappa_from_confusion(confusion)))
    return np.concatenate(out)


def bootstrap_kappa(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    resamples: int = 2000,
    seed: int = 0,
    level: float = 0.95,
    n_classes: int = N_GRADES,
) -> KappaInterval:
    """Quadratic weighted kappa with a seeded percentile bootstrap interval.

    ``level=0.95`` gives the 2.5th and 97.5th percentiles (numpy's default linear
    interpolation) of the resampled kappas. Raises ``ValueError`` if every resample is
    degenerate.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    t, p = check_pair(y_true, y_pred, n_classes)
    kappas = bootstrap_kappas(t, p, resamples, seed, n_classes)
    defined = np.isfinite(kappas)
    if not np.any(defined):
        raise ValueError(
            "every bootstrap resample has an undefined kappa (a single grade throughout); "
            "no interval can be formed"
        )
    tail = 100.0 * (1.0 - level) / 2.0
    low, high = np.percentile(kappas[defined], [tail, 100.0 - tail])
    estimate = kappa_from_confusion(confusion_matrix(t, p, n_classes))
    return KappaInterval(
        estimate=float(estimate),
        low=float(low),
        high=float(high),
        resamples=int(resamples),
        seed=int(seed),
        level=float(level),
        n_undefined=int(np.count_nonzero(~defined)),
    )
