"""Predictions of a model over graded photographs, streamed from disk batch by batch.

The same code serves a synthetic split and a real data set loaded through
:mod:`drlib.data.loaders`: 1,000 synthetic eyes or 53,576 EyePACS ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from drlib.data.records import FundusRecord


def predict_records(
    model: Any,
    records: Sequence[FundusRecord],
    image_size: int,
    batch_size: int = 32,
    preprocess: str = "plain",
) -> tuple[np.ndarray, np.ndarray]:
    """Softmax outputs (N, 5) float64 and true grades (N,) for graded ``records``, in order.

    Photographs are read from disk batch by batch (:class:`drlib.data.pipeline.FundusSequence`,
    no shuffling, no augmentation) and preprocessed exactly as in training; every batch is
    padded to the size of the first (``batch_size``, or all the records when there are fewer)
    so a compiled (JAX) prediction step is traced once.

    Raises:
        ValueError: no records, or a record without a grade (filter with
            :func:`graded_records` first and report what was left out).
    """
    from drlib.data.pipeline import FundusSequence
    from drlib.modeling.inference import predict_probabilities

    records = list(records)
    if not records:
        raise ValueError("no records to evaluate")
    ungraded = [r.image_id for r in records if r.grade is None]
    if ungraded:
        raise ValueError(
            f"{len(ungraded)} record(s) have no grade (first: {ungraded[0]!r}); "
            "use graded_records() and report the ungraded ones"
        )
    sequence = FundusSequence(
        records, batch_size=batch_size, image_size=image_size, preprocess=preprocess,
        shuffle=False, workers=1,
    )
    probs, grades = predict_probabilities(model, sequence, batch_size)
    return probs, grades
