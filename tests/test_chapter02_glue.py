"""Chapter 02's glued numbers, which the conclusions page quotes, against the shipped manifests.

nbval leaves chapter 02 out (it trains; notebooks/conftest.py), so nothing else would notice the
committed chapter and the model it describes drifting apart: a retrained model with the chapter
left as it was, or the chapter rerun against another model.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from drlib.modeling import read_manifest
from drlib.synth.grading import SCALE_LABELS

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "notebooks" / "02_training.ipynb"
MODELS = ROOT / "models"


def glued(notebook: Path) -> dict[str, str]:
    """name -> the text myst-nb's glue stored for it, over every cell of the notebook."""
    values = {}
    for cell in json.loads(notebook.read_text())["cells"]:
        for output in cell.get("outputs", []):
            book = output.get("metadata", {}).get("scrapbook")
            if book:
                values[book["name"]] = output["data"][f"{book['mime_prefix']}text/plain"]
    return values


def test_chapter_02_glues_what_the_shipped_manifests_record() -> None:
    values = glued(CHAPTER)
    model = read_manifest(MODELS / "densenet121_cpu.manifest.json")
    first = read_manifest(MODELS / model["extra"]["init"])  # the first sitting it continued
    settings, first_settings = model["extra"]["settings"], first["extra"]["settings"]
    epochs, first_epochs = model["training"]["epochs_run"], first["training"]["epochs_run"]
    assert float(values["ch02_val_kappa"]) == model["validation"]["kappa"]
    assert int(values["ch02_val_n"]) == model["validation"]["n_images"]
    assert int(values["ch02_epochs_run"]) == first_epochs + epochs
    assert int(values["ch02_n_train"]) == settings["n_train"]
    assert int(values["ch02_image_size"]) == settings["image_size"]
    assert int(values["ch02_photograph_epochs"]) == (settings["n_train"] * epochs
                                                      + first_settings["n_train"] * first_epochs)
    assert float(values["ch02_train_hours"]) == pytest.approx(
        (model["training"]["wall_time_s"] + first["training"]["wall_time_s"]) / 3600, rel=1e-12)
    assert values["ch02_scale"] == repr(SCALE_LABELS[model["extra"]["label_scale"]])


def test_the_glue_reader_finds_every_value_the_conclusions_page_quotes() -> None:
    quoted = set()
    for line in (ROOT / "book" / "conclusions.md").read_text().splitlines():
        for part in line.split("02_training.ipynb::")[1:]:
            quoted.add(part.split(":")[0].split("`")[0])
    assert quoted and quoted <= set(glued(CHAPTER))
