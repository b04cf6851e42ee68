"""scripts/rerun_chapters.py (``make rerun``): every chapter in the book's order, replaced only
when it ran cleanly, with its time recorded."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest

try:
    from script_modules import load_script
except ImportError:  # tests/ imported as a package
    from tests.script_modules import load_script

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "rerun_chapters.py"


def _notebook(path: Path, parameters: str, body: str) -> None:
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell(parameters)
    params.metadata["tags"] = ["parameters"]
    nb.cells = [params, nbformat.v4.new_code_cell(body)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)


def _book(root: Path, second_body: str) -> None:
    (root / "notebooks").mkdir(parents=True)
    (root / "_toc.yml").write_text(
        "format: jb-book\nroot: intro\nparts:\n  - caption: Chapters\n    chapters:\n"
        "      - file: notebooks/02_train\n      - file: notebooks/01_data\n", encoding="utf-8")
    _notebook(root / "notebooks" / "01_data.ipynb", "n = 3", "print(n * 2)")
    _notebook(root / "notebooks" / "02_train.ipynb", 'profile = "cpu-smoke"', second_body)


def test_the_repository_chapters_are_found_in_book_order():
    module = load_script("rerun_chapters")
    found = [p.name for p in module.toc_notebooks(ROOT)]
    listed = [line.split("notebooks/")[1].strip() + ".ipynb"
              for line in (ROOT / "_toc.yml").read_text().splitlines()
              if "file: notebooks/" in line]
    assert found == listed
    assert [p.name for p in module.toc_notebooks(ROOT) if module.takes_profile(p)] == [
        "02_training.ipynb"]


def test_papermill_reads_every_chapter_parameters_cell_without_a_warning(caplog):
    """papermill parses a parameters cell line by line: a line holding more than one ``=`` (a
    ``dict(key=value, ...)`` literal) is logged as "Unable to parse line ..." on every run."""
    import papermill

    module = load_script("rerun_chapters")
    for notebook in module.toc_notebooks(ROOT):
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="papermill"):
            found = papermill.inspect_notebook(str(notebook))
        assert [r.getMessage() for r in caplog.records] == [], notebook.name
        if module.takes_profile(notebook):
            assert {"profile", "PROFILES"} <= set(found), notebook.name


def test_rerun_follows_the_toc_passes_the_profile_and_records_times(tmp_path):
    _book(tmp_path, "print('profile', profile)")
    times = tmp_path / "times.json"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--root", str(tmp_path), "--profile", "gpu",
         "--times", str(times)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    record = json.loads(times.read_text())
    assert [r["chapter"] for r in record["chapters"]] == [
        "notebooks/02_train.ipynb", "notebooks/01_data.ipynb"]  # the toc's order, not the names'
    assert [r["parameters"] for r in record["chapters"]] == [{"profile": "gpu"}, {}]
    assert all(r["status"] == "ok" for r in record["chapters"])
    trained = nbformat.read(tmp_path / "notebooks" / "02_train.ipynb", as_version=4)
    assert "profile gpu" in "".join(o.get("text", "") for o in trained.cells[-1].outputs)
    assert trained.metadata["papermill"]["input_path"] == "notebooks/02_train.ipynb"
    data = nbformat.read(tmp_path / "notebooks" / "01_data.ipynb", as_version=4)
    assert data.cells[-1].outputs[0]["text"] == "6\n"
    assert not list((tmp_path / "notebooks").glob(".*rerun*"))


def test_a_failing_chapter_is_left_as_it_was_and_stops_the_run(tmp_path):
    _book(tmp_path, "raise RuntimeError('no model')")
    before = (tmp_path / "notebooks" / "02_train.ipynb").read_bytes()
    times = tmp_path / "times.json"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--root", str(tmp_path), "--times", str(times)],
        capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert "02_train.ipynb failed" in result.stderr
    assert (tmp_path / "notebooks" / "02_train.ipynb").read_bytes() == before
    record = json.loads(times.read_text())
    assert [r["chapter"] for r in record["chapters"]] == ["notebooks/02_train.ipynb"]
    assert "no model" in record["chapters"][0]["status"]
    untouched = nbformat.read(tmp_path / "notebooks" / "01_data.ipynb", as_version=4)
    assert untouched.cells[-1].outputs == []  # the run stopped before it


FIGURE = ("import matplotlib.pyplot as plt\n"
          "plt.plot([0, 1], [1, 0])\n"
          "plt.show()")


def test_figures_are_stored_even_when_the_environment_says_agg(tmp_path):
    """``make`` exports MPLBACKEND=Agg for the tests; a rerun chapter still keeps its figures."""
    _book(tmp_path, FIGURE)
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--root", str(tmp_path), "--only", "02",
         "--times", str(tmp_path / "times.json")],
        capture_output=True, text=True, timeout=300, env={**os.environ, "MPLBACKEND": "Agg"})
    assert result.returncode == 0, result.stderr
    drawn = nbformat.read(tmp_path / "notebooks" / "02_train.ipynb", as_version=4)
    assert [sorted(o.get("data", {})) for o in drawn.cells[-1].outputs
            if "image/png" in o.get("data", {})] == [["image/png", "text/plain"]]


def test_a_rerun_that_loses_every_figure_is_not_installed(tmp_path, monkeypatch):
    """The guard behind the fix above: a chapter that held figures and comes back without any
    is left as it was."""
    module = load_script("rerun_chapters")
    _book(tmp_path, "print('no figure now')")
    chapter = tmp_path / "notebooks" / "02_train.ipynb"
    nb = nbformat.read(chapter, as_version=4)
    nb.cells[-1].outputs = [nbformat.v4.new_output(
        "display_data", data={"image/png": "iVBORw0KGgo=", "text/plain": "<Figure>"})]
    nbformat.write(nb, chapter)
    before = chapter.read_bytes()
    with pytest.raises(RuntimeError, match="drew no figure where it held 1"):
        module.run_chapter(chapter, {}, tmp_path)
    assert chapter.read_bytes() == before
    assert not list((tmp_path / "notebooks").glob(".*rerun*"))


def test_tensorflow_load_banners_are_dropped_and_other_stderr_kept():
    # absl prints them on every kernel start, stamped with the clock and the process id
    banner = ["WARNING: All log messages before absl::InitializeLog() is called are written to "
              "STDERR\n",
              "I0000 00:00:1795846992.430413    9958 port.cc:153] oneDNN custom operations are "
              "on. You may see slightly different numerical results due to floating-point "
              "round-off errors from different computation orders. To turn them off, set the "
              "environment variable `TF_ENABLE_ONEDNN_OPTS=0`.\n"]
    notebook = {"cells": [
        {"cell_type": "code", "outputs": [
            {"output_type": "stream", "name": "stderr", "text": banner},
            {"output_type": "stream", "name": "stdout", "text": banner[:1]}]},
        {"cell_type": "code", "outputs": [
            {"output_type": "stream", "name": "stderr", "text": "".join(banner) + "kept: 1\n"}]},
        {"cell_type": "markdown", "source": "text"}]}
    assert load_script("rerun_chapters").drop_log_banners(notebook) == 4
    assert notebook["cells"][0]["outputs"] == [
        {"output_type": "stream", "name": "stdout", "text": banner[:1]}]
    assert notebook["cells"][1]["outputs"][0]["text"] == ["kept: 1\n"]
    assert "outputs" not in notebook["cells"][2]


def test_the_injected_parameters_cell_keeps_one_id_across_reruns(tmp_path):
    """papermill gives its ``injected-parameters`` cell a new random id at every run; the rerun
    names it ``injected-parameters``, so rerunning a chapter does not change that line."""
    module = load_script("rerun_chapters")
    _book(tmp_path, "print('profile', profile)")
    chapter = tmp_path / "notebooks" / "02_train.ipynb"
    ids = []
    for _ in range(2):
        module.run_chapter(chapter, {"profile": "gpu"}, tmp_path)
        nb = nbformat.read(chapter, as_version=4)
        nbformat.validate(nb)
        injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
        assert len(injected) == 1
        ids.append(injected[0].id)
    assert ids == ["injected-parameters", "injected-parameters"]
    assert len({c.id for c in nb.cells}) == len(nb.cells)


def test_the_injected_id_is_not_taken_from_another_cell():
    notebook = {"cells": [
        {"cell_type": "code", "id": "injected-parameters", "metadata": {"tags": []}},
        {"cell_type": "code", "id": "a1b2", "metadata": {"tags": ["injected-parameters"]}}]}
    assert load_script("rerun_chapters").stable_injected_id(notebook) is False
    assert [c["id"] for c in notebook["cells"]] == ["injected-parameters", "a1b2"]
