"""Saved models (drlib.modeling.manifest): inference weights, their manifest, and its
verification."""

from __future__ import annotations

import json
import re

import h5py
import keras
import numpy as np
import pytest

from drlib.modeling.manifest import (
    ManifestError,
    read_manifest,
    save_inference_weights,
    sha256sum,
    verify_manifest,
    write_manifest,
)
from drlib.training import TrainConfig, evaluate_grades, train


def tiny_model() -> keras.Model:
    keras.utils.set_random_seed(2)
    image = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(3, 3, activation="relu", name="conv")(image)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    return keras.Model(image, keras.layers.Dense(5, activation="softmax", name="scores")(x))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny model trained one epoch, with its history and validation report."""
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (24, 16, 16, 3)).astype(np.uint8), rng.integers(0, 5, 24)
    config = TrainConfig(image_size=16, batch_size=8, epochs=1, verbose=0, patience=None,
                         output_dir=str(tmp_path_factory.mktemp("run")))
    model = tiny_model()
    history = train(model, (x, y), (x[:16], y[:16]), config)
    return model, history, evaluate_grades(model, (x[:16], y[:16]), 8), config


def test_write_then_verify(trained, tmp_path):
    model, history, report, config = trained
    weights, manifest_path = write_manifest(
        model, tmp_path / "models", "tiny", config=config.to_dict(), seeds={"training": 0},
        dataset_fingerprint={"train": "abc123"}, history=history, validation=report,
    )
    assert weights.name == "tiny.weights.h5" and manifest_path.name == "tiny.manifest.json"
    manifest = verify_manifest(manifest_path)
    assert manifest["weights_sha256"] == sha256sum(weights)
    assert manifest["dataset_fingerprint"] == {"train": "abc123"}
    assert manifest["environment"]["backend"] == keras.backend.backend()
    assert manifest["environment"]["keras_version"] == keras.__version__
    assert manifest["device"]["devices"]
    assert manifest["training"]["epochs_run"] == 1
    assert manifest["training"]["train_images_per_s"] > 0
    assert manifest["validation"]["kappa"] == pytest.approx(report["kappa"])
    assert len(manifest["validation"]["recall_per_grade"]) == 5
    assert manifest["config"]["learning_rate"] == 3e-4
    json.dumps(manifest)  # plain JSON all the way down


def test_inference_weights_have_no_optimizer_state_and_reload(trained, tmp_path):
    model, *_ = trained
    assert model.optimizer is not None and model.optimizer.built
    path = save_inference_weights(model, tmp_path / "m.weights.h5")
    with h5py.File(path) as f:
        assert "optimizer" not in f
    fresh = tiny_model()
    fresh.load_weights(str(path))
    x = np.random.default_rng(3).uniform(0, 255, (4, 16, 16, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(fresh(x)), np.asarray(model(x)), atol=1e-6)
    with pytest.raises(ValueError, match="weights.h5"):
        save_inference_weights(model, tmp_path / "m.h5")


def test_modified_weights_fail_verification_naming_the_file(trained, tmp_path):
    model, *_ = trained
    weights, manifest_path = write_manifest(model, tmp_path, "tiny")
    data = bytearray(weights.read_bytes())
    data[-100] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ManifestError, match=re.escape(str(weights))) as info:
        verify_manifest(manifest_path)
    assert "does not match" in str(info.value)
    weights.unlink()
    with pytest.raises(ManifestError, match="does not exist"):
        verify_manifest(manifest_path)


def test_broken_manifest_is_named(tmp_path):
    bad = tmp_path / "x.manifest.json"
    bad.write_text("{not json")
    with pytest.raises(ManifestError, match=re.escape(str(bad))):
        read_manifest(bad)
    with pytest.raises(ManifestError, match="does not exist"):
        verify_manifest(tmp_path / "absent.manifest.json")


def test_densenet_round_trip_through_manifest(tmp_path):
    from drlib.modeling.densenet import build_densenet
    from drlib.modeling.manifest import load_densenet

    keras.utils.set_random_seed(4)
    model = build_densenet(32)
    _, manifest_path = write_manifest(model, tmp_path, "densenet")
    assert read_manifest(manifest_path)["model"]["initialisation"] == "scratch"
    loaded = load_densenet(manifest_path)
    x = np.random.default_rng(5).uniform(0, 255, (2, 32, 32, 3)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(loaded(x)), np.asarray(model(x)), atol=1e-6)


def test_a_run_continues_the_manifest_its_init_names_under_the_models_folder(tmp_path):
    from drlib.modeling import continues

    (tmp_path / "gpu").mkdir()
    top, nested = tmp_path / "m.manifest.json", tmp_path / "gpu" / "m.manifest.json"
    grader = {"extra": {"init": "gpu/m.manifest.json"}}
    assert continues(grader, nested, tmp_path)
    assert continues(grader, tmp_path / "gpu" / ".." / "gpu" / "m.manifest.json", tmp_path)
    assert not continues(grader, top, tmp_path)  # the same file name in another folder
    assert continues({"extra": {"init": "m.manifest.json"}}, top, tmp_path)
    for init in ("scratch", "imagenet", "start.weights.h5", None):
        assert not continues({"extra": {"init": init}}, top, tmp_path)
    assert not continues({}, top, tmp_path)
