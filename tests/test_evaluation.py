"""drlib.evaluation: rebuilding a run's validation split, predicting records, chapter 03 tables.

The real-data path of chapter 03 is exercised on a tiny split read through the EyePACS loader:
loader -> graded records -> predictions -> evaluation summary -> comparison tables.
"""

from __future__ import annotations

import collections

import numpy as np
import pandas as pd
import pytest

from drlib.runtime import backend

backend.ensure()

import keras  # noqa: E402
from sklearn.metrics import cohen_kappa_score  # noqa: E402

from drlib.core.grades import class_prior  # noqa: E402
from drlib.data import synthetic_splits  # noqa: E402
from drlib.data.loaders import load_dataset  # noqa: E402
from drlib.data.records import FundusRecord  # noqa: E402
from drlib.data.synthetic_splits import SplitIntegrityError, build_split  # noqa: E402
from drlib.data.synthetic_splits import read_manifest as read_split_manifest  # noqa: E402
from drlib.evaluation import (  # noqa: E402
    GULSHAN_OPERATING_POINTS,
    PUBLISHED_KAPPAS,
    SplitSpec,
    SplitSpecError,
    comparison_table,
    graded_records,
    per_grade_table,
    predict_records,
    rates_at_threshold,
    rebuild_split,
    referable_table,
    training_prior,
    validation_split_from_manifest,
)
from drlib.evaluation.published import DE_WIT_RECALL  # noqa: E402
from drlib.evaluation.tables import (  # noqa: E402
    GULSHAN_SENSITIVITY,
    GULSHAN_SPECIFICITY,
    KAGGLE_4TH_RECALL,
)
from drlib.metrics.bootstrap import bootstrap_kappa  # noqa: E402
from drlib.metrics.prior_shift import adjust_to_prior  # noqa: E402
from drlib.metrics.referable import referable_roc  # noqa: E402
from drlib.metrics.summary import evaluation_summary, per_grade_precision, per_grade_recall  # noqa: E402

GRADES = np.arange(5, dtype=np.float64)


