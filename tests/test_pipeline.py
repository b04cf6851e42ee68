"""Tests of drlib.data.augment and drlib.data.pipeline: masks follow the image through
augmentation, and
the PyDataset serves correct, reproducible batches on the TensorFlow and JAX backends."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from drlib.data.augment import Augmenter
from drlib.data.image_io import read_fundus
from drlib.data.loaders import load_eyepacs, load_synthetic
from drlib.data.pipeline import FundusSequence, load_arrays, one_hot
from drlib.data.preprocess import plain_preprocess
from drlib.data.records import DatasetError, FundusRecord

try:
    from fixtures_trees import fundus_image, make_eyepacs_tree, make_synthetic_split
except ImportError:  # tests/ imported as a package
    from tests.fixtures_trees import fundus_image, make_eyepacs_tree, make_synthetic_split

REPO = Path(__file__).resolve().parents[1]
GRADES = {f"{i}_left": i % 5 for i in range(7)}


# --------------------------------------------------------------------------- augmentation


def _marked(h=96, w=128):
    """A black image with a green square marker off-centre, and the marker's mask."""
    image = np.zeros((h, w, 3), np.uint8)
    image[10:80, 10:110] = (120, 40, 30)  # something to rotate
    mask = np.zeros((h, w), bool)
    mask[20:30, 85:97] = True
    image[mask] = (0, 255, 0)
    return image, {"marker": mask}


def _centroid(mask):
    ys, xs = np.nonzero(mask)
    return xs.mean(), ys.mean()


def test_augmentation_keeps_masks_aligned():
    image, masks = _marked()
    aug = Augmenter(seed=3)
    moved = 0
    for key in range(12):
        out, out_masks = aug.apply(image, masks, key=key)
        mask = out_masks["marker"]
        assert mask.dtype == bool and mask.shape == image.shape[:2]
        green = (out[..., 1] > 150) & (out[..., 0] < 100)
        assert green.sum() > 0.7 * mask.sum()
        gx, gy = _centroid(green)
        mx, my = _centroid(mask)
        assert abs(gx - mx) < 1.0 and abs(gy - my) < 1.0  # the mask covers the marker
        assert (green & mask).sum() > 0.8 * green.sum()
        moved += abs(mx - _centroid(masks["marker"])[0]) > 5
    assert moved >= 6  # the marker really moved in most draws


def test_augmentation_is_deterministic():
    image, masks = _marked()
    a, b = Augmenter(seed=5), Augmenter(seed=5)
    for _ in range(3):  # call counter: the n-th calls agree
        (xa, ma), (xb, mb) = a.apply(image, masks), b.apply(image, masks)
        np.testing.assert_array_equal(xa, xb)
        np.testing.assert_array_equal(ma["marker"], mb["marker"])
    x1, _ = a.apply(image, key=(0, 7))
    x2, _ = Augmenter(seed=5).apply(image, key=(0, 7))
    np.testing.assert_array_equal(x1, x2)
    assert not np.array_equal(x1, a.apply(image, key=(1, 7))[0])
    assert not np.array_equal(x1, Augmenter(seed=6).apply(image, key=(0, 7))[0])


def test_flips_are_exact_and_photometric_leaves_masks():
    image, masks = _marked()
    aug = Augmenter(seed=0, max_angle=0, scale_range=(1, 1), brightness=0, contrast=0,
                    colour_gamma=0)
    for key in range(8):
        p = aug.params(key)
        out, out_masks = aug.apply(image, masks, key=key)
        expected = image[:: -1 if p.flip_v else 1, :: -1 if p.flip_h else 1]
        np.testing.assert_array_equal(out, expected)
        np.testing.assert_array_equal(
            out_masks["marker"], masks["marker"][:: -1 if p.flip_v else 1, :: -1 if p.flip_h else 1]
        )
    photo = Augmenter(seed=1, flip_h=False, flip_v=False, max_angle=0, scale_range=(1, 1),
                      brightness=0.2, contrast=0.2, colour_gamma=0.3)
    out, out_masks = photo.apply(image, masks, key=0)
    assert not np.array_equal(out, image)
    np.testing.assert_array_equal(out_masks["marker"], masks["marker"])


