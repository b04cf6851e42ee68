"""Chapter figures are captioned, numbered and referenced (issue 12, "Figures").

Every code cell of a listed chapter that stores an image output carries MyST-NB figure metadata
(``"mystnb": {"figure": {"name": ..., "caption": ...}}``), so the book numbers it; the name
follows ``fig-chNN-...`` and is unique; the prose points at it with ``{numref}``; and nothing
types its own figure number ("Figure 1.9:") into a cell. Reads the committed notebooks only.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
CHAPTERS = ("01_data_exploration",)
"""Chapters whose figures are held to this (add a chapter once its figures are captioned)."""

TYPED_NUMBER = re.compile(r"Figure \d+\.\d+")


def _figures(notebook: dict) -> list[tuple[int, dict]]:
    return [(i, cell) for i, cell in enumerate(notebook["cells"])
            if cell["cell_type"] == "code"
            and any("image/png" in o.get("data", {}) for o in cell.get("outputs", []))]


@pytest.mark.parametrize("chapter", CHAPTERS)
def test_every_figure_is_captioned_named_and_referenced(chapter: str) -> None:
    notebook = json.loads((NOTEBOOKS / f"{chapter}.ipynb").read_text(encoding="utf-8"))
    prose = "\n".join("".join(c["source"]) for c in notebook["cells"]
                      if c["cell_type"] == "markdown")
    figures = _figures(notebook)
    assert figures, f"{chapter}: no figure found"
    names = []
    for index, cell in figures:
        figure = cell["metadata"].get("mystnb", {}).get("figure", {})
        where = f"{chapter}.ipynb cell {index}"
        assert re.fullmatch(rf"fig-ch{chapter[:2]}-[a-z0-9-]+", figure.get("name", "")), (
            f"{where}: figure without a name fig-ch{chapter[:2]}-... in its mystnb metadata")
        assert len(figure.get("caption", "")) >= 40, f"{where}: figure without a caption"
        assert f"{{numref}}`{figure['name']}`" in prose, (
            f"{where}: the prose never references {figure['name']} with {{numref}}")
        assert not TYPED_NUMBER.search("".join(cell["source"])), (
            f"{where}: a typed figure number; the caption numbers the figure")
        names.append(figure["name"])
    assert len(set(names)) == len(names), f"{chapter}: figure names repeat: {names}"
