"""The appendix's tables of the benchmarks recorded on the lent GPU machine.

A benchmark's ``--full`` setting runs only on the GPU machine, which CI does not have. Each such
run is kept as a record, ``benchmarks/records/<date>_<card>/``: the benchmarks' JSON files copied
unchanged from the machine, and ``run.json`` (date, machine, command, code revision, files, a
note). This module turns every record into Markdown, oldest first: its tables, then a line of
the targets it met and missed, and how each ratio moved since the previous record of the same
benchmark on the same card:

- as a Sphinx extension (``_config.yml``: ``sphinx.local_extensions``), it replaces the line
  ``% gpu-benchmark-records`` of ``book/benchmarks.md`` while the book is read, so every build
  shows the records as they are stored;
- from the command line, ``python scripts/book_benchmarks.py`` prints the same Markdown.

No number on that page is typed, and neither is a verdict: each comes from a record's JSON.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECORDS = Path("benchmarks") / "records"
MARKER = "% gpu-benchmark-records"
PAGE = "book/benchmarks"
RUN = "run.json"
NO_RECORDS = "No GPU benchmark run has been recorded yet (`benchmarks/records/` is empty)."
TRAIN_ROWS = (  # JSON key, what was timed
    ("in_memory", "Keras, batches already in memory (the baseline)"),
    ("pipeline", "Keras, photographs rendered while training (`FundusSequence` on {workers} "
                 "workers, rendered at {render_size} px)"),
    ("cache", "Keras, from the memory-mapped training cache (`CacheSequence`)"),
    ("torch", "torchvision's DenseNet121, native PyTorch ({device}, bf16 autocast)"),
)
TRAIN_RATIOS = (  # ratio key, contender, baseline
    ("pipeline_over_memory", "pipeline", "in memory"),
    ("cache_over_memory", "training cache", "in memory"),
    ("keras_over_torch", "Keras in memory", "native PyTorch"),
)


class RecordError(ValueError):
    """A record cannot be read; the message names the file and the problem."""


def _read(path: Path) -> dict:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise RecordError(f"{path}: not a readable JSON record ({error})") from error
    if not isinstance(data, dict):
        raise RecordError(f"{path}: a record must be a JSON object, found {type(data).__name__}")
    return data


def _need(data: dict, keys: set[str], path: Path) -> dict:
    missing = sorted(keys - data.keys())
    if missing:
        raise RecordError(f"{path}: missing {', '.join(missing)}")
    return data


def load_records(folder: Path) -> list[tuple[Path, dict, dict[str, dict]]]:
    """Every record under ``folder``, oldest first: (its folder, run.json, {file: JSON})."""
    records = []
    for run_path in sorted(folder.glob(f"*/{RUN}")):
        run = _need(_read(run_path), {"date", "machine", "command", "code", "files"}, run_path)
        files = {}
        for name in run["files"]:
            files[name] = _read(run_path.parent / name)
        records.append((run_path.parent, run, files))
    return records


def _met(entry: dict) -> str:
    return "yes" if entry["met"] else "**no**"


def _ratio(ratio: float, target: float, unit: str = "") -> str:
    """``ratio`` to two decimals, or more where two would print the target itself (0.798 is not
    shown as 0.80 beside a missed target of 0.8)."""
    digits = 2
    while (ratio != target and digits < 6
           and f"{ratio:.{digits}f}" == f"{target:.{digits}f}"):
        digits += 1
    return f"{ratio:.{digits}f}{unit}"


def train_ratios(data: dict) -> list[dict]:
    """The training-throughput ratios as (key, ratio, target, met) rows, in the table's order."""
    return [{"key": key, "ratio": data["ratios"][key], "target": data["targets"][key],
             "met": data["ratios"][key] >= data["targets"][key], "unit": ""}
            for key, _, _ in TRAIN_RATIOS if key in data["ratios"]]


def explain_ratios(data: dict) -> list[dict]:
    """The explanation-map pairs as rows like :func:`train_ratios`'; a skipped pair has its
    reason instead of a ratio."""
    rows = []
    for key, entry in data["pairs"].items():
        if "skipped" in entry:
            rows.append({"key": key, "skipped": entry["skipped"], "target": entry["target"]})
        else:
            rows.append({"key": key, "ratio": entry["ratio"], "target": entry["target"],
                         "met": bool(entry["met"]), "unit": "x"})
    return rows


def train_table(data: dict, path: Path) -> list[str]:
    _need(data, {"device", "settings", "ratios", "targets"}, path)
    s = data["settings"]
    lines = [
        f"**Training throughput** (`bench_train_throughput.py --{data.get('mode', '?')}`): "
        f"DenseNet121 at {s['size']} px, batch {s['batch']}, {s['steps']} timed steps after "
        f"{s['warmup']} warm-up steps; Keras backend `{data['device']['backend']}`, precision "
        f"policy `{data['device']['dtype_policy']}`, on {data['device']['description']}.",
        "",
        "| Training from | Images/s |",
        "| --- | ---: |",
    ]
    for key, label in TRAIN_ROWS:
        if key in data:
            entry = data[key]
            fields = {"workers": entry.get("workers"), "render_size": s.get("render_size"),
                      "device": entry.get("device")}
            lines.append(f"| {label.format(**fields)} | {entry['images_per_s']:.1f} |")
    lines += ["", "| Ratio | Contender over baseline | Measured | Target | Met |",
              "| --- | --- | ---: | ---: | --- |"]
    names = {key: (contender, baseline) for key, contender, baseline in TRAIN_RATIOS}
    for row in train_ratios(data):  # the same rows, and the same "met", as the verdict line
        contender, baseline = names[row["key"]]
        met = "yes" if row["met"] else "**no**"
        lines.append(f"| `{row['key']}` | {contender} / {baseline} | "
                     f"{_ratio(row['ratio'], row['target'])} | {row['target']:g} | {met} |")
    return lines


