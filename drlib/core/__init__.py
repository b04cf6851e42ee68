"""The course's vocabulary, shared by every layer: DR grades and their priors, lesion and anatomy
names.

Nothing here imports another part of drlib, Keras or a plotting library.
"""

from drlib.core.grades import (
    BALANCED_PRIOR,
    EYEPACS_COUNTS,
    EYEPACS_PRIOR,
    GRADE_NAMES,
    N_GRADES,
    as_grades,
    class_prior,
    one_hot,
)
from drlib.core.lesion_types import (
    ANATOMY,
    DISPLAY_NAMES,
    HMA_LESIONS,
    LESIONS,
    MASK_NAMES,
    OUTLINE_COLOURS,
    QUADRANTS,
)

__all__ = [
    "ANATOMY", "BALANCED_PRIOR", "DISPLAY_NAMES", "EYEPACS_COUNTS", "EYEPACS_PRIOR", "GRADE_NAMES",
    "HMA_LESIONS", "LESIONS", "MASK_NAMES", "N_GRADES", "OUTLINE_COLOURS", "QUADRANTS",
    "as_grades", "class_prior", "one_hot",
]
