"""Explanation maps: what the grader looks at.

* :mod:`drlib.explain.cam`: class activation maps, the paper's equation (1), and the identity
  ``mean_xy CAM_c + b_c = S_c``;
* :mod:`drlib.explain.saliency`: the paper's gradient saliency (section 2.4), SmoothGrad and
  integrated gradients with their completeness check;
* :mod:`drlib.explain.gradcam`: Grad-CAM;
* :mod:`drlib.explain.upsampling`: maps from the network's grid to pixels, and normalisation;
* :mod:`drlib.explain.graph`: the sub-models and compiled gradient functions, cached per model;
* :mod:`drlib.explain.targets`: which class a map explains, and fixed-size batches;
* :mod:`drlib.explain.imputation`: removing pixels: ROAD's noisy linear imputation (Rong et al.
  2022) and the plain blur / constant fills;
* :mod:`drlib.explain.faithfulness`: deletion and insertion curves of a map's pixel order, and
  the random-order baseline;
* :mod:`drlib.explain.sanity`: Adebayo et al.'s (2018) cascading randomisation of the weights.

Every function takes RGB images in [0, 255] (the grader normalises internally), works on a
batch, and runs on the TensorFlow, JAX and PyTorch backends: the only per-backend code is
:func:`drlib.runtime.backend.gradient_function`. This package sits above
:mod:`drlib.modeling` and below :mod:`drlib.evaluation` in the layers ``import-linter`` enforces.
"""

from drlib.explain.cam import ClassActivationMaps, cam_from_features, class_activation_maps
from drlib.explain.faithfulness import (
    FILLS,
    FaithfulnessCurve,
    compare_orders,
    deletion_curve,
    insertion_curve,
    perturbed_images,
    random_baseline,
    removal_order,
)
from drlib.explain.gradcam import GradCam, grad_cam
from drlib.explain.imputation import (
    ROAD_NOISE_STD,
    blur_fill,
    constant_fill,
    noisy_linear_impute,
)
from drlib.explain.saliency import (
    REDUCTIONS,
    IntegratedGradients,
    SaliencyMaps,
    class_scores,
    integrated_gradients,
    reduce_channels,
    saliency,
    smoothgrad,
    smoothgrad_noise,
)
from drlib.explain.sanity import (
    CascadingRandomisation,
    cascading_randomisation,
    randomise_layers,
)
from drlib.explain.targets import PREDICTED, resolve_classes
from drlib.explain.upsampling import UPSAMPLING_MODES, normalise_maps, upsample_maps

__all__ = [
    "PREDICTED", "REDUCTIONS", "UPSAMPLING_MODES", "ClassActivationMaps", "GradCam",
    "IntegratedGradients", "SaliencyMaps", "cam_from_features", "class_activation_maps",
    "class_scores", "grad_cam", "integrated_gradients", "normalise_maps", "reduce_channels",
    "resolve_classes", "saliency", "smoothgrad", "smoothgrad_noise", "upsample_maps",
    # faithfulness and sanity checks
    "FILLS", "ROAD_NOISE_STD", "CascadingRandomisation", "FaithfulnessCurve", "blur_fill",
    "cascading_randomisation", "compare_orders", "constant_fill", "deletion_curve",
    "insertion_curve", "noisy_linear_impute", "perturbed_images", "random_baseline",
    "randomise_layers", "removal_order",
]
