"""The README's screening example cannot go stale: its picture is what the command draws now.

``scripts/readme_example.py`` runs the README's commands (``skimage.data.retina()`` saved as
``retina.png``, then ``drlib explain retina.png``) and puts the model's input, the CAM overlay
and the saliency overlay it wrote side by side; the committed ``docs/screening_retina.png`` is
that picture. This test reruns the command on the photograph and compares.

Tolerance: the overlays come from float32 forward and backward passes whose last bits depend on
the CPU's kernels and the Keras backend, and a colour map turns them into 8-bit pixels. So the
fresh picture may differ from the committed one by at most ``MEAN_TOLERANCE`` grey levels (of
255) on average over all pixel values, and at most ``LARGE_SHARE`` of its pixel values may differ
by more than ``LARGE_DIFFERENCE``. A different model, preprocessing, colour map or map
normalisation changes far more than that. Cost: one photograph graded and explained (~20 s).
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
from PIL import Image

try:
    from script_modules import load_script
except ImportError:  # tests/ imported as a package
    from tests.script_modules import load_script

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

MEAN_TOLERANCE = 1.0
"""Largest mean absolute difference, in grey levels (0..255), over all pixel values."""
LARGE_DIFFERENCE = 16
"""A pixel value that differs by more than this many grey levels counts as changed..."""
LARGE_SHARE = 0.005
"""...and at most this share of pixel values may change."""
MAX_BYTES = 300_000
"""The committed picture stays small."""


def _committed(script) -> np.ndarray:
    return np.asarray(Image.open(script.PICTURE).convert("RGB"))


def test_readme_shows_the_command_and_embeds_its_picture() -> None:
    script = load_script("readme_example")
    text = README.read_text(encoding="utf-8")
    assert f'Image.fromarray(skimage.data.retina()).save("{script.PHOTO_NAME}")' in text
    assert script.COMMAND in text
    picture = script.PICTURE.relative_to(ROOT).as_posix()
    assert re.search(rf"!\[[^\]]+\]\({re.escape(picture)}\)", text), (
        f"README.md does not embed {picture} with an alt text")
    assert script.PICTURE.stat().st_size < MAX_BYTES
    assert "scripts/readme_example.py" in text  # says how the picture is made


def test_readme_picture_is_what_the_command_draws_now(tmp_path) -> None:
    script = load_script("readme_example")
    fresh = script.make_picture(tmp_path)
    committed = _committed(script)
    assert fresh.shape == committed.shape, (
        f"{script.PICTURE.name} is {committed.shape}, the command now draws {fresh.shape}: "
        "rerun scripts/readme_example.py")
    difference = np.abs(fresh.astype(np.int16) - committed.astype(np.int16))
    mean, share = float(difference.mean()), float((difference > LARGE_DIFFERENCE).mean())
    assert mean <= MEAN_TOLERANCE and share <= LARGE_SHARE, (
        f"{script.PICTURE.name} differs from what `{script.COMMAND}` draws now (mean "
        f"{mean:.2f} grey levels, {share:.2%} of values by more than {LARGE_DIFFERENCE}): "
        "rerun scripts/readme_example.py")


def test_compose_puts_the_commands_pictures_side_by_side_with_white_gaps(tmp_path) -> None:
    script = load_script("readme_example")
    images = tmp_path / "images"
    images.mkdir()
    names = {}
    for value, column in zip((10, 20, 30), script.PANELS, strict=True):
        names[column] = f"images/{column}.png"
        Image.fromarray(np.full((4, 5, 3), value, np.uint8)).save(tmp_path / names[column])
    (tmp_path / "results.csv").write_text(
        "file," + ",".join(script.PANELS) + "\nretina.png," + ",".join(names.values()) + "\n",
        encoding="utf-8")
    picture = script.compose(tmp_path)
    gap = script.GAP
    assert picture.shape == (4, 3 * 5 + 2 * gap, 3)
    assert picture[0, :, 0].tolist() == [10] * 5 + [255] * gap + [20] * 5 + [255] * gap + [30] * 5
