"""Recompute a shipped model's validation on this machine and compare it with its manifest.

    python scripts/revalidate_model.py models/gpu/densenet121_gpu.manifest.json [--out F.json]

The manifest's validation numbers were computed where the model was trained. This script does
not trust them: it checks the weights against the manifest, rebuilds the validation split from
the seeds the manifest records (its content fingerprint must equal the recorded one, so the
photographs are byte for byte those the model was validated on), predicts them here and prints
the recorded and the recomputed report side by side. For a model trained on the GPU machine
(JAX, bfloat16) and checked on a CPU (TensorFlow, float32) the two can differ by the photographs
whose two most probable grades are nearly tied; the script counts at least how many moved.

``tests/test_shipped_model.py`` runs the same check (:func:`drlib.evaluation.revalidate`) on
every model under ``models/`` and asks for equality; the reference run under ``models/gpu/``
is left to this script, because its split (2,000 photographs at 512 px) takes minutes on CI's
two cores. Exit status: 0 when the recomputed kappa is within ``--tolerance`` of the recorded
one, 1 otherwise, 2 when the model or its split cannot be checked.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


def moved_at_least(recorded: list[list[int]], recomputed: list[list[int]]) -> int:
    """A lower bound on the photographs whose predicted grade changed between two confusion
    matrices of the same photographs: each move leaves one cell of a row and enters another,
    so half the absolute difference, row by row."""
    a, b = np.asarray(recorded, dtype=np.int64), np.asarray(recomputed, dtype=np.int64)
    if a.shape != b.shape:
        raise ValueError(f"confusion matrices of different shapes: {a.shape} and {b.shape}")
    if not np.array_equal(a.sum(axis=1), b.sum(axis=1)):
        raise ValueError("the two confusion matrices do not count the same photographs per grade")
    return int(np.abs(a - b).sum() // 2)


def comparison(recorded: dict, recomputed: dict) -> dict:
    """The recorded and recomputed validation reports, their kappa difference and the moves."""
    return {
        "n": recomputed["n"],
        "kappa_recorded": recorded["kappa"],
        "kappa_recomputed": recomputed["kappa"],
        "kappa_difference": recomputed["kappa"] - recorded["kappa"],
        "accuracy_recorded": recorded["accuracy"],
        "accuracy_recomputed": recomputed["accuracy"],
        "confusion_recorded": recorded["confusion"],
        "confusion_recomputed": recomputed["confusion"],
        "photographs_moved_at_least": moved_at_least(recorded["confusion"],
                                                     recomputed["confusion"]),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("manifest", type=Path, help="<name>.manifest.json of a shipped model")
    parser.add_argument("--out", type=Path, help="write the comparison as JSON here")
    parser.add_argument("--tolerance", type=float, default=0.01,
                        help="largest kappa difference accepted (default 0.01)")
    args = parser.parse_args(argv)

    from drlib.evaluation import revalidate
    from drlib.modeling.manifest import ManifestError, read_manifest
    from drlib.runtime.devices import describe_devices

    start = time.perf_counter()
    try:
        manifest = read_manifest(args.manifest)
        recomputed = revalidate(args.manifest, progress=True)
    except (ManifestError, OSError, ValueError) as error:
        print(f"{args.manifest}: cannot be checked: {error}", file=sys.stderr)
        return 2
    result = comparison(manifest["validation"], recomputed)
    here = describe_devices()
    result.update(model=manifest["name"], trained_on=manifest["device"].get("description"),
                  trained_backend=manifest["device"].get("backend"),
                  trained_precision=manifest["device"].get("dtype_policy"),
                  checked_on=here.get("description"), checked_backend=here.get("backend"),
                  seconds=round(time.perf_counter() - start, 1))
    print(f"{result['model']}: {result['n']} validation photographs (split rebuilt, fingerprint "
          f"as recorded)")
    print(f"  recorded   kappa {result['kappa_recorded']:.4f}  on {result['trained_on']} "
          f"({result['trained_backend']}, {result['trained_precision']})")
    print(f"  recomputed kappa {result['kappa_recomputed']:.4f}  on {result['checked_on']} "
          f"({result['checked_backend']})")
    print(f"  difference {result['kappa_difference']:+.4f}; at least "
          f"{result['photographs_moved_at_least']} photograph(s) changed grade; "
          f"{result['seconds']} s")
    if args.out:
        args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    return 0 if abs(result["kappa_difference"]) <= args.tolerance else 1


if __name__ == "__main__":  # the split builder spawns workers, which re-import this file
    sys.exit(main())
