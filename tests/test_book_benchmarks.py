"""The appendix's GPU benchmark tables come from the stored records, number for number."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT / "benchmarks" / "records" / "2026-11-27_nvidia-h200"


def _module():
    spec = importlib.util.spec_from_file_location("book_benchmarks",
                                                  ROOT / "scripts" / "book_benchmarks.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


module = _module()


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
    assert text.count("skipped: tf-keras-vis needs the TensorFlow backend") == 2


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
