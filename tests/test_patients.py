"""Patients (drlib.data.patients): a patient's two eyes never end up on two sides of a split.

The fixture is an EyePACS folder (written by the loader tests' tree builders) of 12 patients
with both eyes and 6 with one, 30 photographs, loaded with ``load_dataset`` as a user would.
"""

from __future__ import annotations

import collections
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from drlib.data.loaders import load_dataset
from drlib.data.patients import (
    parse_eye_id,
    patient_groups,
    patient_id,
    record_patient,
    split_by_patient,
)
from drlib.data.records import FundusRecord
from drlib.metrics.bootstrap import bootstrap_indices, bootstrap_kappa

try:
    from fixtures_trees import eyepacs_patient_grades, make_eyepacs_tree
except ImportError:  # tests/ imported as a package
    from tests.fixtures_trees import eyepacs_patient_grades, make_eyepacs_tree

FRACTIONS = {"train": 0.6, "val": 0.2, "test": 0.2}
N_PAIRS, N_SINGLE = 12, 6


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> list[FundusRecord]:
    root = make_eyepacs_tree(
        tmp_path_factory.mktemp("eyepacs"), eyepacs_patient_grades(N_PAIRS, N_SINGLE)
    )
    loaded, report = load_dataset(root)
    assert report.ok and len(loaded) == 2 * N_PAIRS + N_SINGLE
    return loaded


def _patients_by_side(splits: dict[str, list[FundusRecord]]) -> dict[str, set[str]]:
    """Patient id -> the splits its photographs are in."""
    sides: dict[str, set[str]] = collections.defaultdict(set)
    for name, part in splits.items():
        for record in part:
            sides[patient_id(record.image_id)].add(name)
    return sides


def _assert_patients_on_one_side(splits: dict[str, list[FundusRecord]]) -> None:
    on_two = {p: sorted(s) for p, s in _patients_by_side(splits).items() if len(s) > 1}
    assert not on_two, f"patients on more than one side of the split: {on_two}"


def _split_by_image(records, fractions, seed):
    """A deliberately wrong splitter: photographs, not patients, are shuffled and cut."""
    order = np.random.default_rng(seed).permutation(len(records))
    cuts = np.cumsum([round(f * len(records)) for f in fractions.values()])[:-1]
    return {
        name: [records[i] for i in sorted(part)]
        for name, part in zip(fractions, np.split(order, cuts), strict=True)
    }


# --------------------------------------------------------------------------- who is a patient


@pytest.mark.parametrize(
    ("image_id", "patient"),
    [
        ("10_left", "10"), ("10_right", "10"), ("4410_left", "4410"),  # EyePACS pairs
        ("IDRiD_001", "IDRiD_001"), ("000c1434d8d7", "000c1434d8d7"),  # IDRiD, APTOS
        ("synth_train_000001", "synth_train_000001"), ("p1.png", "p1.png"),  # synthetic, generic
        ("_left", "_left"), ("10_Left", "10_Left"), ("10_centre", "10_centre"),  # no eye suffix
    ],
)
def test_patient_id_rule(image_id: str, patient: str) -> None:
    assert patient_id(image_id) == patient
    assert (parse_eye_id(image_id) is not None) == (patient != image_id)


def test_the_eyepacs_loader_records_patient_and_eye(records) -> None:
    for record in records:
        assert record.extra["patient"] == patient_id(record.image_id)
        assert record.extra["eye"] == record.image_id.rpartition("_")[2]
    groups = patient_groups(records)
    assert groups.shape == (len(records),)
    assert groups[0] == groups[1] == "eyepacs:1"  # 1_left, 1_right
    assert len(set(groups)) == N_PAIRS + N_SINGLE


def test_groups_keep_data_sets_apart_and_honour_a_recorded_patient() -> None:
    path = Path("x.jpeg")
    eyepacs = FundusRecord("10_left", path, 0, "eyepacs", extra={"patient": "10"})
    clinic = FundusRecord("10", path, 0, "generic")
    named = FundusRecord("scan_0042", path, 1, "generic", extra={"patient": "P7"})
    assert list(patient_groups([eyepacs, clinic, named])) == [
        "eyepacs:10", "generic:10", "generic:P7"
    ]
    assert record_patient(named) == "P7" and record_patient(clinic) == "10"


# --------------------------------------------------------------------------- splitting


def test_split_keeps_every_patient_on_one_side(records) -> None:
    splits = split_by_patient(records, FRACTIONS, seed=0)
    assert list(splits) == list(FRACTIONS)
    _assert_patients_on_one_side(splits)
    ids = [r.image_id for part in splits.values() for r in part]
    assert sorted(ids) == sorted(r.image_id for r in records)  # every photograph, once
    position = {r.image_id: i for i, r in enumerate(records)}
    for part in splits.values():  # each split in the order of the records
        assert [position[r.image_id] for r in part] == sorted(position[r.image_id] for r in part)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
@pytest.mark.parametrize("stratify", [True, False])
def test_exact_sizes_for_pinned_seeds(records, seed: int, stratify: bool) -> None:
    splits = split_by_patient(records, FRACTIONS, seed=seed, stratify=stratify)
    _assert_patients_on_one_side(splits)
    # 30 photographs at 0.6 / 0.2 / 0.2; the 6 one-eye patients fill what the pairs leave
    assert {name: len(part) for name, part in splits.items()} == {
        "train": 18, "val": 6, "test": 6
    }


