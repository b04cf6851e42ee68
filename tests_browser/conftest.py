"""The browser check's tests: they drive headless Chromium, so they run after the book build.

``make test`` (and ``make browser-check``) run this folder as its own pytest call once
``_build/html`` exists; the main pytest run (``testpaths`` in pyproject.toml) never collects it.
Chromium comes from ``make chromium``; without it these tests fail with the command to run.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "check_book_browser.py"


def _load_checker():
    name = "check_book_browser"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def checker():
    return _load_checker()


@pytest.fixture(scope="session")
def browser(checker):
    """One headless Chromium for the whole run (starting one takes a few seconds)."""
    try:
        executable = checker.find_browser()
    except checker.BrowserMissing as error:
        pytest.fail(str(error), pytrace=False)
    with checker.Browser(executable) as running:
        yield running
