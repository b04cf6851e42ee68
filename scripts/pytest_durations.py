"""pytest plugin: the time each test file (and each chapter notebook under nbval) took, as JSON.

    pytest -p pytest_durations --durations-json _build/test_durations.json   # scripts/ on sys.path

``make test`` loads it for its main pytest run; the book's appendix page "Cost of the test
command" (``book/test_cost.md``, filled in by ``scripts/book_test_cost.py``) turns the file into a
table. Without ``--durations-json`` the plugin records nothing, so partial runs never overwrite
the measurement of a full one.

A file's time is the sum of its tests' setup, call and teardown times (a module fixture's cost
lands on the test that first uses it; for a notebook this includes starting its kernel). Import
and collection time is reported once for the whole run (``collection_seconds``). The file also
records the machine (CPU count, processor, platform), the run's wall time and its exit status,
and is written atomically (``drlib.runtime.atomic``).
"""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

SCHEMA = 1


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.getgroup("durations-json").addoption(
        "--durations-json", metavar="PATH", default=None,
        help="write the time per test file (and per notebook) to PATH as JSON",
    )


def pytest_configure(config: pytest.Config) -> None:
    path = config.getoption("durations_json", default=None)
    if path:
        config.pluginmanager.register(DurationRecorder(Path(path)), "durations-json-recorder")


def processor_name() -> str:
    """The CPU model as /proc/cpuinfo names it, else what ``platform`` knows."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict:
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        available = os.cpu_count()
    return {
        "cpu_count": os.cpu_count(),
        "cpus_available": available,
        "processor": processor_name(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "keras_backend": os.environ.get("KERAS_BACKEND", ""),
    }


class DurationRecorder:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.started = time.monotonic()
        self.collected_at: float | None = None
        self.files: dict[str, dict] = defaultdict(
            lambda: {"seconds": 0.0, "tests": 0, "passed": 0, "failed": 0, "skipped": 0}
        )

    @staticmethod
    def _file(nodeid: str) -> str:
        return nodeid.split("::", 1)[0]

    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.collected_at = time.monotonic()
        for item in session.items:
            self.files[self._file(item.nodeid)]["tests"] += 1

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        entry = self.files[self._file(report.nodeid)]
        entry["seconds"] += report.duration
        # One outcome per test: the call's, or the setup's when the test never ran.
        if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
            entry[report.outcome] += 1
        elif report.when == "teardown" and report.outcome == "failed":
            entry["failed"] += 1

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session, exitstatus: int) -> None:
        from drlib.runtime.atomic import atomic_write_text

        now = time.monotonic()
        files = {
            name: {**entry, "seconds": round(entry["seconds"], 3)}
            for name, entry in sorted(self.files.items())
        }
        data = {
            "schema": SCHEMA,
            "finished_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
            "command": "pytest " + " ".join(sys.argv[1:]),
            "exit_status": int(exitstatus),
            "wall_seconds": round(now - self.started, 3),
            "collection_seconds": round((self.collected_at or now) - self.started, 3),
            "machine": machine(),
            "files": files,
        }
        self.path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(self.path, json.dumps(data, indent=1) + "\n")
