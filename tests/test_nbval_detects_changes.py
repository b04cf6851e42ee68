"""nbval, as the repository runs it, fails when a checked number in a chapter changes.

The chapters' key results sit in cells marked ``# NBVAL_CHECK_OUTPUT``; ``make test`` re-executes
the notebooks under nbval with the settings in pyproject.toml (``--nbval-lax``,
``--nbval-current-env``, ``--nbval-sanitize-with tests/nbval_sanitize.cfg``). This test shows
that those settings really catch a change: it copies a real chapter, changes the last printed
digit of one stored number, runs pytest with nbval in a subprocess on the copy and on an unedited
copy, and requires the edited copy to fail in exactly that cell while the unedited one passes.
So a sanitizer that swallowed numbers, or a lost ``--nbval-lax`` marker convention, shows up here.

Cost: the whole of chapter 01 takes 45-75 s under nbval on two shared cores (its split and
realism cells), too long to run twice in every test run. The test therefore keeps the chapter's
first code cells, up to and including the checked cell that prints the kappa between the two
grading scales (five code cells, about 10 s each copy): the chapter's own code and stored
outputs, not a toy notebook, and the subprocess reads its options from pyproject.toml itself.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "notebooks" / "01_data_exploration.ipynb"
# The checked number that gets edited: printed with three decimals by the chapter.
NUMBER = re.compile(r"(quadratic weighted kappa between the scales: \d+\.\d\d)(\d)")


def _source(cell: dict) -> str:
    return "".join(cell["source"])


def _truncated_chapter() -> tuple[dict, int]:
    """The chapter up to the cell that prints ``NUMBER``, and that cell's nbval index.

    nbval names a notebook's tests "Cell 0", "Cell 1", ... counting code cells only.
    """
    notebook = json.loads(CHAPTER.read_text(encoding="utf-8"))
    code_index = -1
    for position, cell in enumerate(notebook["cells"]):
        if cell["cell_type"] != "code":
            continue
        code_index += 1
        text = "".join("".join(o.get("text", "")) for o in cell.get("outputs", []))
        if NUMBER.search(text):
            assert _source(cell).lstrip().startswith("# NBVAL_CHECK_OUTPUT"), (
                f"{CHAPTER.name}: the cell printing the kappa between the scales is no longer "
                "checked by nbval"
            )
            notebook["cells"] = notebook["cells"][: position + 1]
            return notebook, code_index
    raise AssertionError(f"{CHAPTER.name}: no stored output matches {NUMBER.pattern!r}")


def _edit_number(notebook: dict, code_index: int) -> tuple[str, str]:
    """Change the last digit of ``NUMBER`` in the stored output; return (old, new) text."""
    cell = [c for c in notebook["cells"] if c["cell_type"] == "code"][code_index]
    for output in cell["outputs"]:
        if output.get("output_type") != "stream":
            continue
        lines = output["text"] if isinstance(output["text"], list) else [output["text"]]
        for i, line in enumerate(lines):
            match = NUMBER.search(line)
            if match:
                digit = str((int(match[2]) + 1) % 10)
                lines[i] = line[: match.start()] + match[1] + digit + line[match.end():]
                output["text"] = lines if isinstance(output["text"], list) else lines[0]
                return match[0], match[1] + digit
    raise AssertionError("the stored stream output with the number was not found")


def _write(notebook: dict, path: Path) -> None:
    path.write_text(json.dumps(notebook, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def _results(junit: Path) -> dict[str, dict[str, str]]:
    """{notebook file name: {test name ("Cell 3"): "passed"/"failed"/"error"/"skipped"}}."""
    results: dict[str, dict[str, str]] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        outcome = "passed"
        for tag in ("failure", "error", "skipped"):
            if case.find(tag) is not None:
                outcome = tag if tag != "failure" else "failed"
        notebook = case.get("classname", "").rsplit(".", 1)[0] + ".ipynb"
        results.setdefault(Path(notebook).name, {})[case.get("name", "")] = outcome
    return results


def test_nbval_fails_when_a_checked_number_changes(tmp_path: Path) -> None:
    notebook, checked = _truncated_chapter()
    n_code = sum(c["cell_type"] == "code" for c in notebook["cells"])
    unedited, edited = tmp_path / "unedited.ipynb", tmp_path / "edited.ipynb"
    _write(notebook, unedited)
    old, new = _edit_number(notebook, checked)
    _write(notebook, edited)
    assert old != new and new in edited.read_text(encoding="utf-8")

    # The repository's own pytest configuration (-c pyproject.toml: --nbval-lax,
    # --nbval-current-env, the sanitizer file relative to the root, no cache folder), run from
    # the root; rootdir in tmp_path keeps the repository's conftest files out.
    junit = tmp_path / "nbval.xml"
    env = dict(os.environ)
    for name, value in (("MPLBACKEND", "Agg"), ("PYTHONHASHSEED", "0"),
                        ("TF_CPP_MIN_LOG_LEVEL", "2"), ("KERAS_BACKEND", "tensorflow")):
        env.setdefault(name, value)
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-c", str(ROOT / "pyproject.toml"),
         "--rootdir", str(tmp_path), "--junitxml", str(junit), "-q",
         str(unedited), str(edited)],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=600,
    )
    log = run.stdout[-4000:] + run.stderr[-2000:]
    results = _results(junit)

    cells = [f"Cell {i}" for i in range(n_code)]
    assert results.get("unedited.ipynb") == dict.fromkeys(cells, "passed"), (
        f"the unedited copy of {CHAPTER.name} does not pass nbval:\n{log}"
    )
    expected = dict.fromkeys(cells, "passed") | {f"Cell {checked}": "failed"}
    assert results.get("edited.ipynb") == expected, (
        f"changing {old!r} to {new!r} in the stored output should fail nbval in Cell {checked} "
        f"and nowhere else:\n{log}"
    )
    assert run.returncode == 1, log
    # nbval's report shows the two numbers that differ.
    assert old.rsplit(" ", 1)[-1] in run.stdout and new.rsplit(" ", 1)[-1] in run.stdout, log