def test_split_is_deterministic_for_a_seed_and_ignores_record_order(records) -> None:
    def ids(splits):
        return {name: sorted(r.image_id for r in part) for name, part in splits.items()}

    first = ids(split_by_patient(records, FRACTIONS, seed=0))
    assert ids(split_by_patient(records, FRACTIONS, seed=0)) == first
    assert ids(split_by_patient(records[::-1], FRACTIONS, seed=0)) == first
    assert ids(split_by_patient(records, FRACTIONS, seed=1)) != first


def test_stratified_split_spreads_each_worst_grade(records) -> None:
    groups = patient_groups(records)
    worst = {g: max(r.grade for r, h in zip(records, groups, strict=True) if h == g)
             for g in set(groups)}

    def gaps(splits) -> list[float]:
        """|photographs of a worst grade in a split - the split's share of them|, all pairs."""
        total = collections.Counter(worst[g] for g in groups)
        out = []
        for name, part in splits.items():
            counts = collections.Counter(worst[g] for g in patient_groups(part))
            out += [abs(counts[grade] - FRACTIONS[name] * n) for grade, n in total.items()]
        return out

    stratified = split_by_patient(records, FRACTIONS, seed=0)
    plain = split_by_patient(records, FRACTIONS, seed=0, stratify=False)
    assert max(gaps(stratified)) < 2  # each within one pair of its share
    assert sum(gaps(stratified)) < sum(gaps(plain))


def test_pairs_only_end_within_one_photograph_of_target() -> None:
    path = Path("x.jpeg")
    pairs = [FundusRecord(f"{p}_{eye}", path, p % 5, "eyepacs")
             for p in range(11) for eye in ("left", "right")]
    for seed in range(5):
        splits = split_by_patient(pairs, {"a": 0.5, "b": 0.3, "c": 0.2}, seed=seed)
        _assert_patients_on_one_side(splits)
        sizes = {name: len(part) for name, part in splits.items()}
        targets = {"a": 11, "b": 7, "c": 4}  # 22 photographs; 11 and 7 are odd
        assert sum(sizes.values()) == 22
        assert all(abs(sizes[k] - targets[k]) <= 1 for k in targets), sizes


def test_ungraded_records_and_empty_splits() -> None:
    path = Path("x.jpeg")
    ungraded = [FundusRecord(f"IDRiD_0{i}", path, None, "idrid") for i in range(10)]
    splits = split_by_patient(ungraded, {"train": 0.7, "test": 0.3, "spare": 0.0}, seed=4)
    assert [len(p) for p in splits.values()] == [7, 3, 0]
    assert split_by_patient([], {"train": 1.0}) == {"train": []}


@pytest.mark.parametrize(
    ("fractions", "words"),
    [({}, "at least one"), ({"a": 0.5, "b": 0.4}, "add up to 1"), ({"a": 1.5, "b": -0.5}, ">= 0")],
)
def test_bad_fractions(records, fractions, words) -> None:
    with pytest.raises(ValueError, match=words):
        split_by_patient(records, fractions)


def test_a_split_by_image_would_fail_these_checks(records) -> None:
    """The checks above have teeth: splitting photographs instead of patients (same sizes)
    puts patients on two sides of this fixture for every seed tried."""
    for seed in range(4):
        leaky = _split_by_image(records, FRACTIONS, seed)
        assert {name: len(part) for name, part in leaky.items()} == {
            "train": 18, "val": 6, "test": 6
        }
        with pytest.raises(AssertionError, match="patients on more than one side"):
            _assert_patients_on_one_side(leaky)


# --------------------------------------------------------------------------- with the bootstrap


def test_patient_groups_feed_the_cluster_bootstrap(records) -> None:
    test = split_by_patient(records, {"rest": 0.5, "test": 0.5}, seed=0)["test"]
    y = np.array([r.grade for r in test])
    pred = np.clip(y + np.arange(len(y)) % 3 - 1, 0, 4)
    groups = patient_groups(test)
    ci = bootstrap_kappa(y, pred, resamples=200, seed=0, groups=groups)
    assert ci.n_groups == len(set(groups)) < len(test)
    assert ci.low <= ci.estimate <= ci.high
    # by hand: the same seed's resamples of whole patients, each scored by scikit-learn
    resamples = bootstrap_indices(len(test), 200, 0, groups=groups)
    assert len(resamples) == 200
    rows_of = collections.defaultdict(list)
    for row, patient in enumerate(groups):
        rows_of[patient].append(row)
    for rows in resamples:  # as many patients drawn as there are, each with all his photographs
        drawn, start = 0, 0
        while start < len(rows):
            patient_rows = rows_of[groups[rows[start]]]
            assert rows[start : start + len(patient_rows)].tolist() == patient_rows
            start += len(patient_rows)
            drawn += 1
        assert drawn == ci.n_groups
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # 0/0: a resample of a single grade
        kappas = np.array([cohen_kappa_score(y[rows], pred[rows], weights="quadratic",
                                             labels=range(5)) for rows in resamples])
    defined = np.isfinite(kappas)
    assert ci.n_undefined == np.count_nonzero(~defined)
    low, high = np.percentile(kappas[defined], [2.5, 97.5])
    assert (ci.low, ci.high) == pytest.approx((low, high), abs=1e-12)
    assert ci.estimate == pytest.approx(cohen_kappa_score(y, pred, weights="quadratic"),
                                        abs=1e-12)
    # resampling photographs one by one gives another interval
    rows_ci = bootstrap_kappa(y, pred, resamples=200, seed=0)
    assert rows_ci.n_groups is None and rows_ci.estimate == ci.estimate
    assert (rows_ci.low, rows_ci.high) != pytest.approx((ci.low, ci.high), abs=1e-3)
