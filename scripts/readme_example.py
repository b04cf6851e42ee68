"""The README's screening example, rerun: the picture the README shows, made by the command.

    python scripts/readme_example.py [--picture docs/screening_retina.png] [--work DIR]

Does what the README tells a reader to do: saves ``skimage.data.retina()`` with PIL as
``retina.png`` and runs ``drlib explain retina.png --out DIR`` (drlib's command-line entry
point, in this process). It then puts the three PNGs the command wrote for that photograph side
by side, as they are: the model's input, the class activation map overlay and the saliency
overlay (paths read from the command's ``results.csv``), separated by white gaps, with no text
drawn, so that every pixel of the picture comes from the command. The picture is written
atomically. ``tests/test_readme_example.py`` reruns the command and checks the committed picture
against what it draws now.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
PICTURE = ROOT / "docs" / "screening_retina.png"
"""The picture the README embeds."""

PHOTO_NAME = "retina.png"
"""The file name the README saves ``skimage.data.retina()`` under."""

COMMAND = "drlib explain retina.png"
"""The README's command (run here with ``--out`` set to a work folder)."""

PANELS = ("input_png", "cam_png", "saliency_png")
"""The ``results.csv`` columns of the pictures shown, left to right."""

GAP = 6
"""White pixels between two panels."""


def save_retina(folder: Path) -> Path:
    """``skimage.data.retina()`` saved with PIL as ``folder/retina.png``, as the README does."""
    import skimage.data
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    photo = folder / PHOTO_NAME
    Image.fromarray(skimage.data.retina()).save(photo)
    return photo


def run_explain(photo: Path, out_dir: Path) -> int:
    """``drlib explain PHOTO --out OUT_DIR --quiet`` through the command's entry point; its exit
    status."""
    from drlib.screening.cli import main

    return main(["explain", str(photo), "--out", str(out_dir), "--quiet"])


def compose(out_dir: Path) -> np.ndarray:
    """The input, CAM and saliency PNGs of the first photograph in ``out_dir/results.csv``,
    side by side with :data:`GAP` white pixels between them (uint8 RGB)."""
    from PIL import Image

    with (out_dir / "results.csv").open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"{out_dir / 'results.csv'}: no photograph was graded")
    missing = [column for column in PANELS if not rows[0].get(column)]
    if missing:
        raise ValueError(f"{out_dir / 'results.csv'}: no {', '.join(missing)} for "
                         f"{rows[0]['file']} (was it run with `explain`?)")
    panels = [np.asarray(Image.open(out_dir / rows[0][column]).convert("RGB"))
              for column in PANELS]
    height = max(panel.shape[0] for panel in panels)
    gap = np.full((height, GAP, 3), 255, np.uint8)
    parts: list[np.ndarray] = []
    for panel in panels:
        if panel.shape[0] != height:
            raise ValueError(f"{out_dir}: the command's pictures differ in height "
                             f"({[p.shape[0] for p in panels]})")
        parts += [panel, gap]
    return np.concatenate(parts[:-1], axis=1)


def png_bytes(picture: np.ndarray) -> bytes:
    """``picture`` encoded as an optimised PNG."""
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(picture).save(buffer, format="PNG", optimize=True)
    return buffer.getvalue()


def make_picture(work: Path) -> np.ndarray:
    """Save the photograph and run the command in ``work``; the composed picture."""
    photo = save_retina(work)
    status = run_explain(photo, work / "screening_output")
    if status != 0:
        raise RuntimeError(f"`{COMMAND}` exited with status {status}")
    return compose(work / "screening_output")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--picture", type=Path, default=PICTURE,
                        help=f"where to write the picture (default: {PICTURE.relative_to(ROOT)})")
    parser.add_argument("--work", type=Path, default=None,
                        help="folder for the photograph and the command's output "
                             "(default: a temporary folder, removed afterwards)")
    args = parser.parse_args(argv)

    from drlib.runtime.atomic import atomic_write_bytes

    with tempfile.TemporaryDirectory() as tmp:
        picture = make_picture(args.work or Path(tmp))
    args.picture.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(args.picture, png_bytes(picture))
    print(f"wrote {args.picture} ({picture.shape[1]}x{picture.shape[0]} px, "
          f"{args.picture.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
