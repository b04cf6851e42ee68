"""Evaluating a trained grader on held-out photographs, and the tables chapter 03 prints.

Three jobs, kept apart from the metrics themselves (:mod:`drlib.metrics` and the modules it
gathers):

* **Which data.** A model's manifest (:mod:`drlib.manifest`) records how its training and
  validation splits were made. :func:`validation_split_from_manifest` reads that record back
  into a :class:`SplitSpec`, so the evaluation fits its decoding thresholds on exactly the
  training run's validation split, rebuilt from its seeds (and checked against the recorded
  fingerprint) rather than on a look-alike.
* **Predictions.** :func:`predict_records` runs the model over any list of graded records
  (a synthetic split or a real data set loaded through :mod:`drlib.loaders`), streaming
  batches from disk, so the same code serves 1,000 synthetic eyes and 53,576 EyePACS ones.
* **Tables.** The figures the book compares itself with live here as data, each with its
  source and a flag for figures quoted from memory rather than re-checked (see
  ``shared/reference/anchors.md``): :data:`PUBLISHED_KAPPAS`, :data:`DE_WIT_RECALL`,
  :data:`GULSHAN_OPERATING_POINTS`. :func:`comparison_table`, :func:`per_grade_table` and
  :func:`referable_table` put this run's numbers beside them.

Also here: :func:`adjust_to_prior`, the Bayes correction of softmax outputs for a change of
class prior between training and test (Saerens et al. 2002), because the course trains on a
balanced split and tests on the EyePACS mix.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from drlib.bootstrap import KappaInterval
from drlib.decoding import check_probs
from drlib.kappa import N_GRADES, check_grades
from drlib.lesion_plan import class_prior
from drlib.lesion_types import GRADE_NAMES
from drlib.metrics import per_grade_precision, per_grade_recall
from drlib.records import FundusRecord
from drlib.referable import ReferableROC, referable_labels, referable_score

# --------------------------------------------------------------------------- published figures


@dataclass(frozen=True)
class PublishedKappa:
    """A quadratic weighted kappa reported by someone else.

    ``kappa`` is a point value, or ``None`` when only a range ``low``-``high`` is quoted.
    ``recollection`` marks a figure that is widely quoted but was not re-checked against its
    primary source; the book prints it with that caveat.
    """

    grader: str
    data: str
    kappa: float | None
    low: float | None = None
    high: float | None = None
    source: str = ""
    recollection: bool = False


PUBLISHED_KAPPAS: tuple[PublishedKappa, ...] = (
    PublishedKappa(
        "Pratt et al. 2019 (the paper), DenseNet", "EyePACS (Kaggle 2015) test images", 0.81,
        source="paper, results section",
    ),
    PublishedKappa(
        "Kaggle 2015 1st place (B. Graham)", "EyePACS, private leaderboard", 0.850,
        source="leaderboard", recollection=True,
    ),
    PublishedKappa(
        "Kaggle 2015 2nd place (team o_O), ensemble", "EyePACS, private leaderboard", 0.845,
        source="sveitser/kaggle_diabetic README",
    ),
    PublishedKappa(
        "Kaggle 2015 2nd place (team o_O), one family of nets", "EyePACS, private leaderboard",
        0.840, source="sveitser/kaggle_diabetic README",
    ),
    PublishedKappa(
        "single human graders vs adjudicated reference", "EyePACS-like screening images",
        None, low=0.80, high=0.84, source="Krause et al., Ophthalmology 2018",
        recollection=True,
    ),
)
"""Kappas the chapter sets its own beside (``shared/reference/anchors.md``)."""

DE_WIT_RECALL: tuple[float, ...] = (0.95, 0.34, 0.61, 0.65, 0.71)
"""Recall per grade 0..4 of the Kaggle 2015 4th place (J. de Wit), from his published
confusion matrix (juliandewit/kaggle_retinopathy): mild DR is the hard class."""


@dataclass(frozen=True)
class PublishedOperatingPoint:
    """A referable-DR operating point reported by someone else."""

    name: str
    sensitivity: float
    specificity: float
    source: str
    recollection: bool = False


GULSHAN_OPERATING_POINTS: tuple[PublishedOperatingPoint, ...] = (
    PublishedOperatingPoint(
        "high specificity", 0.903, 0.981, "Gulshan et al., JAMA 2016, EyePACS-1"
    ),
    PublishedOperatingPoint(
        "high sensitivity", 0.975, 0.934, "Gulshan et al., JAMA 2016, EyePACS-1"
    ),
)
"""Gulshan et al.'s two operating points for referable DR (grade >= 2) on EyePACS-1."""

