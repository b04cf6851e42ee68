"""Where the course keeps things: the data cache, the shipped models, training runs.

In a checkout of the course (a folder with ``pyproject.toml`` and ``drlib/``, found upwards from
the working directory or from this package) everything lives in the checkout: ``data/`` and
``runs/`` (ignored by git) and ``models/`` (the shipped weights). Notebooks run from
``notebooks/`` (Jupyter, nbval) or from the root (papermill from the Makefile); both find the same
folders.

Outside a checkout (a non-editable ``pip install``), nothing is ever written into
site-packages: data and runs go to the user's cache folder and models to the user's data folder
(``platformdirs``: e.g. ``~/.cache/drlib`` and ``~/.local/share/drlib`` on Linux).

Environment variables override each folder: ``DRLIB_DATA``, ``DRLIB_MODELS``, ``DRLIB_RUNS``.
"""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "drlib"


def _is_checkout(folder: Path) -> bool:
    return (folder / "pyproject.toml").is_file() and (folder / "drlib").is_dir()


def find_checkout(start: str | Path | None = None) -> Path | None:
    """The checkout holding ``start`` (default: the working directory) or this package, or None."""
    here = Path(start or Path.cwd()).resolve()
    package_parent = Path(__file__).resolve().parents[2]
    for folder in (here, *here.parents, package_parent):
        if _is_checkout(folder):
            return folder
    return None


def project_root(start: str | Path | None = None) -> Path:
    """The course checkout's root folder.

    Raises:
        FileNotFoundError: drlib is installed outside a checkout and the working directory is
            not inside one.
    """
    root = find_checkout(start)
    if root is None:
        raise FileNotFoundError(
            f"{Path(start or Path.cwd()).resolve()}: not inside a checkout of the course "
            "(no pyproject.toml with a drlib/ folder above it)")
    return root


def _folder(variable: str, in_checkout: str, user_folder) -> Path:
    if os.environ.get(variable):
        return Path(os.environ[variable])
    root = find_checkout()
    if root is not None:
        return root / in_checkout
    return Path(user_folder(APP_NAME)) / in_checkout


def data_dir() -> Path:
    """The cache folder for generated and downloaded data sets (``DRLIB_DATA`` overrides)."""
    from platformdirs import user_cache_dir

    return _folder("DRLIB_DATA", "data", user_cache_dir)


def models_dir() -> Path:
    """The folder with shipped weights and their manifests (``DRLIB_MODELS`` overrides)."""
    from platformdirs import user_data_dir

    return _folder("DRLIB_MODELS", "models", user_data_dir)


def runs_dir() -> Path:
    """The folder for training runs' checkpoints and logs (``DRLIB_RUNS`` overrides)."""
    from platformdirs import user_cache_dir

    return _folder("DRLIB_RUNS", "runs", user_cache_dir)
