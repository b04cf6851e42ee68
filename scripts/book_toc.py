"""The book's pages in order: every ``root`` and ``file`` entry of ``_toc.yml``.

One reader of the table of contents for the scripts that walk the book: ``rerun_chapters.py``
(the chapters to rerun), ``check_book_browser.py`` (the pages to open) and ``book_test_cost.py``
(the chapters of the cost table).
"""

from __future__ import annotations

from pathlib import Path

import yaml


def toc_entries(root: Path) -> list[str]:
    """The ``root`` and ``file`` entries of ``root/_toc.yml`` as written, in the book's order."""
    toc = yaml.safe_load((Path(root) / "_toc.yml").read_text(encoding="utf-8"))
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key in ("root", "file"):
                if isinstance(node.get(key), str):
                    found.append(node[key])
            for value in node.values():
                if isinstance(value, dict | list):
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(toc)
    return found
