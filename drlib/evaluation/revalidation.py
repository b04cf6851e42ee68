"""Re-measuring a shipped model's validation numbers from its weights, never from its manifest.

A manifest says what validation kappa its model reached. :func:`revalidate` does not trust that:
it verifies the weights against their sha256, rebuilds the validation split the manifest
describes from its seeds (refusing a split whose content fingerprint differs from the recorded
one), predicts it with the weights, and computes every number again.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from drlib.data.loaders import load_dataset
from drlib.evaluation.predictions import predict_records
from drlib.evaluation.splits import rebuild_split, validation_split_from_manifest
from drlib.modeling.manifest import load_densenet, verify_manifest
from drlib.runtime import paths
from drlib.training.validation import validation_report


def revalidate(manifest_path: str | Path, data_root: str | Path | None = None,
               batch_size: int = 32, progress: bool = False) -> dict[str, Any]:
    """The validation report (loss, accuracy, kappa, recall, confusion, n) recomputed from the
    weights of ``manifest_path`` on its rebuilt validation split.

    ``data_root`` is the synthetic data cache (default ``drlib.runtime.paths.data_dir() /
    "synthetic"``, where chapter 02 builds its splits).

    Raises:
        ManifestError: the weights do not match the manifest.
        SplitSpecError, SplitIntegrityError: the validation split cannot be rebuilt as recorded.
    """
    manifest_path = Path(manifest_path)
    manifest = verify_manifest(manifest_path)
    root = Path(data_root) if data_root is not None else paths.data_dir() / "synthetic"
    spec = validation_split_from_manifest(manifest, root, manifest_name=manifest_path.name)
    folder = rebuild_split(spec, progress=progress)
    records, _ = load_dataset(folder, kind="synthetic")
    model = load_densenet(manifest_path)
    probs, grades = predict_records(model, records, spec.image_size, batch_size, spec.preprocess)
    return validation_report(probs, grades)
