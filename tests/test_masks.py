import numpy as np
import pytest

from drlib.core.lesion_types import MASK_NAMES
from drlib.data.masks import load_masks, pack_masks, save_masks, unpack_masks


def test_pack_unpack_round_trip_with_overlaps(tmp_path):
    rng = np.random.default_rng(0)
    masks = {name: rng.random((40, 50)) < 0.3 for name in MASK_NAMES}
    assert all(np.array_equal(unpack_masks(pack_masks(masks))[n], masks[n]) for n in MASK_NAMES)
    quadrants = rng.integers(0, 5, size=(40, 50)).astype(np.uint8)
    path = save_masks(tmp_path / "m.npz", masks, quadrants)
    back, q = load_masks(path)
    assert all(np.array_equal(back[n], masks[n]) for n in MASK_NAMES)
    assert np.array_equal(q, quadrants)


def test_bad_mask_input_is_named():
    with pytest.raises(ValueError, match="unknown mask names"):
        pack_masks({"drusen": np.zeros((2, 2), bool)})
    with pytest.raises(ValueError, match="differ in shape"):
        pack_masks({"fov": np.zeros((2, 2), bool), "vessels": np.zeros((3, 2), bool)})


def test_unreadable_mask_file_names_the_file(tmp_path):
    bad = tmp_path / "broken.npz"
    bad.write_bytes(b"not a zip")
    with pytest.raises(ValueError, match="broken.npz"):
        load_masks(bad)
