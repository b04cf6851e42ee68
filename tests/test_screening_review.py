"""The screening command after review: what a user reads about the model, counts and paths.

* the model's known limitation (recall per grade on its synthetic validation split, and the
  grade it confuses most) is stated in the terminal, summary.json and report.html, computed
  from the manifest the run used;
* the expected grade is explained (help, terminal, JSON, page);
* a path that does not exist is ``not found: PATH``, not a photograph;
* a second run whose output folder lies inside the input folder does not count its own outputs;
* ``--model gpu/densenet121_gpu`` is a model name in a subfolder of the models folder;
* a missing model says how to get it.

The network is stubbed (every photograph gets the same probabilities; the real grader is tested
in test_screening_cli.py): these tests run in seconds. The manifests are real, so their
weights' SHA-256 is still checked.
"""

from __future__ import annotations

import json
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from drlib.runtime.paths import models_dir
from drlib.screening import engine, report
from drlib.screening.cli import EXIT_MODEL, EXIT_NOTHING_GRADED, EXIT_OK, main
from drlib.synth import render_fundus

SHIPPED = engine.resolve_manifest(None)
STUB_SCORES = np.array([0.0, 1.0, 3.0, 1.0, 0.0], np.float32)


@pytest.fixture
def stub_model(monkeypatch):
    """Grade without the network: every photograph gets softmax(STUB_SCORES) (grade 2)."""
    def run_batch(model, images, batch_size, methods=()):
        scores = np.tile(STUB_SCORES, (len(images), 1))
        return engine.BatchResult(scores=scores, probabilities=engine.softmax(scores),
                                  classes=np.full(len(images), 2, np.int32))

    monkeypatch.setattr(engine, "load_model", lambda settings: "stub")
    monkeypatch.setattr(engine, "run_batch", run_batch)
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="module")
def eye(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("eye") / "eye.jpg"
    Image.fromarray(render_fundus(5, 0, size=256).image).save(path, quality=95)
    return path


def _page_text(path: Path) -> str:
    class Text(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.parts: list[str] = []

        def handle_data(self, data):
            self.parts.append(data)

    parser = Text()
    parser.feed(path.read_text(encoding="utf-8"))
    return " ".join(" ".join(parser.parts).split())


def _copy_model(source: Path, folder: Path, validation: dict | None = None) -> Path:
    """The manifest ``source`` in ``folder`` (its weights linked beside it), its validation
    section replaced by ``validation`` when given."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest = json.loads(source.read_text())
    if validation is not None:
        manifest["validation"] = validation
    (folder / manifest["weights_file"]).symlink_to(source.parent / manifest["weights_file"])
    target = folder / source.name
    target.write_text(json.dumps(manifest))
    return target


# --------------------------------------------------------------------------- 1. known limitation


def test_the_shipped_models_limitation_is_read_from_its_manifest():
    validation = json.loads(SHIPPED.read_text())["validation"]
    settings = engine.model_settings(SHIPPED)
    assert list(settings.recall_per_grade) == validation["recall_per_grade"]
    assert [list(r) for r in settings.validation_confusion] == validation["confusion"]
    assert settings.validation_images == validation["n_images"]
    text = report.known_limitation(settings.recall_per_grade, settings.validation_confusion,
                                   settings.validation_images)
    recall = ", ".join(f"{k} {name} {r:.2f}" for k, (name, r) in enumerate(
        zip(report.GRADE_NAMES, validation["recall_per_grade"], strict=True)))
    assert f"recall per grade on its synthetic validation split ({validation['n_images']} " \
           f"photographs): {recall}" in text
    healthy = validation["confusion"][0]
    # the shipped grader's weakness: grade 0 is its lowest recall, and most of the healthy
    # validation eyes it gets wrong it calls Mild
    assert "it calls many healthy eyes Mild" in text
    assert f"({healthy[1]} of the {sum(healthy)} healthy validation photographs)" in text


def test_known_limitation_names_the_weakest_grade_and_its_commonest_wrong_answer():
    confusion = [[50, 0, 0, 0, 0], [2, 8, 30, 0, 0], [0, 0, 40, 0, 0], [0, 0, 0, 9, 1],
                 [0, 0, 0, 0, 10]]
    text = report.known_limitation([1.0, 0.2, 1.0, 0.9, 1.0], confusion)
    assert text == ("this model's recall per grade on its synthetic validation split (150 "
                    "photographs): 0 No DR 1.00, 1 Mild 0.20, 2 Moderate 1.00, 3 Severe 0.90, "
                    "4 Proliferative 1.00; it calls many grade-1 (Mild) eyes Moderate (30 of the "
                    "40 grade-1 (Mild) validation photographs)")
    # a rare confusion is not called "many"
    assert "calls many" not in report.known_limitation(
        [0.95, 1, 1, 1, 1], [[19, 1, 0, 0, 0]] + [[0] * 5] * 4)
    assert "records no recall per grade" in report.known_limitation(None)


def test_every_output_states_the_limitation_of_the_manifest_used(stub_model, eye, tmp_path,
                                                                 capsys):
    confusion = [[40, 0, 0, 0, 0], [0, 40, 0, 0, 0], [0, 0, 40, 0, 0], [0, 0, 0, 40, 0],
                 [0, 0, 0, 33, 7]]
    manifest = _copy_model(SHIPPED, tmp_path / "model", {
        "confusion": confusion, "n_images": 200, "recall_per_grade": [1, 1, 1, 1, 0.175]})
    out = tmp_path / "out"
    assert main(["grade", str(eye), "--model", str(manifest), "--out", str(out),
                 "--quiet"]) == EXIT_OK
    stated = ("this model's recall per grade on its synthetic validation split (200 "
              "photographs): 0 No DR 1.00, 1 Mild 1.00, 2 Moderate 1.00, 3 Severe 1.00, "
              "4 Proliferative 0.17; it calls many grade-4 (Proliferative) eyes Severe (33 of "
              "the 40 grade-4 (Proliferative) validation photographs)")
    assert f"KNOWN LIMITATION: {stated}." in capsys.readouterr().out.splitlines()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["known_limitation"] == stated
    assert summary["model"]["validation"] == {
        "n_images": 200, "recall_per_grade": [1, 1, 1, 1, 0.175], "confusion": confusion}
    assert f"Known limitation: {stated}." in _page_text(out / "report.html")


# --------------------------------------------------------------------------- 2. expected grade


def test_the_expected_grade_is_explained_where_it_is_shown(stub_model, eye, tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["grade", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "expected grade = p1 + 2 p2 + 3 p3 + 4 p4 (pk = P(grade k)), the mean grade " \
           "weighted by the model's probabilities" in help_text

    out = tmp_path / "out"
    assert main(["grade", str(eye), "--out", str(out)]) == EXIT_OK
    lines = capsys.readouterr().out.splitlines()
    graded = next(i for i, line in enumerate(lines) if ": grade 2 (Moderate), expected " in line)
    assert lines[graded - 1] == f"({report.EXPECTED_GRADE_RULE})"
    assert json.loads((out / "summary.json").read_text())["expected_grade_rule"] \
        == report.EXPECTED_GRADE_RULE
    assert f"expected grade {report.EXPECTED_GRADE_RULE}" in _page_text(out / "report.html")


# --------------------------------------------------------------------------- 3. missing paths


def test_a_missing_path_is_not_found_and_not_a_photograph(stub_model, eye, tmp_path, capsys):
    missing = tmp_path / "no such eye.jpg"
    out = tmp_path / "out"
    assert main(["grade", str(missing), str(eye), "--out", str(out)]) == EXIT_OK
    captured = capsys.readouterr()
    assert captured.err.startswith("drlib grade: 1 photograph(s), 1 path(s) not found; ")
    assert "graded 1 of 1 photograph(s) (" in captured.out
    assert "; skipped 0; 1 path(s) not found\n" in captured.out
    assert f"  not found: {missing}" in captured.out.splitlines()
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"] == {**summary["counts"], "found": 1, "graded": 1, "skipped": 0,
                                 "not_found": 1}
    assert summary["skipped"] == [] and summary["not_found"] == [str(missing)]
    assert f"not found: {missing}" in _page_text(out / "report.html")


def test_only_missing_paths_say_nothing_was_found(stub_model, tmp_path, capsys):
    missing = tmp_path / "typo.jpg"
    out = tmp_path / "out"
    assert main(["grade", str(missing), "--out", str(out)]) == EXIT_NOTHING_GRADED
    captured = capsys.readouterr()
    assert captured.err.startswith("drlib grade: 0 photograph(s), 1 path(s) not found; ")
    assert "graded 0 of 0 photograph(s) (" in captured.out
    assert f"  not found: {missing}" in captured.out.splitlines()
    assert "no photograph could be graded: no photograph was found, 1 path(s) not found" \
        in captured.err
    assert "skipped" not in captured.err


# --------------------------------------------------------------------------- 4. own outputs


def test_a_second_run_into_the_same_folder_does_not_count_its_own_outputs(
        stub_model, eye, tmp_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(eye, photos / "eye.jpg")
    (photos / "notes.txt").write_text("the user's own file\n")
    out = photos / "screening"
    for _ in range(2):
        assert main(["grade", str(photos), "--out", str(out), "--quiet"]) == EXIT_OK
        (out / ".results.csv.partial-x1y2.csv").write_text("half")  # a killed writer's debris
    printed = capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"] == {**summary["counts"], "found": 1, "graded": 1, "ignored": 1}
    assert [s["file"] for s in summary["ignored"]] == [str(photos / "notes.txt")]
    assert printed.count("; ignored 1 non-image file(s)") == 2


def test_the_output_folder_may_be_the_input_folder(stub_model, eye, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copy(eye, photos / "eye.jpg")
    for _ in range(2):
        assert main(["grade", str(photos), "--out", str(photos), "--quiet"]) == EXIT_OK
    summary = json.loads((photos / "summary.json").read_text())
    assert summary["counts"] == {**summary["counts"], "found": 1, "graded": 1, "ignored": 0}


# --------------------------------------------------------------------------- 5. model names


def test_a_model_name_may_name_a_subfolder_of_the_models_folder(tmp_path, monkeypatch):
    shipped = models_dir() / "gpu" / "densenet121_gpu.manifest.json"
    assert engine.resolve_manifest("gpu/densenet121_gpu") == shipped
    monkeypatch.chdir(tmp_path)  # a relative manifest path not found here is looked up there
    assert engine.resolve_manifest("gpu/densenet121_gpu.manifest.json") == shipped
    (tmp_path / "mine.manifest.json").write_text("{}")
    assert engine.resolve_manifest("mine.manifest.json") == Path("mine.manifest.json")
    assert engine.resolve_manifest("densenet121_cpu") == SHIPPED
    monkeypatch.setenv("DRLIB_MODELS", str(tmp_path / "elsewhere"))
    assert engine.resolve_manifest("a/b/grader") == \
        tmp_path / "elsewhere" / "a" / "b" / "grader.manifest.json"


def test_grading_with_a_model_in_a_subfolder(stub_model, eye, tmp_path, capsys):
    out = tmp_path / "out"
    status = main(["grade", str(eye), "--model", "gpu/densenet121_gpu", "--out", str(out),
                   "--quiet"])
    assert status == EXIT_OK, capsys.readouterr().err
    assert json.loads((out / "summary.json").read_text())["model"]["name"] == "densenet121_gpu"


# --------------------------------------------------------------------------- 6. missing model


def test_a_missing_model_says_how_to_get_it(eye, tmp_path, monkeypatch, capsys):
    empty = tmp_path / "models"
    empty.mkdir()
    monkeypatch.setenv("DRLIB_MODELS", str(empty))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    out = tmp_path / "out"
    assert main(["grade", str(eye), "--out", str(out), "--quiet"]) == EXIT_MODEL
    err = capsys.readouterr().err.splitlines()
    assert err == [
        "drlib: error: the model cannot be used: manifest "
        f"{empty / 'densenet121_cpu.manifest.json'} does not exist",
        "drlib: to get the model: the course repository's models/ folder holds it; copy "
        "models/densenet121_cpu.manifest.json and models/densenet121_cpu.weights.h5 from there "
        f"into the models folder {empty}/, or set DRLIB_MODELS to a folder that holds them, or "
        "pass --model PATH/TO/<name>.manifest.json with its weights file beside it"]

    assert main(["grade", str(eye), "--model", "gpu/densenet121_gpu", "--out", str(out),
                 "--quiet"]) == EXIT_MODEL
    err = capsys.readouterr().err
    assert "copy models/gpu/densenet121_gpu.manifest.json and " \
           f"models/gpu/densenet121_gpu.weights.h5 from there into {empty / 'gpu'}/ (in the " \
           f"models folder {empty}/)" in err

    # the manifest copied without its weights: the weights file is the one to get
    manifest = json.loads(SHIPPED.read_text())
    (empty / SHIPPED.name).write_text(json.dumps(manifest))
    assert main(["grade", str(eye), "--out", str(out), "--quiet"]) == EXIT_MODEL
    err = capsys.readouterr().err
    assert f"weights file {empty / manifest['weights_file']} named by manifest" in err
    assert f"models/{manifest['weights_file']} from there" in err
    assert not out.exists()


def test_a_broken_manifest_gets_no_download_advice(eye, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "2")
    manifest = tmp_path / "mine.manifest.json"
    manifest.write_text("{ not JSON")
    assert main(["grade", str(eye), "--model", str(manifest), "--out", str(tmp_path / "out"),
                 "--quiet"]) == EXIT_MODEL
    err = capsys.readouterr().err
    assert f"manifest {manifest} is not valid JSON" in err and "to get the model" not in err
