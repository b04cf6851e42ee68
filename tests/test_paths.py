"""Where data, models and runs go: the checkout when there is one, user folders otherwise."""

from pathlib import Path

import pytest

from drlib.modeling.manifest import portable_path
from drlib.runtime import paths

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def no_overrides(monkeypatch):
    for variable in ("DRLIB_DATA", "DRLIB_MODELS", "DRLIB_RUNS"):
        monkeypatch.delenv(variable, raising=False)


def test_in_a_checkout_everything_lives_in_the_checkout(no_overrides, monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT / "notebooks")
    assert paths.project_root() == ROOT
    assert paths.data_dir() == ROOT / "data"
    assert paths.models_dir() == ROOT / "models"
    assert paths.runs_dir() == ROOT / "runs"


def test_outside_a_checkout_nothing_goes_into_site_packages(no_overrides, monkeypatch, tmp_path):
    # as after a non-editable install: no checkout above the working directory or the package
    monkeypatch.setattr(paths, "_is_checkout", lambda folder: False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    monkeypatch.chdir(tmp_path)
    assert paths.find_checkout() is None
    with pytest.raises(FileNotFoundError, match="not inside a checkout"):
        paths.project_root()
    assert paths.data_dir() == tmp_path / "cache" / "drlib" / "data"
    assert paths.runs_dir() == tmp_path / "cache" / "drlib" / "runs"
    assert paths.models_dir() == tmp_path / "share" / "drlib" / "models"


def test_environment_variables_override_every_folder(monkeypatch, tmp_path):
    for variable, function in (("DRLIB_DATA", paths.data_dir), ("DRLIB_MODELS", paths.models_dir),
                               ("DRLIB_RUNS", paths.runs_dir)):
        monkeypatch.setenv(variable, str(tmp_path / variable))
        assert function() == tmp_path / variable


def test_manifest_paths_are_relative_to_the_checkout_or_reduced_to_their_name(monkeypatch):
    monkeypatch.chdir(ROOT)
    assert portable_path(ROOT / "runs" / "densenet121_cpu") == "runs/densenet121_cpu"
    assert portable_path("/somewhere/else/run_7") == "run_7"
    assert portable_path("runs/a") == "runs/a"


def test_a_manifest_never_records_an_absolute_path(monkeypatch):
    from drlib.modeling.manifest import _jsonable

    monkeypatch.chdir(ROOT)
    config = {"output_dir": str(ROOT / "runs" / "x"), "elsewhere": "/tmp/y/z",
              "nested": [Path("/data/w"), "plain text"]}
    assert _jsonable(config) == {"output_dir": "runs/x", "elsewhere": "z",
                                 "nested": ["w", "plain text"]}
