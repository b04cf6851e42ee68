"""Synthetic splits prove what they hold: content fingerprints, verified reuse, disjoint streams."""

import csv
import hashlib
import io
import json
from dataclasses import replace

import numpy as np
import pytest
from PIL import Image

from drlib.data.masks import load_masks
from drlib.data.synthetic_splits import (
    JPEG_QUALITY,
    SplitIntegrityError,
    build_chapter_splits,
    build_chapter_splits_fingerprinted,
    build_split,
    chapter_cache,
    image_seed,
    read_manifest,
    split_fingerprint,
    split_grades,
    verify_split,
)
from drlib.synth.render import SynthConfig, render_fundus

CFG = SynthConfig(size=64)


@pytest.fixture(scope="module")
def split(tmp_path_factory):
    return build_split(tmp_path_factory.mktemp("cache"), "val", 6, seed=5, config=CFG,
                       workers=1, progress=False)


def _copy(split, tmp_path):
    import shutil

    target = tmp_path / "val"
    shutil.copytree(split, target)
    return target


def test_fingerprint_is_computed_from_the_files_bytes(split):
    manifest = read_manifest(split)
    assert split_fingerprint(split) == manifest["fingerprint"] == verify_split(split)
    # the same as hashing the bytes by hand, in label order
    h = hashlib.sha256()
    for entry in manifest["files"]:
        image = hashlib.sha256((split / "train" / f"{entry['image']}.jpeg").read_bytes())
        mask = hashlib.sha256((split / "masks" / f"{entry['image']}.npz").read_bytes())
        h.update(f"{entry['image']},{entry['level']},{image.hexdigest()},"
                 f"{mask.hexdigest()}\n".encode())
    assert h.hexdigest() == manifest["fingerprint"]


def test_a_tampered_image_is_caught_by_name_on_reuse(split, tmp_path):
    copy = _copy(split, tmp_path)
    victim = copy / "train" / "synth_val_000003.jpeg"
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one flipped byte, same size, manifest untouched
    victim.write_bytes(bytes(data))
    with pytest.raises(SplitIntegrityError, match=r"synth_val_000003\.jpeg.*: sha256 differs"):
        build_split(tmp_path, "val", 6, seed=5, config=CFG, workers=1, progress=False)
    with pytest.raises(SplitIntegrityError, match=r"synth_val_000003\.jpeg"):
        verify_split(copy)


