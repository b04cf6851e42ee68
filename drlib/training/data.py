"""Training data as Keras sees it: in-memory arrays become a seeded, fixed-shape PyDataset.

``train`` accepts either a ``keras.utils.PyDataset`` yielding ``(images, one_hot)`` batches
(e.g. ``drlib.data.pipeline.FundusSequence``) or a pair of arrays ``(images, labels)`` with labels
as integer grades (N,) or one-hot (N, K). Arrays are wrapped in :class:`ArrayBatches`, whose
shuffling (and optional flips) depend only on ``seed`` and the epoch number, so an
interrupted run that resumes at epoch 5 sees exactly the batches an uninterrupted run would.
Every batch has the same shape (the remainder is dropped), so the JAX backend compiles the
training step once.
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np

from drlib.core.grades import as_grades, one_hot
from drlib.modeling.inference import is_array_pair


def dataset_grades(data: Any, n_classes: int = 5) -> np.ndarray | None:
    """The grades of a dataset without loading its images, or ``None`` if it cannot tell.

    Arrays give them directly; a PyDataset may expose them as ``.grades`` (or ``.labels``).
    """
    if is_array_pair(data):
        return as_grades(data[1], n_classes)
    for attribute in ("grades", "labels"):
        values = getattr(data, attribute, None)
        if values is not None:
            return as_grades(values, n_classes)
    return None


def balanced_class_weight(grades: np.ndarray, n_classes: int = 5) -> dict[int, float]:
    """``n / (K * n_k)`` per grade (scikit-learn's "balanced"); 1.0 for absent grades."""
    counts = np.bincount(grades, minlength=n_classes)
    n = counts.sum()
    return {
        k: float(n / (n_classes * counts[k])) if counts[k] else 1.0 for k in range(n_classes)
    }


class ArrayBatches(keras.utils.PyDataset):
    """Fixed-size batches of in-memory images with per-epoch seeded shuffling and flips.

    Args:
        images: (N, H, W, 3) array, uint8 or float, RGB in [0, 255].
        labels: grades (N,) or one-hot (N, K).
        batch_size: images per batch; the last ``N % batch_size`` images of each shuffled
            epoch are left out (a different remainder every epoch), unless N < batch_size.
        shuffle: permute the images every epoch with ``default_rng((seed, epoch))``.
        augment: random horizontal and vertical flips, seeded the same way.
        seed: base seed.

    The epoch number is set by :class:`drlib.training.callbacks.EpochSync` at the start of
    every epoch (:meth:`set_epoch`), so order and flips are a function of (seed, epoch) only.
    """

    def __init__(
        self,
        images: np.ndarray,
        labels: Any,
        batch_size: int,
        *,
        shuffle: bool = True,
        augment: bool = False,
        seed: int = 0,
        n_classes: int = 5,
    ) -> None:
        super().__init__(workers=1, use_multiprocessing=False)
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        if len(images) == 0:
            raise ValueError("no training images")
        self.images = images
        self.targets = one_hot(labels, n_classes)
        self.grades = self.targets.argmax(axis=1)
        self.batch_size = int(min(batch_size, len(images)))
        self.shuffle = shuffle
        self.augment = augment
        self.seed = int(seed)
        self.epoch = 0
        self._order = self._permutation(0)

    def set_epoch(self, epoch: int) -> None:
        """Fix the shuffling and flips to those of ``epoch``."""
        self.epoch = int(epoch)
        self._order = self._permutation(self.epoch)

    def _permutation(self, epoch: int) -> np.ndarray:
        if not self.shuffle:
            return np.arange(len(self.images))
        return np.random.default_rng((self.seed, epoch)).permutation(len(self.images))

    def __len__(self) -> int:
        return len(self.images) // self.batch_size

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} out of range 0..{len(self) - 1}")
        rows = self._order[index * self.batch_size : (index + 1) * self.batch_size]
        x = self.images[rows].astype(np.float32)
        if self.augment:
            rng = np.random.default_rng((self.seed, self.epoch, index, 1))
            flip_lr = rng.random(len(rows)) < 0.5
            flip_ud = rng.random(len(rows)) < 0.5
            x[flip_lr] = x[flip_lr, :, ::-1]
            x[flip_ud] = x[flip_ud, ::-1]
        return x, self.targets[rows]


def images_per_epoch(data: Any, batch_size: int) -> int:
    """Images one training epoch consumes (batches x batch size)."""
    size = getattr(data, "batch_size", None) or batch_size
    return int(len(data) * size)