def explain_table(data: dict, path: Path) -> list[str]:
    _need(data, {"device", "settings", "pairs", "warmup_s"}, path)
    s = data["settings"]
    lines = [
        f"**Explanation maps** (`bench_explain.py --{data.get('mode', '?')}`): {s['size']} px, "
        f"batch {s['batch']}, {s['images_per_call']} images per call, weights "
        f"{s['weights']}, images: {s['images']}; Keras backend `{data['backend']}`, on "
        f"{data['device']['description']}. Ratios are contender images/s over baseline "
        "images/s (above 1 is faster), the median over rounds run back to back.",
        "",
        "| Contender | Baseline | Contender images/s | Baseline images/s | Ratio | Target | Met |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for entry in data["pairs"].values():
        if "skipped" in entry:
            lines.append(f"| {entry['contender']} | {entry['baseline']} | | | | "
                         f"{entry['target']:g}x | skipped: {entry['skipped']} |")
            continue
        lines.append(f"| {entry['contender']} | {entry['baseline']} | "
                     f"{entry['contender_images_per_s']:.1f} | "
                     f"{entry['baseline_images_per_s']:.1f} | "
                     f"{_ratio(entry['ratio'], entry['target'], 'x')} | "
                     f"{entry['target']:g}x | {_met(entry)} |")
    warmup = ", ".join(f"{name} {seconds:.1f} s" for name, seconds in data["warmup_s"].items())
    lines += ["", f"First calls (tracing and compilation, not in the throughput): {warmup}."]
    return lines


TABLES = {"bench_train_throughput.json": train_table, "bench_explain.json": explain_table}
RATIOS = {"bench_train_throughput.json": train_ratios, "bench_explain.json": explain_ratios}


def _card(data: dict) -> str:
    return data["device"]["description"]


def verdict(files: dict[str, dict]) -> str:
    """One line: the record's targets met, missed and not measured, from its JSON."""
    met, missed, skipped = [], [], {}
    for name, data in files.items():
        for row in RATIOS[name](data):
            if "skipped" in row:
                skipped.setdefault(row["skipped"], []).append(f"`{row['key']}`")
                continue
            ratio = _ratio(row["ratio"], row["target"], row["unit"])
            target = f"{row['target']:g}{row['unit']}"
            (met if row["met"] else missed).append(
                f"`{row['key']}` {ratio} {'≥' if row['met'] else '<'} {target}")
    line = (f"Targets met in this record: {', '.join(met) if met else 'none'}. "
            f"Missed: {', '.join(missed) if missed else 'none'}.")
    for reason, keys in skipped.items():
        line += f" Not measured, since {reason}: {', '.join(keys)}."
    return line


def changes(records: list[tuple[Path, dict, dict[str, dict]]], index: int) -> list[str]:
    """For each benchmark file of record ``index``: its ratios next to those of the latest earlier
    record that holds the same file measured on the same card (none where there is no such)."""
    _, _, files = records[index]
    lines = []
    for name, data in files.items():
        earlier = [(run, old[name]) for _, run, old in records[:index]
                   if name in old and _card(old[name]) == _card(data)]
        if not earlier:
            continue
        run, old = earlier[-1]
        before = {row["key"]: row for row in RATIOS[name](old) if "skipped" not in row}
        moved = [f"`{row['key']}` {_ratio(before[row['key']]['ratio'], row['target'], row['unit'])}"
                 f" → {_ratio(row['ratio'], row['target'], row['unit'])}"
                 for row in RATIOS[name](data)
                 if "skipped" not in row and row["key"] in before]
        if moved:
            lines.append(f"Since the record of {run['date']} (`{name}`, revision `{run['code']}`, "
                         f"same card): {', '.join(moved)}.")
    return lines


def render(records: list[tuple[Path, dict, dict[str, dict]]], root: Path = ROOT) -> str:
    """The Markdown that replaces the marker."""
    if not records:
        return NO_RECORDS + "\n"
    lines: list[str] = [f"{len(records)} records, oldest first.", ""] if len(records) > 1 else []
    for index, (folder, run, files) in enumerate(records):
        where = folder.relative_to(root) if folder.is_relative_to(root) else folder
        lines += [
            f"### {run['date']}: {run['machine']}",
            "",
            f"Record `{where}/`; code at revision `{run['code']}`; command: {run['command']}."
            + (f" {run['note']}" if run.get("note") else ""),
            "",
        ]
        for name, data in files.items():
            table = TABLES.get(name)
            if table is None:
                raise RecordError(f"{folder / name}: no table is known for this benchmark file")
            lines += table(data, folder / name) + [""]
        lines += [verdict(files), ""]
        for line in changes(records, index):
            lines += [line, ""]
    return "\n".join(lines)


def markdown(root: Path = ROOT) -> str:
    return render(load_records(root / RECORDS), root)


# ---------------------------------------------------------------------------------- Sphinx side
def _fill(app, docname: str, source: list[str]) -> None:
    if docname != PAGE or MARKER not in source[0]:
        return
    root = Path(app.srcdir)
    for path in sorted((root / RECORDS).glob("*/*.json")):
        app.env.note_dependency(str(path))
    source[0] = source[0].replace(MARKER, markdown(root), 1)


def setup(app) -> dict:
    app.connect("source-read", _fill)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args(argv)
    print(markdown(ROOT), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
