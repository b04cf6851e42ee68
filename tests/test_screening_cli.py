"""The screening command: ``python -m drlib explain`` on a folder with good and bad photographs.

One subprocess runs the real entry point on a folder holding two synthetic eyes (one in a
subfolder), a truncated JPEG, a uniform grey PNG and a text file; the tests then read what it
wrote. The failures (nothing gradable, model manifest missing or corrupt) run ``main()`` in this
process: they stop before the model is loaded.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from drlib.data.image_io import read_fundus
from drlib.metrics.referable import REFERABLE_GRADE, referable_score
from drlib.screening import engine, report
from drlib.screening.cli import EXIT_MODEL, EXIT_NOTHING_GRADED, main
from drlib.screening.inputs import collect_images, prepare_image
from drlib.synth import render_fundus

REPO = Path(__file__).resolve().parents[1]
MANIFEST = engine.resolve_manifest(None)  # the shipped grader, as the command finds it
GOOD = ("eye_a.jpg", "sub/eye_b.jpg")
BAD = ("corrupt.jpg", "grey.png")


def _save_eye(path: Path, seed: int, grade: int) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(render_fundus(seed, grade, size=384).image).save(path, quality=95)
    return path.read_bytes()


def _bad_files(folder: Path, jpeg: bytes) -> None:
    (folder / "corrupt.jpg").write_bytes(jpeg[: len(jpeg) // 2])  # a truncated download
    Image.fromarray(np.full((256, 256, 3), 128, np.uint8)).save(folder / "grey.png")


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("photos")
    jpeg = _save_eye(folder / GOOD[0], seed=11, grade=0)
    _save_eye(folder / GOOD[1], seed=12, grade=3)
    _bad_files(folder, jpeg)
    (folder / "notes.txt").write_text("not a photograph\n")
    return folder


@pytest.fixture(scope="module")
def explained(photos, tmp_path_factory):
    """``python -m drlib explain PHOTOS --out OUT``: (completed process, output folder)."""
    out = tmp_path_factory.mktemp("screening") / "out"
    proc = subprocess.run(
        [sys.executable, "-m", "drlib", "explain", str(photos), "--out", str(out),
         "--batch-size", "2"],
        cwd=REPO, capture_output=True, text=True, timeout=600)
    return proc, out


def _rows(out: Path) -> list[dict[str, str]]:
    with (out / "results.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def test_explain_exits_0_and_reports_both_bad_files(explained, photos):
    proc, out = explained
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    for name in ("results.csv", "summary.json", "report.html"):
        assert (out / name).is_file(), name
    for name in BAD:
        assert f"skipped {photos / name}:" in proc.stdout
    assert "not a medical device" in proc.stdout


def test_csv_has_the_good_photographs_with_the_models_own_grades(explained, photos):
    _, out = explained
    rows = _rows(out)
    assert [r["file"] for r in rows] == [str(photos / name) for name in GOOD]
    p_columns = report.probability_columns("icdr")
    probs = np.array([[float(r[c]) for c in p_columns] for r in rows])
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)

    # the model called directly, on the photographs preprocessed by the training pipeline
    import keras

    from drlib.data.pipeline import FundusSequence
    from drlib.modeling.manifest import load_densenet

    settings = engine.model_settings(MANIFEST)
    training = FundusSequence(images=[read_fundus(photos / name) for name in GOOD],
                              image_size=settings.image_size, preprocess=settings.preprocess,
                              labelled=False)
    x = np.stack([training.sample(i)[0] for i in range(len(GOOD))]).astype(np.float32)
    model = load_densenet(MANIFEST)
    direct = np.asarray(keras.ops.convert_to_numpy(model(x, training=False)), dtype=np.float64)
    np.testing.assert_allclose(probs, direct, atol=1e-4)
    assert [int(r["predicted_grade"]) for r in rows] == direct.argmax(axis=1).tolist()
    for row, p in zip(rows, direct, strict=True):
        assert row["label_scale"] == "icdr"
        assert row["referable"] == ("yes" if p[REFERABLE_GRADE:].sum() >= 0.5 else "no")
        assert float(row["expected_grade"]) == pytest.approx(float(np.dot(np.arange(5), p)),
                                                             abs=1e-3)


def test_summary_lists_exactly_the_corrupt_and_the_grey_file(explained, photos):
    _, out = explained
    summary = json.loads((out / "summary.json").read_text())
    reasons = {Path(s["file"]).name: s["reason"] for s in summary["skipped"]}
    assert sorted(reasons) == sorted(BAD)
    assert "truncated" in reasons["corrupt.jpg"]
    assert "no field of view" in reasons["grey.png"]
    assert summary["counts"] == {**summary["counts"], "found": 4, "graded": 2, "skipped": 2,
                                 "ignored": 1}
    assert [Path(s["file"]).name for s in summary["ignored"]] == ["notes.txt"]
    manifest = json.loads(MANIFEST.read_text())
    assert summary["model"]["weights_sha256"] == manifest["weights_sha256"]
    assert summary["model"]["name"] == manifest["name"]
    assert summary["label_scale"] == "icdr"
    assert summary["model"]["label_scale_name"].startswith("International Clinical")
    assert "synthetic" in summary["disclaimer"] and "not a medical device" in summary["disclaimer"]
    assert [Path(i["file"]).name for i in summary["images"]] == ["eye_a.jpg", "eye_b.jpg"]


class _Sources(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.images: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag == "img":
            self.images.append(dict(attrs)["src"])

    def handle_data(self, data):
        self.text.append(data)


def test_html_shows_every_overlay_the_skipped_files_and_the_disclaimer(explained, photos):
    _, out = explained
    page = _Sources()
    page.feed((out / "report.html").read_text())
    text = " ".join(page.text)
    assert report.DISCLAIMER in text
    assert "trained only on synthetic" in text and "not a medical device" in text
    for name in BAD:
        assert str(photos / name) in text
    listed = [r[key] for r in _rows(out) for key in ("input_png", "cam_png", "saliency_png")]
    assert sorted(page.images) == sorted(listed)
    for png in listed:
        pixels = np.asarray(Image.open(out / png))
        assert pixels.shape == (192, 192, 3) and pixels.dtype == np.uint8, png
    assert not any(src.startswith(("http:", "https:", "//")) for src in page.images)


def test_nothing_gradable_exits_nonzero_and_says_why(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    folder = tmp_path / "bad"
    folder.mkdir()
    _bad_files(folder, _save_eye(tmp_path / "eye.jpg", seed=3, grade=1))
    out = tmp_path / "out"
    status = main(["grade", str(folder), "--out", str(out), "--quiet"])
    captured = capsys.readouterr()
    assert status == EXIT_NOTHING_GRADED != 0
    assert "no photograph could be graded" in captured.err
    summary = json.loads((out / "summary.json").read_text())
    assert sorted(Path(s["file"]).name for s in summary["skipped"]) == sorted(BAD)
    assert summary["counts"]["graded"] == 0 and not _rows(out)


@pytest.mark.parametrize("problem", ["missing", "not json"])
def test_an_unusable_manifest_is_named(problem, photos, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    manifest = tmp_path / "mymodel.manifest.json"
    if problem == "not json":
        manifest.write_text("{ this is not JSON")
    out = tmp_path / "out"
    status = main(["grade", str(photos / GOOD[0]), "--model", str(manifest), "--out", str(out),
                   "--quiet"])
    assert status == EXIT_MODEL != 0
    assert str(manifest) in capsys.readouterr().err
    assert not out.exists()


def test_preprocessing_is_the_training_pipelines(photos):
    from drlib.data.pipeline import FundusSequence

    settings = engine.model_settings(MANIFEST)
    path = photos / GOOD[1]
    prepared = prepare_image(path, settings.image_size, settings.preprocess)
    training = FundusSequence(images=[read_fundus(path)], image_size=settings.image_size,
                              preprocess=settings.preprocess, labelled=False).sample(0)[0]
    np.testing.assert_array_equal(prepared.image, training)
    assert prepared.fov.shape == training.shape[:2] and 0.5 < prepared.fov.mean() < 0.9


def test_settings_are_read_as_the_evaluation_reads_them():
    from drlib.evaluation.splits import validation_split_from_manifest

    settings = engine.model_settings(MANIFEST)
    spec = validation_split_from_manifest(json.loads(MANIFEST.read_text()), REPO / "data")
    assert (settings.image_size, settings.preprocess, settings.label_scale) == (
        spec.image_size, spec.preprocess, spec.label_scale)


def test_folders_are_searched_recursively_in_order_without_the_output(tmp_path):
    for name in ("b.png", "a/z.JPG", "a/c.tif", "notes.csv", "out/images/0000_x_cam.png"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    found = collect_images([tmp_path, tmp_path / "b.png", tmp_path / "missing.jpg"],
                           exclude=tmp_path / "out" / "images")
    assert [p.relative_to(tmp_path).as_posix() for p in found.images] == [
        "a/c.tif", "a/z.JPG", "b.png"]
    assert [Path(s.item).name for s in found.ignored] == ["notes.csv"]
    assert found.skipped == []  # a missing path is not a photograph that failed
    assert found.not_found == [tmp_path / "missing.jpg"]
    assert found.from_folder


def test_referable_flag_and_saliency_display_follow_their_stated_rules():
    assert report.REFERABLE_GRADE == REFERABLE_GRADE
    p = (0.25, 0.25, 0.25, 0.125, 0.125)
    result = report.ImageResult("x.jpg", p)
    assert result.p_referable == referable_score(np.array([p]))[0] == 0.5
    assert result.referable  # exactly 0.5 counts as referable
    assert not report.ImageResult("y.jpg", (0.25, 0.2501, 0.2499, 0.125, 0.125)).referable
    assert result.predicted_grade == 0 and result.expected_grade == pytest.approx(1.625)

    values = np.arange(100.0).reshape(10, 10)
    fov = np.zeros((10, 10), bool)
    fov[:5] = True  # values 0..49 inside
    shown = report.display_saliency(values, fov)
    assert shown.max() == pytest.approx(np.percentile(np.arange(50.0), 99))
    np.testing.assert_array_equal(shown[:4], values[:4])
