"""Small fixture photographs and data set folder trees for the loader and pipeline tests.

Everything is written into a test's ``tmp_path``: tiny synthetic "fundus photographs" (a
reddish disc on black, with a bright optic disc), the folder layouts of EyePACS, APTOS, IDRiD
and the synthetic cache, and the bad files a real data set contains (corrupt, truncated, not an
image, grey, black).
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from pathlib import Path

import numpy as np
from PIL import Image


def fundus_image(
    size: tuple[int, int] = (64, 80), seed: int = 0, disc: tuple[int, int] | None = None
) -> np.ndarray:
    """A tiny colour "fundus photograph": textured reddish disc on black, brighter optic disc.

    Args:
        size: (height, width).
        seed: texture seed (different seeds give different files).
        disc: (x, y) of the optic disc; default right of centre.
    """
    h, w = size
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w]
    cx, cy, r = (w - 1) / 2, (h - 1) / 2, 0.45 * min(h, w)
    inside = (xx - cx) ** 2 + (yy - cy) ** 2 <= r**2
    base = np.array([170, 80, 40], dtype=float)
    img = base + rng.normal(0, 12, (h, w, 3))
    dx, dy = disc if disc is not None else (int(cx + 0.5 * r), int(cy))
    od = (xx - dx) ** 2 + (yy - dy) ** 2 <= (0.15 * r) ** 2
    img[od] = [250, 220, 160]
    img[~inside] = 0
    return np.clip(img, 0, 255).astype(np.uint8)


def encode(image: np.ndarray, fmt: str = "JPEG") -> bytes:
    """Image bytes in ``fmt`` (JPEG at quality 95, or PNG, TIFF...)."""
    buf = io.BytesIO()
    kwargs = {"quality": 95} if fmt == "JPEG" else {}
    Image.fromarray(image).save(buf, fmt, **kwargs)
    return buf.getvalue()


def _format_for(path: Path) -> str:
    return {".jpeg": "JPEG", ".jpg": "JPEG", ".png": "PNG", ".tif": "TIFF", ".tiff": "TIFF"}[
        path.suffix.lower()
    ]


def write_image(path: Path, image: np.ndarray) -> Path:
    """Write ``image`` to ``path`` in the format its extension names."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode(image, _format_for(path)))
    return path


# --------------------------------------------------------------------------- bad files

