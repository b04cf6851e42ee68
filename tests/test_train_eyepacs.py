"""``scripts/train_eyepacs.py``, the appendix's command for a real EyePACS folder, runs end to
end on a small folder in the Kaggle layout (with a stand-in for DenseNet121, whose training is
tested in test_training.py and is too slow for this check on a CPU)."""

from __future__ import annotations

import json

import keras

try:
    from script_modules import load_script
except ImportError:  # tests/ imported as a package
    from tests.script_modules import load_script

try:
    from fixtures_trees import eyepacs_patient_grades, make_eyepacs_tree, write_text
except ImportError:  # tests/ imported as a package
    from tests.fixtures_trees import eyepacs_patient_grades, make_eyepacs_tree, write_text



def test_the_appendix_command_trains_on_a_kaggle_folder_and_skips_a_bad_file(
        tmp_path, monkeypatch, capsys):
    built = []

    def small_grader(size, weights=None, **kwargs):
        built.append((size, weights))
        image = keras.Input((size, size, 3))
        x = keras.layers.Rescaling(1 / 255)(image)
        x = keras.layers.Conv2D(4, 3, activation="relu")(x)
        x = keras.layers.GlobalAveragePooling2D()(x)
        return keras.Model(image, keras.layers.Dense(5, activation="softmax")(x))

    monkeypatch.setattr("drlib.modeling.densenet.build_densenet", small_grader)
    data = make_eyepacs_tree(tmp_path / "eye pacs", eyepacs_patient_grades(8, 4),
                             size=(96, 120))
    write_text(data / "train" / "3_left.jpeg")  # a text file where a photograph should be
    run = tmp_path / "run"
    status = load_script("train_eyepacs").main([
        "--data", str(data), "--run-dir", str(run), "--image-size", "32", "--batch-size", "4",
        "--epochs", "1", "--val-fraction", "0.25", "--workers", "1", "--devices", "all",
        "--preprocess", "plain"])
    out = capsys.readouterr().out
    assert status == 0
    assert built == [(32, "scratch")]
    assert "loaded 19, skipped 1" in out and "3_left.jpeg: not an image file" in out
    history = json.loads((run / "history.json").read_text())
    assert history["epoch"] == [0] and history["config"]["batch_size"] == 4
    assert (run / "checkpoints" / "best.weights.h5").is_file() and not (run / "backup").exists()


def test_the_appendix_command_with_a_training_cache(tmp_path, monkeypatch, capsys):
    """``--cache``: the folder is cached once (the bad file listed), training reads the cache,
    and a second run reuses every verified shard instead of decoding again."""
    def small_grader(size, weights=None, **kwargs):
        image = keras.Input((size, size, 3))
        x = keras.layers.Rescaling(1 / 255)(image)
        x = keras.layers.GlobalAveragePooling2D()(x)
        return keras.Model(image, keras.layers.Dense(5, activation="softmax")(x))

    monkeypatch.setattr("drlib.modeling.densenet.build_densenet", small_grader)
    data = make_eyepacs_tree(tmp_path / "eyepacs", eyepacs_patient_grades(8, 4), size=(96, 120))
    write_text(data / "train" / "3_left.jpeg")
    cache = tmp_path / "cache 32"
    args = ["--data", str(data), "--image-size", "32", "--batch-size", "4", "--epochs", "1",
            "--val-fraction", "0.25", "--workers", "1", "--preprocess", "plain",
            "--cache", str(cache)]
    assert load_script("train_eyepacs").main([*args, "--run-dir", str(tmp_path / "run1")]) == 0
    out = capsys.readouterr().out
    assert f"cached 19 of 20 photograph(s) into {cache}/; skipped 1" in out
    assert "3_left.jpeg" in out and "0 verified and reused" in out
    assert json.loads((tmp_path / "run1" / "history.json").read_text())["epoch"] == [0]
    assert load_script("train_eyepacs").main([*args, "--run-dir", str(tmp_path / "run2")]) == 0
    second = capsys.readouterr().out
    assert "(0 written, " in second and "verified and reused" in second
