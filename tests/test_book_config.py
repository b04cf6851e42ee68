"""The book's _config.yml: no button to a repository that does not exist, MathJax shipped locally.

No public repository address exists for the course, so the built book must show no repository,
issues, edit-this-page or launch button and link to no repository (issue 12). Equations must
render offline: MathJax comes from the book's own ``_static/`` folder (sphinx-mathjax-offline
copies it there), never from a CDN. These tests read the YAML, so a regression fails here before
anyone builds the book; ``make test``'s strict book build then checks that it still builds.
"""

from __future__ import annotations

import importlib.util
import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
# Sphinx imports an extension by this name; the package's module is spelt with hyphens
# ("sphinx_mathjax_offline" does not import).
MATHJAX_EXTENSION = "sphinx-mathjax-offline"
REPOSITORY_BUTTONS = ("use_repository_button", "use_issues_button", "use_edit_page_button")
LAUNCH_URLS = ("binderhub_url", "jupyterhub_url", "colab_url", "deepnote_url")
REMOTE = re.compile(r"^(?:[a-z][a-z0-9+.-]*:)?//", re.IGNORECASE)


@pytest.fixture(scope="module")
def config() -> dict:
    with open(ROOT / "_config.yml", encoding="utf-8") as f:
        return yaml.safe_load(f)


def test_no_repository_or_issues_button(config: dict) -> None:
    html = config.get("html") or {}
    enabled = [name for name in REPOSITORY_BUTTONS if html.get(name)]
    assert not enabled, (
        f"_config.yml enables {enabled}, but the course has no public repository address: "
        "the buttons would point at a page that does not exist"
    )


def test_no_launch_buttons(config: dict) -> None:
    launch = config.get("launch_buttons") or {}
    set_urls = {name: launch[name] for name in LAUNCH_URLS if launch.get(name)}
    assert not set_urls, f"_config.yml configures launch buttons: {set_urls}"
    assert not launch.get("thebe"), "_config.yml turns on thebe's live-code launch button"


def test_repository_url_is_left_empty(config: dict) -> None:
    # Left out, Jupyter Book would fill in its own repository's address, so it is set, empty.
    repository = config.get("repository") or {}
    assert "url" in repository and not repository["url"], (
        "_config.yml: repository.url must be an explicit empty string until the course has a "
        f"real public address (found {repository.get('url')!r}); set the real address here, "
        "then update this test, before turning on any repository button"
    )


def test_mathjax_extension_is_enabled(config: dict) -> None:
    sphinx = config.get("sphinx") or {}
    assert MATHJAX_EXTENSION in (sphinx.get("extra_extensions") or []), (
        f"_config.yml: sphinx.extra_extensions must list {MATHJAX_EXTENSION!r}, which ships "
        "MathJax with the book"
    )


def test_mathjax_is_loaded_from_a_local_path(config: dict) -> None:
    sphinx_config = (config.get("sphinx") or {}).get("config") or {}
    path = sphinx_config.get("mathjax_path")
    assert path, "_config.yml: sphinx.config.mathjax_path is not set (Sphinx's default is a CDN)"
    assert not REMOTE.match(path), f"mathjax_path {path!r} is a remote address, not a local file"
    assert not Path(path).is_absolute(), (
        f"mathjax_path {path!r} must be relative to the book's _static/ folder"
    )
    assert path.startswith("mathjax/"), (
        f"mathjax_path {path!r} is not in the mathjax/ folder that {MATHJAX_EXTENSION} copies "
        "into _static/"
    )
    for key in ("mathjax2_config", "mathjax3_config"):
        assert "//" not in str(sphinx_config.get(key) or ""), (
            f"sphinx.config.{key} names a remote address"
        )


def test_the_mathjax_script_ships_with_the_extension(config: dict) -> None:
    """The file mathjax_path names exists in the installed package (copied to _static/)."""
    spec = importlib.util.find_spec(MATHJAX_EXTENSION)
    assert spec is not None and spec.origin, (
        f"{MATHJAX_EXTENSION} is not installed: pip install -e '.[book]'"
    )
    path = config["sphinx"]["config"]["mathjax_path"]
    # The extension copies its static/mathjax/ folder to _build/html/_static/mathjax/.
    shipped = Path(spec.origin).parent / "static" / path
    assert shipped.is_file(), f"{shipped} does not exist: the book would load a missing script"


def test_book_extra_pins_the_mathjax_package() -> None:
    with open(ROOT / "pyproject.toml", "rb") as f:
        book = tomllib.load(f)["project"]["optional-dependencies"]["book"]
    pins = [
        Requirement(r) for r in book
        if canonicalize_name(Requirement(r).name) == canonicalize_name(MATHJAX_EXTENSION)
    ]
    assert pins, f"pyproject.toml: the book extra does not list {MATHJAX_EXTENSION}"
    assert str(pins[0].specifier).startswith("=="), (
        f"pyproject.toml: pin {MATHJAX_EXTENSION} exactly (the MathJax version ships with it)"
    )
