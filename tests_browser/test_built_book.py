"""Every page of the built book, opened in headless Chromium (scripts/check_book_browser.py).

Needs ``_build/html`` (``make book``; ``make test`` builds it first). One test per page, in the
book's order, so a failure names the page; each writes ``_build/screenshots/<page>.png``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
SCREENSHOTS = ROOT / "_build" / "screenshots"


def _pages():
    # Collection-time import of the checker (the conftest fixture is not available here).
    spec = importlib.util.spec_from_file_location(
        "check_book_browser", ROOT / "scripts" / "check_book_browser.py")
    module = sys.modules.get("check_book_browser") or importlib.util.module_from_spec(spec)
    if "check_book_browser" not in sys.modules:
        sys.modules["check_book_browser"] = module
        spec.loader.exec_module(module)
    return module.book_pages(ROOT)


PAGES = _pages()


@pytest.fixture(scope="module")
def served(checker, browser):
    if not (HTML / "index.html").is_file():
        pytest.fail(f"{HTML}/index.html does not exist: build the book first (make book)",
                    pytrace=False)
    with checker.serve(HTML) as base_url:
        yield base_url


@pytest.mark.parametrize("page", PAGES, ids=[page.name for page in PAGES])
def test_page_shows_what_its_source_holds(checker, browser, served, page) -> None:
    notebook = ROOT / page.name.replace(".html", ".ipynb")
    report = checker.check_page(browser, served, HTML, page, SCREENSHOTS,
                                notebook if notebook.is_file() else None)
    assert not report.problems, f"{page.name}:\n  " + "\n  ".join(report.problems)
    assert report.screenshot is not None and report.screenshot.stat().st_size > 0
    if page.expected_images:
        assert report.images >= page.expected_images


def test_every_chapter_notebook_is_checked() -> None:
    chapters = sorted(path.relative_to(ROOT).with_suffix(".html").as_posix()
                      for path in (ROOT / "notebooks").glob("*.ipynb")
                      if not path.name.startswith("."))  # a rerun's partial file
    checked = sorted(page.name for page in PAGES if page.expected_images is not None)
    assert checked == chapters
