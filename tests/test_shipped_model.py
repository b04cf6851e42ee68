"""The weights shipped under models/: each file matches its manifest, and the record is complete.

Chapters 3 onwards load these weights; a weights file that was modified, truncated or copied
incompletely must fail here, naming the file, before any chapter explains a map with it.
"""

from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score

from drlib.data.preprocess import PREPROCESSORS
from drlib.evaluation import revalidate
from drlib.modeling.manifest import load_densenet, read_manifest, verify_manifest
from drlib.runtime.paths import models_dir
from drlib.synth import SynthConfig, render_fundus

MANIFESTS = sorted(Path(models_dir()).glob("*.manifest.json"))
#: Earlier stages of a shipped model that a later run continued (chapter 2, ``init``).
STAGES = sorted(Path(models_dir()).glob("stages/*.manifest.json"))
#: The graders of chapter 6's resolution study: they continue the shipped model at two input
#: sizes (models/resolution/README.md).
RESOLUTION = sorted(Path(models_dir()).glob("resolution/*.manifest.json"))
#: Chapter 2's reference run, trained on the lent GPU machine (models/gpu/README.md). Its
#: validation is not recomputed here: the split is 2,000 photographs at 512 px, minutes on CI's
#: 2 cores (scripts/revalidate_model.py does it on demand).
GPU = sorted(Path(models_dir()).glob("gpu/*.manifest.json"))
REQUIRED = {
    "config": ("image_size", "batch_size", "epochs", "learning_rate", "seed"),
    "training": ("epochs_run", "wall_time_s", "train_images_per_s"),
    "validation": ("kappa", "recall_per_grade", "n_images"),
    "device": ("backend",),
}


def test_a_reference_model_is_shipped():
    assert MANIFESTS, f"no *.manifest.json under {models_dir()}"


@pytest.mark.parametrize("manifest_path", MANIFESTS + STAGES + RESOLUTION + GPU,
                         ids=lambda p: p.name)
def test_weights_match_their_manifest(manifest_path):
    manifest = verify_manifest(manifest_path)
    assert manifest["weights_bytes"] == (manifest_path.parent / manifest["weights_file"]).stat(
    ).st_size


@pytest.mark.parametrize("manifest_path", MANIFESTS + STAGES + RESOLUTION + GPU,
                         ids=lambda p: p.name)
def test_manifest_records_how_the_weights_were_made(manifest_path):
    manifest = read_manifest(manifest_path)
    for section, keys in REQUIRED.items():
        for key in keys:
            assert manifest[section].get(key) is not None, f"{section}.{key} missing"
    assert manifest["seeds"] and manifest["dataset_fingerprint"]
    assert len(manifest["weights_sha256"]) == 64


