"""Which photographs belong to one patient, and splits that keep a patient's eyes together.

The two eyes of one person look alike (same camera, same retinal pigmentation, usually a similar
stage of retinopathy), so a test set that holds one eye of a patient whose other eye was trained
on overestimates how well a model does on new patients. Splits are therefore made of whole
patients (:func:`split_by_patient`), and an interval computed on such a test set should
resample patients, not photographs (``groups=`` of :func:`drlib.metrics.bootstrap.bootstrap_kappa`,
fed with :func:`patient_groups`).

Which photographs are one patient's (:func:`patient_id`):

* EyePACS / Kaggle 2015 ids are ``<patient>_left`` and ``<patient>_right`` (``10_left``,
  ``10_right``): the patient is the part before the last underscore. The EyePACS loader stores it
  in each record's ``extra["patient"]`` (and the eye in ``extra["eye"]``).
* Any other id (APTOS ``000c1434d8d7``, IDRiD ``IDRiD_001``, a generic data set, the synthetic
  ``synth_train_000001``) has no eye suffix and is taken to be its own patient: those data sets
  do not say which photographs share a patient. A data set that does can set
  ``extra["patient"]`` on its records, and :func:`patient_groups` uses it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from drlib.data.records import FundusRecord

EYES = ("left", "right")
"""Eye suffixes of EyePACS ids (lower case, as Kaggle writes them)."""


def parse_eye_id(image_id: str) -> tuple[str, str] | None:
    """``(patient, eye)`` of an EyePACS-style id ``<patient>_<left|right>``, else ``None``.

    ``"10_left"`` -> ``("10", "left")``; ``"IDRiD_001"``, ``"_left"`` and ``"10_Left"`` -> None.
    """
    patient, _, eye = image_id.rpartition("_")
    if eye in EYES and patient:
        return patient, eye
    return None


def patient_id(image_id: str) -> str:
    """The patient a photograph id belongs to: ``"10"`` for ``"10_left"`` and ``"10_right"``;
    an id without an ``_left``/``_right`` suffix is its own patient (returned unchanged)."""
    parsed = parse_eye_id(image_id)
    return parsed[0] if parsed is not None else image_id


def record_patient(record: FundusRecord) -> str:
    """A record's patient: ``extra["patient"]`` when the loader set it, else
    :func:`patient_id` of its ``image_id``."""
    patient = record.extra.get("patient")
    return str(patient) if patient is not None else patient_id(record.image_id)


def patient_groups(records: Sequence[FundusRecord]) -> np.ndarray:
    """One group label per record (str array, record order): ``"<source>:<patient>"``.

    Records with the same label are the same patient's photographs. The data set kind is part
    of the label, so patient ``10`` of EyePACS and photograph ``10`` of another set stay apart.
    Pass the array as ``groups=`` to :func:`drlib.metrics.bootstrap.bootstrap_kappa`.
    """
    return np.array([f"{r.source}:{record_patient(r)}" for r in records], dtype=str)


def _check_fractions(fractions: Mapping[str, float]) -> dict[str, float]:
    if not fractions:
        raise ValueError("fractions must name at least one split")
    out = {str(name): float(f) for name, f in fractions.items()}
    bad = {name: f for name, f in out.items() if not (math.isfinite(f) and f >= 0)}
    if bad:
        raise ValueError(f"fractions must be finite and >= 0, got {bad}")
    total = sum(out.values())
    if abs(total - 1.0) > 1e-6:
        raise ValueError(f"fractions must add up to 1, got {total:g} ({out})")
    return out


def _apportion(n: int, fractions: Sequence[float]) -> np.ndarray:
    """Whole numbers adding up to ``n``, proportional to ``fractions`` (largest remainders;
    ties go to the split named first)."""
    quotas = n * np.asarray(fractions, dtype=float)
    sizes = np.floor(quotas).astype(np.int64)
    short = n - int(sizes.sum())
    order = np.argsort(-(quotas - sizes), kind="stable")
    sizes[order[:short]] += 1
    return sizes


def split_by_patient(
    records: Sequence[FundusRecord],
    fractions: Mapping[str, float],
    seed: int = 0,
    *,
    stratify: bool = True,
) -> dict[str, list[FundusRecord]]:
    """Split records into named parts of whole patients: no patient is on two sides.

    Args:
        records: photographs of one or more data sets; patients by :func:`patient_groups`.
        fractions: split name -> share of the *photographs* (e.g. ``{"train": 0.8,
            "val": 0.2}``); each >= 0, adding up to 1. The result has the splits in this order.
        seed: the split is a function of the seed and the set of records (not their order).
        stratify: spread each patient grade (the worst grade of a patient's eyes; ungraded
            patients form a group of their own) over the splits in proportion too.

    Returns:
        Split name -> its records, in the order of ``records``.

    How: the target size of each split is ``fraction * len(records)`` rounded to whole
    photographs (largest remainders, adding up to ``len(records)``). Patients are shuffled by
    ``seed`` and placed one at a time, those with the most photographs first: each goes to a
    split that still has room for all its photographs, preferring the split that is furthest
    below its share of the patient's grade (``stratify``), then the one with the most room.
    Every split ends within (most photographs of one patient - 1) of its target: within one
    photograph for EyePACS pairs, and exactly on target whenever enough one-eye patients are
    left to fill the gaps.
    """
    shares = _check_fractions(fractions)
    names = list(shares)
    f = np.array([shares[name] for name in names])
    records = list(records)
    groups = patient_groups(records)
    labels, member_of = np.unique(groups, return_inverse=True)  # sorted: order-independent
    n_patients = len(labels)
    members: list[list[int]] = [[] for _ in range(n_patients)]
    for row, p in enumerate(member_of):
        members[p].append(row)
    sizes = np.array([len(m) for m in members], dtype=np.int64)

    if stratify:
        worst = np.full(n_patients, -1, dtype=np.int64)  # -1: no graded photograph
        for p, rows in enumerate(members):
            grades = [records[r].grade for r in rows if records[r].grade is not None]
            if grades:
                worst[p] = max(grades)
        _, stratum = np.unique(worst, return_inverse=True)
    else:
        stratum = np.zeros(n_patients, dtype=np.int64)
    stratum_images = np.bincount(stratum, weights=sizes)
    stratum_quota = stratum_images[:, None] * f[None, :]  # (strata, splits), in photographs

    room = _apportion(len(records), f)  # photographs each split may still take
    placed = np.zeros_like(stratum_quota)  # photographs placed, per stratum and split
    side = np.empty(n_patients, dtype=np.int64)
    order = np.random.default_rng(seed).permutation(n_patients)
    order = order[np.argsort(-sizes[order], kind="stable")]  # most photographs first
    for p in order:
        size, k = sizes[p], stratum[p]
        fits = room >= size
        candidates = np.flatnonzero(fits) if fits.any() else np.flatnonzero(room == room.max())
        owed = stratum_quota[k, candidates] - placed[k, candidates]
        # lexsort: last key first; ties left go to the split named first
        best = candidates[np.lexsort((candidates, -room[candidates], -owed))[0]]
        side[p] = best
        room[best] -= size
        placed[k, best] += size

    out: dict[str, list[FundusRecord]] = {name: [] for name in names}
    for row, record in enumerate(records):
        out[names[side[member_of[row]]]].append(record)
    return out


__all__ = [
    "EYES", "parse_eye_id", "patient_groups", "patient_id", "record_patient", "split_by_patient",
]
