"""Tests of drlib.data.loaders: every layout loads right, and every kind of bad input is caught.

Bad input is checked in both modes: strict raises naming the file (or CSV row) and the problem;
lenient loads the good rest and the report lists the skipped item and why.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from drlib.data.image_io import FundusImageError
from drlib.data.loaders import (
    check_images,
    detect_layout,
    load_aptos,
    load_dataset,
    load_eyepacs,
    load_generic,
    load_idrid,
    load_idrid_masks,
    load_record_masks,
    load_synthetic,
)
from drlib.data.records import DatasetError, FundusRecord, LoadReport

try:
    from fixtures_trees import (
        BAD_FILES,
        fundus_image,
        idrid_csv_path,
        idrid_grading_dir,
        idrid_mask_path,
        make_aptos_tree,
        make_eyepacs_tree,
        make_idrid_tree,
        make_synthetic_split,
        write_csv,
        write_image,
    )
except ImportError:  # tests/ imported as a package
    from tests.fixtures_trees import (
        BAD_FILES,
        fundus_image,
        idrid_csv_path,
        idrid_grading_dir,
        idrid_mask_path,
        make_aptos_tree,
        make_eyepacs_tree,
        make_idrid_tree,
        make_synthetic_split,
        write_csv,
        write_image,
    )

GRADES = {"10_left": 0, "10_right": 2, "13_left": 4, "15_right": 1}


def _ids(records: list[FundusRecord]) -> list[str]:
    return [r.image_id for r in records]


# --------------------------------------------------------------------------- good trees


def test_eyepacs_tree_loads(tmp_path):
    make_eyepacs_tree(tmp_path, GRADES)
    records, report = load_eyepacs(tmp_path)
    assert _ids(records) == list(GRADES)
    assert [r.grade for r in records] == list(GRADES.values())
    assert all(r.image_path == tmp_path / "train" / f"{r.image_id}.jpeg" for r in records)
    assert all(r.source == "eyepacs" and not r.has_masks for r in records)
    assert records[1].extra["patient"] == "10" and records[1].extra["eye"] == "right"
    assert report.ok and report.loaded == 4 and "loaded 4, skipped 0" in str(report)
    report.raise_if_any()  # nothing to raise


def test_eyepacs_accepts_jpg_png_and_explicit_paths(tmp_path):
    make_eyepacs_tree(tmp_path, {"a": 0, "b": 1}, ext=".jpg")
    write_image(tmp_path / "train" / "c.png", fundus_image(seed=5))
    write_csv(tmp_path / "subset.csv", ["image", "level"], [("a", 0), ("b", 1), ("c", 3)])
    records, report = load_eyepacs(
        csv_path=tmp_path / "subset.csv", images_dir=tmp_path / "train"
    )
    assert [r.image_path.name for r in records] == ["a.jpg", "b.jpg", "c.png"]
    assert report.ok


def test_aptos_tree_loads(tmp_path):
    grades = {"000c1434d8d7": 2, "001639a390f0": 4, "0024cdab0c1e": 1}
    make_aptos_tree(tmp_path, grades)
    records, report = load_aptos(tmp_path)
    assert _ids(records) == list(grades) and [r.grade for r in records] == [2, 4, 1]
    assert all(r.image_path.suffix == ".png" and r.source == "aptos" for r in records)
    assert report.ok


def test_generic_loader_with_custom_columns(tmp_path):
    for i, name in enumerate(["p1.png", "p2.jpg", "p3.tif"]):
        write_image(tmp_path / "photos" / name, fundus_image(seed=i))
    # ids with and without extension, custom columns, grade written as "3.0"
    write_csv(tmp_path / "grades.csv", ["file", "dr_grade"],
              [("p1.png", 0), ("p2", "3.0"), ("p3", 1)])
    records, report = load_generic(
        tmp_path, images_dir=tmp_path / "photos", id_column="file", grade_column="dr_grade",
        source="clinic",
    )
    assert [r.image_path.name for r in records] == ["p1.png", "p2.jpg", "p3.tif"]
    assert [r.grade for r in records] == [0, 3, 1] and records[0].source == "clinic"
    assert report.ok
    unlabelled, _ = load_generic(
        tmp_path, images_dir=tmp_path / "photos", id_column="file", grade_column=None
    )
    assert [r.grade for r in unlabelled] == [None, None, None]


def test_generic_needs_exactly_one_csv(tmp_path):
    write_image(tmp_path / "a.png", fundus_image())
    with pytest.raises(DatasetError, match="expected exactly one CSV file"):
        load_generic(tmp_path)


def test_idrid_tree_loads_with_masks(tmp_path):
    info = make_idrid_tree(tmp_path)
    records, report = load_idrid(tmp_path)
    assert report.ok, str(report)
    by_id = {r.image_id: r for r in records}
    assert sorted(by_id) == ["IDRiD_001", "IDRiD_002", "IDRiD_003", "IDRiD_02"]
    assert by_id["IDRiD_002"].grade == 3
    assert by_id["IDRiD_002"].extra["macular_edema_risk"] == 2
    assert by_id["IDRiD_001"].mask_paths == {}  # graded photograph without lesion masks
    # segmentation IDRiD_01 is a byte copy of grading IDRiD_002: merged, not duplicated
    merged = by_id["IDRiD_002"]
    assert merged.extra["segmentation_id"] == "IDRiD_01"
    assert merged.mask_paths["microaneurysm"] == idrid_mask_path(tmp_path, "IDRiD_01", "MA")
    assert set(merged.mask_paths) == {
        "microaneurysm", "dot_blot_haemorrhage", "hard_exudate", "cotton_wool_spot", "optic_disc"
    }
    seg_only = by_id["IDRiD_02"]
    assert seg_only.grade is None and "cotton_wool_spot" not in seg_only.mask_paths

    masks = load_idrid_masks(seg_only)
    assert set(masks) == set(merged.mask_paths)
    assert all(m.dtype == bool and m.shape == info["size"] for m in masks.values())
    assert not masks["cotton_wool_spot"].any()  # no SE file: annotated as none
    expected_disc = np.zeros(info["size"], bool)
    expected_disc[info["disc_box"]] = True
    np.testing.assert_array_equal(masks["optic_disc"], expected_disc)
    assert masks["microaneurysm"][info["ma_pixel"]] and masks["microaneurysm"].sum() == 1
    assert masks["hard_exudate"].sum() == 0  # RGB mask, empty
    assert load_record_masks(merged).keys() == masks.keys()
    assert load_idrid_masks(by_id["IDRiD_001"]) == {}


def test_idrid_parts(tmp_path):
    make_idrid_tree(tmp_path)
    grading, _ = load_idrid(tmp_path, part="grading")
    assert _ids(grading) == ["IDRiD_001", "IDRiD_002", "IDRiD_003"]
    assert all(not r.mask_paths for r in grading)
    seg, _ = load_idrid(tmp_path, part="segmentation")
    assert _ids(seg) == ["IDRiD_01", "IDRiD_02"] and all(r.grade is None for r in seg)


def test_idrid_mask_of_wrong_size(tmp_path):
    make_idrid_tree(tmp_path)
    bad = idrid_mask_path(tmp_path, "IDRiD_02", "OD")
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(bad)
    with pytest.raises(FundusImageError, match="mask is 10x10 px but its photograph is 80x64"):
        load_idrid(tmp_path)
    records, report = load_idrid(tmp_path, strict=False)
    assert "IDRiD_02" not in _ids(records) and len(records) == 3
    assert [s.item for s in report.skipped] == [str(bad)]


def test_idrid_mask_without_photograph(tmp_path):
    make_idrid_tree(tmp_path)
    stray = idrid_mask_path(tmp_path, "IDRiD_07", "MA")
    Image.fromarray(np.zeros((64, 80), np.uint8)).save(stray)
    with pytest.raises(DatasetError, match="IDRiD_07_MA.tif: mask for image 'IDRiD_07'"):
        load_idrid(tmp_path)
    records, report = load_idrid(tmp_path, strict=False)
    assert len(records) == 4 and report.skipped[0].item == str(stray)


def test_synthetic_split_loads(tmp_path):
    grades = {"synth_train_000000": 0, "synth_train_000001": 3, "synth_train_000002": 4}
    make_synthetic_split(tmp_path / "train", grades)
    records, report = load_synthetic(tmp_path, split="train")
    assert report.ok, str(report)
    assert _ids(records) == list(grades) and [r.grade for r in records] == [0, 3, 4]
    r = records[1]
    assert r.source == "synthetic"
    assert r.masks_path == tmp_path / "train" / "masks" / f"{r.image_id}.npz"
    assert r.extra["inventory"] == {"microaneurysm": 1} and r.extra["split"] == "train"
    masks = load_record_masks(r)
    assert masks["optic_disc"].shape == (64, 80) and masks["optic_disc"][25, 23]
    # the same folder read as plain EyePACS: same photographs, no masks
    plain, _ = load_eyepacs(tmp_path / "train")
    assert _ids(plain) == _ids(records) and not any(p.has_masks for p in plain)


def test_synthetic_missing_mask_and_grade_mismatch(tmp_path):
    grades = {"s0": 0, "s1": 1, "s2": 2}
    split = make_synthetic_split(tmp_path, grades)
    (split / "masks" / "s1.npz").unlink()
    lines = (split / "inventory.jsonl").read_text().splitlines()
    entry = json.loads(lines[2])
    entry["grade"] = 4
    lines[2] = json.dumps(entry)
    (split / "inventory.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match="s1.npz: mask file for 's1' not found"):
        load_synthetic(split)
    records, report = load_synthetic(split, strict=False)
    assert _ids(records) == ["s0"]
    problems = "\n".join(report.problems())
    assert "mask file for 's1' not found" in problems
    assert "grade 2 in trainLabels.csv but 4 in inventory.jsonl" in problems


def test_load_dataset_detects_and_dispatches(tmp_path):
    make_eyepacs_tree(tmp_path / "kaggle", GRADES)
    make_aptos_tree(tmp_path / "aptos", {"x1": 1})
    make_idrid_tree(tmp_path / "idrid")
    make_synthetic_split(tmp_path / "synth" / "val", {"v0": 2})
    assert detect_layout(tmp_path / "kaggle") == "eyepacs"
    assert detect_layout(tmp_path / "aptos") == "aptos"
    assert detect_layout(tmp_path / "idrid") == "idrid"
    assert detect_layout(tmp_path / "synth" / "val") == "synthetic"
    records, _ = load_dataset(tmp_path / "kaggle")
    assert _ids(records) == list(GRADES)
    records, _ = load_dataset({"kind": "idrid", "root": tmp_path / "idrid", "part": "grading"})
    assert len(records) == 3
    records, _ = load_dataset(tmp_path / "synth", kind="synthetic", split="val")
    assert records[0].masks_path is not None
    with pytest.raises(DatasetError, match="unknown layout"):
        detect_layout(tmp_path)


def test_structural_problems_raise_in_both_modes(tmp_path):
    make_eyepacs_tree(tmp_path, GRADES)
    shutil.rmtree(tmp_path / "train")
    for strict in (True, False):
        with pytest.raises(DatasetError, match="image folder not found"):
            load_eyepacs(tmp_path, strict=strict)
    write_csv(tmp_path / "trainLabels.csv", ["image", "grade"], [("a", 1)])
    with pytest.raises(DatasetError, match=r"trainLabels.csv: missing column\(s\) \['level'\]"):
        load_eyepacs(tmp_path, strict=False)
    with pytest.raises(DatasetError, match="CSV file not found"):
        load_aptos(tmp_path / "nowhere")


# --------------------------------------------------------------------------- bad input


def _corrupt_one(tmp_path, kind):
    """EyePACS tree with one bad photograph ("13_left") of the given kind."""
    make_eyepacs_tree(tmp_path, GRADES)
    writer, words = BAD_FILES[kind]
    path = tmp_path / "train" / "13_left.jpeg"
    writer(path)
    return path, words


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_bad_photograph_strict(tmp_path, kind):
    path, words = _corrupt_one(tmp_path, kind)
    with pytest.raises(FundusImageError, match=words) as info:
        load_eyepacs(tmp_path)
    assert str(info.value).startswith(f"{path}: ")


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_bad_photograph_lenient(tmp_path, kind):
    path, words = _corrupt_one(tmp_path, kind)
    records, report = load_eyepacs(tmp_path, strict=False)
    assert _ids(records) == ["10_left", "10_right", "15_right"]
    assert len(report.skipped) == 1 and report.loaded == 3
    assert report.skipped[0].item == str(path) and words in report.skipped[0].problem
    assert str(path) in str(report) and words in str(report)


def test_bad_photograph_unchecked_without_validation(tmp_path):
    path, _ = _corrupt_one(tmp_path, "truncated")
    records, report = load_eyepacs(tmp_path, validate_images=False)
    assert len(records) == 4 and report.ok  # decoding deferred...
    with pytest.raises(FundusImageError, match="truncated"):
        check_images(records)  # ...to an explicit check (or to read_fundus)
    good, report = check_images(records, strict=False)
    assert len(good) == 3 and report.skipped[0].item == str(path)


def test_missing_file(tmp_path):
    make_eyepacs_tree(tmp_path, GRADES)
    (tmp_path / "train" / "10_right.jpeg").unlink()
    with pytest.raises(DatasetError, match=r"row 3 \(image '10_right'\): image file not found"):
        load_eyepacs(tmp_path)
    records, report = load_eyepacs(tmp_path, strict=False)
    assert _ids(records) == ["10_left", "13_left", "15_right"]
    (item, problem), = report.skipped
    assert item.endswith("trainLabels.csv row 3 (image '10_right')")
    assert problem.startswith("image file not found")


@pytest.mark.parametrize("bad_grade", ["7", "x", "", "-1", "2.5"])
def test_unknown_grade(tmp_path, bad_grade):
    make_eyepacs_tree(tmp_path, {**GRADES, "13_left": bad_grade})
    with pytest.raises(DatasetError, match=r"row 4 \(image '13_left'\): unknown grade") as info:
        load_eyepacs(tmp_path)
    assert "trainLabels.csv" in str(info.value) and repr(bad_grade) in str(info.value)
    records, report = load_eyepacs(tmp_path, strict=False)
    assert _ids(records) == ["10_left", "10_right", "15_right"]
    assert len(report.skipped) == 1 and "expected an integer 0..4" in report.skipped[0].problem


def test_unknown_grade_aptos(tmp_path):
    make_aptos_tree(tmp_path, {"a1": 1, "a2": 9})
    with pytest.raises(DatasetError, match=r"train.csv row 3 \(image 'a2'\): unknown grade '9'"):
        load_aptos(tmp_path)
    records, report = load_aptos(tmp_path, strict=False)
    assert _ids(records) == ["a1"] and "unknown grade '9'" in str(report)


def test_duplicate_id(tmp_path):
    make_eyepacs_tree(tmp_path, GRADES)
    csv_path = tmp_path / "trainLabels.csv"
    csv_path.write_text(csv_path.read_text() + "10_right,3\n")
    with pytest.raises(DatasetError, match=r"row 6 \(image '10_right'\): duplicate image id"):
        load_eyepacs(tmp_path)
    records, report = load_eyepacs(tmp_path, strict=False)
    assert _ids(records) == list(GRADES) and records[1].grade == 2  # first row kept
    (item, problem), = report.skipped
    assert "row 6" in item and "first at row 3" in problem


def test_photograph_without_row(tmp_path):
    make_eyepacs_tree(tmp_path, GRADES)
    stray = write_image(tmp_path / "train" / "99_left.jpeg", fundus_image(seed=50))
    (tmp_path / "train" / "notes.txt").write_text("not a photograph, not reported")
    with pytest.raises(DatasetError, match="99_left.jpeg: image file has no row in"):
        load_eyepacs(tmp_path)
    records, report = load_eyepacs(tmp_path, strict=False)
    assert len(records) == 4 and [s.item for s in report.skipped] == [str(stray)]
    records, report = load_eyepacs(tmp_path, allow_unlisted=True)
    assert len(records) == 4 and report.ok and report.unlisted == [str(stray)]
    assert "without a CSV row (allowed)" in str(report)


def test_lenient_report_lists_every_problem(tmp_path):
    make_eyepacs_tree(tmp_path, {**GRADES, "20_left": 1, "20_right": "x"})
    BAD_FILES["black"][0](tmp_path / "train" / "10_left.jpeg")
    (tmp_path / "train" / "13_left.jpeg").unlink()
    records, report = load_eyepacs(tmp_path, strict=False)
    assert _ids(records) == ["10_right", "15_right", "20_left"]
    assert len(report.skipped) == 3 and report.loaded == 3
    with pytest.raises(DatasetError, match=r"and 2 more skipped item\(s\)"):
        report.raise_if_any()


def test_load_report_str():
    report = LoadReport("demo", loaded=2)
    report.skip("a.jpeg", "truncated image file")
    text = str(report)
    assert "demo: loaded 2, skipped 1" in text and "a.jpeg: truncated image file" in text
    with pytest.raises(DatasetError, match="a.jpeg: truncated image file"):
        report.raise_if_any()


def test_idrid_bad_grade_row_names_csv(tmp_path):
    make_idrid_tree(tmp_path)
    csv_path = idrid_csv_path(tmp_path)
    csv_path.write_text(csv_path.read_text().replace("IDRiD_003,2", "IDRiD_003,5"))
    with pytest.raises(DatasetError, match=r"row 4 \(image 'IDRiD_003'\): unknown grade '5'"):
        load_idrid(tmp_path, part="grading")
    records, report = load_idrid(tmp_path, part="grading", strict=False)
    assert _ids(records) == ["IDRiD_001", "IDRiD_002"] and len(report.skipped) == 1
    assert (idrid_grading_dir(tmp_path) / "IDRiD_003.jpg").exists()  # not reported as unlisted
