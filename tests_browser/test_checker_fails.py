"""The browser check fails on each thing it looks for: small crafted pages in a temporary folder.

Each page carries one fault (a broken image, a dangling internal link, raw TeX where MathJax did
not run, a traceback, a figure missing from a chapter, a redirect to nowhere), and the check must
name it with the expected sentence; a page without faults, with an equation MathJax typesets, an
image, a cell output and links into the site, passes.
"""

from __future__ import annotations

import importlib.util
import io
import json
import os
from pathlib import Path

import pytest
from PIL import Image

HEAD = '<!DOCTYPE html><html><head><meta charset="utf-8"><title>t</title>{extra}</head>'


def _mathjax_folder() -> Path:
    spec = importlib.util.find_spec("sphinx-mathjax-offline")
    assert spec is not None and spec.origin, "sphinx-mathjax-offline is not installed"
    return Path(spec.origin).parent / "static" / "mathjax"


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), (200, 30, 30)).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A tiny web site: MathJax (linked from the installed package), an image, and pages."""
    root = tmp_path_factory.mktemp("site")
    (root / "_static").mkdir()
    os.symlink(_mathjax_folder(), root / "_static" / "mathjax")
    (root / "pixel.png").write_bytes(_png())
    (root / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n this is not an image")
    return root


def _page(site: Path, name: str, body: str, mathjax: bool = False) -> str:
    script = '<script defer src="_static/mathjax/tex-chtml.js"></script>' if mathjax else ""
    (site / name).write_text(HEAD.format(extra=script) + f"<body>{body}</body></html>",
                             encoding="utf-8")
    return name


def _problems(checker, browser, site: Path, name: str, **page) -> list[str]:
    reports = checker.check_book(site, [checker.Page(name, **page)], site / "shots",
                                 browser=browser, root=site)
    return reports[0].problems


GOOD_BODY = (
    '<h1 id="top">A good page</h1>'
    '<p>An equation: <span class="math notranslate nohighlight">\\(\\frac{a}{b}\\)</span>.</p>'
    '<div class="math notranslate nohighlight">\\[x^2 + y^2\\]</div>'
    '<div class="cell_output"><img src="pixel.png" alt="a figure"></div>'
    '<pre>$$ \\frac{code}{is} \\begin{not} checked $$</pre>'
    '<p><a href="#top">up</a> <a href="other.html#target">other</a> <a href="other.html">x</a>'
    ' <a href="https://example.org/not/checked">outside</a></p>'
)


def test_a_good_page_passes_and_gets_its_screenshot(checker, browser, site) -> None:
    _page(site, "other.html", '<p id="target">target</p>')
    name = _page(site, "good.html", GOOD_BODY, mathjax=True)
    reports = checker.check_book(site, [checker.Page(name, expected_images=1)], site / "shots",
                                 browser=browser, root=site)
    report = reports[0]
    assert report.problems == []
    assert (report.math_elements, report.typeset, report.images) == (2, 2, 1)
    with Image.open(site / "shots" / "good.png") as shot:
        assert shot.width == checker.VIEWPORT[0]


def test_a_broken_image_fails(checker, browser, site) -> None:
    name = _page(site, "broken_image.html", '<p>x</p><img src="missing.png" alt="gone">')
    assert _problems(checker, browser, site, name) == [
        "broken image: missing.png did not load (naturalWidth 0)",
        "request failed: missing.png (HTTP 404)",
    ]


def test_an_image_file_that_does_not_decode_fails(checker, browser, site) -> None:
    name = _page(site, "corrupt_image.html", '<img src="corrupt.png" alt="bad">')
    assert _problems(checker, browser, site, name) == [
        "broken image: corrupt.png did not load (naturalWidth 0)",
    ]


def test_a_dangling_internal_link_fails(checker, browser, site) -> None:
    _page(site, "other.html", '<p id="target">target</p>')
    name = _page(site, "dangling.html",
                 '<p id="here"><a href="nowhere.html">a</a> <a href="other.html#no-such-id">b</a>'
                 ' <a href="#here">c</a> <a href="other.html#target">d</a></p>')
    assert _problems(checker, browser, site, name) == [
        "broken internal link: <a> to nowhere.html (no such file)",
        "broken internal link: <a> to other.html#no-such-id (no such anchor)",
    ]


def test_raw_display_tex_without_mathjax_fails(checker, browser, site) -> None:
    name = _page(site, "raw_dollars.html", "<p>The loss is $$x^2$$ here.</p>")
    assert _problems(checker, browser, site, name) == [
        "raw TeX ($$) in the visible text: 'The loss is $$x^2$$ here.'",
    ]


def test_an_equation_mathjax_never_typeset_fails(checker, browser, site) -> None:
    name = _page(site, "untypeset.html",
                 '<p>See <span class="math notranslate nohighlight">\\(\\frac{a}{b}\\)</span></p>')
    assert _problems(checker, browser, site, name) == [
        "raw TeX (\\( \\)) in the visible text: 'See \\(\\frac{a}{b}\\)'",
        "raw TeX (a TeX command) in the visible text: 'See \\(\\frac{a}{b}\\)'",
        "1 of 1 equations not typeset by MathJax (MathJax absent; no mjx-container), "
        "first: '\\\\(\\\\frac{a}{b}\\\\)'",
    ]


def test_a_traceback_output_area_fails(checker, browser, site) -> None:
    name = _page(site, "traceback_area.html",
                 '<div class="cell_output"><div class="output traceback"><pre>'
                 "Traceback (most recent call last):\nValueError: bad</pre></div></div>")
    assert _problems(checker, browser, site, name) == [
        "Python traceback in the page: 'Traceback (most recent call last): ValueError: bad'",
        "error output shown: output traceback: Traceback (most recent call last):\n"
        "ValueError: bad",
    ]


def test_a_traceback_printed_to_stdout_fails(checker, browser, site) -> None:
    name = _page(site, "traceback_print.html",
                 '<div class="cell_output"><div class="output stream"><pre>'
                 "Traceback (most recent call last):\n  File &quot;x.py&quot;, line 1</pre>"
                 "</div></div>")
    assert _problems(checker, browser, site, name) == [
        "Python traceback in the page: "
        "'Traceback (most recent call last): File \"x.py\", line 1'",
    ]


def test_a_stderr_output_area_fails(checker, browser, site) -> None:
    name = _page(site, "stderr.html",
                 '<div class="cell_output"><div class="output stderr"><pre>warning: oops</pre>'
                 "</div></div>")
    assert _problems(checker, browser, site, name) == [
        "error output shown: output stderr: warning: oops",
    ]


def _notebook(path: Path, cells: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4,
                                "nbformat_minor": 5}), encoding="utf-8")


def _code(outputs: list[dict], tags: tuple[str, ...] = ()) -> dict:
    return {"cell_type": "code", "metadata": {"tags": list(tags)}, "source": "",
            "outputs": outputs, "execution_count": 1}


PNG_OUTPUT = {"output_type": "display_data", "metadata": {},
              "data": {"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"}}


def test_a_chapter_missing_a_figure_fails(checker, browser, site) -> None:
    _notebook(site / "chapter.ipynb", [_code([PNG_OUTPUT]), _code([PNG_OUTPUT])])
    name = _page(site, "chapter.html",
                 '<div class="cell_output"><img src="pixel.png" alt="one"></div>'
                 '<div class="cell_output"><p>the second figure is gone</p></div>')
    expected = checker.notebook_image_outputs(site / "chapter.ipynb")
    assert _problems(checker, browser, site, name, expected_images=expected) == [
        "missing figures: the notebook's cells hold 2 image outputs, the page shows 1 images "
        "in its cell outputs",
    ]


def test_a_chapter_whose_notebook_stores_an_error_fails(checker, browser, site) -> None:
    error = {"output_type": "error", "ename": "ValueError", "evalue": "bad", "traceback": []}
    _notebook(site / "failed.ipynb", [_code([error])])
    name = _page(site, "failed.html", "<p>the book hides the error output</p>")
    assert _problems(checker, browser, site, name, expected_images=0) == [
        "the notebook stores an error output: ValueError: bad",
    ]


def test_a_redirect_to_a_missing_page_fails(checker, browser, site) -> None:
    name = "redirect_missing.html"
    (site / name).write_text('<meta http-equiv="Refresh" content="0; url=gone.html" />',
                             encoding="utf-8")
    assert _problems(checker, browser, site, name, redirect=True) == [
        "redirects to gone.html, which does not exist",
        "request failed: gone.html (HTTP 404)",
    ]


def test_a_working_redirect_passes(checker, browser, site) -> None:
    _page(site, "other.html", '<p id="target">target</p>')
    name = "redirect_ok.html"
    (site / name).write_text('<meta http-equiv="Refresh" content="0; url=other.html" />',
                             encoding="utf-8")
    assert _problems(checker, browser, site, name, redirect=True) == []


def test_a_page_that_was_not_built_fails(checker, browser, site) -> None:
    assert _problems(checker, browser, site, "never_built.html") == [
        f"never_built.html was not built (no such file in {site})",
    ]


def test_image_outputs_are_counted_as_the_book_shows_them(checker, tmp_path) -> None:
    svg = {"output_type": "execute_result", "metadata": {}, "execution_count": 1,
           "data": {"image/svg+xml": "<svg/>", "text/plain": "x"}}
    glued_hidden = {"output_type": "display_data", "metadata": {"scrapbook": {"name": "f"}},
                    "data": {"application/papermill.record/image/png": "iVBORw0KGgo="}}
    stream = {"output_type": "stream", "name": "stdout", "text": "image/png\n"}
    _notebook(tmp_path / "n.ipynb", [
        _code([PNG_OUTPUT, stream]),              # 1
        _code([svg]),                             # 1
        _code([PNG_OUTPUT], ("remove-output",)),  # not shown
        _code([PNG_OUTPUT], ("remove-cell",)),    # not shown
        _code([glued_hidden]),                    # glued with display=False: not shown here
        {"cell_type": "markdown", "metadata": {}, "source": "![x](y.png)"},
    ])
    assert checker.notebook_image_outputs(tmp_path / "n.ipynb") == 2


def test_the_pages_of_a_book_come_from_its_toc(checker, tmp_path) -> None:
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: book/intro\nparts:\n  - caption: C\n    chapters:\n"
        "      - file: notebooks/01_x\n      - file: book/end.md\n", encoding="utf-8")
    _notebook(tmp_path / "notebooks" / "01_x.ipynb", [_code([PNG_OUTPUT])])
    Page = checker.Page
    assert checker.book_pages(tmp_path) == [
        Page("index.html", redirect=True),
        Page("book/intro.html"),
        Page("notebooks/01_x.html", expected_images=1),
        Page("book/end.html"),
    ]
