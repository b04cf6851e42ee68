"""Chapter 2 (notebooks/02_training.ipynb) runs end to end in its smallest profile.

papermill executes the notebook with ``profile="cpu-smoke"`` (DenseNet121 at 64 px, 48
synthetic training photographs, one epoch: about a minute on two CPU cores), everything
written under ``tmp_path``; the test then checks what the chapter promises to leave behind.
Its data are rendered first by ``scripts/render_chapter_splits.py`` (what the GPU session's
``data`` job runs), in a separate process as there, and the chapter must find and reuse them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import papermill

from drlib.evaluation import revalidate
from drlib.modeling.manifest import verify_manifest
from drlib.synth import GENERATOR_VERSION

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "notebooks" / "02_training.ipynb"


def test_chapter02_names_its_data_folder_once_and_reads_its_files_once():
    """The cache folder the manifest records is the one build_chapter_splits filled: the chapter
    takes it from the returned splits rather than naming it a second time with chapter_cache.
    The data fingerprints come from the same call, not from a second pass over every file."""
    cells = json.loads(NOTEBOOK.read_text(encoding="utf-8"))["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    assert code.count("build_chapter_splits_fingerprinted(") == 1
    assert "split_fingerprint(" not in code
    assert "chapter_cache(" not in code
    assert 'cache = splits["train"].parent' in code


def test_chapter02_smoke_profile_trains_and_saves_a_verified_model(tmp_path):
    # The script renders the splits (its builder spawns worker processes, which must be able to
    # re-import its main module) where the chapter looks for them: DRLIB_DATA/synthetic.
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "render_chapter_splits.py"), "cpu-smoke"],
        env={**os.environ, "DRLIB_DATA": str(tmp_path)}, capture_output=True, text=True,
        timeout=600)
    assert done.returncode == 0, done.stderr
    rendered = {path: path.stat().st_mtime_ns
                for path in (tmp_path / "synthetic").glob("ch02_*/*/manifest.json")}
    assert sorted(p.parent.name for p in rendered) == ["train", "val"]
    executed = tmp_path / "02_training.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOK),
        str(executed),
        parameters={
            "profile": "cpu-smoke",
            "output_dir": str(tmp_path / "models"),
            "data_root": str(tmp_path / "synthetic"),
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
    report = revalidate(manifest_path, data_root=tmp_path / "synthetic")
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
    # the chapter used the rendered splits as they were (verified, not written again)
    assert {path: path.stat().st_mtime_ns for path in rendered} == rendered