def test_a_missing_mask_a_changed_label_and_an_edited_manifest_are_caught(split, tmp_path):
    copy = _copy(split, tmp_path)
    (copy / "masks" / "synth_val_000001.npz").unlink()
    with pytest.raises(SplitIntegrityError, match=r"synth_val_000001\.npz.*missing"):
        verify_split(copy)

    copy = _copy(split, tmp_path / "b")
    labels = (copy / "trainLabels.csv").read_text().splitlines()
    image, level = labels[2].split(",")
    labels[2] = f"{image},{(int(level) + 1) % 5}"
    (copy / "trainLabels.csv").write_text("\n".join(labels) + "\n")
    with pytest.raises(SplitIntegrityError, match=rf"{image}.*level differs"):
        verify_split(copy)

    copy = _copy(split, tmp_path / "c")
    manifest = json.loads((copy / "manifest.json").read_text())
    manifest["fingerprint"] = "0" * 64
    (copy / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(SplitIntegrityError, match="fingerprint does not match"):
        verify_split(copy)


def test_image_streams_are_spawned_children_of_the_base_seed():
    seq = image_seed(0, "val", 7)
    assert isinstance(seq, np.random.SeedSequence)
    assert seq.entropy == 0 and seq.spawn_key == (2, 7)
    spawned = np.random.SeedSequence(0, spawn_key=(2,)).spawn(8)[7]
    assert seq.generate_state(4).tolist() == spawned.generate_state(4).tolist()
    # 128-bit states of 3 x 3000 images: no two alike (32-bit seeds would make this a lottery)
    states = {tuple(image_seed(0, s, i).generate_state(4)) for s in ("train", "val", "test")
              for i in range(3000)}
    assert len(states) == 9000


def test_the_split_images_are_the_rendered_eyes_of_their_seeds(split):
    first = json.loads((split / "inventory.jsonl").read_text().splitlines()[0])
    entropy, code, index = first["seed"]
    assert (entropy, code, index) == (5, 2, 0)
    sample = render_fundus(image_seed(5, "val", 0), first["grade"], CFG)
    assert sample.grades == first["grades"] and sample.label == first["level"]
    assert sample.inventory.to_dict() == first["inventory"]


def test_splits_share_no_image_content(tmp_path):
    hashes = {}
    for name in ("train", "val", "test"):
        folder = build_split(tmp_path, name, 6, seed=5, config=CFG, workers=1, progress=False)
        hashes[name] = {f["sha256"] for f in read_manifest(folder)["files"]}
        assert len(hashes[name]) == 6
    assert not (hashes["train"] & hashes["val"] or hashes["train"] & hashes["test"]
                or hashes["val"] & hashes["test"])


def test_the_label_scale_is_part_of_the_request(tmp_path):
    icdr = build_split(tmp_path, "val", 6, seed=5, config=CFG, workers=1, progress=False)
    assert read_manifest(icdr)["config"]["label_scale"] == "icdr"
    inventory = [json.loads(line) for line in (icdr / "inventory.jsonl").read_text().splitlines()]
    levels_icdr = [e["level"] for e in inventory]
    assert levels_icdr == [e["grades"]["icdr"] for e in inventory]
    table1 = build_split(tmp_path, "val", 6, seed=5, config=CFG, label_scale="table1",
                         workers=1, progress=False)
    manifest = read_manifest(table1)
    assert manifest["config"]["label_scale"] == "table1"
    inventory = [json.loads(line) for line in (table1 / "inventory.jsonl").read_text().splitlines()]
    assert [e["level"] for e in inventory] == [e["grades"]["table1"] for e in inventory]


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
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert len(files) == 10 + 10 + 3  # photographs, masks, labels + inventory + manifest
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    for name in files:  # the same photographs and masks, byte for byte
        assert (a / name).read_bytes() == (b / name).read_bytes(), name
    stamp = (a / "manifest.json").stat().st_mtime_ns
    build_split(tmp_path / "a", "test", 10, seed=1, config=cfg, workers=1, progress=False)
    assert (a / "manifest.json").stat().st_mtime_ns == stamp  # reused, not rebuilt
    c = build_split(tmp_path / "a", "test", 11, seed=1, config=cfg, workers=1, progress=False)
    assert read_manifest(c)["n"] == 11  # a different request rebuilds


def test_splits_have_disjoint_seeds_and_follow_the_prior():
    # an image's random stream, identified by the first words it generates
    def stream(split, i):
        return tuple(image_seed(0, split, i).generate_state(4).tolist())

    seeds = {s: {stream(s, i) for i in range(2000)} for s in ("train", "val", "test")}
    assert all(len(found) == 2000 for found in seeds.values())  # no two images share a stream
    assert not (seeds["train"] & seeds["val"] or seeds["train"] & seeds["test"]
                or seeds["val"] & seeds["test"])
    assert stream("val", 7) == stream("val", 7) and stream("val", 7) != stream("test", 7)
    grades = split_grades(20000, 0, "train", "eyepacs")
    assert abs(np.mean(grades == 0) - 25810 / 35126) < 0.01
    assert abs(np.mean(split_grades(5000, 0, "train", "balanced") == 4) - 0.2) < 0.02


def test_split_photographs_are_the_rendered_eyes(tmp_path):
    """Each stored photograph is the eye render_fundus draws from the image's own seed and the
    split's target grade: the camera's own JPEG byte for byte (not re-encoded), which decodes to
    the rendered image pixel for pixel; its masks pixel for pixel, its label; and the photographs
    are all different."""
    cfg = SynthConfig(size=96)
    split = build_split(tmp_path, "val", 6, seed=2, config=cfg, workers=1, progress=False)
    rows = list(csv.DictReader(open(split / "trainLabels.csv")))
    targets = split_grades(6, 2, "val", "eyepacs")
    manifest = read_manifest(split)
    stored_images = []
    for i, row in enumerate(rows):
        sample = render_fundus(image_seed(2, "val", i), int(targets[i]), cfg)
        stored = (split / "train" / f"{row['image']}.jpeg").read_bytes()
        assert sample.jpeg is not None and sample.jpeg == stored, row["image"]
        assert manifest["files"][i]["sha256"] == hashlib.sha256(sample.jpeg).hexdigest()
        # one encoding: re-encoding the image, even at the camera's quality, is other bytes
        encoded = io.BytesIO()
        Image.fromarray(sample.image).save(encoded, format="JPEG",
                                           quality=sample.camera.jpeg_quality)
        assert encoded.getvalue() != stored, row["image"]
        decoded = np.asarray(Image.open(io.BytesIO(stored)))
        np.testing.assert_array_equal(decoded, sample.image, err_msg=row["image"])
        masks, quadrants = load_masks(split / "masks" / f"{row['image']}.npz")
        for name, mask in sample.masks.items():
            np.testing.assert_array_equal(masks[name], mask, err_msg=name)
        np.testing.assert_array_equal(quadrants, sample.quadrants)
        assert int(row["level"]) == sample.label
        stored_images.append(decoded.tobytes())
    assert len(set(stored_images)) == 6  # six different photographs, not one repeated


def test_loading_a_tampered_split_names_the_file_and_keeps_the_rest(split, tmp_path):
    from drlib.data import DatasetError, load_dataset

    copy = _copy(split, tmp_path)
    victim = copy / "masks" / "synth_val_000004.npz"
    data = bytearray(victim.read_bytes())
    data[len(data) // 2] ^= 0xFF
    victim.write_bytes(bytes(data))
    with pytest.raises(DatasetError, match=r"synth_val_000004\.npz.*mask_sha256 differs"):
        load_dataset(copy, kind="synthetic")
    records, report = load_dataset(copy, kind="synthetic", strict=False)
    assert [r.image_id for r in records] == [f"synth_val_{i:06d}" for i in (0, 1, 2, 3, 5)]
    assert len(report.skipped) == 1 and "synth_val_000004.npz" in report.skipped[0].problem
    untouched, clean = load_dataset(split, kind="synthetic")
    assert len(untouched) == 6 and clean.ok


def test_a_camera_without_compression_is_encoded_by_the_builder(tmp_path, monkeypatch):
    """A camera at jpeg_quality 100 hands over no JPEG: the builder encodes its image once, with
    PIL at JPEG_QUALITY (95)."""
    import drlib.synth.render as render

    sample_camera = render.sample_camera
    monkeypatch.setattr(render, "sample_camera",
                        lambda rng, variation=1.0: replace(sample_camera(rng, variation),
                                                           jpeg_quality=100))
    cfg = SynthConfig(size=64)
    split = build_split(tmp_path, "val", 3, seed=4, config=cfg, workers=1, progress=False)
    targets = split_grades(3, 4, "val", "eyepacs")
    assert JPEG_QUALITY == 95
    for i in range(3):
        sample = render_fundus(image_seed(4, "val", i), int(targets[i]), cfg)
        assert sample.jpeg is None and sample.camera.jpeg_quality == 100
        encoded = io.BytesIO()
        Image.fromarray(sample.image).save(encoded, format="JPEG", quality=JPEG_QUALITY)
        stored = (split / "train" / f"synth_val_{i:06d}.jpeg").read_bytes()
        assert stored == encoded.getvalue()


def test_a_chapter_names_its_cache_folder_and_builds_both_splits_there(tmp_path):
    assert chapter_cache(tmp_path, "ch02", "icdr", 384, 0) == tmp_path / "ch02_icdr_384px_seed0"
    folders = build_chapter_splits(tmp_path, "ch02", n_train=6, n_val=4, prior="balanced",
                                   val_prior="eyepacs", seed=2, render_size=64,
                                   label_scale="table1", workers=1, progress=False)
    cache = tmp_path / "ch02_table1_64px_seed2"
    assert folders == {"train": cache / "train", "val": cache / "val"}
    for split, n, prior in (("train", 6, "balanced"), ("val", 4, "eyepacs")):
        manifest = read_manifest(folders[split])
        assert (manifest["split"], manifest["n"], manifest["seed"], manifest["prior"]) == (
            split, n, 2, prior)
        assert manifest["config"]["size"] == 64 and manifest["config"]["label_scale"] == "table1"


def test_a_chapters_fingerprints_come_with_its_splits_built_or_reused(tmp_path):
    # chapter 02 records them in its manifest: they must equal a fresh pass over the bytes
    arguments = dict(n_train=6, n_val=4, prior="balanced", val_prior="eyepacs", seed=2,
                     render_size=64, label_scale="icdr", workers=1, progress=False)
    for _ in ("built", "reused"):
        folders, fingerprints = build_chapter_splits_fingerprinted(tmp_path, "ch02", **arguments)
        assert folders == build_chapter_splits(tmp_path, "ch02", **arguments)
        assert fingerprints == {split: split_fingerprint(folder)
                                for split, folder in folders.items()}
    assert fingerprints["train"] != fingerprints["val"]


def _build_in_another_process(root: str) -> str:
    return split_fingerprint(build_split(root, "train", 12, seed=5, size=64, workers=1,
                                         progress=False))


def test_two_processes_asking_for_one_split_at_once_get_one_whole_split(tmp_path):
    # The GPU session trains two models at once from one cache: the second to ask waits for
    # the first to finish the split and reuses it, instead of writing over its files.
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
        fingerprints = list(pool.map(_build_in_another_process, [str(tmp_path)] * 2))
    assert fingerprints[0] == fingerprints[1] == verify_split(tmp_path / "train")
    assert not (tmp_path / ".train.partial").exists()


def _opencv_threads(_job) -> int:
    import cv2

    return cv2.getNumThreads()


def test_builder_processes_run_opencv_on_one_thread_each():
    # one process per core: a builder process that kept OpenCV's default pool would put
    # cores x cores threads on the machine (the default is the number of cores)
    from drlib.data.synthetic_splits import _pool_map

    assert _pool_map(_opencv_threads, list(range(8)), workers=2, desc="", progress=False) \
        == [1] * 8


def test_a_script_that_builds_a_split_without_a_main_guard_fails_instead_of_hanging(tmp_path):
    # Spawned builder workers re-import the main script; one that builds a split at its top
    # level once made each worker wait for the parent's lock while the parent waited for the
    # workers (found when a revalidation script without the guard hung with no CPU in use).
    import subprocess
    import sys

    script = tmp_path / "unguarded.py"
    script.write_text(
        "from drlib.data.synthetic_splits import build_split\n"
        f"build_split({str(tmp_path / 'cache')!r}, 'val', 8, seed=5, size=32, workers=2,\n"
        "            progress=False)\n")
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          timeout=180, cwd=tmp_path)
    assert done.returncode != 0
    assert "if __name__ == \"__main__\":" in done.stderr
    assert not (tmp_path / "cache" / "val").exists()
