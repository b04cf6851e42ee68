"""A finished run recorded in a manifest: recognise it, and read its history back.

Re-running the training chapter with settings and data that a shipped model was already
trained with need not train again: :func:`matching_finished_run` returns that model's manifest
when its configuration, data fingerprints and recorded settings equal this run's, and
:func:`history_from_manifest` rebuilds the run's :class:`~drlib.training.TrainingHistory` from
what the manifest recorded (every epoch's losses, kappas, times), so that its curves and
numbers can be shown without retraining. The weights are checked against their SHA-256 first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from drlib.modeling.manifest import ManifestError, as_recorded, verify_manifest
from drlib.training.config import TrainConfig, TrainingHistory


def matching_finished_run(manifest_path: str | Path, config: TrainConfig,
                          dataset_fingerprint: dict[str, Any],
                          extra: dict[str, Any]) -> dict[str, Any] | None:
    """The manifest at ``manifest_path`` if it records a finished run made with exactly this
    ``config``, these data fingerprints and these ``extra`` settings, with weights that match
    their SHA-256; ``None`` when there is no manifest or anything differs. A manifest whose
    weights do not match raises :class:`~drlib.modeling.manifest.ManifestError`."""
    if not Path(manifest_path).is_file():
        return None
    manifest = verify_manifest(manifest_path)
    same = (manifest.get("config") == as_recorded(config.to_dict())
            and manifest.get("dataset_fingerprint") == as_recorded(dataset_fingerprint)
            and manifest.get("extra") == as_recorded(extra)
            and bool(manifest.get("training", {}).get("history")))
    return manifest if same else None


def history_from_manifest(manifest: dict[str, Any]) -> TrainingHistory:
    """The :class:`TrainingHistory` of the run a manifest recorded (epochs, per-epoch values,
    best epoch, early stopping, a stop by deadline)."""
    training = manifest.get("training") or {}
    history = training.get("history")
    if not history:
        raise ManifestError(f"manifest {manifest.get('name')!r} records no training history")
    n = int(training["epochs_run"])
    lengths = {key: len(values) for key, values in history.items()}
    if any(length != n for length in lengths.values()):
        raise ManifestError(f"manifest {manifest.get('name')!r}: {n} epochs run but history "
                            f"lengths {lengths}")
    values = {key: [float("nan") if v is None else float(v) for v in vals]
              for key, vals in history.items()}
    return TrainingHistory(
        epoch=list(range(n)), history=values,
        output_dir=Path(manifest.get("config", {}).get("output_dir", ".")),
        best_epoch=training.get("best_epoch"), stopped_early=bool(training.get("stopped_early")),
        stopped_by_deadline=bool(training.get("stopped_by_deadline")),
        weights_restored_from_best=bool(training.get("weights_from_best_epoch")),
    )
