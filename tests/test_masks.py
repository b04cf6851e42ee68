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


def test_pack_masks_sets_bit_i_for_mask_i_and_nothing_for_empty_or_absent_masks():
    # the packed image is bit i of MASK_NAMES[i]: pinned by hand on a 1 x 3 image; the empty
    # mask and the absent ones set nothing
    first, second, third = MASK_NAMES[0], MASK_NAMES[3], MASK_NAMES[14]
    masks = {first: np.array([[True, False, True]]), second: np.array([[True, True, False]]),
             third: np.array([[False, False, True]]), MASK_NAMES[5]: np.zeros((1, 3), bool)}
    bits = pack_masks(masks)
    assert bits.dtype == np.uint16
    assert bits.tolist() == [[1 + 8, 8, 1 + (1 << 14)]]


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


def test_saved_masks_are_a_deflated_npz_that_numpy_reads(tmp_path):
    # the format np.savez_compressed writes (a zip of deflated .npy members), read by np.load
    import zipfile

    rng = np.random.default_rng(1)
    masks = {name: rng.random((64, 64)) < 0.2 for name in MASK_NAMES}
    quadrants = rng.integers(0, 5, size=(64, 64)).astype(np.uint8)
    path = save_masks(tmp_path / "m.npz", masks, quadrants)
    with zipfile.ZipFile(path) as zf:
        infos = zf.infolist()
        assert [i.filename for i in infos] == ["bits.npy", "quadrants.npy", "names.npy"]
        assert all(i.compress_type == zipfile.ZIP_DEFLATED for i in infos)
        assert all(i.compress_size < i.file_size for i in infos[:2])  # actually compressed
    reference = tmp_path / "reference.npz"
    np.savez_compressed(reference, bits=pack_masks(masks), quadrants=quadrants,
                        names=np.array(MASK_NAMES))
    with np.load(path, allow_pickle=False) as got, np.load(reference) as want:
        assert sorted(got.files) == sorted(want.files) == ["bits", "names", "quadrants"]
        for key in want.files:
            assert got[key].dtype == want[key].dtype, key
            np.testing.assert_array_equal(got[key], want[key], err_msg=key)
    # the same input gives the same bytes (a split's fingerprint hashes these files)
    again = save_masks(tmp_path / "again.npz", masks, quadrants)
    assert again.read_bytes() == path.read_bytes()
