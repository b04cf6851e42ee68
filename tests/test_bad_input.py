"""Bad input, one case per row: photographs, CSV files and paths that a real data set holds.

Each case gets correct handling (the result is pinned) or a clear error naming the file (the
words are pinned); in a batch (the loaders in lenient mode, the screening command) the rest is
processed and the skipped file is listed with its reason. The cases of issue 13 that were
already tested elsewhere are not repeated here:

=====================================  ====================================================
input                                  where it is tested
=====================================  ====================================================
corrupt, truncated JPEG; text file     ``test_image_io.py::test_bad_file_is_refused...``,
named .jpeg; grey RGB; black frame     ``test_loaders.py::test_bad_photograph_*`` (both modes)
zero-byte file, truncated PNG          ``test_image_io.py``; here through a loader and the CLI
8-bit grey (``L``)                     ``test_image_io.py::test_single_channel_file_is_refused``
uniform white (no field of view)       ``test_image_io.py``
missing column                         ``test_loaders.py::test_structural_problems_raise...``
duplicate ids                          ``test_loaders.py::test_duplicate_id``
grade 7, -1, 2.5, "x", empty           ``test_loaders.py::test_unknown_grade``
id with no image / image with no id    ``test_loaders.py::test_missing_file``,
                                       ``test_loaders.py::test_photograph_without_row``
16-bit, alpha, palette, CMYK, header   here (:data:`IMAGE_CASES`)
only, random bytes, nearly black,
8000 x 6000, decompression bomb
BOM, CRLF, extra columns, ``;`` as     here (:data:`CSV_CASES`)
separator, Latin-1, "3.0" and " 3 ",
ids with an extension
spaces and unicode in paths and ids    here, through a loader and the screening command
=====================================  ====================================================
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw

from drlib.data.image_io import FundusImageError, read_fundus
from drlib.data.loaders import load_eyepacs
from drlib.data.records import DatasetError
from drlib.screening import engine
from drlib.screening.cli import EXIT_OK, main

try:
    from fixtures_trees import encode, fundus_image, make_eyepacs_tree, write_image
except ImportError:  # tests/ imported as a package
    from tests.fixtures_trees import encode, fundus_image, make_eyepacs_tree, write_image

EYE = fundus_image((120, 150), seed=3)
"""A small colour fundus photograph (black outside the round field of view)."""

OUTSIDE = EYE.max(axis=2) == 0


# --------------------------------------------------------------------------- photographs


def _png16_rgb(path: Path) -> np.ndarray:
    """A 48-bit PNG (16 bits per channel): the eye times 257 plus a low byte of noise."""
    low = np.random.default_rng(0).integers(0, 256, EYE.shape)
    data = (EYE.astype(np.uint16) * 256 + low).astype(np.uint16)
    path.write_bytes(cv2.imencode(".png", data[..., ::-1])[1].tobytes())  # cv2 writes BGR
    return EYE  # PIL keeps the high byte: the 8-bit eye, exactly


def _png16_grey(path: Path) -> None:
    Image.fromarray(EYE[..., 0].astype(np.uint16) * 257).save(path)


def _grey_alpha(path: Path) -> None:
    grey = Image.fromarray(EYE[..., 0])
    Image.merge("LA", (grey, grey.point(lambda v: 255))).save(path)


def _rgba_transparent_white_outside(path: Path) -> np.ndarray:
    rgb = EYE.copy()
    rgb[OUTSIDE] = 255  # what lies under the transparent corners of an exported PNG
    alpha = np.where(OUTSIDE, 0, 255).astype(np.uint8)
    Image.fromarray(np.dstack([rgb, alpha]), "RGBA").save(path)
    return EYE  # composited onto black: the photograph as the camera took it


def _palette_with_transparent_colour(path: Path) -> np.ndarray:
    rgb = EYE.copy()
    rgb[OUTSIDE] = 255
    image = Image.fromarray(rgb).convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    indices = np.asarray(image)
    white = int(indices[0, 0])
    image.save(path, transparency=white)
    palette = np.asarray(image.getpalette(), np.uint8).reshape(-1, 3)
    expected = palette[indices]
    expected[indices == white] = 0
    return expected


def _cmyk_jpeg(path: Path) -> Callable[[Path], np.ndarray]:
    Image.fromarray(EYE).convert("CMYK").save(path, quality=95)
    return lambda p: np.asarray(Image.open(p).convert("RGB"))  # PIL's CMYK -> RGB


def _jpeg_named_png(path: Path) -> Callable[[Path], np.ndarray]:
    path.write_bytes(encode(EYE, "JPEG"))
    return lambda p: np.asarray(Image.open(p))  # read as what it is, whatever its name


def _header_only(path: Path) -> None:
    path.write_bytes(encode(EYE, "JPEG")[:300])


def _random_bytes(path: Path) -> None:
    path.write_bytes(np.random.default_rng(1).integers(0, 256, 5000, np.uint8).tobytes())


def _nearly_black(path: Path) -> None:
    image = np.zeros((120, 150, 3), np.uint8)
    image[50:54, 60:64] = (250, 120, 60)  # a lit speck: 0.1 % of the frame
    write_image(path, image)


IMAGE_CASES: dict[str, tuple[str, Callable, str | None]] = {
    # name: (file name, writer, None if the file is read (writer returns the expected array, or
    #        a function of the path giving it), else words the error message must contain)
    "16-bit RGB PNG, converted": ("eye16.png", _png16_rgb, None),
    "16-bit grey PNG, refused": ("grey16.png", _png16_grey,
                                 "not a colour fundus photograph: single-channel image "
                                 "(mode I;16)"),
    "grey with alpha, refused": ("la.png", _grey_alpha,
                                 "not a colour fundus photograph: single-channel image "
                                 "(mode LA)"),
    "RGBA, composited on black": ("rgba.png", _rgba_transparent_white_outside, None),
    "palette with a transparent colour": ("p.png", _palette_with_transparent_colour, None),
    "CMYK JPEG, converted": ("cmyk.jpg", _cmyk_jpeg, None),
    "JPEG with a .png name": ("jpeg.png", _jpeg_named_png, None),
    "JPEG header only": ("head.jpg", _header_only, "truncated image file"),
    "random bytes named .jpg": ("noise.jpg", _random_bytes,
                                "not an image file (PIL cannot identify it)"),
    "no visible field of view": ("speck.png", _nearly_black,
                                 "no field of view found: image is (nearly) all black"),
}


@pytest.mark.parametrize("case", IMAGE_CASES)
def test_photograph(tmp_path, case):
    name, writer, words = IMAGE_CASES[case]
    path = tmp_path / name
    expected = writer(path)
    if words is not None:
        with pytest.raises(FundusImageError) as info:
            read_fundus(path)
        assert info.value.path == path and str(info.value) == f"{path}: {info.value.problem}"
        assert info.value.problem.startswith(words), info.value.problem
        return
    image = read_fundus(path)
    if callable(expected):
        expected = expected(path)
    assert image.dtype == np.uint8 and image.shape == (120, 150, 3)
    np.testing.assert_array_equal(image, expected)


def _big_photograph(path: Path, size: tuple[int, int] = (8000, 6000)) -> Path:
    """A camera-sized JPEG: a reddish disc with a bright optic disc on black, drawn by PIL (a
    NumPy canvas of 48 megapixels would cost gigabytes in the drawing)."""
    width, height = size
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    draw.ellipse((width // 8, 0, width - width // 8, height), fill=(170, 80, 40))
    draw.ellipse((width * 5 // 8, height * 9 // 20, width * 7 // 10, height * 11 // 20),
                 fill=(250, 220, 160))
    image.save(path, quality=85)
    return path


@pytest.fixture(scope="module")
def big_jpeg(tmp_path_factory) -> Path:
    return _big_photograph(tmp_path_factory.mktemp("big") / "big 8000x6000.jpg")


def test_very_large_photograph_is_read_whole_or_reduced_in_the_decoder(big_jpeg):
    assert read_fundus(big_jpeg).shape == (6000, 8000, 3)  # 48 megapixels: no bomb error
    # with the size needed known, the JPEG decoder reduces it (1/8: both sides still >= 384)
    assert read_fundus(big_jpeg, min_size=384).shape == (750, 1000, 3)
    assert read_fundus(big_jpeg, min_size=751).shape == (1500, 2000, 3)  # 1/4


def test_an_image_over_the_decompression_bomb_limit_is_refused_by_name(tmp_path, monkeypatch):
    path = write_image(tmp_path / "eye.png", EYE)  # 18,000 pixels
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 8000)  # PIL refuses above twice the limit
    with pytest.raises(FundusImageError) as info:
        read_fundus(path)
    assert str(info.value).startswith(f"{path}: image too large to decode safely: Image size "
                                      "(18000 pixels) exceeds limit of 16000 pixels")


# --------------------------------------------------------------------------- CSV files

GRADES = {"10_left": 0, "10_right": 2, "13_left": 4, "15_right": 1}


def _rewrite_csv(root: Path, text: str, encoding: str = "utf-8") -> Path:
    path = root / "trainLabels.csv"
    path.write_bytes(text.encode(encoding))
    return path


def _rows(grades: dict, extra: str = "", sep: str = ",") -> list[str]:
    return [f"{k}{sep}{v}{extra}" for k, v in grades.items()]


CSV_CASES: dict[str, tuple[Callable[[Path], None], dict | str]] = {
    # name: (rewrites trainLabels.csv of an EyePACS tree with GRADES, expected {id: grade} of a
    #        strict load, or words of the DatasetError raised in both modes)
    "UTF-8 BOM and CRLF (a spreadsheet export)": (
        lambda root: _rewrite_csv(root, "\r\n".join(["image,level", *_rows(GRADES)]) + "\r\n",
                                  "utf-8-sig"), GRADES),
    "extra columns": (
        lambda root: _rewrite_csv(root, "\n".join(
            ["image,level,camera,notes", *_rows(GRADES, ",Canon CR-1,\"a, b\"")]) + "\n"),
        GRADES),
    "grades written 3.0 and ' 3 '": (
        lambda root: _rewrite_csv(root, "image,level\n10_left,0.0\n10_right, 2 \n13_left,4\n"
                                        "15_right,1.0\n"), GRADES),
    "ids with their file extension": (
        lambda root: _rewrite_csv(root, "\n".join(
            ["image,level", *[f"{k}.jpeg,{v}" for k, v in GRADES.items()]]) + "\n"),
        {f"{k}.jpeg": v for k, v in GRADES.items()}),
    "semicolon as separator": (
        lambda root: _rewrite_csv(root, "\n".join(["image;level", *_rows(GRADES, sep=";")])),
        "missing column(s) ['image', 'level']; the header has ['image;level']"),
    "Latin-1 text": (
        lambda root: _rewrite_csv(root, "image,level\n10_left,0\ncafé_right,1\n", "latin-1"),
        "not a UTF-8 text CSV file (invalid continuation byte)"),
}


@pytest.mark.parametrize("case", CSV_CASES)
def test_csv(tmp_path, case):
    rewrite, expected = CSV_CASES[case]
    make_eyepacs_tree(tmp_path, GRADES)
    rewrite(tmp_path)
    if isinstance(expected, str):
        for strict in (True, False):
            with pytest.raises(DatasetError) as info:
                load_eyepacs(tmp_path, strict=strict)
            assert str(info.value) == f"{tmp_path / 'trainLabels.csv'}: {expected}"
        return
    records, report = load_eyepacs(tmp_path)
    assert {r.image_id: r.grade for r in records} == expected and report.ok
    assert [r.image_path.name for r in records] == [f"{k}.jpeg" for k in GRADES]


def test_spaces_unicode_and_empty_files_in_a_lenient_load(tmp_path):
    root = tmp_path / "EyePACS copy ü" / "Kaggle 2015 ✓"
    grades = {"10_left": 0, "patient 7_right": 3, "Zoë_left": 2, "empty_left": 1,
              "cut_right": 4}
    make_eyepacs_tree(root, grades)
    (root / "train" / "empty_left.jpeg").write_bytes(b"")
    _header_only(root / "train" / "cut_right.jpeg")
    records, report = load_eyepacs(root, strict=False)
    assert [r.image_id for r in records] == ["10_left", "patient 7_right", "Zoë_left"]
    assert [r.image_path for r in records] == [root / "train" / f"{k}.jpeg"
                                               for k in ("10_left", "patient 7_right", "Zoë_left")]
    assert [(s.item, s.problem) for s in report.skipped] == [
        (str(root / "train" / "empty_left.jpeg"), "empty file (0 bytes)"),
        (str(root / "train" / "cut_right.jpeg"), "truncated image file (Truncated File Read)"),
    ]
    with pytest.raises(FundusImageError, match="empty_left.jpeg: empty file"):
        load_eyepacs(root)


# --------------------------------------------------------------------------- screening command


def _stub_model(monkeypatch) -> list[int]:
    """Grade without the network (its behaviour is tested in test_screening_cli.py): every
    photograph gets grade 2. Returns the list of batch sizes the command asked for."""
    calls: list[int] = []

    def run_batch(model, images, batch_size, methods=()):
        calls.append(len(images))
        scores = np.tile(np.array([0.0, 1.0, 3.0, 1.0, 0.0], np.float32), (len(images), 1))
        return engine.BatchResult(scores=scores, probabilities=engine.softmax(scores),
                                  classes=np.full(len(images), 2, np.int32))

    monkeypatch.setattr(engine, "load_model", lambda settings: "stub")
    monkeypatch.setattr(engine, "run_batch", run_batch)
    return calls


def test_screening_grades_the_good_files_and_lists_every_bad_one(tmp_path, monkeypatch,
                                                                 big_jpeg, capsys):
    calls = _stub_model(monkeypatch)
    folder = tmp_path / "photos to grade ü"
    good = {
        "eye one é.jpg": lambda p: write_image(p, EYE),
        "sub dir ✓/eye two.png": lambda p: write_image(p, fundus_image((120, 150), seed=4)),
        "rgba eye.png": _rgba_transparent_white_outside,
        "eye16.png": _png16_rgb,
        "jpeg named.png": _jpeg_named_png,
        "big 8000x6000.jpg": lambda p: p.write_bytes(big_jpeg.read_bytes()),
    }
    bad = {
        "empty.jpeg": (lambda p: p.write_bytes(b""), "empty file (0 bytes)"),
        "grey16.png": (_png16_grey, "not a colour fundus photograph: single-channel image "
                                    "(mode I;16)"),
        "head.jpg": (_header_only, "truncated image file (Truncated File Read)"),
        "noise.jpg": (_random_bytes, "not an image file (PIL cannot identify it)"),
        "speck.png": (_nearly_black, "no field of view found: image is (nearly) all black"),
    }
    for name, writer in good.items():
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        writer(folder / name)
    for name, (writer, _) in bad.items():
        writer(folder / name)
    (folder / "notes.txt").write_text("not a photograph\n")
    out = tmp_path / "out ü"
    out.mkdir()
    debris = out / ".summary.json.partial-abc123.json"  # left by a run killed while writing
    debris.write_text('{"half": ')

    from drlib.screening import inputs

    decoded: dict[str, tuple] = {}

    def read_and_record(path, **kwargs):
        image = read_fundus(path, **kwargs)
        decoded[Path(path).name] = image.shape
        return image

    monkeypatch.setattr(inputs, "read_fundus", read_and_record)
    status = main(["grade", str(folder), "--out", str(out), "--quiet", "--batch-size", "4"])
    assert status == EXIT_OK, capsys.readouterr().err
    with (out / "results.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["file"] for r in rows) == sorted(str(folder / n) for n in good)
    assert {r["predicted_grade"] for r in rows} == {"2"} and calls == [4, 2]
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert sorted((s["file"], s["reason"]) for s in summary["skipped"]) == sorted(
        (str(folder / n), problem) for n, (_, problem) in bad.items())
    assert [s["file"] for s in summary["ignored"]] == [str(folder / "notes.txt")]
    sizes = {Path(i["file"]).name: i["original_size"] for i in summary["images"]}
    assert sizes["big 8000x6000.jpg"] == [8000, 6000]  # the file's size, though read at 1/8:
    assert decoded["big 8000x6000.jpg"] == (750, 1000, 3)  # 1000 x 750 >= 2 x 192 px input
    assert decoded["eye one é.jpg"] == (120, 150, 3)  # small photographs are read whole
    for row in rows:
        assert (out / row["input_png"]).is_file() and row["input_png"].isascii()
    assert not debris.exists()
    page = (out / "report.html").read_text(encoding="utf-8")
    assert all(f"{n}" in page for n in ("empty.jpeg", "head.jpg", "eye one é.jpg"))
