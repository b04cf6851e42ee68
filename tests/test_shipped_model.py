"""The weights shipped under models/: each file matches its manifest, and the record is complete.

Chapters 3 onwards load these weights; a weights file that was modified, truncated or copied
incompletely must fail here, naming the file, before any chapter explains a map with it.
"""

from pathlib import Path

import numpy as np
import pytest

from drlib.manifest import load_densenet, read_manifest, verify_manifest
from drlib.paths import models_dir

MANIFESTS = sorted(Path(models_dir()).glob("*.manifest.json"))
REQUIRED = {
    "config": ("image_size", "batch_size", "epochs", "learning_rate", "seed"),
    "training": ("epochs_run", "wall_time_s", "train_images_per_s"),
    "validation": ("kappa", "recall_per_grade", "n_images"),
    "device": ("backend",),
}


def test_a_reference_model_is_shipped():
    assert MANIFESTS, f"no *.manifest.json under {models_dir()}"


@pytest.mark.parametrize("manifest_path", MANIFESTS, ids=lambda p: p.name)
def test_weights_match_their_manifest(manifest_path):
    manifest = verify_manifest(manifest_path)
    assert manifest["weights_bytes"] == (manifest_path.parent / manifest["weights_file"]).stat(
    ).st_size


@pytest.mark.parametrize("manifest_path", MANIFESTS, ids=lambda p: p.name)
def test_manifest_records_how_the_weights_were_made(manifest_path):
    manifest = read_manifest(manifest_path)
    for section, keys in REQUIRED.items():
        for key in keys:
            assert manifest[section].get(key) is not None, f"{section}.{key} missing"
    assert manifest["seeds"] and manifest["dataset_fingerprint"]
    assert len(manifest["weights_sha256"]) == 64


@pytest.mark.parametrize("manifest_path", MANIFESTS, ids=lambda p: p.name)
def test_shipped_weights_load_and_predict(manifest_path):
    model = load_densenet(manifest_path)
    size = model.input_shape[1]
    x = np.full((2, size, size, 3), 100.0, np.float32)
    probs = np.asarray(model.predict(x, verbose=0))
    assert probs.shape == (2, 5)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_a_modified_weights_file_is_caught(tmp_path):
    if not MANIFESTS:
        pytest.skip("no shipped model")
    import shutil

    from drlib.manifest import ManifestError

    manifest = read_manifest(MANIFESTS[0])
    shutil.copy(MANIFESTS[0], tmp_path / MANIFESTS[0].name)
    weights = tmp_path / manifest["weights_file"]
    data = bytearray((MANIFESTS[0].parent / manifest["weights_file"]).read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(ManifestError, match=manifest["weights_file"]):
        verify_manifest(tmp_path / MANIFESTS[0].name)
