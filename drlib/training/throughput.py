"""How many images per second a model trains at, measured through ``model.fit`` itself.

Used by the training chapter (to say how long a profile would take on this machine before
starting it) and by ``benchmarks/bench_train_throughput.py``. The first steps are run and
discarded: they include graph tracing / XLA compilation, which a long run pays only once.
"""

from __future__ import annotations

import time
from typing import Any

import keras
import numpy as np


class RandomBatches(keras.utils.PyDataset):
    """The same random batch, ``n_batches`` times: a data source that costs nothing."""

    def __init__(self, batch_size: int, image_size: int, n_batches: int, n_classes: int = 5,
                 seed: int = 0) -> None:
        super().__init__()
        rng = np.random.default_rng(seed)
        self.x = rng.uniform(0, 255, (batch_size, image_size, image_size, 3)).astype(np.float32)
        self.y = np.eye(n_classes, dtype=np.float32)[rng.integers(0, n_classes, batch_size)]
        self.n_batches = int(n_batches)
        self.batch_size = int(batch_size)

    def __len__(self) -> int:
        return self.n_batches

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if not 0 <= index < self.n_batches:
            raise IndexError(index)
        return self.x, self.y


def measure_fit_throughput(
    model: keras.Model,
    dataset: Any,
    steps: int,
    warmup_steps: int = 2,
    learning_rate: float = 3e-4,
) -> dict[str, float]:
    """Training images per second over ``steps`` steps of ``model.fit`` on ``dataset``.

    ``dataset`` is a PyDataset with at least ``max(steps, warmup_steps)`` batches and a
    ``batch_size`` attribute. The model is compiled (Adam, categorical cross-entropy) if it is
    not yet. Returns images/s, seconds, steps and batch size.
    """
    if len(dataset) < max(steps, warmup_steps):
        raise ValueError(f"dataset has {len(dataset)} batches, fewer than {steps} steps")
    if getattr(model, "optimizer", None) is None:
        model.compile(keras.optimizers.Adam(learning_rate), "categorical_crossentropy")
    model.fit(dataset, epochs=1, steps_per_epoch=warmup_steps, verbose=0, shuffle=False)
    start = time.perf_counter()
    model.fit(dataset, epochs=1, steps_per_epoch=steps, verbose=0, shuffle=False)
    seconds = time.perf_counter() - start
    batch_size = int(dataset.batch_size)
    return {
        "images_per_s": steps * batch_size / seconds,
        "seconds": seconds,
        "steps": int(steps),
        "batch_size": batch_size,
    }