def test_rotation_fill_follows_background():
    grey = np.full((64, 64, 3), 128, np.uint8)
    grey[16:48, 16:48] = 200
    aug = Augmenter(seed=2, flip_h=False, flip_v=False, max_angle=45, scale_range=(0.8, 0.8),
                    brightness=0, contrast=0, colour_gamma=0)
    out, _ = aug.apply(grey, key=0)
    assert out[0, 0].tolist() == [128, 128, 128]  # corners filled with the background grey


# --------------------------------------------------------------------------- pipeline


@pytest.fixture()
def records(tmp_path) -> list[FundusRecord]:
    make_eyepacs_tree(tmp_path, GRADES)
    recs, report = load_eyepacs(tmp_path)
    assert report.ok
    return recs


def test_sequence_batches(records):
    seq = FundusSequence(records, batch_size=3, image_size=32, preprocess="plain")
    assert len(seq) == 3  # 7 photographs: 3 + 3 + 1
    x, y = seq[0]
    assert x.dtype == np.float32 and x.shape == (3, 32, 32, 3)
    # the first three photographs, read and preprocessed ("plain": eye centred, resized)
    expected = [plain_preprocess(read_fundus(records[i].image_path), size=32)[0]
                for i in range(3)]
    np.testing.assert_array_equal(x, np.stack(expected).astype(np.float32))
    assert y.dtype == np.float32 and y.shape == (3, 5)
    np.testing.assert_array_equal(y, one_hot([0, 1, 2]))
    assert seq[2][0].shape == (1, 32, 32, 3)
    dropped = FundusSequence(records, batch_size=3, image_size=32, drop_remainder=True)
    assert len(dropped) == 2 and all(dropped[i][0].shape[0] == 3 for i in range(2))
    graham = FundusSequence(records, batch_size=2, image_size=32, preprocess="graham")
    xg, _ = graham[0]
    assert xg.shape == (2, 32, 32, 3) and np.all(xg[:, 0, 0] == 128)
    with pytest.raises(IndexError):
        seq[3]
    # picklable (worker processes under any start method) and the copy serves the same batch
    np.testing.assert_array_equal(pickle.loads(pickle.dumps(graham))[0][0], xg)


def test_shuffle_per_epoch_is_seeded(records):
    def epoch_orders(seed):
        seq = FundusSequence(records, batch_size=2, image_size=16, shuffle=True, seed=seed)
        orders = []
        for _ in range(3):
            orders.append(np.concatenate([seq.batch_indices(i) for i in range(len(seq))]))
            seq.on_epoch_end()
        return orders

    orders = epoch_orders(0)
    for order in orders:
        assert sorted(order) == list(range(7))  # every photograph once per epoch
    assert not all(np.array_equal(orders[0], o) for o in orders[1:])
    assert all(np.array_equal(a, b) for a, b in zip(orders, epoch_orders(0), strict=True))
    seq = FundusSequence(records, batch_size=2, image_size=16, shuffle=True, seed=0)
    x, y = seq[1]
    idx = seq.batch_indices(1)
    np.testing.assert_array_equal(y, one_hot([records[i].grade for i in idx]))


def test_augmented_batches_are_reproducible(records):
    def batch(epoch):
        seq = FundusSequence(records, batch_size=4, image_size=32, augment=Augmenter(seed=1))
        for _ in range(epoch):
            seq.on_epoch_end()
        return seq[0][0]

    np.testing.assert_array_equal(batch(0), batch(0))
    assert not np.array_equal(batch(0), batch(1))


