"""Evaluating a trained grader: which split, its predictions, and the tables beside published
figures.

Published figures (:mod:`drlib.evaluation.published`) are results on real photographs, each with
its data set and grading scale; a table that shows one beside a synthetic result says so.
"""

from drlib.evaluation.chapter_records import (
    RecordError,
    compare_verdicts,
    read_record,
    write_record,
)
from drlib.evaluation.predictions import predict_records
from drlib.evaluation.published import (
    CAVEAT,
    GULSHAN_AUC,
    GULSHAN_OPERATING_POINTS,
    PUBLISHED_KAPPAS,
    PublishedKappa,
)
from drlib.evaluation.revalidation import revalidate
from drlib.evaluation.splits import (
    SplitSpec,
    SplitSpecError,
    graded_records,
    rebuild_split,
    training_prior,
    validation_split_from_manifest,
)
from drlib.evaluation.tables import (
    GULSHAN_SENSITIVITY,
    GULSHAN_SPECIFICITY,
    KAGGLE_4TH_RECALL,
    comparison_table,
    per_grade_table,
    rates_at_threshold,
    referable_table,
)

__all__ = [
    "CAVEAT", "GULSHAN_AUC", "GULSHAN_OPERATING_POINTS", "GULSHAN_SENSITIVITY",
    "GULSHAN_SPECIFICITY", "KAGGLE_4TH_RECALL", "PUBLISHED_KAPPAS", "PublishedKappa",
    "RecordError", "SplitSpec", "SplitSpecError", "compare_verdicts", "comparison_table",
    "graded_records", "per_grade_table", "predict_records", "rates_at_threshold", "read_record",
    "rebuild_split", "referable_table", "revalidate", "training_prior",
    "validation_split_from_manifest", "write_record",
]
