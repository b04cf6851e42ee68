"""The training cache (drlib.data.cache, ``drlib cache``): what it holds, what it trusts, and
that reading it costs a batch of memory, not a data set.

Small fixture trees (tests/fixtures_trees.py) of 64 x 80 px photographs cached at 16 or 32 px:
the cache must hold exactly the pixels the in-memory path (``load_arrays``) makes of the same
photographs, in the data set's order, with the bad files listed and the rest cached.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from fixtures_trees import fundus_image, make_eyepacs_tree, write_corrupt, write_image, write_text

from drlib.data.augment import Augmenter
from drlib.data.cache import (
    CacheError,
    CacheSequence,
    build_cache,
    decode_size,
    open_cache,
    read_manifest,
)
from drlib.data.image_io import read_fundus
from drlib.data.loaders import load_dataset
from drlib.data.patients import split_by_patient
from drlib.data.pipeline import FundusSequence, load_arrays
from drlib.data.preprocess import plain_preprocess
from drlib.runtime.atomic import PARTIAL_MARK

ROOT = Path(__file__).resolve().parents[1]


def grades_for(n: int) -> dict[str, int]:
    return {f"{i + 1}_{'left' if i % 2 else 'right'}": (3 * i) % 5 for i in range(n)}


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> Path:
    """Nine photographs, two of them bad (a corrupt JPEG, a text file named .jpeg)."""
    root = make_eyepacs_tree(tmp_path_factory.mktemp("tree") / "eyepacs", grades_for(9))
    write_corrupt(root / "train" / "3_right.jpeg")
    write_text(root / "train" / "6_left.jpeg")
    return root


def good_records(root: Path):
    records, _ = load_dataset(root, validate_images=False)
    return [r for r in records if r.image_id not in ("3_right", "6_left")]


def manifest_text(folder: Path) -> str:
    return (folder / "manifest.json").read_text()


def test_cache_holds_what_the_in_memory_path_makes(tree, tmp_path):
    summary = build_cache(tree, tmp_path / "c", 32, workers=1, shard_images=3)
    cache = open_cache(tmp_path / "c", verify=True)
    records = good_records(tree)
    x, y = load_arrays(records, 32, "plain")
    assert (summary.planned, summary.cached, summary.shards, summary.built) == (9, 7, 3, 3)
    assert cache.ids == [r.image_id for r in records]  # the data set's order, bad ones left out
    assert cache.images.shape == (7, 32, 32, 3)
    assert np.array_equal(cache.images[:], x)
    assert np.array_equal(cache.grades, y)
    assert np.array_equal(cache.images[[5, 0, 5]], x[[5, 0, 5]])
    assert np.array_equal(cache.images[-1], x[-1])
    parts = split_by_patient(cache.records(), {"train": 0.5, "val": 0.5}, seed=0)
    train_rows = cache.index_of([r.image_id for r in parts["train"]])
    assert np.array_equal(cache.grades[train_rows], [r.grade for r in parts["train"]])
    assert sorted([*train_rows, *cache.index_of([r.image_id for r in parts["val"]])]) == list(
        range(7))
    assert [(Path(s.item).name, s.problem) for s in cache.skipped] == [
        ("3_right.jpeg", "truncated or corrupt JPEG (no end-of-image marker)"),
        ("6_left.jpeg", "not an image file (PIL cannot identify it)"),
    ]
    # every source photograph's sha256 is in its shard's index file
    meta = json.loads((tmp_path / "c" / "shards" / "00000.json").read_text())
    first = meta["members"][0]
    assert first["file"] == "train/1_right.jpeg"
    assert first["sha256"] == hashlib.sha256((tree / first["file"]).read_bytes()).hexdigest()


def test_reduced_jpeg_decoding(tmp_path):
    """A 1,024 x 1,280 photograph cached at 32 px is decoded at half size (512 x 640: the
    field of view is still searched at 512 px, as after a full decode)."""
    root = tmp_path / "big"
    make_eyepacs_tree(root, {"1_left": 2}, size=(1024, 1280))
    path = root / "train" / "1_left.jpeg"
    build_cache(root, tmp_path / "reduced", 32, workers=1)
    build_cache(root, tmp_path / "full", 32, workers=1, reduced_decode=False)
    reduced = open_cache(tmp_path / "reduced").images[0]
    full = open_cache(tmp_path / "full").images[0]
    small = read_fundus(path, min_size=decode_size(32))
    assert small.shape == (512, 640, 3)
    assert np.array_equal(reduced, plain_preprocess(small, size=32)[0])
    assert np.array_equal(full, load_arrays(good_records(root), 32)[0][0])
    assert not np.array_equal(reduced, full)
    difference = np.abs(reduced.astype(int) - full.astype(int))
    assert difference.mean() < 1.0  # grey levels: the two decodings agree closely


def test_rerun_reuses_verified_shards_and_rebuilds_damaged_or_stale_ones(tree, tmp_path):
    folder = tmp_path / "c"
    build_cache(tree, folder, 32, workers=1, shard_images=3)
    reference = manifest_text(folder)
    again = build_cache(tree, folder, 32, workers=1, shard_images=3)
    assert (again.built, again.reused) == (0, 3)

    shard = folder / "shards" / "00001.npy"
    data = bytearray(shard.read_bytes())
    data[-100] ^= 0xFF  # one pixel of the last image: same size, different bytes
    shard.write_bytes(bytes(data))
    open_cache(folder)  # the quick check (sizes) cannot see it...
    with pytest.raises(CacheError, match=r"shards/00001\.npy does not match its sha256"):
        open_cache(folder, verify=True)  # ...the checksum does
    repaired = build_cache(tree, folder, 32, workers=1, shard_images=3)
    assert (repaired.built, repaired.reused) == (1, 2)
    assert manifest_text(folder) == reference
    open_cache(folder, verify=True)

    source = tree / "train" / "8_left.jpeg"  # in shard 2; its modification time changes
    stat = source.stat()
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns + 10**9))
    try:
        refreshed = build_cache(tree, folder, 32, workers=1, shard_images=3)
    finally:
        os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert (refreshed.built, refreshed.reused) == (1, 2)


def test_other_settings_and_unfinished_caches_are_refused(tree, tmp_path):
    folder = tmp_path / "c"
    build_cache(tree, folder, 32, workers=1, shard_images=3)
    with pytest.raises(CacheError, match="size: 32 in the cache, 48 wanted"):
        build_cache(tree, folder, 48, workers=1, shard_images=3)
    manifest = read_manifest(folder)
    manifest["complete"] = False
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(CacheError, match="unfinished"):
        open_cache(folder)
    with pytest.raises(CacheError, match="no training cache here"):
        open_cache(tmp_path)


def test_cache_sequence_serves_the_batches_of_the_in_memory_sequence(tree, tmp_path):
    build_cache(tree, tmp_path / "c", 32, workers=1, shard_images=3)
    cache = open_cache(tmp_path / "c")
    x, y = load_arrays(good_records(tree), 32)
    subset = np.array([6, 0, 2, 3, 5, 1])
    augment = Augmenter(seed=4, max_angle=20)
    from_cache = CacheSequence(cache, subset, batch_size=4, shuffle=True, seed=7,
                               augment=augment, drop_remainder=False)
    in_memory = FundusSequence(images=x[subset], grades=y[subset], batch_size=4, image_size=32,
                               preprocess=None, shuffle=True, seed=7, augment=augment)
    assert len(from_cache) == len(in_memory) == 2
    for epoch in (0, 1):
        from_cache.set_epoch(epoch)
        in_memory.set_epoch(epoch)
        for i in range(2):
            (xc, yc), (xm, ym) = from_cache[i], in_memory[i]
            assert xc.dtype == np.float32
            assert np.array_equal(xc, xm)
            assert np.array_equal(yc, ym)
    assert np.array_equal(from_cache.grades, y[subset])
    unlabelled = CacheSequence(tmp_path / "c", batch_size=5, labelled=False)
    assert [b.shape[0] for b in (unlabelled[0], unlabelled[1])] == [5, 2]


def test_training_from_the_cache_equals_training_from_memory(tree, tmp_path):
    import keras

    from drlib.training import TrainConfig, seed_everything, train

    build_cache(tree, tmp_path / "c", 16, workers=1, shard_images=4)
    cache = open_cache(tmp_path / "c")
    x, y = load_arrays(good_records(tree), 16)

    def build():
        seed_everything(1)
        image = keras.Input((16, 16, 3))
        hidden = keras.layers.GlobalAveragePooling2D()(keras.layers.Rescaling(1 / 255)(image))
        return keras.Model(image, keras.layers.Dense(5, activation="softmax")(hidden))

    def fit(data, validation, name):
        model = build()
        config = TrainConfig(image_size=16, batch_size=3, epochs=2, learning_rate=0.1,
                             patience=None, restore_best_weights=False, verbose=0, seed=3,
                             output_dir=str(tmp_path / name))
        history = train(model, data, validation, config)
        return [w.numpy() for w in model.weights], history.history["loss"]

    weights_memory, loss_memory = fit((x, y), (x, y), "memory")
    weights_cache, loss_cache = fit(cache.arrays(), cache.arrays(), "cache")  # memory-mapped
    assert loss_cache == loss_memory
    assert all(np.array_equal(a, b) for a, b in zip(weights_cache, weights_memory, strict=True))
    # A CacheSequence trains exactly as the same photographs in memory served by a
    # FundusSequence with the same settings (the same batches, previous test): same losses, same
    # weights, bit for bit.
    sequence = CacheSequence(cache, batch_size=3, shuffle=True, seed=3, drop_remainder=True)
    weights_sequence, loss_sequence = fit(sequence, CacheSequence(cache, batch_size=3),
                                          "sequence")
    in_memory = FundusSequence(images=x, grades=y, batch_size=3, image_size=16, preprocess=None,
                               shuffle=True, seed=3, drop_remainder=True)
    validation = FundusSequence(images=x, grades=y, batch_size=3, image_size=16, preprocess=None)
    weights_in_memory, loss_in_memory = fit(in_memory, validation, "in_memory")
    assert len(loss_sequence) == 2 and np.isfinite(loss_sequence).all()
    assert loss_sequence == loss_in_memory
    assert all(np.array_equal(a, b)
               for a, b in zip(weights_sequence, weights_in_memory, strict=True))
    # ...and as the arrays themselves: train() serves arrays in the order of
    # default_rng((seed, epoch)), as the sequences do, the last 7 % 3 photographs left out
    assert loss_sequence == loss_memory
    assert all(np.array_equal(a, b) for a, b in zip(weights_sequence, weights_memory, strict=True))
    # (the weights moved: two epochs at learning rate 0.1 change every one of them)
    start = [w.numpy() for w in build().weights]
    assert all(not np.array_equal(a, b) for a, b in zip(weights_sequence, start, strict=True))


def peak_bytes_while_iterating(sequence: CacheSequence) -> int:
    tracemalloc.start()
    try:
        for epoch in range(2):
            sequence.set_epoch(epoch)
            for i in range(len(sequence)):
                sequence[i]
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_memory_while_reading_does_not_grow_with_the_number_of_images(tmp_path):
    """tracemalloc peak over two shuffled epochs, for 16 and 128 photographs of 32 px: both
    below 4 float32 batches of 8 (393 KB), while the 128 photographs alone, as float32, are
    1.5 MB (the in-memory path would hold them all)."""
    batch, size = 8, 32
    bound = 4 * batch * size * size * 3 * 4
    peaks = []
    for n in (16, 128):
        root = tmp_path / f"tree{n}"
        for i in range(n):  # 64 x 80 photographs, written directly (fast)
            write_image(root / "train" / f"{i}_left.jpeg", fundus_image(seed=i))
        (root / "trainLabels.csv").write_text(
            "image,level\n" + "".join(f"{i}_left,{i % 5}\n" for i in range(n)))
        build_cache(root, tmp_path / f"c{n}", size, workers=1, shard_images=16)
        sequence = CacheSequence(tmp_path / f"c{n}", batch_size=batch, shuffle=True, seed=0)
        peaks.append(peak_bytes_while_iterating(sequence))
    assert n * size * size * 3 * 4 > 3 * bound
    assert max(peaks) < bound, peaks


KILLED_BUILD = """
import sys, time
from drlib.data.cache import build_cache