GULSHAN_AUC = 0.99
"""Gulshan et al.'s AUC for referable DR on EyePACS-1, "about 0.99" (recollection)."""


# --------------------------------------------------------------------------- which data


class SplitSpecError(ValueError):
    """A manifest does not say enough to rebuild the split it was trained or validated on."""


@dataclass(frozen=True)
class SplitSpec:
    """How to rebuild one synthetic split with :func:`drlib.dataset_builder.build_split`.

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
    preprocess: str = "plain"
    fingerprint: str | None = None

    def build_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``build_split(**spec.build_kwargs())``."""
        return {
            "root": self.root, "split": self.split, "n": self.n, "seed": self.seed,
            "prior": self.prior, "size": self.render_size,
        }


def _first(manifest: Mapping[str, Any], paths: Sequence[str]) -> Any:
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

    Reads what chapter 02 writes (``drlib.manifest.write_manifest``): the split size from
    ``extra.settings.n_<split>``, the render size from ``extra.settings.render_size``, the
    class prior from ``extra.<split>_prior`` (chapter 02 draws its validation split with its
    own prior) or else ``extra.prior`` (the training prior), the data seed from ``seeds.data``,
    the cache folder name
    and the split's fingerprint from ``dataset_fingerprint``, the input size from
    ``config.image_size`` (else the model's input shape) and the preprocessing from
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
    }
    found = {key: _first(manifest, paths) for key, paths in wanted.items()}
    if found["image_size"] is None:
        shape = _first(manifest, ("model.input_shape",))
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
    fingerprints = _first(manifest, ("dataset_fingerprint",))
    fingerprint = fingerprints.get(short) if isinstance(fingerprints, Mapping) else None
    return SplitSpec(
        root=Path(data_root) / str(found["cache"]),
        split=short,
        n=int(found["n"]),
        seed=int(found["seed"]),
        prior=prior,
        render_size=int(found["render_size"]),
        image_size=int(found["image_size"]),
        preprocess=str(_first(manifest, ("extra.preprocess",)) or "plain"),
        fingerprint=fingerprint,
    )


def training_prior(manifest: Mapping[str, Any]) -> str | tuple[float, ...]:
    """The class prior of the training split a manifest records (``extra.prior``).

    Raises:
        SplitSpecError: the manifest does not record it.
    """
    prior = _first(manifest, ("extra.prior", "extra.settings.prior", "extra.data.prior"))
    if prior is None:
        raise SplitSpecError("the manifest records no training prior (looked for extra.prior)")
    return prior if isinstance(prior, str) else tuple(float(p) for p in prior)


def rebuild_split(spec: SplitSpec, progress: bool = False) -> tuple[Path, bool | None]:
    """Rebuild (or reuse) the split ``spec`` describes; returns (folder, fingerprint matches).

    ``build_split`` replaces a cached split whose manifest differs from the request. Here a
    differing split is an error instead: it belongs to another run (or the spec was read
    wrongly), and silently overwriting the training run's cache would hide that. The second
    value is ``None`` when the spec has no recorded fingerprint to compare with.

    Raises:
        SplitSpecError: a split already cached at ``spec.root / spec.split`` was made with
            other settings (the differing entries are named).
    """
    from drlib.dataset_builder import (
        build_split,
        cached_split_differences,
        read_manifest,
        split_request,
    )
    from drlib.synth import SynthConfig

    folder = spec.root / spec.split
    request = split_request(spec.split, spec.n, spec.seed, spec.prior,
                            SynthConfig(size=spec.render_size))
    differ = cached_split_differences(folder, request)
    if differ:
        raise SplitSpecError(
            f"{folder} holds a different split than the manifest describes "
            f"(cached, wanted): {differ}; refusing to overwrite it"
        )
    folder = build_split(**spec.build_kwargs(), progress=progress)
    if spec.fingerprint is None:
        return folder, None
    return folder, read_manifest(folder)["fingerprint"] == spec.fingerprint


