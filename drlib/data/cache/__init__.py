"""The training cache: a data set folder decoded and preprocessed once, read memory-mapped.

A real screening set does not fit the in-memory path: 88,702 EyePACS photographs are about
13 GB at 224 px, and decoding multi-megapixel JPEGs and finding the eye again every epoch costs
more than the network. ``drlib cache SOURCE OUT --size S`` (:func:`build_cache`) turns any
folder :func:`~drlib.data.loaders.load_dataset` reads into fixed-size shards of uint8 pixels,
on every core, resumable after a kill, with a manifest of checksums; training and prediction
then read it through :func:`open_cache` (arrays that read only the rows asked for) or
:class:`CacheSequence` (a PyDataset with FundusSequence's seeded shuffling and augmentation).

* :mod:`~drlib.data.cache.manifest`: the folder layout, the manifest, what is trusted;
* :mod:`~drlib.data.cache.build`: the parallel, resumable build;
* :mod:`~drlib.data.cache.reader`: :func:`open_cache`, :class:`TrainingCache`,
  :class:`CachedImages` (no Keras);
* :mod:`~drlib.data.cache.sequence`: :class:`CacheSequence` (imported on first use, since it
  loads Keras and the build's worker processes should not).
"""

from drlib.data.cache.build import (
    DRAFT_OVERSAMPLING,
    CacheSummary,
    build_cache,
    decode_size,
    shard_images_for,
)
from drlib.data.cache.manifest import CacheError, read_manifest
from drlib.data.cache.reader import CachedImages, TrainingCache, open_cache

_LAZY = {"CacheSequence": "drlib.data.cache.sequence"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'drlib.data.cache' has no attribute {name!r}")


__all__ = [
    "DRAFT_OVERSAMPLING", "CacheError", "CacheSequence", "CacheSummary", "CachedImages",
    "TrainingCache", "build_cache", "decode_size", "open_cache", "read_manifest",
    "shard_images_for",
]
