"""Feeding Keras from a training cache: :class:`CacheSequence`, FundusSequence over memory maps.

The photographs were decoded and preprocessed once, by ``drlib cache``; every epoch now only
copies the rows of a batch out of the memory-mapped shards (and augments them). Order and
augmentation follow :class:`~drlib.data.pipeline.FundusSequence` exactly: the order of epoch
``e`` is ``default_rng([seed, e]).permutation(n)`` and sample ``i`` is augmented with key
``(e, i)``, so a cache and the same images held in memory give the same batches.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from drlib.runtime import backend as _backend

_backend.ensure()  # before keras is imported: TensorFlow by default, KERAS_BACKEND if set


from drlib.core.grades import N_GRADES, one_hot  # noqa: E402
from drlib.data.augment import Augmenter  # noqa: E402
from drlib.data.cache.reader import TrainingCache, open_cache  # noqa: E402
from drlib.data.pipeline import EpochBatches  # noqa: E402
from drlib.data.records import DatasetError  # noqa: E402


class CacheSequence(EpochBatches):
    """Batches ``(x, y)`` read from a training cache, for ``model.fit`` / ``predict`` / ``train``.

    Args:
        cache: a :class:`~drlib.data.cache.TrainingCache` or the folder of one.
        indices: which cached photographs to serve (e.g. a training split), in this order
            unless ``shuffle``; default all.
        batch_size: photographs per batch.
        augment: an :class:`~drlib.data.augment.Augmenter` applied with key (epoch, sample), or
            ``None``.
        shuffle: new order every epoch, from ``seed`` and the epoch number.
        seed: shuffle seed.
        drop_remainder: leave out the last, smaller batch (fixed shapes for XLA).
        labelled: ``False`` serves ``x`` only (prediction; ungraded photographs allowed).
        workers, use_multiprocessing, max_queue_size: passed to ``keras.utils.PyDataset``.

    ``x`` is float32 RGB in [0, 255] (N, S, S, 3), ``y`` one-hot float32 (N, 5), as from
    :class:`~drlib.data.pipeline.FundusSequence`. Memory: one batch, plus what the operating
    system keeps in its page cache (shared, and given back under pressure).

    Raises:
        DatasetError: ``labelled`` and a served photograph has no grade.
    """

    def __init__(
        self,
        cache: TrainingCache | str | Path,
        indices: Sequence[int] | np.ndarray | None = None,
        *,
        batch_size: int = 16,
        augment: Augmenter | None = None,
        shuffle: bool = False,
        seed: int = 0,
        drop_remainder: bool = False,
        labelled: bool = True,
        workers: int = 1,
        use_multiprocessing: bool = False,
        max_queue_size: int = 10,
    ) -> None:
        super().__init__(workers=workers, use_multiprocessing=use_multiprocessing,
                         max_queue_size=max_queue_size)
        self.cache = cache if isinstance(cache, TrainingCache) else open_cache(cache)
        n_cached = len(self.cache)
        self.indices = np.arange(n_cached) if indices is None else np.asarray(indices, np.int64)
        if self.indices.size and (self.indices.min() < 0 or self.indices.max() >= n_cached):
            raise IndexError(f"indices must lie in 0..{n_cached - 1}")
        self.n = int(self.indices.size)
        self.grades = self.cache.grades[self.indices]
        self.image_size = self.cache.size
        self.batch_size = int(batch_size)
        self.augment = augment
        self.shuffle = shuffle
        self.seed = int(seed)
        self.drop_remainder = drop_remainder
        self.labelled = labelled
        self.epoch = 0
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {self.batch_size}")
        if drop_remainder and self.n < self.batch_size:
            raise ValueError(f"drop_remainder=True with {self.n} photographs and batch_size "
                             f"{self.batch_size} leaves no batch")
        if labelled:
            bad = np.flatnonzero((self.grades < 0) | (self.grades >= N_GRADES))
            if bad.size:
                i = int(self.indices[bad[0]])
                raise DatasetError(self.cache.files[i], f"grade {int(self.grades[bad[0]])} is "
                                   "not 0..4; pass labelled=False to serve ungraded photographs")
        self._order = self._make_order()

    def __getitem__(self, index: int) -> Any:
        if not 0 <= index < len(self):
            raise IndexError(f"batch {index} out of range (0..{len(self) - 1})")
        positions = self.batch_indices(index)
        images = self.cache.images[self.indices[positions]]
        if self.augment is not None:
            images = np.stack([self.augment.apply(image, None, key=(self.epoch, int(i)))[0]
                               for image, i in zip(images, positions, strict=True)])
        x = images.astype(np.float32)
        if not self.labelled:
            return x
        return x, one_hot(self.grades[positions])
