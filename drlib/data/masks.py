"""Lossless, compact storage of a photograph's masks: one uint16 bit-plane image per photograph.

Bit ``i`` of the stored array is mask ``MASK_NAMES[i]``; the quadrant label map is stored beside it.
Masks may overlap (a haemorrhage on a vessel), which is why bits and not a label image are used.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np

from drlib.core.lesion_types import MASK_NAMES


def pack_masks(masks: dict[str, np.ndarray]) -> np.ndarray:
    """Pack boolean masks (names from ``MASK_NAMES``) into one uint16 image."""
    unknown = set(masks) - set(MASK_NAMES)
    if unknown:
        raise ValueError(f"unknown mask names {sorted(unknown)}; known: {MASK_NAMES}")
    shapes = {m.shape for m in masks.values()}
    if len(shapes) > 1:
        raise ValueError(f"masks differ in shape: {sorted(shapes)}")
    shape = shapes.pop() if shapes else (0, 0)
    bits = np.zeros(shape, dtype=np.uint16)
    for i, name in enumerate(MASK_NAMES):
        mask = masks.get(name)
        # an empty mask sets no bit; a set one ORs its bit in where true, in one pass
        # (the same bits as ``bits |= mask.astype(np.uint16) << i``)
        if mask is not None and mask.any():
            np.bitwise_or(bits, np.uint16(1 << i), out=bits, where=mask.astype(bool, copy=False))
    return bits


def unpack_masks(bits: np.ndarray, names: tuple[str, ...] = MASK_NAMES) -> dict[str, np.ndarray]:
    """Inverse of :func:`pack_masks`; returns a mask (possibly empty) for every name."""
    return {name: ((bits >> np.uint16(MASK_NAMES.index(name))) & 1).astype(bool) for name in names}


def save_masks(path: str | Path, masks: dict[str, np.ndarray], quadrants: np.ndarray) -> Path:
    """Write masks and the quadrant label map to a compressed ``.npz`` file.

    The file is what :func:`numpy.savez_compressed` writes, deflated at level 1 instead of 6:
    about 4x faster for ~1.6x the bytes (bit planes of masks compress well either way), which
    matters when a data-set builder writes one per image."""
    path = Path(path)
    arrays = {"bits": pack_masks(masks), "quadrants": quadrants.astype(np.uint8),
              "names": np.array(MASK_NAMES)}
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name, array in arrays.items():
            with zf.open(f"{name}.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array(f, np.asanyarray(array), allow_pickle=False)
    return path


def load_masks(path: str | Path) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Read a file written by :func:`save_masks`: (masks by name, uint8 quadrant map)."""
    path = Path(path)
    try:
        with np.load(path) as data:
            stored = tuple(str(n) for n in data["names"])
            if stored != MASK_NAMES[: len(stored)]:
                raise ValueError(f"{path}: mask names {stored} do not match {MASK_NAMES}")
            return unpack_masks(data["bits"], stored), data["quadrants"]
    except (OSError, KeyError, ValueError) as err:
        raise ValueError(f"{path}: not a readable mask file ({err})") from err
