"""Tests of drlib.data.image_io: reading photographs and refusing the ones that are not usable."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageFile

from drlib.data.image_io import (
    FundusImageError,
    check_fundus,
    image_size,
    read_fundus,
    read_mask,
)
from drlib.data.records import DatasetError

try:
    from fixtures_trees import BAD_FILES, encode, fundus_image, write_image
except ImportError:  # tests/ imported as a package
    from tests.fixtures_trees import BAD_FILES, encode, fundus_image, write_image


@pytest.mark.parametrize("name", ["a.jpeg", "a.png", "a.tif"])
def test_reads_colour_photograph(tmp_path, name):
    image = fundus_image((48, 60), seed=1)
    path = write_image(tmp_path / name, image)
    out = read_fundus(path)
    assert out.dtype == np.uint8 and out.shape == (48, 60, 3)
    if not name.endswith(".jpeg"):  # lossless formats come back exactly
        np.testing.assert_array_equal(out, image)
    else:  # JPEG comes back as the decoder gives it (lossy, close to the original)
        np.testing.assert_array_equal(out, np.asarray(Image.open(path).convert("RGB")))
        assert np.abs(out.astype(int) - image.astype(int)).mean() < 6
    assert image_size(path) == (48, 60)


def test_rgba_and_palette_are_converted(tmp_path):
    image = fundus_image((48, 60), seed=2)
    alpha = np.tile(np.arange(256, dtype=np.uint8), 12)[: 48 * 60].reshape(48, 60)
    rgba = np.dstack([image, alpha])
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    # composited onto black (test_bad_input.py says why): every channel v becomes
    # round(v * alpha / 255), for every alpha 0..255
    expected = np.round(image * (alpha[..., None] / 255.0)).astype(np.uint8)
    np.testing.assert_array_equal(read_fundus(tmp_path / "rgba.png", validate=False), expected)
    Image.fromarray(image).convert("P", palette=Image.Palette.ADAPTIVE).save(tmp_path / "p.png")
    out = read_fundus(tmp_path / "p.png")
    assert out.shape == (48, 60, 3) and np.abs(out.astype(int) - image.astype(int)).mean() < 10
    # the palette's own colours, looked up pixel by pixel
    palette_image = Image.open(tmp_path / "p.png")
    palette = np.asarray(palette_image.getpalette(), np.uint8).reshape(-1, 3)
    np.testing.assert_array_equal(out, palette[np.asarray(palette_image)])


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_bad_file_is_refused_naming_file_and_problem(tmp_path, kind):
    writer, words = BAD_FILES[kind]
    path = writer(tmp_path / "photo.jpeg")
    with pytest.raises(FundusImageError, match=words) as info:
        read_fundus(path)
    assert str(path) in str(info.value)
    assert info.value.path == path and words in info.value.problem
    assert isinstance(info.value, DatasetError)


def test_missing_and_empty_files(tmp_path):
    with pytest.raises(FundusImageError, match="file not found"):
        read_fundus(tmp_path / "nothing.jpeg")
    (tmp_path / "empty.png").write_bytes(b"")
    with pytest.raises(FundusImageError, match="empty file"):
        read_fundus(tmp_path / "empty.png")


def test_truncated_png_is_refused(tmp_path):
    data = encode(fundus_image(seed=3), "PNG")
    (tmp_path / "cut.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(FundusImageError, match="truncated"):
        read_fundus(tmp_path / "cut.png")


def test_single_channel_file_is_refused(tmp_path):
    Image.fromarray(fundus_image(seed=4)[..., 0]).save(tmp_path / "grey.png")
    with pytest.raises(FundusImageError, match="single-channel"):
        read_fundus(tmp_path / "grey.png")


def test_uniform_white_image_has_no_field_of_view(tmp_path):
    path = write_image(tmp_path / "white.png", np.full((40, 40, 3), 255, np.uint8))
    with pytest.raises(FundusImageError, match="no field of view found: image is uniform"):
        read_fundus(path)


def test_validate_false_still_decodes_fully(tmp_path):
    black = write_image(tmp_path / "black.png", np.zeros((40, 40, 3), np.uint8))
    assert read_fundus(black, validate=False).max() == 0
    data = encode(fundus_image(seed=5), "JPEG")
    (tmp_path / "cut.jpeg").write_bytes(data[: len(data) // 2])
    with pytest.raises(FundusImageError, match="truncated"):
        read_fundus(tmp_path / "cut.jpeg", validate=False)


def test_load_truncated_images_flag_must_stay_false(tmp_path):
    path = write_image(tmp_path / "ok.jpeg", fundus_image(seed=6))
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    ImageFile.LOAD_TRUNCATED_IMAGES = True
    try:
        with pytest.raises(RuntimeError, match="LOAD_TRUNCATED_IMAGES"):
            read_fundus(path)
    finally:
        ImageFile.LOAD_TRUNCATED_IMAGES = False


def test_check_fundus_on_arrays():
    check_fundus(fundus_image(seed=7))
    with pytest.raises(FundusImageError, match="<array>: expected a uint8 RGB"):
        check_fundus(np.zeros((10, 10), np.uint8))
    with pytest.raises(FundusImageError, match="no field of view"):
        check_fundus(np.zeros((50, 50, 3), np.uint8))


def test_read_mask_any_mode_and_shape_check(tmp_path):
    mask = np.zeros((30, 40), dtype=bool)
    mask[5:9, 10:20] = True
    Image.fromarray(mask.astype(np.uint8) * 255).save(tmp_path / "l.tif")
    rgb = np.zeros((30, 40, 3), np.uint8)
    rgb[mask, 0] = 255  # lesion drawn in red
    Image.fromarray(rgb).save(tmp_path / "rgb.tif")
    Image.fromarray(mask).save(tmp_path / "bits.png")  # mode "1"
    for name in ("l.tif", "rgb.tif", "bits.png"):
        out = read_mask(tmp_path / name, shape=(30, 40))
        assert out.dtype == bool
        np.testing.assert_array_equal(out, mask)
    with pytest.raises(FundusImageError, match="mask is 40x30 px but its photograph is 50x30"):
        read_mask(tmp_path / "l.tif", shape=(30, 50))