def write_corrupt(path: Path) -> Path:
    """A JPEG whose second half was overwritten with zeros (libjpeg decodes it silently)."""
    data = encode(fundus_image(seed=99), "JPEG")
    path.write_bytes(data[: len(data) // 2] + bytes(len(data) - len(data) // 2))
    return path


def write_truncated(path: Path) -> Path:
    """A valid image cut in half (an interrupted download)."""
    data = encode(fundus_image(seed=98), _format_for(path))
    path.write_bytes(data[: len(data) // 2])
    return path


def write_text(path: Path) -> Path:
    """A text file with an image extension."""
    path.write_text("this is not a photograph\n")
    return path


def write_grey(path: Path) -> Path:
    """A grey (R == G == B) picture of an eye, saved as a 3-channel RGB file."""
    grey = fundus_image(seed=97).mean(axis=2).astype(np.uint8)
    return write_image(path, np.repeat(grey[..., None], 3, axis=2))


def write_black(path: Path) -> Path:
    """An all-black frame (failed capture)."""
    return write_image(path, np.zeros((64, 80, 3), dtype=np.uint8))


BAD_FILES = {
    "corrupt": (write_corrupt, "corrupt"),
    "truncated": (write_truncated, "truncated"),
    "not_an_image": (write_text, "not an image file"),
    "grey": (write_grey, "not a colour fundus photograph"),
    "black": (write_black, "no field of view"),
}
"""Bad-file kind -> (writer, words the error message must contain)."""


# --------------------------------------------------------------------------- trees

def write_csv(path: Path, header: Iterable[str], rows: Iterable[Iterable[object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [",".join(header)] + [",".join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def make_eyepacs_tree(
    root: Path, grades: dict[str, int | str], ext: str = ".jpeg", size: tuple[int, int] = (64, 80)
) -> Path:
    """``trainLabels.csv`` (image,level) + ``train/<image><ext>``."""
    for i, image_id in enumerate(grades):
        write_image(root / "train" / f"{image_id}{ext}", fundus_image(size, seed=i))
    write_csv(root / "trainLabels.csv", ["image", "level"], grades.items())
    return root


def eyepacs_patient_grades(n_pairs: int, n_single: int = 0, seed: int = 0) -> dict[str, int]:
    """Grades of an EyePACS-style set with known patients, for :func:`make_eyepacs_tree`.

    Patients ``1..n_pairs`` have both eyes (``<p>_left``, ``<p>_right``, the two grades at most
    one apart, as real pairs mostly are); the next ``n_single`` patients have one eye (left and
    right in turn). Grades are drawn with ``seed``, with every grade 0..4 present when the set
    is big enough.
    """
    rng = np.random.default_rng(seed)
    grades: dict[str, int] = {}
    for p in range(1, n_pairs + n_single + 1):
        grade = int(p % 5) if p <= 5 else int(rng.integers(0, 5))
        if p <= n_pairs:
            other = int(np.clip(grade + rng.integers(-1, 2), 0, 4))
            grades[f"{p}_left"], grades[f"{p}_right"] = grade, other
        else:
            grades[f"{p}_{'left' if p % 2 else 'right'}"] = grade
    return grades


def make_aptos_tree(root: Path, grades: dict[str, int | str]) -> Path:
    """``train.csv`` (id_code,diagnosis) + ``train_images/<id_code>.png``."""
    for i, image_id in enumerate(grades):
        write_image(root / "train_images" / f"{image_id}.png", fundus_image(seed=10 + i))
    write_csv(root / "train.csv", ["id_code", "diagnosis"], grades.items())
    return root


IDRID_GRADING = "B. Disease Grading"
IDRID_SEGMENTATION = "A. Segmentation"
IDRID_LESION_DIRS = {
    "MA": "1. Microaneurysms",
    "HE": "2. Haemorrhages",
    "EX": "3. Hard Exudates",
    "SE": "4. Soft Exudates",
    "OD": "5. Optic Disc",
}


def idrid_grading_dir(root: Path) -> Path:
    return root / IDRID_GRADING / "1. Original Images" / "a. Training Set"


def idrid_csv_path(root: Path) -> Path:
    return (root / IDRID_GRADING / "2. Groundtruths"
            / "a. IDRiD_Disease Grading_Training Labels.csv")


def idrid_mask_path(root: Path, seg_id: str, code: str, ext: str = ".tif") -> Path:
    return (root / IDRID_SEGMENTATION / "2. All Segmentation Groundtruths" / "a. Training Set"
            / IDRID_LESION_DIRS[code] / f"{seg_id}_{code}{ext}")


def make_idrid_tree(root: Path) -> dict[str, object]:
    """A miniature IDRiD: 3 graded photographs, 2 segmentation photographs with masks.

    Segmentation ``IDRiD_01`` is a byte copy of grading ``IDRiD_002`` (so the loader can merge
    them); ``IDRiD_02`` is a different photograph without a soft-exudate mask. Returns where the
    optic disc and a microaneurysm were drawn, for checks.
    """
    size = (64, 80)
    grades = {"IDRiD_001": (0, 0), "IDRiD_002": (3, 2), "IDRiD_003": (2, 1)}
    data = {}
    for i, image_id in enumerate(grades):
        data[image_id] = encode(fundus_image(size, seed=20 + i), "JPEG")
        path = idrid_grading_dir(root) / f"{image_id}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data[image_id])
    # The real CSV has a trailing space in one header and empty trailing columns.
    write_csv(
        idrid_csv_path(root),
        ["Image name", "Retinopathy grade", "Risk of macular edema ", "", ""],
        [(k, g, r, "", "") for k, (g, r) in grades.items()] + [("", "", "", "", "")],
    )
    seg_images = root / IDRID_SEGMENTATION / "1. Original Images" / "a. Training Set"
    seg_images.mkdir(parents=True, exist_ok=True)
    (seg_images / "IDRiD_01.jpg").write_bytes(data["IDRiD_002"])
    (seg_images / "IDRiD_02.jpg").write_bytes(encode(fundus_image(size, seed=30), "JPEG"))
    disc_box = (slice(20, 30), slice(50, 60))  # rows, cols
    ma_pixel = (40, 30)
    for seg_id in ("IDRiD_01", "IDRiD_02"):
        for code in IDRID_LESION_DIRS:
            if seg_id == "IDRiD_02" and code == "SE":
                continue
            mask = np.zeros(size, dtype=np.uint8)
            if code == "OD":
                mask[disc_box] = 255
            if code == "MA":
                mask[ma_pixel] = 255
            path = idrid_mask_path(root, seg_id, code)
            path.parent.mkdir(parents=True, exist_ok=True)
            if code == "EX":  # some IDRiD masks are RGB with the lesion in red
                rgb = np.zeros((*size, 3), dtype=np.uint8)
                rgb[..., 0] = mask
                Image.fromarray(rgb).save(path)
            else:
                Image.fromarray(mask).save(path)
    return {"grades": grades, "disc_box": disc_box, "ma_pixel": ma_pixel, "size": size}


def make_synthetic_split(
    root: Path, grades: dict[str, int], size: tuple[int, int] = (64, 80)
) -> Path:
    """A synthetic cache split: EyePACS layout + ``masks/*.npz`` + ``inventory.jsonl``.

    Each photograph's optic disc is drawn at a known place and stored as its ``optic_disc``
    mask; a microaneurysm mask marks one pixel.
    """
    from drlib.data.masks import save_masks
    from drlib.data.synthetic_splits import file_hashes, fingerprint_of_rows

    make_eyepacs_tree(root, grades, size=size)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    lines = []
    for i, (image_id, grade) in enumerate(grades.items()):
        disc = (20 + 3 * i, 25)
        write_image(root / "train" / f"{image_id}.jpeg", fundus_image(size, seed=i, disc=disc))
        yy, xx = np.mgrid[: size[0], : size[1]]
        od = (xx - disc[0]) ** 2 + (yy - disc[1]) ** 2 <= 16
        ma = np.zeros(size, dtype=bool)
        ma[40, 40] = True
        save_masks(root / "masks" / f"{image_id}.npz", {"optic_disc": od, "microaneurysm": ma},
                   np.zeros(size, dtype=np.uint8))
        lines.append(json.dumps({"image": image_id, "grade": grade, "eye": "left",
                                 "inventory": {"microaneurysm": 1}}))
    (root / "inventory.jsonl").write_text("\n".join(lines) + "\n")
    # the manifest records every file's sha256, as drlib.data.synthetic_splits writes it
    files = file_hashes(root)
    (root / "manifest.json").write_text(json.dumps(
        {"seed": 0, "files": files, "fingerprint": fingerprint_of_rows(files)}))
    return root
