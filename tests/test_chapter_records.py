"""Chapter records: what a larger run elsewhere found, read back and set beside the run in hand."""

from __future__ import annotations

import json

import pytest

from drlib.evaluation import RecordError, compare_verdicts, read_record, write_record

RECORD = dict(chapter="06_failure_analysis", model={"name": "densenet121_cpu", "sha256": "ab"},
              device="NVIDIA H200", backend="jax", parameters={"n_per_grade": 30},
              verdicts={"claim A, anatomical": "supported", "claim B": "not supported (undecided)"},
              intervals={"NVD drop": (2.0, 1.5, 2.5)})


def test_a_record_reads_back_as_written_and_twice_the_same_bytes(tmp_path) -> None:
    path = write_record(tmp_path / "records" / "a.json", **RECORD)
    first = path.read_bytes()
    write_record(path, **RECORD)
    assert path.read_bytes() == first
    record = read_record(path)
    assert record["verdicts"] == RECORD["verdicts"]
    assert record["intervals"] == {"NVD drop": [2.0, 1.5, 2.5]}
    assert (record["format"], record["device"], record["backend"]) == (1, "NVIDIA H200", "jax")
    assert list(json.loads(first)) == sorted(json.loads(first))


@pytest.mark.parametrize(("edit", "problem"), [
    (lambda r: r.pop("verdicts"), "missing verdicts"),
    (lambda r: r.update(format=2), "format 2, this drlib reads 1"),
    (lambda r: r["verdicts"].update({"claim B": 1}), "verdict 'claim B' is 1"),
    (lambda r: r["intervals"].update({"NVD drop": [2.0, 2.5, 1.5]}), "low end lies above"),
    (lambda r: r["intervals"].update({"NVD drop": [2.0, 1.5]}), "not three finite numbers"),
    (lambda r: r["intervals"].update({"NVD drop": [2.0, float("nan"), 2.5]}),
     "not three finite numbers"),
])
def test_a_damaged_record_is_refused_naming_the_file_and_the_problem(tmp_path, edit,
                                                                     problem) -> None:
    path = write_record(tmp_path / "a.json", **RECORD)
    record = json.loads(path.read_text())
    edit(record)
    path.write_text(json.dumps(record))
    with pytest.raises(RecordError) as caught:
        read_record(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert problem in str(caught.value)


def test_a_file_that_is_not_json_is_refused_naming_it(tmp_path) -> None:
    path = tmp_path / "a.json"
    path.write_text("{not json")
    with pytest.raises(RecordError, match=f"^{path}: not JSON"):
        read_record(path)


def test_a_record_with_a_bad_verdict_is_not_written(tmp_path) -> None:
    with pytest.raises(RecordError, match="verdict 'x' is 0.5"):
        write_record(tmp_path / "a.json", **{**RECORD, "verdicts": {"x": 0.5}})
    assert not (tmp_path / "a.json").exists()


def test_verdicts_are_set_side_by_side_in_the_current_runs_order() -> None:
    table = compare_verdicts({"a": "supported", "b": "not supported (undecided)"},
                             {"b": "supported", "c": "falls"})
    assert table.to_dict("index") == {
        "a": {"this run": "supported", "record": "-", "agreement": "one run only"},
        "b": {"this run": "not supported (undecided)", "record": "supported",
              "agreement": "differs"},
        "c": {"this run": "-", "record": "falls", "agreement": "one run only"}}
    assert list(table.index) == ["a", "b", "c"]
    same = compare_verdicts({"a": "supported"}, {"a": "supported"}, names=("CI", "GPU"))
    assert same.loc["a"].tolist() == ["supported", "supported", "same"]
