"""The appendix's table of what the test command costs, per chapter, from the last measurement.

``make test`` runs pytest with ``scripts/pytest_durations.py``, which writes
``_build/test_durations.json`` (seconds per test file and per chapter notebook, and the machine)
before the book is built. This module turns that file into Markdown:

- as a Sphinx extension (``_config.yml``: ``sphinx.local_extensions``), it replaces the line
  ``% test-cost-table`` of ``book/test_cost.md`` with the tables while the book is read, so every
  build, ``make book`` included, shows the latest measurement, and a build without one says how
  to produce it;
- from the command line, ``python scripts/book_test_cost.py [--json PATH]`` prints the same
  Markdown.

No number on that page is typed: each comes from the JSON file.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the sibling book_toc.py
from book_toc import toc_entries  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
DURATIONS = Path("_build") / "test_durations.json"
MARKER = "% test-cost-table"
PAGE = "book/test_cost"
CHAPTER_TEST = re.compile(r"chapter_?(\d\d)")
NOT_MEASURED = (
    "No measurement yet: this build found no `_build/test_durations.json`. `make test` writes "
    "it (its pytest run loads `scripts/pytest_durations.py`) before it builds the book, so the "
    "book that `make test` builds, and every later `make book`, shows the table here."
)


def toc_chapters(root: Path) -> list[str]:
    """The ``notebooks/...`` entries of ``_toc.yml``, in the book's order (without suffix)."""
    found = [re.sub(r"\.(md|ipynb)$", "", entry) for entry in toc_entries(root)]
    return [name for name in found if name.startswith("notebooks/")]


def seconds(value: float) -> str:
    """12.3 s below two minutes, else minutes and seconds (4 min 05 s)."""
    if value < 120:
        return f"{value:.1f} s"
    minutes, rest = divmod(round(value), 60)
    return f"{minutes} min {rest:02d} s"


def _outcomes(entry: dict) -> str:
    parts = [f"{entry['passed']} passed"]
    parts += [f"{entry[key]} {key}" for key in ("failed", "skipped") if entry.get(key)]
    return ", ".join(parts)


def _chapter_number(name: str) -> str | None:
    match = re.match(r"notebooks/(\d\d)", name)
    return match.group(1) if match else None


def render(data: dict | None, chapters: list[str]) -> str:
    """The Markdown that replaces the marker: the tables, or how to produce them."""
    if not data:
        return NOT_MEASURED + "\n"
    files: dict[str, dict] = data["files"]
    notebooks = {name: entry for name, entry in files.items() if name.endswith(".ipynb")}
    chapter_tests: dict[str, dict[str, dict]] = {}
    unit: dict[str, dict] = {}
    for name, entry in files.items():
        if name in notebooks:
            continue
        match = CHAPTER_TEST.search(Path(name).name)
        if match:
            chapter_tests.setdefault(match.group(1), {})[name] = entry
        else:
            unit[name] = entry

    m = data["machine"]
    lines = [
        f"Measured on {data['finished_utc']} UTC by `{data['command']}`, on a machine with "
        f"**{m['cpu_count']} CPUs** ({m['cpus_available']} available to the run; "
        f"{m['processor']}; {m['platform']}; Python {m['python']}; Keras backend "
        f"`{m['keras_backend'] or 'default'}`). The pytest run took "
        f"**{seconds(data['wall_seconds'])}** from start to end, "
        f"{seconds(data['collection_seconds'])} of it importing and collecting the tests; "
        f"exit status {data['exit_status']}"
        + (" (every test passed)." if data["exit_status"] == 0 else " (not a clean run).")
        + " Ruff, the import layers, this book's build and the browser check come on top.",
        "",
        "## Per chapter",
        "",
        "| Chapter | nbval regression check | Chapter's own tests | Total |",
        "| --- | --- | --- | --- |",
    ]
    chapter_total = 0.0
    for chapter in chapters:
        number = _chapter_number(chapter)
        nb = notebooks.get(f"{chapter}.ipynb")
        nb_cell = (f"{seconds(nb['seconds'])} ({nb['tests']} cells)" if nb
                   else "not run under nbval")
        own = chapter_tests.get(number or "", {})
        own_seconds = sum(entry["seconds"] for entry in own.values())
        own_cell = (", ".join(f"`{Path(name).name}` {seconds(entry['seconds'])}"
                              for name, entry in sorted(own.items())) or "none")
        total = (nb["seconds"] if nb else 0.0) + own_seconds
        chapter_total += total
        shown_total = seconds(total) if nb or own else "not measured"
        lines.append(f"| {{doc}}`/{chapter}` | {nb_cell} | {own_cell} | {shown_total} |")
    unit_total = sum(entry["seconds"] for entry in unit.values())
    unit_tests = sum(entry["tests"] for entry in unit.values())
    lines += [
        f"| **All chapters** | | | **{seconds(chapter_total)}** |",
        "",
        "## Unit tests",
        "",
        f"{len(unit)} test files with {unit_tests} tests took **{seconds(unit_total)}** in all "
        "(setup, call and teardown of each test; a shared fixture counts where it is first "
        "built). The slowest first:",
        "",
        "| Test file | Tests | Outcome | Time |",
        "| --- | --- | --- | --- |",
    ]
    for name, entry in sorted(unit.items(), key=lambda item: (-item[1]["seconds"], item[0])):
        lines.append(f"| `{name}` | {entry['tests']} | {_outcomes(entry)} | "
                     f"{seconds(entry['seconds'])} |")
    return "\n".join(lines) + "\n"


def load(path: Path) -> dict | None:
    """The measurement, or None when there is none (or it cannot be read: then it says so)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise ValueError(f"{path}: not a readable durations file ({error}); delete it and rerun "
                         "make test") from error
    if not isinstance(data, dict) or not {"files", "machine", "wall_seconds"} <= data.keys():
        raise ValueError(f"{path}: not a durations file written by scripts/pytest_durations.py")
    return data


def markdown(root: Path = ROOT, durations: Path | None = None) -> str:
    return render(load(durations or root / DURATIONS), toc_chapters(root))


# ---------------------------------------------------------------------------------- Sphinx side
def _fill(app, docname: str, source: list[str]) -> None:
    if docname != PAGE or MARKER not in source[0]:
        return
    root = Path(app.srcdir)
    path = root / DURATIONS
    app.env.note_dependency(str(path))
    source[0] = source[0].replace(MARKER, markdown(root, path), 1)


def setup(app) -> dict:
    app.connect("source-read", _fill)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=ROOT / DURATIONS)
    args = parser.parse_args(argv)
    print(markdown(ROOT, args.json), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