def test_in_memory_arrays_with_masks():
    images = np.stack([fundus_image((40, 40), seed=i) for i in range(5)])
    masks = {"optic_disc": np.zeros((5, 40, 40), bool)}
    masks["optic_disc"][:, 10:14, 20:24] = True
    seq = FundusSequence(images=images, grades=[0, 1, 2, 3, 4], masks=masks, batch_size=2,
                         image_size=40, preprocess=None, with_masks=True,
                         mask_names=["optic_disc", "microaneurysm"])
    x, y, m = seq[0]
    np.testing.assert_array_equal(x, images[:2].astype(np.float32))  # None: served as is
    assert m["optic_disc"].shape == (2, 40, 40) and m["optic_disc"].dtype == bool
    assert m["optic_disc"][:, 10:14, 20:24].all() and not m["microaneurysm"].any()
    resized = FundusSequence(images=images, grades=[0] * 5, batch_size=5, image_size=20,
                             preprocess=None)
    assert resized[0][0].shape == (5, 20, 20, 3)


def test_masks_from_synthetic_records_follow_preprocessing(tmp_path):
    make_synthetic_split(tmp_path, {"s0": 0, "s1": 2, "s2": 4})
    recs, _ = load_synthetic(tmp_path)
    seq = FundusSequence(recs, batch_size=3, image_size=64, with_masks=True)
    x, y, masks = seq[0]
    assert x.shape == (3, 64, 64, 3) and set(masks) >= {"optic_disc", "microaneurysm"}
    disc = masks["optic_disc"]
    assert disc.shape == (3, 64, 64) and disc.any(axis=(1, 2)).all()
    # the disc mask sits on the bright optic disc of the served image
    brightness = x.max(axis=3)
    assert brightness[disc].mean() > brightness[~disc].mean() + 60


def test_ungraded_and_unmasked_records_are_refused(records, tmp_path):
    ungraded = [FundusRecord("u", records[0].image_path, None, "test")]
    with pytest.raises(DatasetError, match="grade None is not 0..4"):
        FundusSequence(ungraded, image_size=16)
    x = FundusSequence(ungraded, image_size=16, labelled=False)[0]
    assert isinstance(x, np.ndarray) and x.shape == (1, 16, 16, 3)
    with pytest.raises(DatasetError, match="with_masks=True but no masks"):
        FundusSequence(records, image_size=16, with_masks=True)
    with pytest.raises(ValueError, match="leaves no batch"):
        FundusSequence(records, batch_size=8, drop_remainder=True)


def test_load_arrays(records, tmp_path):
    x, y = load_arrays(records, size=24, preprocess="plain")
    assert x.dtype == np.uint8 and x.shape == (7, 24, 24, 3)
    np.testing.assert_array_equal(y, list(GRADES.values()))
    seq = FundusSequence(records, batch_size=7, image_size=24)
    np.testing.assert_array_equal(x.astype(np.float32), seq[0][0])  # same pixels either way
    make_synthetic_split(tmp_path / "synth", {"s0": 1, "s1": 3})
    recs, _ = load_synthetic(tmp_path / "synth")
    x, y, masks = load_arrays(recs, size=32, with_masks=True)
    assert x.shape == (2, 32, 32, 3) and masks["optic_disc"].shape == (2, 32, 32)


def _tiny_model():
    import keras

    keras.utils.set_random_seed(0)
    return keras.Sequential([
        keras.Input((24, 24, 3)),
        keras.layers.Rescaling(1 / 255.0),
        keras.layers.Conv2D(4, 3, activation="relu"),
        keras.layers.GlobalAveragePooling2D(),
        keras.layers.Dense(5, activation="softmax"),
    ])


