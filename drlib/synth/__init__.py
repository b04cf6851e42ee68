"""The synthetic fundus generator and the grading rules it is graded by.

A synthetic eye is drawn from a lesion *plan* (:mod:`drlib.synth.lesion_plan`) for a target grade
on a grading scale, painted with its vessels, lesions and camera (:mod:`drlib.synth.render` and
the modules it calls), and graded by the rule engine (:mod:`drlib.synth.grading`) from what was
actually drawn, on both scales the engine knows: the International Clinical DR scale (``"icdr"``,
the default) and Pratt et al.'s Table 1 (``"table1"``, ETDRS-style). The rules are the course's
operationalisation of the scales on synthetic inventories, not clinical thresholds. Every image
comes with a mask per lesion type and per anatomical structure. Where lesions go is a parameter
(``SynthConfig.placement``, one of ``PLACEMENTS``): where each type usually sits, or anywhere in
its quadrant, the control for "maps follow the vessels".
"""

from drlib.synth.counterfactual import (
    counterfactual_pair,
    jpeg_footprint,
    lesion_footprint,
    plan_lesions,
    select_eye,
)
from drlib.synth.grading import (
    DEFAULT_SCALE,
    RULES,
    SCALE_NAMES,
    SCALES,
    LesionInventory,
    Rule,
    explain_grade,
    grade_all,
    grade_inventory,
    matching_rules,
    rule_table,
    rule_tables_side_by_side,
)
from drlib.synth.lesion_plan import (
    PRESENTATION_NAMES,
    LesionPlan,
    describe_presentation,
    sample_inventories,
    sample_plan,
)
from drlib.synth.lesion_render import PLACEMENTS
from drlib.synth.render import (
    GENERATOR_VERSION,
    FundusSample,
    SynthConfig,
    draw_plan,
    render_fundus,
)

__all__ = [
    "DEFAULT_SCALE", "GENERATOR_VERSION", "PLACEMENTS", "PRESENTATION_NAMES", "RULES", "SCALES",
    "SCALE_NAMES", "FundusSample", "LesionInventory", "LesionPlan", "Rule", "SynthConfig",
    "counterfactual_pair", "describe_presentation", "draw_plan", "explain_grade", "grade_all",
    "grade_inventory",
    "jpeg_footprint", "lesion_footprint", "matching_rules", "plan_lesions", "render_fundus",
    "rule_table", "rule_tables_side_by_side", "sample_inventories", "sample_plan", "select_eye",
]