def _probs(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = rng.choice(5, n, p=[0.45, 0.15, 0.2, 0.1, 0.1])
    centre = y + rng.normal(0, 0.8, n)
    logits = -1.5 * (GRADES[None, :] - centre[:, None]) ** 2
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    return y, p / p.sum(axis=1, keepdims=True)


def _chapter02_manifest() -> dict:
    """The entries chapter 02's write_manifest call records (other entries left out)."""
    return {
        "config": {"image_size": 128, "seed": 0},
        "seeds": {"data": 7, "training": 7},
        "dataset_fingerprint": {"cache": "ch02_balanced_256px_seed7", "train": "aa", "val": "bb"},
        "extra": {"prior": "balanced", "val_prior": "eyepacs", "label_scale": "table1",
                  "settings": {"n_train": 1000, "n_val": 250, "render_size": 256,
                               "image_size": 128}},
        "model": {"input_shape": [None, 128, 128, 3]},
    }


# --------------------------------------------------------------------------- split from manifest


def test_validation_split_is_read_from_a_chapter02_manifest(tmp_path) -> None:
    spec = validation_split_from_manifest(_chapter02_manifest(), tmp_path)
    assert spec.root == tmp_path / "ch02_balanced_256px_seed7"
    assert (spec.split, spec.n, spec.seed, spec.prior) == ("val", 250, 7, "eyepacs")
    assert (spec.render_size, spec.image_size, spec.preprocess) == (256, 128, "plain")
    assert spec.fingerprint == "bb" and spec.label_scale == "table1"
    assert spec.build_kwargs() == {"root": spec.root, "split": "val", "n": 250, "seed": 7,
                                   "prior": "eyepacs", "size": 256, "label_scale": "table1"}
    assert training_prior(_chapter02_manifest()) == "balanced"


def test_without_a_validation_prior_the_training_prior_is_used(tmp_path) -> None:
    manifest = _chapter02_manifest()
    del manifest["extra"]["val_prior"]
    assert validation_split_from_manifest(manifest, tmp_path).prior == "balanced"
    del manifest["extra"]["prior"]
    with pytest.raises(SplitSpecError, match="training prior"):
        training_prior(manifest)


def test_image_size_falls_back_to_the_model_input_shape(tmp_path) -> None:
    manifest = _chapter02_manifest()
    del manifest["config"]["image_size"]
    del manifest["extra"]["settings"]["image_size"]
    manifest["model"]["input_shape"] = [None, 96, 96, 3]
    assert validation_split_from_manifest(manifest, tmp_path).image_size == 96


def test_a_manifest_without_data_entries_is_refused_by_name(tmp_path) -> None:
    manifest = _chapter02_manifest()
    del manifest["seeds"]
    del manifest["extra"]["settings"]["n_val"]
    del manifest["extra"]["label_scale"]
    with pytest.raises(SplitSpecError,
                       match=r"m\.json.*n \(looked for.*seed \(looked for.*label_scale"):
        validation_split_from_manifest(manifest, tmp_path, manifest_name="m.json")


def test_rebuild_split_reuses_checks_and_refuses_to_overwrite(tmp_path) -> None:
    first = build_split(tmp_path / "cache", "val", 4, seed=1, prior="balanced", size=64,
                        workers=1, progress=False)
    fingerprint = read_split_manifest(first)["fingerprint"]
    spec = SplitSpec(root=tmp_path / "cache", split="val", n=4, seed=1, prior="balanced",
                     render_size=64, image_size=32, fingerprint=fingerprint)
    mtime = (first / "manifest.json").stat().st_mtime_ns
    assert rebuild_split(spec) == first
    assert (first / "manifest.json").stat().st_mtime_ns == mtime  # reused, not rebuilt
    assert rebuild_split(SplitSpec(**{**spec.__dict__, "fingerprint": None})) == first
    with pytest.raises(SplitIntegrityError, match=r"val: its images.*the training run recorded"):
        rebuild_split(SplitSpec(**{**spec.__dict__, "fingerprint": "0" * 64}))
    other = SplitSpec(**{**spec.__dict__, "prior": "eyepacs"})
    with pytest.raises(SplitSpecError, match="different split.*prior.*refusing to overwrite"):
        rebuild_split(other)
    other_scale = SplitSpec(**{**spec.__dict__, "label_scale": "table1"})
    with pytest.raises(SplitSpecError, match="different split.*label_scale"):
        rebuild_split(other_scale)
    assert read_split_manifest(first)["fingerprint"] == fingerprint  # cache untouched


def test_rebuild_split_names_a_tampered_file_of_the_cached_split(tmp_path) -> None:
    first = build_split(tmp_path / "cache", "val", 4, seed=1, prior="balanced", size=64,
                        workers=1, progress=False)
    spec = SplitSpec(root=tmp_path / "cache", split="val", n=4, seed=1, prior="balanced",
                     render_size=64, image_size=32,
                     fingerprint=read_split_manifest(first)["fingerprint"])
    victim = first / "masks" / "synth_val_000002.npz"
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    with pytest.raises(SplitIntegrityError, match=r"synth_val_000002\.npz.*mask_sha256 differs"):
        rebuild_split(spec)


def test_rebuild_split_builds_a_missing_split_from_its_seeds(tmp_path) -> None:
    reference = build_split(tmp_path / "a", "val", 3, seed=2, prior="eyepacs", size=64,
                            workers=1, progress=False)
    spec = SplitSpec(root=tmp_path / "b", split="val", n=3, seed=2, prior="eyepacs",
                     render_size=64, image_size=32,
                     fingerprint=read_split_manifest(reference)["fingerprint"])
    assert rebuild_split(spec) == tmp_path / "b" / "val"


def test_rebuild_split_hashes_each_file_once(tmp_path, monkeypatch) -> None:
    """Reused or built, a split's files are hashed in one pass: the fingerprint check that
    follows the integrity check reuses its hashes (a second pass costs ~1 s per 10,000 photos)."""
    reference = build_split(tmp_path / "a", "val", 4, seed=1, prior="balanced", size=64,
                            workers=1, progress=False)
    fingerprint = read_split_manifest(reference)["fingerprint"]
    hashed: collections.Counter = collections.Counter()
    plain = synthetic_splits._sha256_file

    def counting(path):
        hashed[path.name] += 1  # by name: a new split is hashed under its temporary folder
        return plain(path)

    monkeypatch.setattr(synthetic_splits, "_sha256_file", counting)
    spec = SplitSpec(root=tmp_path / "b", split="val", n=4, seed=1, prior="balanced",
                     render_size=64, image_size=32, fingerprint=fingerprint)
    for how in ("built", "reused"):
        hashed.clear()
        folder = rebuild_split(spec)
        assert folder == tmp_path / "b" / "val", how
        files = {f.name for sub in ("train", "masks") for f in (folder / sub).iterdir()}
        assert len(files) == 8 and set(hashed) == files, how
        assert max(hashed.values()) == 1, f"{how}: {hashed.most_common(1)} hashed twice"


# --------------------------------------------------------------------------- prior shift


def test_adjust_to_prior_is_bayes_rule() -> None:
    _, p = _probs(50, 1)
    same = adjust_to_prior(p, "eyepacs", "eyepacs")
    np.testing.assert_allclose(same, p, atol=1e-12)
    moved = adjust_to_prior(p, "balanced", "eyepacs")
    np.testing.assert_allclose(moved.sum(axis=1), 1.0)
    manual = p * class_prior("eyepacs") / class_prior("balanced")
    np.testing.assert_allclose(moved, manual / manual.sum(axis=1, keepdims=True))
    # Grade 0 is far more common under the EyePACS prior than under a balanced one.
    assert np.all(moved[:, 0] >= p[:, 0] - 1e-12)
    back = adjust_to_prior(moved, "eyepacs", "balanced")
    np.testing.assert_allclose(back, p, atol=1e-12)


# --------------------------------------------------------------------------- tables


def test_per_grade_table_matches_the_metrics() -> None:
    y, p = _probs(400, 2)
    pred = p.argmax(axis=1)
    table = per_grade_table(y, pred)
    assert list(table.index) == ["No DR", "Mild", "Moderate", "Severe", "Proliferative"]
    np.testing.assert_array_equal(table["recall"], per_grade_recall(y, pred))
    np.testing.assert_array_equal(table["precision"], per_grade_precision(y, pred))
    np.testing.assert_array_equal(table["images"], np.bincount(y, minlength=5))
    np.testing.assert_array_equal(table["predicted"], np.bincount(pred, minlength=5))
    np.testing.assert_array_equal(table[KAGGLE_4TH_RECALL], DE_WIT_RECALL)


def test_a_never_predicted_grade_has_nan_precision() -> None:
    y = np.array([0, 1, 2, 3, 4, 0])
    pred = np.array([0, 0, 2, 2, 2, 0])
    table = per_grade_table(y, pred)
    assert np.isnan(table.loc["Mild", "precision"])
    assert table.loc["Mild", "recall"] == 0.0


def test_rates_at_the_test_roc_threshold_reproduce_the_roc_point() -> None:
    y, p = _probs(500, 3)
    roc = referable_roc(y, p)
    for point in roc.points:
        rates = rates_at_threshold(y, p, point.threshold)
        assert rates.sensitivity == pytest.approx(point.sensitivity)
        assert rates.specificity == pytest.approx(point.specificity)


def test_rates_need_both_classes() -> None:
    p = np.full((3, 5), 0.2)
    with pytest.raises(ValueError, match="referable and non-referable"):
        rates_at_threshold([0, 1, 0], p, 0.5)


def test_referable_table_sets_gulshan_beside_each_point() -> None:
    y, p = _probs(500, 4)
    y_val, p_val = _probs(300, 5)
    roc = referable_roc(y, p)
    val_roc = referable_roc(y_val, p_val)
    carried = [rates_at_threshold(y, p, pt.threshold) for pt in val_roc.points]
    table = referable_table(roc, carried)
    assert list(table.index) == ["specificity >= 0.9", "specificity >= 0.98",
                                 "sensitivity >= 0.975"]
    high_spec, high_sens = GULSHAN_OPERATING_POINTS
    assert table.loc["specificity >= 0.98", GULSHAN_SENSITIVITY] == high_spec.sensitivity
    assert table.loc["sensitivity >= 0.975", GULSHAN_SPECIFICITY] == high_sens.specificity
    assert table.loc["specificity >= 0.9", "sensitivity (val thr. on test)"] == (
        carried[0].sensitivity
    )
    assert "threshold (val)" not in referable_table(roc).columns


def test_comparison_table_puts_ours_first_and_flags_recollections() -> None:
    y, p = _probs(300, 6)
    ci = bootstrap_kappa(y, p.argmax(axis=1), resamples=200, seed=0)
    other = bootstrap_kappa(y, np.clip(p.argmax(axis=1) + 1, 0, 4), resamples=200, seed=0)
    table = comparison_table({"ours, argmax": ci, "ours, shifted": other},
                             "synthetic test split", "ICDR")
    assert len(table) == 2 + len(PUBLISHED_KAPPAS)
    assert table["grader"].tolist()[:2] == ["ours, argmax", "ours, shifted"]
    assert set(table["data"][:2]) == {"synthetic test split"}
    assert set(table["labels"][:2]) == {"ICDR"}
    assert set(table["comparable"][:2]) == {"this course (synthetic)"}
    # every published row carries its caveat and names its scale
    assert all(c.startswith("published, EyePACS") and c.endswith(("not comparable",
               "not comparable (the test set also chose the stopping point)"))
               for c in table["comparable"][2:])
    assert set(table["labels"][2:]) == {"ICDR"}
    assert table.iloc[1]["kappa"] == f"{other.estimate:.3f}"
    first = table.iloc[0]
    assert first["kappa"] == f"{ci.estimate:.3f}"
    assert first["95% interval"] == f"{ci.low:.3f} to {ci.high:.3f}"
    paper = table[table["grader"].str.startswith("Pratt")].iloc[0]
    assert paper["kappa"] == "0.810" and "recollection" not in paper["source"]
    flagged = table[table["source"].str.contains("recollection")]["grader"].tolist()
    assert any("1st place" in g for g in flagged) and any("human" in g for g in flagged)
    humans = table[table["grader"].str.contains("human")].iloc[0]
    assert humans["kappa"] == "0.80-0.84"
    with pytest.raises(ValueError, match="at least one"):
        comparison_table({}, "nothing", "ICDR")


# --------------------------------------------------------------------------- real-data path


def _tiny_model(size: int) -> keras.Model:
    """Same contract as the DenseNet grader (RGB [0, 255] in, 5 probabilities out), tiny."""
    keras.utils.set_random_seed(0)
    image = keras.Input((size, size, 3))
    x = keras.layers.Rescaling(1 / 255.0)(image)
    x = keras.layers.Conv2D(4, 3, strides=4, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(image, keras.layers.Dense(5, activation="softmax")(x))


@pytest.fixture(scope="module")
def eyepacs_tree(tmp_path_factory):
    root = tmp_path_factory.mktemp("ch03")
    return build_split(root, "test", 10, seed=3, prior="balanced", size=64, workers=1,
                       progress=False)


def test_a_split_read_by_the_eyepacs_loader_is_evaluated_end_to_end(eyepacs_tree) -> None:
    records, report = load_dataset(eyepacs_tree, strict=False, kind="eyepacs")
    assert report.loaded == 10 and not report.skipped
    assert {r.source for r in records} == {"eyepacs"}
    graded, ungraded = graded_records(records)
    assert len(graded) == 10 and not ungraded

    model = _tiny_model(32)
    probs, y = predict_records(model, graded, image_size=32, batch_size=4)
    assert probs.shape == (10, 5) and probs.dtype == np.float64
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    np.testing.assert_array_equal(y, [r.grade for r in graded])
    split_counts = read_split_manifest(eyepacs_tree)["grade_counts"]
    np.testing.assert_array_equal(np.bincount(y, minlength=5), split_counts)

    # Same records, another batch size: same predictions (padding never leaks into outputs).
    again, _ = predict_records(model, graded, image_size=32, batch_size=3)
    np.testing.assert_allclose(again, probs, atol=1e-6)

    summary = evaluation_summary(y, probs, y, probs, seed=0, resamples=50)
    assert summary["n_test"] == 10
    assert summary["kappa_argmax"] == pytest.approx(
        cohen_kappa_score(y, probs.argmax(axis=1), weights="quadratic", labels=list(range(5))),
        abs=1e-12)
    ci = bootstrap_kappa(y, probs.argmax(axis=1), resamples=50, seed=0)
    table = comparison_table({"tiny model": ci}, "10 photographs", "ICDR")
    assert isinstance(table, pd.DataFrame) and table.iloc[0]["grader"] == "tiny model"
    per_grade = per_grade_table(y, probs.argmax(axis=1))
    assert per_grade["images"].sum() == 10


def test_ungraded_records_are_refused(tmp_path) -> None:
    record = FundusRecord("x", tmp_path / "x.jpeg", None, "idrid")
    graded, ungraded = graded_records([record])
    assert graded == [] and ungraded == [record]
    with pytest.raises(ValueError, match="no grade"):
        predict_records(_tiny_model(32), [record], image_size=32)
    with pytest.raises(ValueError, match="no records"):
        predict_records(_tiny_model(32), [], image_size=32)
