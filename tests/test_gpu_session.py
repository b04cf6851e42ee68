"""scripts/gpu_session.sh, in its DRY_RUN mode: which commands a lent GPU machine would run.

The script cannot run here (no GPU, no budget), but what it asks the machine to do can be read:
DRY_RUN echoes every command instead of running it, the trainings' into their log files.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def dry_run(tmp_path: Path, *jobs: str, **env: str) -> tuple[str, dict[str, str]]:
    done = subprocess.run(
        ["bash", str(ROOT / "scripts" / "gpu_session.sh"), *jobs], cwd=ROOT,
        env={**os.environ, "DRY_RUN": "1", "OUT": str(tmp_path / "out"),
             "GPU_STAGE": str(tmp_path / "stage"), **env},
        capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    logs = {log.stem: log.read_text() for log in (tmp_path / "stage").glob("*.log")}
    return done.stdout, logs


def test_by_default_it_renders_the_data_from_a_file_then_trains_the_resolution_graders(tmp_path):
    out, logs = dry_run(tmp_path)
    # the data job runs a script file: the builder's spawned workers re-import the main module
    # by its path, which code piped to `python -` does not have (the 2026-11-27 call failed so)
    assert re.search(r"^\+ \[limit \d+s\] python3 scripts/render_chapter_splits\.py gpu$", out,
                     re.MULTILINE)
    assert "python3 -\n" not in out
    assert [line.split(":")[0] for line in out.splitlines() if line.startswith("job ")] == [
        "job data", "job resolution"]
    assert sorted(logs) == ["densenet121_gpu_ft224", "densenet121_gpu_ft384"]


def test_the_reference_job_trains_the_profile_as_it_stands(tmp_path):
    _, logs = dry_run(tmp_path, "reference")
    assert sorted(logs) == ["densenet121_gpu"]
    assert "-p init" not in logs["densenet121_gpu"]
    assert "-p image_size" not in logs["densenet121_gpu"]


@pytest.mark.parametrize("after", ["120", "200"])
def test_each_training_gets_its_limit_less_what_follows_training(tmp_path, after):
    _, logs = dry_run(tmp_path, "resolution", AFTER_TRAINING_S=after)
    for name, log in logs.items():
        limit = int(re.search(r"\[limit (\d+)s\]", log).group(1))
        assert f"-p profile gpu -p model_name {name} -p time_limit_s {limit - int(after)}" in log


def test_the_resolution_graders_continue_the_reference_and_differ_only_in_input_size(tmp_path):
    # chapter 06 (section 6.9) refuses graders that do not continue the model it explains, and
    # compares two graders whose records differ in the input size alone
    _, logs = dry_run(tmp_path, "resolution", RES_EPOCHS="3")
    shared = ("-p init gpu/densenet121_gpu.manifest.json -p resize_init True "
              "-p learning_rate 0.0001 -p epochs 3")
    for size in (224, 384):
        log = logs[f"densenet121_gpu_ft{size}"]
        assert f"{shared} -p image_size {size}" in log
        assert log.count("-p image_size") == 1
    assert (logs["densenet121_gpu_ft224"].replace("224", "SIZE")
            == logs["densenet121_gpu_ft384"].replace("384", "SIZE"))
    assert (ROOT / "models" / "gpu" / "densenet121_gpu.manifest.json").is_file()



def test_the_failure_job_runs_chapter_06_larger_without_graders_and_writes_its_record(tmp_path):
    _, logs = dry_run(tmp_path, "failure")
    assert sorted(logs) == ["failure"]
    log = logs["failure"]
    assert "notebooks/06_failure_analysis.ipynb" in log
    assert "-y resolution_models: []" in log  # the graders' weights do not travel beside it
    assert f"-p record_path {tmp_path / 'out' / '06_failure_analysis_gpu.json'}" in log
    assert "-p n_per_grade 30 -p n_counterfactual 30" in log
    _, logs = dry_run(tmp_path, "failure", GPU_FAIL_PARAMS="-p n_per_grade 12")
    assert "-p n_per_grade 12" in logs["failure"] and "n_counterfactual" not in logs["failure"]