def manifest_inconsistencies(manifest: dict) -> list[str]:
    """What in a manifest contradicts the rest of it (empty when it is consistent)."""
    problems = []
    config, training, validation = manifest["config"], manifest["training"], manifest["validation"]
    history = training["history"]
    confusion = np.asarray(validation["confusion"])
    if confusion.shape != (config["n_classes"], config["n_classes"]):
        return [f"confusion shape {confusion.shape}"]
    if validation["n_images"] != confusion.sum():
        problems.append(f"n_images {validation['n_images']} != confusion sum {confusion.sum()}")
    recall = np.diag(confusion) / confusion.sum(axis=1)
    if not np.allclose(validation["recall_per_grade"], recall, rtol=0, atol=1e-12):
        problems.append(f"recall_per_grade {validation['recall_per_grade']} != {recall.tolist()}")
    if abs(validation["accuracy"] - np.trace(confusion) / confusion.sum()) > 1e-12:
        problems.append(f"accuracy {validation['accuracy']} != trace / sum of the confusion")
    # kappa of the photographs the confusion matrix counts, by scikit-learn
    grades = np.arange(config["n_classes"])
    truth = np.repeat(grades, confusion.sum(axis=1))
    predicted = np.concatenate([np.repeat(grades, row) for row in confusion])
    kappa = cohen_kappa_score(truth, predicted, weights="quadratic", labels=grades)
    if abs(validation["kappa"] - kappa) > 1e-9:
        problems.append(f"kappa {validation['kappa']} != {kappa} (scikit-learn)")
    lengths = {key: len(values) for key, values in history.items()}
    if set(lengths.values()) != {training["epochs_run"]}:
        problems.append(f"epochs_run {training['epochs_run']}, history lengths {lengths}")
    if not (training["epochs_run"] == config["epochs"] or training["stopped_early"]
            or training.get("stopped_by_deadline")):
        problems.append(f"{training['epochs_run']} of {config['epochs']} epochs, not stopped")
    # drlib.training.train: best epoch = the first lowest (mode "min") monitored value
    monitored = history[config["monitor"]]
    best = monitored.index(min(monitored))
    if training["best_epoch"] != best:
        problems.append(f"best_epoch {training['best_epoch']} != {best} (lowest "
                        f"{config['monitor']})")
    if training["weights_from_best_epoch"] != config["restore_best_weights"]:
        problems.append("weights_from_best_epoch differs from config restore_best_weights")
    # the validation is that of the shipped weights: the best epoch's, if restored, else the last
    epoch = best if training["weights_from_best_epoch"] else training["epochs_run"] - 1
    for key in ("kappa", "loss", "accuracy"):
        if validation[key] != history[f"val_{key}"][epoch]:
            problems.append(f"validation {key} {validation[key]} != history val_{key}[{epoch}]")
    recalls = [history[f"val_recall_{g}"][epoch] for g in grades]
    if validation["recall_per_grade"] != recalls:
        problems.append(f"recall_per_grade != history val_recall_*[{epoch}]")
    # TrainingHistory.wall_time_s and .train_images_per_s
    wall = sum(history["epoch_time_s"]) + sum(history["val_time_s"])
    if abs(training["wall_time_s"] - wall) > 1e-9 * wall:
        problems.append(f"wall_time_s {training['wall_time_s']} != {wall}")
    rates = history["train_images_per_s"][1:] or history["train_images_per_s"]
    if training["train_images_per_s"] != sorted(rates)[len(rates) // 2]:
        problems.append(f"train_images_per_s {training['train_images_per_s']} is not the "
                        "median of the epochs after the first")
    if manifest["model"]["input_shape"] != [None, config["image_size"], config["image_size"], 3]:
        problems.append(f"input_shape {manifest['model']['input_shape']} != image_size "
                        f"{config['image_size']}")
    if manifest["model"]["output_shape"] != [None, config["n_classes"]]:
        problems.append(f"output_shape {manifest['model']['output_shape']}")
    if config["seed"] != manifest["seeds"]["training"]:
        problems.append(f"config seed {config['seed']} != seeds.training")
    return problems


@pytest.mark.parametrize("manifest_path", MANIFESTS + STAGES + RESOLUTION + GPU,
                         ids=lambda p: p.name)
def test_manifest_is_consistent_with_itself(manifest_path):
    assert manifest_inconsistencies(read_manifest(manifest_path)) == []


def test_manifest_consistency_check_sees_a_contradiction():
    manifest = read_manifest(MANIFESTS[0])
    assert manifest_inconsistencies(manifest) == []
    confusion = manifest["validation"]["confusion"]
    confusion[0][0], confusion[0][1] = confusion[0][0] - 1, confusion[0][1] + 1
    assert [p.split(" ")[0] for p in manifest_inconsistencies(manifest)] == [
        "recall_per_grade", "accuracy", "kappa"]


def _strings(node):
    if isinstance(node, dict):
        for value in node.values():
            yield from _strings(value)
    elif isinstance(node, list):
        for value in node:
            yield from _strings(value)
    elif isinstance(node, str):
        yield node


@pytest.mark.parametrize("manifest_path", MANIFESTS + STAGES + RESOLUTION + GPU,
                         ids=lambda p: p.name)
def test_manifest_holds_no_absolute_path_of_the_machine_that_wrote_it(manifest_path):
    manifest = read_manifest(manifest_path)
    absolute = [s for s in _strings(manifest) if s.startswith("/") or s[1:3] == ":\\"]
    assert absolute == []


@pytest.mark.parametrize("manifest_path", MANIFESTS, ids=lambda p: p.name)
def test_a_continued_model_names_the_stage_it_continued(manifest_path):
    """A model trained from an earlier run's weights ships that run: its manifest verifies, and
    the weights hash the continued model recorded at the start is that run's."""
    manifest = read_manifest(manifest_path)
    init = str(manifest["extra"].get("init", "scratch"))
    if not init.endswith(".manifest.json"):
        pytest.skip(f"{manifest_path.name} started from {init!r}, not from an earlier run")
    start = verify_manifest(manifest_path.parent / init)
    assert f"weights sha256 {start['weights_sha256'][:12]}" in manifest["model"]["initialisation"]
    assert start["model"]["input_shape"] == manifest["model"]["input_shape"]
    assert start["dataset_fingerprint"] == manifest["dataset_fingerprint"]


@pytest.mark.parametrize("manifest_path", MANIFESTS, ids=lambda p: p.name)
def test_reported_validation_is_recomputed_from_the_weights_and_the_rebuilt_split(manifest_path):
    """The manifest's validation numbers are not trusted: rebuild the split (its content
    fingerprint must equal the recorded one), predict it with the weights, compare."""
    manifest = read_manifest(manifest_path)
    report = revalidate(manifest_path)
    assert report["n"] == manifest["validation"]["n_images"]
    assert report["confusion"] == manifest["validation"]["confusion"]
    assert report["kappa"] == pytest.approx(manifest["validation"]["kappa"], abs=1e-12)


#: Rendered eyes (seed, grade on the model's label scale, grade the shipped model gives it),
#: measured once on the shipped weights; a changed model or input pipeline changes them. Wrong
#: grades are pinned too: this pins what the model does, not what it should do.
PINNED_EYES = {
    "densenet121_cpu": [(200, 0, 1), (201, 1, 1), (202, 2, 2), (203, 3, 4), (204, 4, 4),
                        (205, 0, 1), (206, 1, 0), (207, 2, 3), (208, 3, 3), (209, 4, 1)],
    "densenet121_cpu_ft192": [(200, 0, 1), (201, 1, 1), (202, 2, 2), (203, 3, 4), (204, 4, 4),
                              (205, 0, 1), (206, 1, 1), (207, 2, 4), (208, 3, 4), (209, 4, 1)],
    "densenet121_cpu_ft384": [(200, 0, 1), (201, 1, 1), (202, 2, 2), (203, 3, 4), (204, 4, 4),
                              (205, 0, 1), (206, 1, 2), (207, 2, 4), (208, 3, 4), (209, 4, 4)],
    # trained on the GPU (JAX, bfloat16), graded here on the CPU (TensorFlow, float32)
    "densenet121_gpu": [(200, 0, 1), (201, 1, 0), (202, 2, 2), (203, 3, 3), (204, 4, 4),
                        (205, 0, 1), (206, 1, 1), (207, 2, 3), (208, 3, 3), (209, 4, 4)],
}


@pytest.mark.parametrize("manifest_path", MANIFESTS + RESOLUTION + GPU, ids=lambda p: p.name)
def test_shipped_model_grades_rendered_eyes_as_pinned(manifest_path):
    manifest = read_manifest(manifest_path)
    pinned = PINNED_EYES[manifest["name"]]
    model = load_densenet(manifest_path)
    render_size = manifest["extra"]["settings"]["render_size"]
    scale = manifest["extra"]["label_scale"]
    size = model.input_shape[1]
    images, grades = [], []
    for seed, grade, _ in pinned:
        sample = render_fundus(seed, grade, SynthConfig(size=render_size, label_scale=scale))
        assert sample.grade == grade
        image, _ = PREPROCESSORS[manifest["extra"]["preprocess"]](sample.image, None, size=size)
        images.append(image)
        grades.append(grade)
    probs = np.asarray(model.predict(np.stack(images).astype(np.float32), verbose=0))
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert probs.argmax(axis=1).tolist() == [p for _, _, p in pinned]


def test_a_modified_weights_file_is_caught(tmp_path):
    if not MANIFESTS:
        pytest.skip("no shipped model")
    import shutil

    from drlib.modeling.manifest import ManifestError

    manifest = read_manifest(MANIFESTS[0])
    shutil.copy(MANIFESTS[0], tmp_path / MANIFESTS[0].name)
    weights = tmp_path / manifest["weights_file"]
    data = bytearray((MANIFESTS[0].parent / manifest["weights_file"]).read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ManifestError, match=manifest["weights_file"]):
        verify_manifest(tmp_path / MANIFESTS[0].name)


@pytest.fixture(scope="module")
def stage():
    if not STAGES:
        pytest.skip("no earlier stage shipped")
    return STAGES[0]


def test_continuing_a_stage_starts_from_its_verified_weights(stage):
    from drlib.modeling import continue_densenet

    manifest = read_manifest(stage)
    size = manifest["model"]["input_shape"][1]
    model = continue_densenet(stage, size)
    reference = load_densenet(stage)
    for ours, theirs in zip(model.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    assert model.initialisation == (
        f"continued from {manifest['name']} ({stage.name}; weights sha256 "
        f"{manifest['weights_sha256'][:12]}..., {manifest['training']['epochs_run']} epoch(s))"
    )
    with pytest.raises(ValueError, match=f"{stage.name}.*{size} px input.*at {size + 32} px"):
        continue_densenet(stage, size + 32)


def test_continuing_at_another_size_keeps_every_weight_and_says_so(stage):
    from drlib.modeling import continue_densenet

    manifest = read_manifest(stage)
    size = manifest["model"]["input_shape"][1]
    model = continue_densenet(stage, size + 32, resize=True)
    assert model.input_shape == (None, size + 32, size + 32, 3)
    reference = load_densenet(stage)
    for ours, theirs in zip(model.get_weights(), reference.get_weights(), strict=True):
        np.testing.assert_array_equal(ours, theirs)
    assert model.initialisation.endswith(
        f"{manifest['training']['epochs_run']} epoch(s), input {size} px -> {size + 32} px)")


def test_the_resolution_graders_continue_the_shipped_model_and_differ_only_in_input_size():
    assert len(RESOLUTION) == 2, f"two graders expected under {models_dir()}/resolution"
    records = [read_manifest(path) for path in RESOLUTION]
    sizes = []
    for record in records:
        start_path = Path(models_dir()) / record["extra"]["init"]  # relative to models/
        assert start_path in MANIFESTS
        start = verify_manifest(start_path)
        assert f"weights sha256 {start['weights_sha256'][:12]}" in record["model"]["initialisation"]
        assert record["dataset_fingerprint"] == start["dataset_fingerprint"]
        sizes.append(record["model"]["input_shape"][1])
        trained_at = start["model"]["input_shape"][1]
    assert sorted(sizes) == [trained_at, 2 * trained_at]

    def without_size(record):
        config = {k: v for k, v in record["config"].items()
                  if k not in ("image_size", "output_dir")}
        settings = {k: v for k, v in record["extra"]["settings"].items() if k != "image_size"}
        return config, settings, record["extra"]["label_scale"], record["extra"]["init"]

    assert without_size(records[0]) == without_size(records[1])


def test_continuing_from_modified_weights_is_refused(stage, tmp_path):
    import shutil

    from drlib.modeling import continue_densenet
    from drlib.modeling.manifest import ManifestError

    manifest = read_manifest(stage)
    shutil.copy(stage, tmp_path / stage.name)
    data = bytearray((stage.parent / manifest["weights_file"]).read_bytes())
    data[-100] ^= 0x01
    (tmp_path / manifest["weights_file"]).write_bytes(bytes(data))
    with pytest.raises(ManifestError, match="does not match"):
        continue_densenet(tmp_path / stage.name, manifest["model"]["input_shape"][1])


def test_the_reference_run_records_the_card_and_the_profile_it_ran_with():
    """Chapter 2's `gpu` profile, run on the lent machine: the manifest names the card, the
    backend and the precision, and the settings are the profile's (nothing overridden but the
    time limit, which is not a training setting)."""
    assert [p.name for p in GPU] == ["densenet121_gpu.manifest.json"]
    manifest = verify_manifest(GPU[0])
    device = manifest["device"]
    assert device["accelerator"] is True and device["backend"] == "jax"
    assert device["description"].startswith("NVIDIA ")
    assert device["dtype_policy"] == "mixed_bfloat16"
    assert manifest["extra"]["profile"] == "gpu" and manifest["extra"]["init"] == "scratch"
    settings = manifest["extra"]["settings"]
    assert (settings["image_size"], settings["render_size"], settings["n_train"],
            settings["n_val"], settings["bn_momentum"]) == (224, 512, 8000, 2000, 0.9)
    assert manifest["validation"]["n_images"] == settings["n_val"]
