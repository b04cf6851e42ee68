"""The project's configuration files agree with each other.

pyproject.toml is the one list of dependencies; environment.yml (conda), the Makefile, the book's
table of contents and the nbval sanitizer file must not drift away from it or from the tree.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
PROJECT_INSTALL = re.compile(r"""^(?:-e\s+|--editable\s+)?["']?\.\[(?P<extras>[^\]]*)\]["']?$""")
CONDA_ONLY = {"python", "pip"}


def _pyproject() -> dict:
    with open(ROOT / "pyproject.toml", "rb") as f:
        return tomllib.load(f)


def _environment() -> dict:
    with open(ROOT / "environment.yml", encoding="utf-8") as f:
        return yaml.safe_load(f)


def _pyproject_names(pyproject: dict) -> set[str]:
    project = pyproject["project"]
    requirements = list(project.get("dependencies", []))
    for group in project.get("optional-dependencies", {}).values():
        requirements.extend(group)
    return {canonicalize_name(Requirement(r).name) for r in requirements}


def _split_environment(env: dict) -> tuple[list[str], list[str]]:
    """(conda package specs, pip lines) of an environment.yml."""
    conda, pip = [], []
    for dep in env.get("dependencies", []):
        if isinstance(dep, dict):
            pip.extend(dep.get("pip", []))
        else:
            conda.append(str(dep))
    return conda, pip


def _conda_name(spec: str) -> str:
    """Package name of a conda spec such as ``numpy>=1.26``, ``python=3.11``, ``conda-forge::x``."""
    spec = spec.split("::")[-1]
    match = re.match(r"[A-Za-z0-9_.\-]+", spec.strip())
    assert match, f"environment.yml: cannot read a package name from {spec!r}"
    return canonicalize_name(match.group(0))


def test_environment_yml_names_only_pyproject_dependencies() -> None:
    known = _pyproject_names(_pyproject())
    conda, pip = _split_environment(_environment())
    unknown = []
    for spec in conda:
        name = _conda_name(spec)
        if name not in CONDA_ONLY and name not in known:
            unknown.append(f"conda: {spec}")
    for line in pip:
        if PROJECT_INSTALL.match(line.strip()):
            continue
        if canonicalize_name(Requirement(line).name) not in known:
            unknown.append(f"pip: {line}")
    assert not unknown, (
        "environment.yml names packages that pyproject.toml does not declare (add them to "
        f"[project] dependencies or an extra, or drop them here): {unknown}"
    )


def test_environment_yml_installs_project_with_book_and_test_extras() -> None:
    _, pip = _split_environment(_environment())
    installs = [PROJECT_INSTALL.match(line.strip()) for line in pip]
    extras = [{e.strip() for e in m.group("extras").split(",")} for m in installs if m]
    assert extras, f"environment.yml: no pip line installs the project ('-e .[book,test]'): {pip}"
    assert any({"book", "test"} <= found for found in extras), (
        f"environment.yml: the project must be installed with the book and test extras, got {pip}"
    )


def test_extras_used_by_the_makefile_exist() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    used = {
        extra.strip()
        for group in re.findall(r"\.\[([^\]]+)\]", makefile)
        for extra in group.split(",")
    }
    assert used, "Makefile: no `pip install -e '.[...]'` line found"
    declared = set(_pyproject()["project"].get("optional-dependencies", {}))
    assert used <= declared, f"Makefile installs extras {sorted(used - declared)} not in pyproject"


def _toc_files(node: object) -> list[str]:
    """Every ``file:`` (and the ``root:``) named anywhere in a parsed _toc.yml."""
    found: list[str] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key in {"file", "root"} and isinstance(value, str):
                found.append(value)
            else:
                found.extend(_toc_files(value))
    elif isinstance(node, list):
        for item in node:
            found.extend(_toc_files(item))
    return found


def _resolve_toc_entry(entry: str) -> Path | None:
    path = ROOT / entry
    if path.suffix in {".md", ".ipynb"}:
        return path if path.is_file() else None
    for suffix in (".md", ".ipynb"):
        if path.with_suffix(suffix).is_file():
            return path.with_suffix(suffix)
    return None


def test_toc_files_exist() -> None:
    with open(ROOT / "_toc.yml", encoding="utf-8") as f:
        toc = yaml.safe_load(f)
    entries = _toc_files(toc)
    assert toc.get("root") in entries
    missing = [e for e in entries if _resolve_toc_entry(e) is None]
    assert not missing, f"_toc.yml lists files that do not exist (.md or .ipynb): {missing}"


def test_every_notebook_is_in_the_toc() -> None:
    with open(ROOT / "_toc.yml", encoding="utf-8") as f:
        listed = {_resolve_toc_entry(e) for e in _toc_files(yaml.safe_load(f))}
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    dropped = [str(nb.relative_to(ROOT)) for nb in notebooks if nb not in listed]
    assert not dropped, (
        f"notebooks missing from _toc.yml (the book would silently leave them out): {dropped}"
    )


def _sanitize_patterns() -> list[tuple[str, str]]:
    nbval_plugin = pytest.importorskip("nbval.plugin")
    text = (ROOT / "tests" / "nbval_sanitize.cfg").read_text(encoding="utf-8")
    return nbval_plugin.get_sanitize_patterns(text)


def _sanitize(text: str, patterns: list[tuple[str, str]]) -> str:
    for regex, replacement in patterns:
        text = re.sub(regex, replacement, text)
    return text


def test_pytest_config_points_at_the_sanitizer_file() -> None:
    addopts = _pyproject()["tool"]["pytest"]["ini_options"]["addopts"]
    flag = addopts.index("--nbval-sanitize-with")
    assert (ROOT / addopts[flag + 1]).is_file()


def test_every_sanitizer_regex_has_its_replacement() -> None:
    # nbval pairs a "regex:" line with the "replace:" line right after it and skips any pair it
    # cannot read, so a typo would silently disable a sanitizer: count both sides.
    text = (ROOT / "tests" / "nbval_sanitize.cfg").read_text(encoding="utf-8")
    n_regex = len(re.findall(r"^regex: ", text, flags=re.MULTILINE))
    assert n_regex > 0
    assert len(_sanitize_patterns()) == n_regex


@pytest.mark.parametrize(
    ("noisy", "clean"),
    [
        (
            "\x08\x08\x0832/32 ━━━━━━━━━━━━━━━━━━━━ 1s 30ms/step - loss: 0.6931\n",
            "32/32 PROGRESS-BAR TIME TIME/step - loss: 0.6931\n",
        ),
        (
            " 50%|█████     | 5/10 [00:00<00:00, 9.5it/s]\r"
            "100%|██████████| 10/10 [00:01<00:00, 9.52it/s]\n",
            "100%|PROGRESS-BAR| 10/10 [ELAPSED<REMAINING, RATE]\n",
        ),
        ("took 12.3s (Wall time: 1.2 s)", "took TIME (Wall time: TIME)"),
        ("<Functional object at 0x7f3a2b1c4d50>", "<Functional object at 0xADDRESS>"),
        ("2025-01-31 12:34:56.789012: I tensorflow/core", "DATETIME: I tensorflow/core"),
    ],
)
def test_sanitizers_remove_run_to_run_noise(noisy: str, clean: str) -> None:
    assert _sanitize(noisy, _sanitize_patterns()) == clean


def test_sanitizers_keep_the_numbers_a_notebook_checks() -> None:
    text = "kappa 0.81 on 512 px images, grade 3: 12 eyes in 4 quadrants, 5 steps\n"
    assert _sanitize(text, _sanitize_patterns()) == text
