"""How good are the grades: kappa, bootstrap intervals, decoding, referable ROC, calibration;
and how real a fundus photograph looks (:mod:`drlib.metrics.fundus_realism`).

Pure NumPy (and pandas for tables): nothing here imports Keras or a deep-learning backend, so
the metrics can be tested, and used on any model's outputs, without one.
"""

from drlib.metrics.bootstrap import (
    KappaInterval,
    bootstrap_indices,
    bootstrap_kappa,
    bootstrap_kappas,
)
from drlib.metrics.calibration import expected_calibration_error, reliability_diagram
from drlib.metrics.decoding import (
    DEFAULT_THRESHOLDS,
    ThresholdDecoder,
    decode_argmax,
    decode_thresholds,
    expected_grade,
)
from drlib.metrics.fundus_realism import (
    REAL_BANDS,
    REAL_RETINA_MEASURES,
    anatomy_measures,
    realism_table,
)
from drlib.metrics.kappa import confusion_matrix, quadratic_weighted_kappa
from drlib.metrics.localisation import (
    centre_bias_maps,
    localisation_scores,
    localisation_table,
    pixel_auc,
    pointing_game,
    random_maps,
    relevance_mass_accuracy,
    relevance_rank_accuracy,
    scaled_tolerance,
)
from drlib.metrics.map_regions import (
    area_shares,
    energy_enrichment,
    energy_shares,
    map_mass,
    mean_interval,
    rank_correlation,
    region_share_table,
    top_overlap,
)
from drlib.metrics.prior_shift import adjust_to_prior
from drlib.metrics.referable import referable_roc
from drlib.metrics.summary import (
    evaluation_summary,
    per_grade_precision,
    per_grade_recall,
    summary_frame,
)

__all__ = [
    "DEFAULT_THRESHOLDS", "KappaInterval", "REAL_BANDS", "REAL_RETINA_MEASURES",
    "anatomy_measures", "realism_table", "ThresholdDecoder", "adjust_to_prior",
    "bootstrap_indices", "bootstrap_kappa", "bootstrap_kappas", "confusion_matrix", "decode_argmax",
    "decode_thresholds", "evaluation_summary", "expected_calibration_error", "expected_grade",
    "per_grade_precision", "per_grade_recall", "quadratic_weighted_kappa", "referable_roc",
    "reliability_diagram", "summary_frame",
    "area_shares", "energy_enrichment", "energy_shares", "map_mass", "mean_interval",
    "rank_correlation", "region_share_table", "top_overlap",
    "centre_bias_maps", "localisation_scores", "localisation_table", "pixel_auc", "pointing_game",
    "random_maps", "relevance_mass_accuracy", "relevance_rank_accuracy", "scaled_tolerance",
]