def graded_records(
    records: Sequence[FundusRecord],
) -> tuple[list[FundusRecord], list[FundusRecord]]:
    """Split records into (graded, ungraded): only graded photographs can be scored."""
    graded = [r for r in records if r.grade is not None]
    ungraded = [r for r in records if r.grade is None]
    return graded, ungraded


# --------------------------------------------------------------------------- predictions


def predict_records(
    model: Any,
    records: Sequence[FundusRecord],
    image_size: int,
    batch_size: int = 32,
    preprocess: str = "plain",
) -> tuple[np.ndarray, np.ndarray]:
    """Softmax outputs (N, 5) float64 and true grades (N,) for graded ``records``, in order.

    Photographs are read from disk batch by batch (:class:`drlib.pipeline.FundusSequence`,
    no shuffling, no augmentation) and preprocessed exactly as in training; every batch is
    padded to ``batch_size`` so a compiled (JAX) prediction step is traced once.

    Raises:
        ValueError: no records, or a record without a grade (filter with
            :func:`graded_records` first and report what was left out).
    """
    from drlib.pipeline import FundusSequence
    from drlib.training import predict_probabilities

    records = list(records)
    if not records:
        raise ValueError("no records to evaluate")
    ungraded = [r.image_id for r in records if r.grade is None]
    if ungraded:
        raise ValueError(
            f"{len(ungraded)} record(s) have no grade (first: {ungraded[0]!r}); "
            "use graded_records() and report the ungraded ones"
        )
    sequence = FundusSequence(
        records, batch_size=batch_size, image_size=image_size, preprocess=preprocess,
        shuffle=False, workers=1,
    )
    probs, grades = predict_probabilities(model, sequence, batch_size)
    return probs, grades


def adjust_to_prior(probs: ArrayLike, train_prior: Any, test_prior: Any) -> np.ndarray:
    """Re-weight softmax outputs for a new class prior: ``p'_k ∝ p_k * pi_test_k / pi_train_k``.

    A network trained with class prior ``pi_train`` estimates ``P(k | x)`` under that prior;
    by Bayes' rule the posterior under ``pi_test`` (same class-conditional images) is the
    re-weighted and re-normalised vector. Priors are names (``"eyepacs"``, ``"balanced"``)
    or five probabilities. Uses the *known* prevalence of the target population, never the
    test labels.
    """
    p = check_probs(probs)
    ratio = class_prior(test_prior) / class_prior(train_prior)
    weighted = p * ratio[None, :]
    return weighted / weighted.sum(axis=1, keepdims=True)


# --------------------------------------------------------------------------- tables


def per_grade_table(y_true: ArrayLike, y_pred: ArrayLike) -> pd.DataFrame:
    """Support, predicted count, recall and precision per grade, beside de Wit's recall.

    Index: grade names. ``nan`` recall (precision) for a grade absent from the truth
    (never predicted).
    """
    y = check_grades(y_true, "y_true")
    p = check_grades(y_pred, "y_pred")
    return pd.DataFrame(
        {
            "images": np.bincount(y, minlength=N_GRADES),
            "predicted": np.bincount(p, minlength=N_GRADES),
            "recall": per_grade_recall(y, p),
            "precision": per_grade_precision(y, p),
            "Kaggle 4th recall": np.asarray(DE_WIT_RECALL),
        },
        index=pd.Index(list(GRADE_NAMES), name="grade"),
    )


@dataclass(frozen=True)
class Rates:
    """Sensitivity and specificity of "refer when P(grade >= 2) >= threshold"."""

    threshold: float
    sensitivity: float
    specificity: float


