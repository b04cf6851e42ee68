"""Bootstrap confidence intervals for quadratic weighted kappa.

A single kappa on a test set of a few thousand images moves by a few hundredths from one
sample of patients to the next, which is as large as the gaps between Kaggle leaderboard
places. The percentile bootstrap makes that visible: resample the test images with
replacement ``R`` times, recompute kappa each time, and report the central 95% of the
``R`` values.

Vectorised: the ``R`` resamples are one (R, n) index array; each image is coded as
``true * K + pred``, and one ``bincount`` over ``code + r * K * K`` builds all R confusion
matrices at once, which :func:`drlib.metrics.kappa.kappa_from_confusion` scores in one call.
Large ``R * n`` is processed in fixed-size chunks of resamples (the chunking depends only
on ``n``, never on the machine, so a seed gives the same interval everywhere).

Patients, not photographs: the two eyes of one patient are not independent samples, and a
bootstrap that resamples eyes one by one makes the interval too narrow. With ``groups`` (one
label per row, e.g. :func:`drlib.data.patients.patient_groups`) the *groups* are resampled
with replacement (cluster bootstrap): each resample draws as many groups as there are, and
every row of a drawn group enters the resample together, so resamples differ in length. The
draws are one (R, G) array of group positions, groups numbered in order of first appearance;
with one row per group they are exactly the row draws of the same seed.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from drlib.metrics.kappa import N_GRADES, check_pair, confusion_matrix, kappa_from_confusion

_CHUNK_ELEMENTS = 1 << 22
"""Upper bound on the number of resampled indices held in memory at once (32 MiB int64)."""


@dataclass(frozen=True)
class KappaInterval:
    """A kappa estimate with its percentile bootstrap interval.

    ``estimate`` is kappa on the full sample; ``low``/``high`` the percentile interval at
    ``level``; ``resamples`` and ``seed`` say how to reproduce it. ``n_undefined`` counts
    resamples whose kappa was 0/0 (every resampled image the same grade, both in truth and
    prediction: only plausible for tiny samples); they are left out of the percentiles and
    counted here rather than dropped silently. ``n_groups`` is the number of groups (patients)
    of a cluster bootstrap, ``None`` when rows were resampled one by one.
    """

    estimate: float
    low: float
    high: float
    resamples: int
    seed: int
    level: float = 0.95
    n_undefined: int = 0
    n_groups: int | None = None


def bootstrap_indices(
    n: int, resamples: int, seed: int, *, groups: ArrayLike | None = None
) -> np.ndarray | list[np.ndarray]:
    """The resampled row positions that :func:`bootstrap_kappa` uses for ``seed`` (exposed so a
    baseline can score exactly the same resamples).

    Without ``groups``: a (resamples, n) int64 array. With ``groups`` (n labels, one per row):
    a list of ``resamples`` int64 arrays, each the rows of the drawn groups, group after group
    in the order drawn (a group's rows in row order); lengths vary with the groups drawn.
    """
    if groups is None:
        rng = np.random.default_rng(seed)
        return np.concatenate(
            [rng.integers(0, n, size=(r, n)) for r in _chunk_sizes(n, resamples)], axis=0
        )
    clusters = _Clusters(groups, n)
    out: list[np.ndarray] = []
    for draws in _group_draws(clusters, resamples, seed):
        rows, lengths = clusters.rows_of(draws)
        out += np.split(rows, np.cumsum(lengths)[:-1])
    return out


def _chunk_sizes(n: int, resamples: int) -> list[int]:
    per_chunk = max(1, _CHUNK_ELEMENTS // max(n, 1))
    full, rest = divmod(resamples, per_chunk)
    return [per_chunk] * full + ([rest] if rest else [])


class _Clusters:
    """Rows grouped by label: groups numbered 0..G-1 in order of first appearance."""

    def __init__(self, groups: ArrayLike, n: int) -> None:
        labels = np.asarray(groups)
        if labels.ndim != 1 or labels.size != n:
            raise ValueError(
                f"groups must be one label per row ({n}), got shape {labels.shape}"
            )
        _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
        number = np.empty(first.size, dtype=np.int64)
        number[np.argsort(first, kind="stable")] = np.arange(first.size)
        self.of_row = number[inverse.reshape(-1)]
        self.n_groups = int(first.size)
        self.order = np.argsort(self.of_row, kind="stable")  # rows, group by group
        self.sizes = np.bincount(self.of_row, minlength=self.n_groups)
        self.starts = np.cumsum(self.sizes) - self.sizes

    def rows_of(self, draws: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Rows of (r, G) drawn groups, all resamples concatenated, and each resample's length."""
        sizes = self.sizes[draws.ravel()]
        total = int(sizes.sum())
        # position in self.order of every drawn row: its group's start, plus 0..size-1
        offsets = np.arange(total) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        rows = self.order[np.repeat(self.starts[draws.ravel()], sizes) + offsets]
        return rows, self.sizes[draws].sum(axis=1)


def _group_draws(clusters: _Clusters, resamples: int, seed: int) -> Iterator[np.ndarray]:
    """(r, G) arrays of drawn group numbers, chunked by the number of rows as the row bootstrap
    is (so one row per group reproduces its draws)."""
    rng = np.random.default_rng(seed)
    g = clusters.n_groups
    for r in _chunk_sizes(clusters.of_row.size, resamples):
        yield rng.integers(0, g, size=(r, g))


def bootstrap_kappas(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    resamples: int = 2000,
    seed: int = 0,
    n_classes: int = N_GRADES,
    *,
    groups: ArrayLike | None = None,
) -> np.ndarray:
    """Kappa of each of ``resamples`` bootstrap resamples, shape (resamples,); ``nan`` where
    a resample is degenerate. Resamples are those of :func:`bootstrap_indices` (whole groups
    when ``groups`` gives one label per row, e.g. a patient id)."""
    t, p = check_pair(y_true, y_pred, n_classes)
    if resamples < 1:
        raise ValueError(f"resamples must be at least 1, got {resamples}")
    n = t.size
    cells = n_classes * n_classes
    codes = t * n_classes + p
    out = []
    if groups is None:
        rng = np.random.default_rng(seed)
        for r in _chunk_sizes(n, resamples):
            idx = rng.integers(0, n, size=(r, n))
            flat = codes[idx] + (np.arange(r, dtype=np.int64) * cells)[:, None]
            out.append(_kappas_of_codes(flat.ravel(), r, n_classes))
    else:
        clusters = _Clusters(groups, n)
        for draws in _group_draws(clusters, resamples, seed):
            r = draws.shape[0]
            rows, lengths = clusters.rows_of(draws)
            flat = codes[rows] + np.repeat(np.arange(r, dtype=np.int64) * cells, lengths)
            out.append(_kappas_of_codes(flat, r, n_classes))
    return np.concatenate(out)


def _kappas_of_codes(flat: np.ndarray, r: int, n_classes: int) -> np.ndarray:
    """Kappas of ``r`` resamples from their cell codes ``true * K + pred + resample * K * K``."""
    cells = n_classes * n_classes
    confusion = np.bincount(flat, minlength=r * cells).reshape(r, n_classes, n_classes)
    return np.atleast_1d(kappa_from_confusion(confusion))


def bootstrap_kappa(
    y_true: ArrayLike,
    y_pred: ArrayLike,
    resamples: int = 2000,
    seed: int = 0,
    level: float = 0.95,
    n_classes: int = N_GRADES,
    *,
    groups: ArrayLike | None = None,
) -> KappaInterval:
    """Quadratic weighted kappa with a seeded percentile bootstrap interval.

    ``level=0.95`` gives the 2.5th and 97.5th percentiles (numpy's default linear
    interpolation) of the resampled kappas. ``groups`` (one label per row, e.g. patient ids):
    resample whole groups instead of rows (module doc). Raises ``ValueError`` if every
    resample is degenerate.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    t, p = check_pair(y_true, y_pred, n_classes)
    kappas = bootstrap_kappas(t, p, resamples, seed, n_classes, groups=groups)
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
        n_groups=None if groups is None else _Clusters(groups, t.size).n_groups,
    )
