"""The appendix's test-cost table: scripts/pytest_durations.py records, scripts/book_test_cost.py
renders (issue 12: "the appendix lists its cost per chapter", pulled from a file, never typed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

try:
    from script_modules import load_script
except ImportError:  # tests/ imported as a package
    from tests.script_modules import load_script

ROOT = Path(__file__).resolve().parents[1]


def _entry(seconds: float, tests: int, passed: int, skipped: int = 0) -> dict:
    return {"seconds": seconds, "tests": tests, "passed": passed, "failed": 0,
            "skipped": skipped}


MEASUREMENT = {
    "schema": 1,
    "finished_utc": "2026-01-02 03:04",
    "command": "pytest -p pytest_durations --durations-json _build/test_durations.json",
    "exit_status": 0,
    "wall_seconds": 754.0,
    "collection_seconds": 12.25,
    "machine": {"cpu_count": 2, "cpus_available": 2, "processor": "Test CPU",
                "platform": "Linux-test", "python": "3.11.7", "keras_backend": "tensorflow"},
    "files": {
        "notebooks/01_a.ipynb": _entry(61.04, 20, 20),
        "tests/test_chapter02_smoke.py": _entry(300.0, 1, 1),
        "tests/test_chapter01.py": _entry(4.0, 3, 3),
        "tests/test_fast.py": _entry(0.5, 4, 3, skipped=1),
        "tests/test_slow.py": _entry(125.4, 2, 2),
    },
}
CHAPTERS = ["notebooks/01_a", "notebooks/02_b"]


def test_the_table_lists_every_chapter_and_unit_test_file_from_the_measurement() -> None:
    text = load_script("book_test_cost").render(MEASUREMENT, CHAPTERS)
    lines = text.splitlines()
    assert lines[0].startswith(
        "Measured on 2026-01-02 03:04 UTC by `pytest -p pytest_durations --durations-json "
        "_build/test_durations.json`, on a machine with **2 CPUs** (2 available to the run; "
        "Test CPU; Linux-test; Python 3.11.7; Keras backend `tensorflow`). The pytest run took "
        "**12 min 34 s** from start to end, 12.2 s of it importing and collecting the tests; "
        "exit status 0 (every test passed).")
    start = lines.index("| Chapter | nbval regression check | Chapter's own tests | Total |")
    assert lines[start + 2:start + 5] == [
        "| {doc}`/notebooks/01_a` | 61.0 s (20 cells) | `test_chapter01.py` 4.0 s | 65.0 s |",
        "| {doc}`/notebooks/02_b` | not run under nbval | `test_chapter02_smoke.py` 5 min 00 s "
        "| 5 min 00 s |",
        "| **All chapters** | | | **6 min 05 s** |",
    ]
    assert ("2 test files with 6 tests took **2 min 06 s** in all (setup, call and teardown of "
            "each test; a shared fixture counts where it is first built). The slowest first:"
            ) in lines
    start = lines.index("| Test file | Tests | Outcome | Time |")
    assert lines[start + 2:] == [
        "| `tests/test_slow.py` | 2 | 2 passed | 2 min 05 s |",
        "| `tests/test_fast.py` | 4 | 3 passed, 1 skipped | 0.5 s |",
    ]


def test_without_a_measurement_the_page_says_how_to_make_one(tmp_path) -> None:
    module = load_script("book_test_cost")
    assert module.load(tmp_path / "absent.json") is None
    assert module.render(None, CHAPTERS) == module.NOT_MEASURED + "\n"
    assert "`make test` writes it" in module.NOT_MEASURED


@pytest.mark.parametrize("content", ["{not json", '{"files": {}}'])
def test_a_damaged_measurement_is_named(tmp_path, content: str) -> None:
    path = tmp_path / "test_durations.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=r"test_durations\.json: not a"):
        load_script("book_test_cost").load(path)


def test_the_book_page_gets_the_table_in_place_of_its_marker(tmp_path) -> None:
    module = load_script("book_test_cost")
    (tmp_path / "_build").mkdir()
    (tmp_path / "_build" / "test_durations.json").write_text(json.dumps(MEASUREMENT))
    (tmp_path / "_toc.yml").write_text(
        "format: jb-book\nroot: intro\nchapters:\n  - file: notebooks/01_a\n", encoding="utf-8")
    noted: list[str] = []
    app = SimpleNamespace(srcdir=str(tmp_path), env=SimpleNamespace(note_dependency=noted.append))
    source = ["# Cost\n\n% test-cost-table\n\nAfter.\n"]
    module._fill(app, "book/test_cost", source)
    assert source[0].startswith("# Cost\n\nMeasured on 2026-01-02 03:04 UTC")
    assert "| {doc}`/notebooks/01_a` | 61.0 s (20 cells) |" in source[0]
    assert source[0].endswith("\n\nAfter.\n") and "% test-cost-table" not in source[0]
    assert noted == [str(tmp_path / "_build" / "test_durations.json")]
    other = ["% test-cost-table\n"]
    module._fill(app, "book/intro", other)
    assert other == ["% test-cost-table\n"]


def test_the_page_and_the_extension_are_wired_into_the_book() -> None:
    import yaml

    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert config["sphinx"]["local_extensions"]["book_test_cost"] == "scripts"
    assert "% test-cost-table" in (ROOT / "book" / "test_cost.md").read_text(encoding="utf-8")
    assert "- file: book/test_cost" in (ROOT / "_toc.yml").read_text(encoding="utf-8")


def test_the_plugin_records_time_and_outcome_per_file(tmp_path) -> None:
    (tmp_path / "test_one.py").write_text(
        "import pytest\n\ndef test_a():\n    pass\n\ndef test_b():\n    assert False\n\n"
        "@pytest.mark.skip(reason='x')\ndef test_c():\n    pass\n", encoding="utf-8")
    (tmp_path / "test_two.py").write_text("def test_d():\n    pass\n", encoding="utf-8")
    out = tmp_path / "out" / "durations.json"
    # Installed plugins (nbval, ...) are not loaded: they only slow the subprocess down.
    env = {**os.environ, "PYTHONPATH": str(ROOT / "scripts"), "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-o", "addopts=",
         "-p", "pytest_durations", "--durations-json", str(out), "test_one.py", "test_two.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 1, run.stdout + run.stderr
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["exit_status"] == 1
    assert data["machine"]["cpu_count"] == os.cpu_count()
    counts = {name: {k: v for k, v in entry.items() if k != "seconds"}
              for name, entry in data["files"].items()}
    assert counts == {
        "test_one.py": {"tests": 3, "passed": 1, "failed": 1, "skipped": 1},
        "test_two.py": {"tests": 1, "passed": 1, "failed": 0, "skipped": 0},
    }
    assert all(isinstance(entry["seconds"], float) for entry in data["files"].values())
    assert [p.name for p in out.parent.iterdir()] == ["durations.json"]  # no partial debris


def test_the_plugin_records_nothing_unless_asked() -> None:
    module = load_script("pytest_durations")
    registered: list[object] = []
    config = SimpleNamespace(
        getoption=lambda name, default=None: None,
        pluginmanager=SimpleNamespace(register=lambda plugin, name: registered.append(plugin)))
    module.pytest_configure(config)
    assert registered == []
    config.getoption = lambda name, default=None: "out.json"
    module.pytest_configure(config)
    assert [type(plugin).__name__ for plugin in registered] == ["DurationRecorder"]
