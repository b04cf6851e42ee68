"""Render chapter 02's synthetic splits for one profile ahead of training, as the chapter would.

    python scripts/render_chapter_splits.py gpu        # or cpu, cpu-smoke

It reads the chapter's own parameters cell (its defaults and ``PROFILES``) and calls the same
:func:`drlib.data.build_chapter_splits` into the same :func:`drlib.data.chapter_cache` folder
under ``drlib.runtime.paths.data_dir() / "synthetic"`` (``DRLIB_DATA`` moves it), so the chapter
then finds the splits and only verifies them. ``scripts/gpu_session.sh`` runs it once before it
starts two trainings that read the same splits. It is a file, not code piped to ``python -``: the
builder's worker processes are spawned, and a spawned child re-imports the main module by path.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from drlib.data import build_chapter_splits
from drlib.runtime import paths

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "notebooks" / "02_training.ipynb"


def chapter_parameters(notebook: Path = CHAPTER) -> dict:
    """The names the chapter's ``parameters`` cell defines, with their default values."""
    cells = json.loads(notebook.read_text(encoding="utf-8"))["cells"]
    tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    if len(tagged) != 1:
        raise ValueError(f"{notebook}: expected one cell tagged 'parameters', found {len(tagged)}")
    namespace: dict = {}
    exec("".join(tagged[0]["source"]), namespace)  # the chapter's own literals, nothing else
    return namespace


def render(profile: str, notebook: Path = CHAPTER) -> dict[str, Path]:
    p = chapter_parameters(notebook)
    if profile not in p["PROFILES"]:
        raise SystemExit(f"unknown profile {profile!r}; the chapter has {sorted(p['PROFILES'])}")
    s = p["PROFILES"][profile]
    return build_chapter_splits(
        paths.data_dir() / "synthetic", "ch02", n_train=s["n_train"], n_val=s["n_val"],
        prior=p["prior"], val_prior=p["val_prior"], seed=p["seed"],
        render_size=s["render_size"], label_scale=p["label_scale"], workers=s["workers"],
        progress=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("profile", help="a key of the chapter's PROFILES (gpu, cpu, cpu-smoke)")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    folders = render(args.profile)
    for split, folder in folders.items():
        print(f"data: {split} split ready in {folder}")
    print(f"data: {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
