"""Chapter 2 (notebooks/02_training.ipynb) runs end to end in its smallest profile.

papermill executes the notebook with ``profile="cpu-smoke"`` (DenseNet121 at 64 px, 48
synthetic training photographs, one epoch: about a minute on two CPU cores), everything
written under ``tmp_path``; the test then checks what the chapter promises to leave behind.
"""

from __future__ import annotations

import json
from pathlib import Path

import papermill

from drlib.evaluation import revalidate
from drlib.modeling.manifest import verify_manifest
from drlib.synth import GENERATOR_VERSION

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "02_training.ipynb"


def test_chapter02_smoke_profile_trains_and_saves_a_verified_model(tmp_path):
    executed = tmp_path / "02_training.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOK),
        str(executed),
        parameters={
            "profile": "cpu-smoke",
            "output_dir": str(tmp_path / "models"),
            "data_root": str(tmp_path / "data"),
            "run_dir": str(tmp_path / "run"),
        },
        kernel_name="python3",
        cwd=str(NOTEBOOK.parent),
        progress_bar=False,
    )
    name = "densenet121_cpu-smoke"
    weights = tmp_path / "models" / f"{name}.weights.h5"
    manifest_path = tmp_path / "models" / f"{name}.manifest.json"
    assert weights.is_file() and manifest_path.is_file()
    manifest = verify_manifest(manifest_path)
    assert manifest["training"]["epochs_run"] == 1
    assert manifest["model"]["input_shape"] == [None, 64, 64, 3]
    assert manifest["model"]["n_parameters"] == 7_042_629
    # the reported validation is recomputed from the saved weights and the rebuilt split
    report = revalidate(manifest_path, data_root=tmp_path / "data")
    assert report["confusion"] == manifest["validation"]["confusion"]
    assert report["kappa"] == manifest["validation"]["kappa"]
    assert report["n"] == manifest["validation"]["n_images"] == 16
    assert manifest["extra"]["label_scale"] == "icdr"
    assert manifest["extra"]["generator_version"] == GENERATOR_VERSION
    assert set(manifest["dataset_fingerprint"]) >= {"train", "val"}
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert history["epoch"] == [0]
    cells = json.loads(executed.read_text())["cells"]
    errors = [o for c in cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert errors == []
