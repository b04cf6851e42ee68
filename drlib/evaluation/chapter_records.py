"""Records of a chapter run made elsewhere, and how their verdicts compare with the run in hand.

A chapter that runs in CI on 2 CPU cores measures on small cohorts; the same chapter run on a lent
GPU machine with many more eyes cannot be rerun by CI. What that run found travels as a *record*:
a JSON file with the chapter's verdicts (label -> reading, e.g. ``"supported"``), the intervals
behind them (label -> [estimate, low, high]), the run's parameters, model, device and backend. The
chapter reads the committed record and sets its verdicts beside its own (:func:`compare_verdicts`),
so the book shows the larger run's findings with code that CI reruns, as chapter 2 does with the
reference model's manifest.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from drlib.runtime.atomic import atomic_write_text

RECORD_FORMAT = 1
REQUIRED_KEYS = ("format", "chapter", "model", "device", "backend", "parameters", "verdicts",
                 "intervals")


class RecordError(ValueError):
    """A chapter record that cannot be read; the message names the file and the problem."""


def write_record(path: str | Path, *, chapter: str, model: Mapping[str, Any],
                 device: str, backend: str, parameters: Mapping[str, Any],
                 verdicts: Mapping[str, str],
                 intervals: Mapping[str, tuple[float, float, float]],
                 extra: Mapping[str, Any] | None = None) -> Path:
    """Write a chapter record (atomically; keys sorted, so two equal runs write equal files).

    Raises:
        RecordError: a verdict is not a string, or an interval is not three finite numbers.
    """
    record = {"format": RECORD_FORMAT, "chapter": chapter, "model": dict(model),
              "device": device, "backend": backend, "parameters": dict(parameters),
              "verdicts": dict(verdicts),
              "intervals": {k: [float(x) for x in v] for k, v in intervals.items()},
              **({"extra": dict(extra)} if extra else {})}
    _check(record, Path(path))
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return atomic_write_text(path, json.dumps(record, indent=1, sort_keys=True) + "\n")


def read_record(path: str | Path) -> dict[str, Any]:
    """Read and check a chapter record.

    Raises:
        FileNotFoundError: there is no such file.
        RecordError: it is not JSON, lacks a key, has another format, or a verdict or
            interval of the wrong kind; the message names the file.
    """
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    try:
        record = json.loads(text)
    except json.JSONDecodeError as error:
        raise RecordError(f"{path}: not JSON ({error})") from None
    if not isinstance(record, dict):
        raise RecordError(f"{path}: a record is a JSON object, not {type(record).__name__}")
    _check(record, path)
    return record


def _check(record: Mapping[str, Any], path: Path) -> None:
    missing = [key for key in REQUIRED_KEYS if key not in record]
    if missing:
        raise RecordError(f"{path}: missing {', '.join(missing)}")
    if record["format"] != RECORD_FORMAT:
        raise RecordError(f"{path}: format {record['format']!r}, this drlib reads "
                          f"{RECORD_FORMAT}")
    for label, verdict in record["verdicts"].items():
        if not isinstance(verdict, str):
            raise RecordError(f"{path}: verdict {label!r} is {verdict!r}, not a string")
    for label, values in record["intervals"].items():
        if (not isinstance(values, list | tuple) or len(values) != 3
                or not all(isinstance(x, int | float) and math.isfinite(x) for x in values)):
            raise RecordError(f"{path}: interval {label!r} is {values!r}, not three finite "
                              "numbers [estimate, low, high]")
        if values[1] > values[2]:
            raise RecordError(f"{path}: interval {label!r} is {values!r}: its low end lies "
                              "above its high end")


def compare_verdicts(current: Mapping[str, str], recorded: Mapping[str, str],
                     names: tuple[str, str] = ("this run", "record")) -> pd.DataFrame:
    """One row per label of either run, in the current run's order then the record's extra
    labels: both verdicts (``"-"`` where a run has none) and whether they agree
    (``"same"``, ``"differs"``, or ``"one run only"``)."""
    labels = list(current) + [label for label in recorded if label not in current]
    rows = []
    for label in labels:
        mine, theirs = current.get(label), recorded.get(label)
        agreement = ("one run only" if mine is None or theirs is None
                     else "same" if mine == theirs else "differs")
        rows.append({"verdict": label, names[0]: "-" if mine is None else mine,
                     names[1]: "-" if theirs is None else theirs, "agreement": agreement})
    return pd.DataFrame(rows, columns=["verdict", *names, "agreement"]).set_index("verdict")
