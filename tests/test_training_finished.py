"""drlib.training.finished: a finished run is recognised from its manifest and its history read
back, so the training chapter need not train again for settings it already has a model of."""

import json
import shutil
from pathlib import Path

import pytest

from drlib.modeling.manifest import ManifestError
from drlib.runtime.paths import models_dir
from drlib.training import TrainConfig, history_from_manifest, matching_finished_run

SHIPPED = Path(models_dir()) / "densenet121_cpu.manifest.json"


@pytest.fixture
def shipped(tmp_path):
    if not SHIPPED.is_file():
        pytest.skip("no shipped model")
    manifest = json.loads(SHIPPED.read_text())
    for name in (SHIPPED.name, manifest["weights_file"]):
        shutil.copy(SHIPPED.parent / name, tmp_path / name)
    return tmp_path / SHIPPED.name, manifest


def _config(manifest, **changes):
    # the recorded output_dir is portable (relative to the checkout): give it back absolute
    recorded = {**manifest["config"], **changes}
    recorded["output_dir"] = str(Path(models_dir()).parent / recorded["output_dir"])
    return TrainConfig(**recorded)


def test_the_same_settings_and_data_find_the_finished_run(shipped):
    path, manifest = shipped
    found = matching_finished_run(path, _config(manifest), manifest["dataset_fingerprint"],
                                  manifest["extra"])
    assert found is not None and found["weights_sha256"] == manifest["weights_sha256"]


@pytest.mark.parametrize("what", ["epochs", "data", "settings"])
def test_any_difference_means_training_again(shipped, what):
    path, manifest = shipped
    config, data, extra = _config(manifest), dict(manifest["dataset_fingerprint"]), dict(
        manifest["extra"])
    if what == "epochs":
        config = _config(manifest, epochs=manifest["config"]["epochs"] + 1)
    elif what == "data":
        data["train"] = "0" * 64
    else:
        extra["label_scale"] = "table1"
    assert matching_finished_run(path, config, data, extra) is None


def test_no_manifest_means_no_finished_run(tmp_path):
    config = TrainConfig(output_dir=str(tmp_path))
    assert matching_finished_run(tmp_path / "none.manifest.json", config, {}, {}) is None


def test_modified_weights_are_never_reused(shipped):
    path, manifest = shipped
    weights = path.parent / manifest["weights_file"]
    data = bytearray(weights.read_bytes())
    data[len(data) // 3] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ManifestError, match=manifest["weights_file"]):
        matching_finished_run(path, _config(manifest), manifest["dataset_fingerprint"],
                              manifest["extra"])


def test_history_is_read_back_as_recorded(shipped):
    _, manifest = shipped
    history = history_from_manifest(manifest)
    training = manifest["training"]
    assert history.epochs_run == training["epochs_run"] == len(history.epoch)
    assert history.best_epoch == training["best_epoch"]
    assert history.stopped_early == training["stopped_early"]
    assert history.history["val_kappa"] == training["history"]["val_kappa"]
    assert history.wall_time_s == pytest.approx(training["wall_time_s"], rel=1e-12)
    assert history.train_images_per_s == pytest.approx(training["train_images_per_s"], rel=1e-12)


def test_a_history_of_the_wrong_length_is_refused():
    manifest = {"name": "m", "training": {"epochs_run": 3, "history": {"loss": [1.0, 0.5]}}}
    with pytest.raises(ManifestError, match="3 epochs run"):
        history_from_manifest(manifest)
