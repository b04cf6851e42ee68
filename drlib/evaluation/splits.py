"""Which data a trained model was validated on: its split, read back from the manifest and rebuilt.

A model's manifest (:mod:`drlib.modeling.manifest`) records how its training and validation
splits were made. :func:`validation_split_from_manifest` reads that record back into a
:class:`SplitSpec`, so an evaluation fits its decoding thresholds on exactly the training run's
validation split, rebuilt from its seeds and checked against the recorded fingerprint, rather
than on a look-alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from drlib.data.records import FundusRecord


class SplitSpecError(ValueError):
    """A manifest does not say enough to rebuild the split it was trained or validated on."""


@dataclass(frozen=True)
class SplitSpec:
    """How to rebuild one synthetic split with :func:`drlib.data.synthetic_splits.build_split`.

    ``root`` is the cache folder that holds the split's folder ``root/split``;
    ``render_size`` the side the photographs were rendered at; ``image_size`` and
    ``preprocess`` what the model was fed; ``fingerprint`` the split's recorded fingerprint
    (``None`` when the manifest has none), to check a rebuilt split against.
    """

    root: Path
    split: str
    n: int
    seed: int
    prior: str | tuple[float, ...]
    render_size: int
    image_size: int
    label_scale: str = "icdr"
    preprocess: str = "plain"
    fingerprint: str | None = None

    def build_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``build_split(**spec.build_kwargs())``."""
        return {
            "root": self.root, "split": self.split, "n": self.n, "seed": self.seed,
            "prior": self.prior, "size": self.render_size, "label_scale": self.label_scale,
        }


def first_recorded(manifest: Mapping[str, Any], paths: Sequence[str]) -> Any:
    """The value at the first dotted path present (and not None) in ``manifest``."""
    for path in paths:
        node: Any = manifest
        for key in path.split("."):
            if not isinstance(node, Mapping) or key not in node:
                node = None
                break
            node = node[key]
        if node is not None:
            return node
    return None


def validation_split_from_manifest(
    manifest: Mapping[str, Any],
    data_root: str | Path,
    split: str = "val",
    manifest_name: str = "manifest",
) -> SplitSpec:
    """The :class:`SplitSpec` of the split ``split`` that a training run recorded.

    Reads what chapter 02 writes (``drlib.modeling.manifest.write_manifest``): the split size from
    ``extra.settings.n_<split>``, the render size from ``extra.settings.render_size``, the
    class prior from ``extra.<split>_prior`` (chapter 02 draws its validation split with its
    own prior) or else ``extra.prior`` (the training prior), the data seed from ``seeds.data``,
    the cache folder name
    and the split's fingerprint from ``dataset_fingerprint``, the input size from
    ``config.image_size`` (else the model's input shape), the label scale from
    ``extra.label_scale`` and the preprocessing from
    ``extra.preprocess`` (default ``"plain"``, chapter 02's choice).

    Raises:
        SplitSpecError: naming the manifest and every entry it lacks.
    """
    short = split if split != "validation" else "val"
    wanted = {
        "n": (f"extra.settings.n_{short}", f"extra.n_{short}", f"extra.data.n_{short}"),
        "render_size": ("extra.settings.render_size", "extra.render_size",
                        "extra.data.render_size"),
        "prior": (f"extra.{short}_prior", f"extra.settings.{short}_prior", "extra.prior",
                  "extra.settings.prior", "extra.data.prior"),
        "seed": ("seeds.data", "extra.data.seed"),
        "cache": ("dataset_fingerprint.cache", "extra.data.cache"),
        "image_size": ("config.image_size", "extra.settings.image_size"),
        "label_scale": ("extra.label_scale", "extra.settings.label_scale"),
    }
    found = {key: first_recorded(manifest, paths) for key, paths in wanted.items()}
    if found["image_size"] is None:
        shape = first_recorded(manifest, ("model.input_shape",))
        if shape is not None and len(shape) >= 2 and shape[1] is not None:
            found["image_size"] = shape[1]
    missing = [f"{key} (looked for {', '.join(wanted[key])})"
               for key, value in found.items() if value is None]
    if missing:
        raise SplitSpecError(
            f"{manifest_name}: cannot rebuild the {split!r} split; missing " + "; ".join(missing)
        )
    prior = found["prior"]
    prior = prior if isinstance(prior, str) else tuple(float(p) for p in prior)
    fingerprints = first_recorded(manifest, ("dataset_fingerprint",))
    fingerprint = fingerprints.get(short) if isinstance(fingerprints, Mapping) else None
    return SplitSpec(
        root=Path(data_root) / str(found["cache"]),
        split=short,
        n=int(found["n"]),
        seed=int(found["seed"]),
        prior=prior,
        render_size=int(found["render_size"]),
        image_size=int(found["image_size"]),
        label_scale=str(found["label_scale"]),
        preprocess=str(first_recorded(manifest, ("extra.preprocess",)) or "plain"),
        fingerprint=fingerprint,
    )


def training_prior(manifest: Mapping[str, Any]) -> str | tuple[float, ...]:
    """The class prior of the training split a manifest records (``extra.prior``).

    Raises:
        SplitSpecError: the manifest does not record it.
    """
    prior = first_recorded(manifest, ("extra.prior", "extra.settings.prior", "extra.data.prior"))
    if prior is None:
        raise SplitSpecError("the manifest records no training prior (looked for extra.prior)")
    return prior if isinstance(prior, str) else tuple(float(p) for p in prior)


def rebuild_split(spec: SplitSpec, progress: bool = False) -> Path:
    """Rebuild (or reuse) the split ``spec`` describes and prove it is the recorded one.

    ``build_split`` replaces a cached split whose manifest differs from the request. Here a
    differing split is an error instead: it belongs to another run (or the spec was read
    wrongly), and silently overwriting the training run's cache would hide that. A reused split is
    re-hashed file by file (``verify_split``); the fingerprint computed from those same bytes
    (each file is read once) must equal the one the training run recorded, when it recorded one.

    Raises:
        SplitSpecError: a split already cached at ``spec.root / spec.split`` was made with
            other settings (the differing entries are named).
        SplitIntegrityError: a cached file no longer hashes to its manifest (the file is named),
            or the split's content differs from what the training run recorded.
    """
    from drlib.data.synthetic_splits import (
        SplitIntegrityError,
        build_split_fingerprinted,
        cached_split_differences,
        split_request,
    )
    from drlib.synth.render import SynthConfig

    folder = spec.root / spec.split
    request = split_request(spec.split, spec.n, spec.seed, spec.prior,
                            SynthConfig(size=spec.render_size, label_scale=spec.label_scale))
    differ = cached_split_differences(folder, request)
    if differ:
        raise SplitSpecError(
            f"{folder} holds a different split than the manifest describes "
            f"(cached, wanted): {differ}; refusing to overwrite it"
        )
    folder, found = build_split_fingerprinted(**spec.build_kwargs(), progress=progress)
    if spec.fingerprint is not None:
        if found != spec.fingerprint:
            raise SplitIntegrityError(
                folder, f"its images, masks and labels hash to {found[:12]}..., the training "
                f"run recorded {spec.fingerprint[:12]}...: the generator or its settings changed "
                "since the model was trained, so this is not the split it was validated on")
    return folder


def graded_records(
    records: Sequence[FundusRecord],
) -> tuple[list[FundusRecord], list[FundusRecord]]:
    """Split records into (graded, ungraded): only graded photographs can be scored."""
    graded = [r for r in records if r.grade is not None]
    ungraded = [r for r in records if r.grade is None]
    return graded, ungraded