def test_fit_on_default_backend(records):
    import keras

    from drlib.training.callbacks import EpochSync

    class StartWeights(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.weights = []

        def on_train_batch_begin(self, batch, logs=None):
            self.weights.append(self.model.get_weights())

    def sequence():
        return FundusSequence(records, batch_size=4, image_size=24, shuffle=True,
                              augment=Augmenter(seed=0), drop_remainder=True)

    seq = sequence()
    model = _tiny_model()
    model.compile("adam", "categorical_crossentropy")
    steps = StartWeights()
    # EpochSync (what drlib.training.train uses) tells the sequence which epoch starts: Keras
    # itself also calls on_epoch_end once before the first epoch (EpochIterator.reset)
    history = model.fit(seq, epochs=2, verbose=0, callbacks=[EpochSync(seq), steps])
    assert seq.epoch == 2  # set_epoch(1) at the start of the last epoch, on_epoch_end after it
    assert keras.backend.backend() == os.environ.get("KERAS_BACKEND", "tensorflow")
    # one batch per epoch (7 photographs, 4 a batch, remainder dropped): each epoch's loss is
    # the cross-entropy of the batch that epoch serves, under the weights its step started from
    assert len(steps.weights) == 2
    reference = _tiny_model()
    losses = []
    for epoch, weights in enumerate(steps.weights):
        again = sequence()
        again.set_epoch(epoch)
        x, y = again[0]
        reference.set_weights(weights)
        losses.append(float(keras.losses.CategoricalCrossentropy()(y, reference(x))))
    assert history.history["loss"] == pytest.approx(losses, rel=1e-5)


def test_fit_on_jax_backend_without_tensorflow(tmp_path):
    pytest.importorskip("jax")
    make_eyepacs_tree(tmp_path, GRADES)
    script = textwrap.dedent(f"""
        import sys
        import numpy as np
        from drlib.data.loaders import load_eyepacs
        from drlib.data.pipeline import FundusSequence
        from drlib.data.augment import Augmenter
        import keras
        assert keras.backend.backend() == "jax", keras.backend.backend()
        records, _ = load_eyepacs({str(tmp_path)!r})
        def sequence(workers=1):
            return FundusSequence(records, batch_size=4, image_size=24, shuffle=True,
                                  augment=Augmenter(seed=0), drop_remainder=True,
                                  workers=workers)
        seq = sequence(workers=2)
        def tiny():
            return keras.Sequential([
                keras.Input((24, 24, 3)), keras.layers.Rescaling(1 / 255.0),
                keras.layers.Conv2D(4, 3, activation="relu"),
                keras.layers.GlobalAveragePooling2D(),
                keras.layers.Dense(5, activation="softmax"),
            ])
        class Steps(keras.callbacks.Callback):
            weights = []
            def on_epoch_begin(self, epoch, logs=None):
                seq.set_epoch(epoch)
            def on_train_batch_begin(self, batch, logs=None):
                self.weights.append(self.model.get_weights())
        model = tiny()
        model.compile("adam", "categorical_crossentropy")
        history = model.fit(seq, epochs=2, verbose=0, callbacks=[Steps()])
        # each epoch's loss: its one batch's cross-entropy under the weights the step began with
        reference = tiny()
        for epoch, weights in enumerate(Steps.weights):
            again = sequence()
            again.set_epoch(epoch)
            x, y = again[0]
            reference.set_weights(weights)
            loss = float(keras.losses.CategoricalCrossentropy()(y, reference(x)))
            assert abs(history.history["loss"][epoch] - loss) <= 1e-5 * loss, (epoch, loss)
        assert len(Steps.weights) == 2
        assert "tensorflow" not in sys.modules, "tensorflow was imported"
        print("JAX_OK", seq.epoch)
    """)
    env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu",
           "PYTHONPATH": str(REPO) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True,
                            text=True, timeout=180, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "JAX_OK 2" in result.stdout


def test_set_epoch_reproduces_the_order_of_that_epoch():
    from drlib.data.pipeline import FundusSequence

    images = np.zeros((10, 8, 8, 3), np.uint8)
    images[:, 0, 0, 0] = np.arange(10)
    running = FundusSequence(images=images, grades=np.arange(10) % 5, batch_size=10,
                             image_size=8, preprocess=None, shuffle=True, seed=3)
    orders = []
    for _ in range(3):
        orders.append(running[0][0][:, 0, 0, 0].tolist())
        running.on_epoch_end()
    resumed = FundusSequence(images=images, grades=np.arange(10) % 5, batch_size=10,
                             image_size=8, preprocess=None, shuffle=True, seed=3)
    resumed.set_epoch(2)
    assert resumed[0][0][:, 0, 0, 0].tolist() == orders[2]
    assert orders[0] != orders[1]