def rates_at_threshold(y_true: ArrayLike, probs: ArrayLike, threshold: float) -> Rates:
    """Sensitivity and specificity for referable DR at a fixed score threshold.

    For carrying an operating point chosen on the validation split over to the test split,
    where it earns whatever it earns (unlike points read off the test ROC curve itself).
    """
    y = referable_labels(y_true)
    score = referable_score(probs)
    if score.shape != y.shape:
        raise ValueError(f"y_true has {y.size} grades but probs has {score.size} rows")
    n_pos, n_neg = int(y.sum()), int((~y).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError("need referable and non-referable images for sensitivity/specificity")
    referred = score >= threshold
    return Rates(
        threshold=float(threshold),
        sensitivity=float(np.count_nonzero(referred & y) / n_pos),
        specificity=float(np.count_nonzero(~referred & ~y) / n_neg),
    )


def referable_table(
    test_roc: ReferableROC,
    carried: Sequence[Rates] | None = None,
) -> pd.DataFrame:
    """Operating points of referable DR: read off the test ROC, carried over from the
    validation split (optional, same order as ``test_roc.points``), and Gulshan et al.'s.

    One row per operating point; Gulshan's points are matched by criterion (specificity
    targets to his high-specificity point, sensitivity targets to his high-sensitivity one).
    """
    rows = []
    for i, point in enumerate(test_roc.points):
        by_spec = point.criterion.startswith("specificity")
        published = GULSHAN_OPERATING_POINTS[0 if by_spec else 1]
        row: dict[str, Any] = {
            "operating point": point.criterion.replace(">=", " >= "),
            "threshold (test)": point.threshold,
            "sensitivity (test)": point.sensitivity,
            "specificity (test)": point.specificity,
        }
        if carried is not None:
            rates = carried[i]
            row["threshold (val)"] = rates.threshold
            row["sensitivity (val thr. on test)"] = rates.sensitivity
            row["specificity (val thr. on test)"] = rates.specificity
        row["Gulshan sensitivity"] = published.sensitivity
        row["Gulshan specificity"] = published.specificity
        rows.append(row)
    return pd.DataFrame(rows).set_index("operating point")


def _format_kappa(value: float | None, low: float | None, high: float | None) -> tuple[str, str]:
    if value is None:
        return (f"{low:.2f}-{high:.2f}" if low is not None and high is not None else "", "")
    interval = f"{low:.3f} to {high:.3f}" if low is not None and high is not None else ""
    return f"{value:.3f}", interval


def comparison_table(
    ours: Mapping[str, KappaInterval],
    data: str,
    published: Sequence[PublishedKappa] = PUBLISHED_KAPPAS,
) -> pd.DataFrame:
    """Our kappas (with their bootstrap intervals) beside the published kappas, as strings.

    ``ours`` maps a label (e.g. ``"this course, argmax"``) to a :class:`KappaInterval`; one row
    each, all measured on ``data``. Columns: grader, data, kappa, 95% interval, source (with
    "(recollection)" where the figure was not re-checked). Formatted for printing: the values
    are not for computing.
    """
    if not ours:
        raise ValueError("comparison_table needs at least one kappa of ours")
    levels = {round(100 * ci.level) for ci in ours.values()}
    if len(levels) != 1:
        raise ValueError(f"our intervals have different levels: {sorted(levels)}")
    interval_column = f"{levels.pop()}% interval"
    rows = []
    for grader, ci in ours.items():
        kappa, interval = _format_kappa(ci.estimate, ci.low, ci.high)
        rows.append({
            "grader": grader, "data": data, "kappa": kappa, interval_column: interval,
            "source": f"this chapter ({ci.resamples} bootstrap resamples)",
        })
    for item in published:
        kappa = _format_kappa(item.kappa, item.low, item.high)[0] if item.kappa is None else (
            f"{item.kappa:.3f}"
        )
        rows.append({
            "grader": item.grader, "data": item.data, "kappa": kappa, interval_column: "",
            "source": item.source + (" (recollection)" if item.recollection else ""),
        })
    return pd.DataFrame(rows)


__all__ = [
    "DE_WIT_RECALL",
    "GULSHAN_AUC",
    "GULSHAN_OPERATING_POINTS",
    "PUBLISHED_KAPPAS",
    "PublishedKappa",
    "PublishedOperatingPoint",
    "Rates",
    "SplitSpec",
    "SplitSpecError",
    "adjust_to_prior",
    "comparison_table",
    "graded_records",
    "per_grade_table",
    "predict_records",
    "rates_at_threshold",
    "rebuild_split",
    "referable_table",
    "training_prior",
    "validation_split_from_manifest",
]
