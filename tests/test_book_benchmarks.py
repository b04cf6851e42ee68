"""The appendix's GPU benchmark tables come from the stored records, number for number."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

try:
    from script_modules import load_script
except ImportError:  # tests/ imported as a package
    from tests.script_modules import load_script

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT / "benchmarks" / "records" / "2026-11-27_nvidia-h200"
SECOND_CALL = ROOT / "benchmarks" / "records" / "2026-11-28b_nvidia-h200"
AFTER_MEND = ROOT / "benchmarks" / "records" / "2026-11-28_nvidia-h200"  # explain only


module = load_script("book_benchmarks")


def test_the_stored_record_is_rendered_with_its_own_numbers() -> None:
    text = module.markdown(ROOT)
    train = json.loads((RECORD / "bench_train_throughput.json").read_text())
    explain = json.loads((RECORD / "bench_explain.json").read_text())
    assert train["device"]["description"] == explain["device"]["description"] == (
        "NVIDIA H200, 143771 MiB")
    assert "### 2026-11-27: the lent GPU machine: one NVIDIA H200" in text
    # every measured images/s and ratio of both files appears, as the JSON holds it
    assert f"| {train['in_memory']['images_per_s']:.1f} |" in text
    assert "| Keras, batches already in memory (the baseline) | 1443.8 |" in text
    assert ("| Keras, photographs rendered while training (`FundusSequence` on 16 workers, "
            "rendered at 512 px) | 131.4 |") in text
    assert "| `pipeline_over_memory` | pipeline / in memory | 0.09 | 0.9 | **no** |" in text
    assert "| `keras_over_torch` | Keras in memory / native PyTorch | 1.80 | 1.1 | yes |" in text
    assert ("| drlib class_activation_maps | predict_on_batch | 699.2 | 1733.9 | 0.40x | 0.8x | "
            "**no** |") in text
    assert ("| drlib saliency | bare forward+backward | 220.5 | 859.8 | 0.26x | 0.8x | "
            "**no** |") in text
    first = text.split("### 2026-11-28:")[0]
    assert first.count("skipped: tf-keras-vis needs the TensorFlow backend") == 2


def test_the_record_after_the_mend_is_rendered_from_its_own_json() -> None:
    text = module.markdown(ROOT)
    run = json.loads((AFTER_MEND / "run.json").read_text())
    data = json.loads((AFTER_MEND / "bench_explain.json").read_text())
    assert run["files"] == ["bench_explain.json"] and run["code"] == "b1cf49e"
    # both records, oldest first, and the page says so
    assert text.startswith("3 records, oldest first.\n")
    old, rest = text.split("### 2026-11-28: the lent GPU machine: one NVIDIA H200")
    new, third = rest.split("### 2026-11-28, second call: the lent GPU machine")
    assert "### 2026-11-27: the lent GPU machine" in old
    assert "`benchmarks/records/2026-11-28_nvidia-h200/`; code at revision `b1cf49e`" in new
    # an explain-only record: no training table, an explanation table from its own numbers
    assert "**Training throughput**" not in new and "**Explanation maps**" in new
    for key in ("cam_vs_inference", "saliency_vs_bare_gradient"):
        pair = data["pairs"][key]
        assert (f"| {pair['contender']} | {pair['baseline']} | "
                f"{pair['contender_images_per_s']:.1f} | {pair['baseline_images_per_s']:.1f} | "
                f"{pair['ratio']:.2f}x | {pair['target']:g}x | **no** |") in new
        assert f"| {pair['ratio']:.2f}x |" not in old
    assert ("| drlib class_activation_maps | predict_on_batch | 1247.3 | 1766.5 | 0.70x | 0.8x | "
            "**no** |") in new
    assert new.count("skipped: tf-keras-vis needs the TensorFlow backend") == 2
    # the verdict and the change since the earlier record are computed, not typed
    assert ("Targets met in this record: none. Missed: `cam_vs_inference` 0.70x < 0.8x, "
            "`saliency_vs_bare_gradient` 0.79x < 0.8x.") in new
    assert ("Since the record of 2026-11-27 (`bench_explain.json`, revision `7f854a3`, same "
            "card): `cam_vs_inference` 0.40x → 0.70x, `saliency_vs_bare_gradient` 0.26x → "
            "0.79x.") in new
    assert "Targets met in this record: `keras_over_torch` 1.80 ≥ 1.1." in old
    assert "Since the record" not in old
    # the second call of that day: training throughput only, compared with the first record's
    run = json.loads((SECOND_CALL / "run.json").read_text())
    data = json.loads((SECOND_CALL / "bench_train_throughput.json").read_text())
    assert run["files"] == ["bench_train_throughput.json"] and run["code"] == "f8bcd37"
    assert "**Explanation maps**" not in third and "**Training throughput**" in third
    assert (f"| Keras, batches already in memory (the baseline) | "
            f"{data['in_memory']['images_per_s']:.1f} |") in third
    assert "| `pipeline_over_memory` | pipeline / in memory | 0.11 | 0.9 | **no** |" in third
    assert ("Since the record of 2026-11-27 (`bench_train_throughput.json`, revision `7f854a3`, "
            "same card): `pipeline_over_memory` 0.09 → 0.11, `cache_over_memory` 0.68 → 0.52, "
            "`keras_over_torch` 1.80 → 2.35.") in third


def test_the_verdict_follows_the_json_and_never_rounds_onto_the_target(tmp_path) -> None:
    records = tmp_path / "benchmarks" / "records"
    shutil.copytree(RECORD, records / "a")
    shutil.copytree(AFTER_MEND, records / "b")
    data = json.loads((records / "b" / "bench_explain.json").read_text())
    data["pairs"]["cam_vs_inference"].update(ratio=0.85, met=True)
    data["pairs"]["saliency_vs_bare_gradient"]["ratio"] = 0.7984  # not met; "0.80" would mislead
    (records / "b" / "bench_explain.json").write_text(json.dumps(data))
    text = module.markdown(tmp_path).split("### 2026-11-28:")[1]
    assert ("Targets met in this record: `cam_vs_inference` 0.85x ≥ 0.8x. Missed: "
            "`saliency_vs_bare_gradient` 0.798x < 0.8x.") in text
    assert "| 0.85x | 0.8x | yes |" in text and "| 0.798x | 0.8x | **no** |" in text
    # a record on another card is not compared with
    data["device"]["description"] = "another card"
    (records / "b" / "bench_explain.json").write_text(json.dumps(data))
    assert "Since the record" not in module.markdown(tmp_path)


def test_a_ratio_below_its_target_is_never_shown_as_met(tmp_path) -> None:
    folder = tmp_path / "benchmarks" / "records" / "x"
    shutil.copytree(RECORD, folder)
    data = json.loads((folder / "bench_train_throughput.json").read_text())
    data["ratios"]["keras_over_torch"] = 1.05  # target 1.1
    (folder / "bench_train_throughput.json").write_text(json.dumps(data))
    assert "| `keras_over_torch` | Keras in memory / native PyTorch | 1.05 | 1.1 | **no** |" in (
        module.markdown(tmp_path))


def test_without_records_the_page_says_so(tmp_path) -> None:
    assert module.markdown(tmp_path) == module.NO_RECORDS + "\n"


@pytest.mark.parametrize("damage", ["{not json", "[1, 2]", '{"date": "2026-01-01"}'])
def test_a_damaged_record_is_named(tmp_path, damage: str) -> None:
    folder = tmp_path / "benchmarks" / "records" / "x"
    shutil.copytree(RECORD, folder)
    (folder / "run.json").write_text(damage)
    with pytest.raises(module.RecordError, match=r"x/run\.json"):
        module.markdown(tmp_path)


def test_the_marker_is_replaced_on_the_benchmarks_page_only(tmp_path) -> None:
    shutil.copytree(RECORD, tmp_path / "benchmarks" / "records" / RECORD.name)
    noted: list[str] = []
    app = SimpleNamespace(srcdir=str(tmp_path), env=SimpleNamespace(note_dependency=noted.append))
    source = ["# Benchmarks\n\n% gpu-benchmark-records\n\nAfter.\n"]
    module._fill(app, "book/benchmarks", source)
    assert source[0].startswith("# Benchmarks\n\n### 2026-11-27:")
    assert source[0].endswith("\n\nAfter.\n") and module.MARKER not in source[0]
    assert len(noted) == 3  # run.json and both benchmark files
    other = ["% gpu-benchmark-records\n"]
    module._fill(app, "book/intro", other)
    assert other == ["% gpu-benchmark-records\n"]


def test_the_page_and_the_extension_are_wired_into_the_book() -> None:
    import yaml

    config = yaml.safe_load((ROOT / "_config.yml").read_text(encoding="utf-8"))
    assert config["sphinx"]["local_extensions"]["book_benchmarks"] == "scripts"
    assert module.MARKER in (ROOT / "book" / "benchmarks.md").read_text(encoding="utf-8")
