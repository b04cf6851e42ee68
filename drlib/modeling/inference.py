"""Running a grader over a whole data set: softmax outputs and true grades, in data-set order.

Batches are padded to one fixed size so a compiled (JAX) prediction step is traced once, and an
indexable data set (a PyDataset) is read a few batches ahead in threads.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import keras
import numpy as np

from drlib.core.grades import N_GRADES, as_grades


def is_array_pair(data: Any) -> bool:
    """True for ``(images, labels)`` given as a tuple or list of two arrays."""
    return isinstance(data, (tuple, list)) and len(data) == 2 and hasattr(data[0], "shape")


def _pad(x: np.ndarray, size: int) -> np.ndarray:
    """Pad a batch to ``size`` rows by repeating its last row (predictions are discarded)."""
    if len(x) == size:
        return x
    return np.concatenate([x, np.repeat(x[-1:], size - len(x), axis=0)], axis=0)


def _array_batches(data: tuple[Any, Any], batch_size: int):
    x, y = data
    for start in range(0, len(x), batch_size):
        stop = start + batch_size
        yield np.asarray(x[start:stop], dtype=np.float32), y[start:stop]


def _dataset_batches(data: Any, prefetch: int = 2):
    """Batches of an indexable dataset in order, loaded ``prefetch`` ahead in threads."""
    n = len(data)
    with ThreadPoolExecutor(max_workers=max(1, prefetch)) as pool:
        pending: deque = deque()
        for index in range(n):
            pending.append(pool.submit(data.__getitem__, index))
            if len(pending) > prefetch:
                yield pending.popleft().result()[:2]
        while pending:
            yield pending.popleft().result()[:2]


def predict_probabilities(
    model: keras.Model, data: Any, batch_size: int = 32, n_classes: int = N_GRADES
) -> tuple[np.ndarray, np.ndarray]:
    """Softmax outputs (N, K) and true grades (N,) over a whole dataset, in dataset order.

    ``data`` is ``(images, labels)`` arrays or an indexable dataset of ``(x, y)`` batches
    (a PyDataset; it must not shuffle). Every batch is padded to the size of the first one.
    """
    batches = _array_batches(data, batch_size) if is_array_pair(data) else _dataset_batches(data)
    probabilities, grades = [], []
    size = None
    for x, y in batches:
        x = np.asarray(x, dtype=np.float32)
        size = size or len(x)
        p = np.asarray(model.predict_on_batch(_pad(x, size)))[: len(x)]
        probabilities.append(p.astype(np.float64))
        grades.append(as_grades(y, n_classes))
    if not probabilities:
        raise ValueError("validation data is empty")
    return np.concatenate(probabilities), np.concatenate(grades)