def slow(done, total, entry):
    time.sleep(0.4)  # widens the window in which the test kills the build

if __name__ == "__main__":
    build_cache(sys.argv[1], sys.argv[2], 32, workers=1, shard_images=1, progress=slow)
"""


def test_a_sigkilled_build_resumes_to_the_manifest_of_an_uninterrupted_one(tree, tmp_path):
    build_cache(tree, tmp_path / "whole", 32, workers=1, shard_images=1)
    script = tmp_path / "killed_build.py"
    script.write_text(textwrap.dedent(KILLED_BUILD))
    folder = tmp_path / "killed"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, str(script), str(tree), str(folder)], env=env,
                            start_new_session=True)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            manifest = read_manifest(folder) if (folder / "manifest.json").is_file() else None
            if manifest and len(manifest["shards"]) >= 2:
                break
            assert proc.poll() is None, "the build ended before it could be killed"
            time.sleep(0.02)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    killed = read_manifest(folder)
    assert not killed["complete"] and 2 <= len(killed["shards"]) < 9
    for debris in (f".manifest.json{PARTIAL_MARK}dead.json", f"shards/.00008.npy{PARTIAL_MARK}x"):
        (folder / debris).write_bytes(b"what a killed writer leaves")

    resumed = build_cache(tree, folder, 32, workers=1, shard_images=1)
    assert resumed.reused >= 2 and resumed.built + resumed.reused == 9
    assert manifest_text(folder) == manifest_text(tmp_path / "whole")
    def files(root):
        return sorted(p.relative_to(root).as_posix() for p in root.rglob("*"))

    assert files(folder) == files(tmp_path / "whole")


def test_the_cache_command(tree, tmp_path, capsys):
    from drlib.screening.cli import main

    out = tmp_path / "c"
    status = main(["cache", str(tree), str(out), "--size", "32", "--workers", "2",
                   "--shard-images", "4", "--quiet"])
    printed = capsys.readouterr().out
    assert status == 0
    assert "32 px, plain preprocessing" in printed
    assert f"cached 7 of 9 photograph(s) into {out}/; skipped 2" in printed
    assert "shards: 3 (3 written, 0 verified and reused)" in printed
    assert "3_right.jpeg: truncated or corrupt JPEG" in printed
    assert np.array_equal(open_cache(out, verify=True).images[:],
                          load_arrays(good_records(tree), 32)[0])
    status = main(["cache", str(tree), str(out), "--size", "48", "--quiet"])
    assert status == 2
    assert "size: 32 in the cache, 48 wanted" in capsys.readouterr().err
