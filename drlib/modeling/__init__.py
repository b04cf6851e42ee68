"""The grader: the DenseNet, its starting weights, inference, and the manifest of a trained model.
"""

from drlib.modeling.densenet import (
    LAST_CONV_LAYER,
    SCORES_LAYER,
    build_densenet,
    set_batchnorm_momentum,
    short_summary,
)
from drlib.modeling.inference import predict_probabilities
from drlib.modeling.manifest import (
    MANIFEST_SUFFIX,
    continue_densenet,
    continues,
    load_densenet,
    read_manifest,
    verify_manifest,
    write_manifest,
)

__all__ = [
    "LAST_CONV_LAYER", "MANIFEST_SUFFIX", "SCORES_LAYER", "build_densenet", "continue_densenet",
    "continues",
    "load_densenet",
    "predict_probabilities", "read_manifest", "set_batchnorm_momentum", "short_summary",
    "verify_manifest",
    "write_manifest",
]
