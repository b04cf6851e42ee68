"""Where the course keeps things: the project root, the data cache, the shipped models.

Notebooks run from ``notebooks/`` (Jupyter, nbval) or from the root (papermill from the
Makefile); both find the same folders through these functions. ``DRLIB_DATA`` overrides the data
cache folder (default ``<root>/data``, ignored by git).
"""

from __future__ import annotations

import os
from pathlib import Path


def project_root(start: str | Path | None = None) -> Path:
    """The folder holding the course's ``pyproject.toml`` (searched upwards from ``start``)."""
    here = Path(start or Path.cwd()).resolve()
    for folder in (here, *here.parents):
        marker = folder / "pyproject.toml"
        if marker.exists() and (folder / "drlib").is_dir():
            return folder
    # installed elsewhere: fall back to the package's own checkout
    return Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """The cache folder for generated and downloaded data sets."""
    return Path(os.environ.get("DRLIB_DATA") or project_root() / "data")


def models_dir() -> Path:
    """The folder with shipped weights and their manifests."""
    return project_root() / "models"
