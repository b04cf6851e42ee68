"""Chapter 03 (notebooks/03_evaluation.ipynb) is well formed: one papermill parameters cell with
the chapter's parameters, executed regression-checked cells, and outputs free of run-to-run noise.

Fast: reads the stored notebook, runs nothing (nbval re-executes it under `make test`).
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "03_evaluation.ipynb"
PARAMETERS = {
    "dataset", "model_name", "models_dir", "data_root", "n_test", "test_seed", "prior",
    "bootstrap_resamples", "seed", "batch_size",
}
CHECK = "# NBVAL_CHECK_OUTPUT"
ADDRESS = re.compile(r"0x[0-9a-fA-F]{6,16}")
DURATION = re.compile(r"\b\d+(?:\.\d+)?\s?(?:ms|sec|seconds|min|minutes|it/s|img/s)\b")


@pytest.fixture(scope="module")
def notebook() -> dict:
    return json.loads(NOTEBOOK.read_text())


def _source(cell: dict) -> str:
    source = cell["source"]
    return source if isinstance(source, str) else "".join(source)


def _text(output: dict) -> str:
    if output.get("output_type") == "stream":
        text = output.get("text", "")
    else:
        text = output.get("data", {}).get("text/plain", "")
    return text if isinstance(text, str) else "".join(text)


def test_one_parameters_cell_with_the_chapter_parameters(notebook) -> None:
    tagged = [c for c in notebook["cells"]
              if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, "papermill needs exactly one cell tagged 'parameters'"
    tree = ast.parse(_source(tagged[0]))
    names = {t.id for node in tree.body if isinstance(node, ast.Assign)
             for t in node.targets if isinstance(t, ast.Name)}
    assert names == PARAMETERS
    assert all(isinstance(node, ast.Assign) for node in tree.body), "only assignments"
    injected = [c for c in notebook["cells"]
                if "injected-parameters" in c.get("metadata", {}).get("tags", [])]
    assert not injected, "stored notebook must run with its defaults (no papermill -p cell)"


def test_checked_cells_exist_and_hold_plain_printed_output(notebook) -> None:
    checked = [c for c in notebook["cells"]
               if c["cell_type"] == "code" and _source(c).lstrip().startswith(CHECK)]
    assert len(checked) >= 3
    for cell in checked:
        outputs = cell.get("outputs", [])
        assert outputs, f"checked cell has no stored output:\n{_source(cell)[:200]}"
        for output in outputs:
            assert output.get("name") != "stderr", "a checked cell must not print to stderr"
            text = _text(output)
            assert not ADDRESS.search(text) and not DURATION.search(text), text[:200]
    summary = _source(checked[-1])
    assert "evaluation_summary" in summary, "the last checked cell is the summary table"


def test_no_cell_failed_and_no_output_shows_memory_addresses(notebook) -> None:
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            assert output.get("output_type") != "error", output.get("evalue")
            assert not ADDRESS.search(_text(output)), _text(output)[:200]
