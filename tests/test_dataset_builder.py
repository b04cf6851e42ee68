"""Synthetic splits on disk: Kaggle layout, reproducible, disjoint, reused when unchanged."""

import csv
import json

import numpy as np
from PIL import Image

from drlib.dataset_builder import (
    build_split,
    image_seed,
    read_manifest,
    render_arrays,
    split_grades,
)
from drlib.masks import load_masks
from drlib.synth import SynthConfig


def test_split_layout_and_contents(tmp_path):
    cfg = SynthConfig(size=128)
    split = build_split(tmp_path, "val", 12, seed=3, config=cfg, workers=1, progress=False)
    rows = list(csv.DictReader(open(split / "trainLabels.csv")))
    assert [r["image"] for r in rows] == [f"synth_val_{i:06d}" for i in range(12)]
    inventory = [json.loads(line) for line in open(split / "inventory.jsonl")]
    for row, inv in zip(rows, inventory, strict=True):
        image = np.asarray(Image.open(split / "train" / f"{row['image']}.jpeg"))
        masks, quadrants = load_masks(split / "masks" / f"{row['image']}.npz")
        assert image.shape == (128, 128, 3)
        assert masks["fov"].shape == quadrants.shape == (128, 128)
        assert int(row["level"]) == inv["grade"] == inv["level"]
    manifest = read_manifest(split)
    assert sum(manifest["grade_counts"]) == 12 and len(manifest["fingerprint"]) == 64


def test_same_request_same_bytes_and_reuse(tmp_path):
    cfg = SynthConfig(size=96)
    a = build_split(tmp_path / "a", "test", 10, seed=1, config=cfg, workers=1, progress=False)
    b = build_split(tmp_path / "b", "test", 10, seed=1, config=cfg, workers=2, progress=False)
    assert read_manifest(a)["fingerprint"] == read_manifest(b)["fingerprint"]
    stamp = (a / "manifest.json").stat().st_mtime_ns
    build_split(tmp_path / "a", "test", 10, seed=1, config=cfg, workers=1, progress=False)
    assert (a / "manifest.json").stat().st_mtime_ns == stamp  # reused, not rebuilt
    c = build_split(tmp_path / "a", "test", 11, seed=1, config=cfg, workers=1, progress=False)
    assert read_manifest(c)["n"] == 11  # a different request rebuilds


def test_splits_have_disjoint_seeds_and_follow_the_prior():
    seeds = {s: {image_seed(0, s, i) for i in range(5000)} for s in ("train", "val", "test")}
    assert not (seeds["train"] & seeds["val"] or seeds["train"] & seeds["test"]
                or seeds["val"] & seeds["test"])
    grades = split_grades(20000, 0, "train", "eyepacs")
    assert abs(np.mean(grades == 0) - 25810 / 35126) < 0.01
    assert abs(np.mean(split_grades(5000, 0, "train", "balanced") == 4) - 0.2) < 0.02


def test_render_arrays_match_the_split(tmp_path):
    cfg = SynthConfig(size=96)
    x, y = render_arrays(6, seed=2, size=64, split="val", config=cfg, workers=1, progress=False)
    assert x.shape == (6, 64, 64, 3) and x.dtype == np.uint8
    split = build_split(tmp_path, "val", 6, seed=2, config=cfg, workers=1, progress=False)
    levels = [int(r["level"]) for r in csv.DictReader(open(split / "trainLabels.csv"))]
    assert y.tolist() == levels
