"""A change of class prior between training and test: Bayes' correction of softmax outputs.

The course trains on a balanced split and tests on the EyePACS mix; Saerens et al. (2002) give
the correction of a classifier's posteriors for a known new prior.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from drlib.core.grades import class_prior
from drlib.metrics.decoding import check_probs


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
