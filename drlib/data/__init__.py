"""Photographs in, arrays out: records, files, masks, loaders, preprocessing, input pipeline.

The Keras input pipeline (:class:`FundusSequence`, :func:`load_arrays`) is imported on first use,
so that reading or building data never loads Keras (the synthetic-split builder's worker
processes import this package).
"""

from drlib.data.image_io import FundusImageError, read_fundus, read_mask
from drlib.data.loaders import detect_layout, load_dataset, load_record_masks
from drlib.data.masks import load_masks, save_masks
from drlib.data.patients import patient_groups, patient_id, split_by_patient
from drlib.data.preprocess import (
    PREPROCESSORS,
    find_field_of_view,
    graham_preprocess,
    plain_preprocess,
)
from drlib.data.records import DatasetError, FundusRecord, LoadReport
from drlib.data.synthetic_splits import (
    build_chapter_splits,
    build_chapter_splits_fingerprinted,
    build_split,
    chapter_cache,
    read_manifest,
)

_LAZY = {"FundusSequence": "drlib.data.pipeline", "load_arrays": "drlib.data.pipeline"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'drlib.data' has no attribute {name!r}")


__all__ = [
    "PREPROCESSORS", "DatasetError", "FundusImageError", "FundusRecord", "FundusSequence",
    "LoadReport", "build_chapter_splits", "build_chapter_splits_fingerprinted", "build_split",
    "chapter_cache", "detect_layout",
    "find_field_of_view", "graham_preprocess",
    "load_arrays", "load_dataset", "load_masks", "load_record_masks", "patient_groups",
    "patient_id", "plain_preprocess", "read_fundus", "read_manifest", "read_mask", "save_masks",
    "split_by_patient",
]
