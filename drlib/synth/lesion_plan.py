"""Sampling what a synthetic eye has: a lesion plan for a target grade on a grading scale.

The generator never paints a grade. It draws a *plan* (how many lesions of each type in each
quadrant, how large the new vessels are), the renderer paints exactly that plan, and the grade is
then read off the plan's inventory by the rule engine in :mod:`drlib.synth.grading`. A plan is
drawn for a target grade *on one scale* (``"icdr"`` or ``"table1"``): it grades back to that
target on that scale, while the other scale may grade the same eye differently (that is the
point of comparing them).

Each grade of each scale has a few "presentations" (the defining feature or features) chosen with
the weights below, plus background lesions that never push the eye above its target:

==========  ===================================  ===========================================
grade       ICDR                                 Table 1
==========  ===================================  ===========================================
1 mild      ma (microaneurysms only)             hma, cws, loop
2 moderate  haem, he, cws, vb, irma, loop        hma2a, he, irma, vb, cws
3 severe    haem20_4, vb2, irma_prominent        hma2a_4, vb2, irma8a
4 prolif.   nvd, nve, preretinal                 nvd, nve, preretinal
==========  ===================================  ===========================================

Up to two grade-2 or grade-3 features are combined with "+". Any eye may also be *treated*
(``SCAR_RATE`` per grade): laser photocoagulation scars outside the arcades are added beside the
lesions that grade it, and the presentation gets a ``"treated+"`` prefix (a grade-0 treated eye,
scars and nothing else, is just ``"treated"``). Scars never change a grade: full panretinal
scatter in treated proliferative, severe and grade-0 (regressed) eyes, a sector of scars in
treated mild and moderate ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from drlib.core.grades import class_prior
from drlib.core.lesion_types import DISPLAY_NAMES
from drlib.synth.grading import (
    DEFAULT_SCALE,
    HMA_2A_PER_QUADRANT,
    ICDR_PROMINENT_IRMA_SEGMENTS,
    ICDR_SEVERE_HAEMORRHAGES,
    IRMA_8A_SEGMENTS,
    MANY_COTTON_WOOL_SPOTS,
    LesionInventory,
    check_scale,
)

#: Lesion types whose count is planned per quadrant.
COUNTED = ("microaneurysm", "dot_blot_haemorrhage", "flame_haemorrhage", "hard_exudate",
           "cotton_wool_spot", "irma", "laser_scar")

#: Probability, per target grade, that an eye is "treated" (carries laser scars). Scars are
#: treatment marks: they are planned beside the lesions that grade the eye, never instead.
SCAR_RATE: dict[int, float] = {0: 0.005, 1: 0.02, 2: 0.05, 3: 0.15, 4: 0.3}


@dataclass
class LesionPlan:
    """The lesions one synthetic eye will have. Quadrants are indices into ``QUADRANTS``."""

    counts: dict[str, list[int]] = field(
        default_factory=lambda: {name: [0, 0, 0, 0] for name in COUNTED})
    venous_beading: list[int] = field(default_factory=list)
    venous_loops: list[int] = field(default_factory=list)
    nvd_disc_areas: float = 0.0
    nve: list[tuple[int, float]] = field(default_factory=list)
    preretinal: list[int] = field(default_factory=list)
    presentation: str = "none"

    def inventory(self) -> LesionInventory:
        c = self.counts
        haem = tuple(int(c["dot_blot_haemorrhage"][q] + c["flame_haemorrhage"][q])
                     for q in range(4))
        return LesionInventory(
            microaneurysms_per_quadrant=tuple(int(v) for v in c["microaneurysm"]),
            haemorrhages_per_quadrant=haem,
            cotton_wool_spots=int(sum(c["cotton_wool_spot"])),
            hard_exudates=int(sum(c["hard_exudate"])),
            venous_beading_quadrants=len(set(self.venous_beading)),
            venous_loops=len(self.venous_loops),
            irma_per_quadrant=tuple(int(v) for v in c["irma"]),
            nvd_disc_areas=float(self.nvd_disc_areas),
            nve_disc_areas=float(sum(a for _, a in self.nve)),
            preretinal_haemorrhage=bool(self.preretinal),
            laser_scars=int(sum(c["laser_scar"])),
        )


# ----------------------------------------------------------------------------- building blocks
def _quadrants(rng: np.random.Generator, k: int) -> list[int]:
    return sorted(rng.choice(4, size=k, replace=False).tolist())


def _add_hma(plan: LesionPlan, rng: np.random.Generator, quadrant: int, n: int,
             mix: tuple[float, float, float]) -> None:
    """Split ``n`` H/MA lesions of one quadrant into microaneurysms, dot/blot and flame."""
    split = rng.multinomial(n, mix)
    for name, m in zip(("microaneurysm", "dot_blot_haemorrhage", "flame_haemorrhage"), split,
                       strict=True):
        plan.counts[name][quadrant] += int(m)


def _hma_below_2a(plan, rng, quadrants, mix, low=1, high=HMA_2A_PER_QUADRANT - 1):
    for q in quadrants:
        _add_hma(plan, rng, q, int(rng.integers(low, high + 1)), mix)


def _hma_at_least_2a(plan, rng, quadrants, mix):
    for q in quadrants:
        _add_hma(plan, rng, q, int(rng.integers(HMA_2A_PER_QUADRANT, HMA_2A_PER_QUADRANT + 12)),
                 mix)


def _spread(plan, rng, name, total, quadrants=None):
    quadrants = quadrants if quadrants is not None else list(range(4))
    for q in rng.choice(quadrants, size=total):
        plan.counts[name][int(q)] += 1


def _choose(rng, options: dict[str, float], k: int = 1) -> list[str]:
    names = list(options)
    p = np.array([options[n] for n in names], dtype=float)
    return rng.choice(names, size=k, replace=False, p=p / p.sum()).tolist()


def _microaneurysms(plan, rng, quadrants, low, high):
    for q in quadrants:
        plan.counts["microaneurysm"][q] += int(rng.integers(low, high + 1))


def _haemorrhages(plan, rng, quadrants, low, high, flame=0.25):
    """Intraretinal haemorrhages (dot/blot and flame), ``low..high`` in each quadrant."""
    for q in quadrants:
        n = int(rng.integers(low, high + 1))
        n_flame = int(rng.binomial(n, flame))
        plan.counts["dot_blot_haemorrhage"][q] += n - n_flame
        plan.counts["flame_haemorrhage"][q] += n_flame


def _irma_below(plan, rng, limit):
    for q in _quadrants(rng, int(rng.integers(1, 3))):
        plan.counts["irma"][q] = int(rng.integers(1, limit))


MILD_MIX = (0.75, 0.2, 0.05)
LATER_MIX = (0.45, 0.4, 0.15)


# ----------------------------------------------------------------------------- Table 1 plans
def _t1_mild(plan, rng):
    kind = _choose(rng, {"hma": 0.75, "cws": 0.15, "loop": 0.10})[0]
    plan.presentation = kind
    k = int(rng.choice([1, 2, 3, 4], p=[0.45, 0.3, 0.15, 0.1]))
    if kind == "hma" or rng.random() < 0.5:
        _hma_below_2a(plan, rng, _quadrants(rng, k), MILD_MIX, high=5 if kind == "hma" else 3)
    if kind == "cws":
        _spread(plan, rng, "cotton_wool_spot", int(rng.integers(1, MANY_COTTON_WOOL_SPOTS)))
    if kind == "loop":
        plan.venous_loops.append(int(rng.integers(4)))


def _t1_background_moderate(plan, rng, exclude: set[str]):
    """Lower-grade features that keep a moderate eye moderate."""
    if "cws" not in exclude and rng.random() < 0.3:
        _spread(plan, rng, "cotton_wool_spot", int(rng.integers(1, 4)))
    if "he" not in exclude and rng.random() < 0.35:
        _spread(plan, rng, "hard_exudate", int(rng.integers(4, 25)))


def _t1_moderate(plan, rng):
    features = _choose(rng, {"hma2a": 0.45, "he": 0.25, "irma": 0.1, "vb": 0.1, "cws": 0.1},
                       k=int(rng.choice([1, 2], p=[0.7, 0.3])))
    plan.presentation = "+".join(features)
    q2a = _quadrants(rng, int(rng.integers(1, 4))) if "hma2a" in features else []
    _hma_at_least_2a(plan, rng, q2a, LATER_MIX)
    rest = [q for q in range(4) if q not in q2a]
    if rest and (not q2a or rng.random() < 0.8):
        _hma_below_2a(plan, rng, _quadrants(rng, int(rng.integers(1, len(rest) + 1))) if not q2a
                      else rest, LATER_MIX)
    if "he" in features:
        _spread(plan, rng, "hard_exudate", int(rng.integers(6, 40)))
    if "cws" in features:
        _spread(plan, rng, "cotton_wool_spot", int(rng.integers(MANY_COTTON_WOOL_SPOTS, 10)))
    if "vb" in features:
        plan.venous_beading.append(int(rng.integers(4)))
    if "irma" in features:
        _irma_below(plan, rng, IRMA_8A_SEGMENTS)
    _t1_background_moderate(plan, rng, set(features))


def _t1_severe(plan, rng):
    features = _choose(rng, {"hma2a_4": 0.5, "vb2": 0.25, "irma8a": 0.25},
                       k=int(rng.choice([1, 2], p=[0.7, 0.3])))
    plan.presentation = "+".join(features)
    if "hma2a_4" in features:
        _hma_at_least_2a(plan, rng, [0, 1, 2, 3], LATER_MIX)
    else:
        q2a = _quadrants(rng, int(rng.integers(1, 4)))
        _hma_at_least_2a(plan, rng, q2a, LATER_MIX)
        _hma_below_2a(plan, rng, [q for q in range(4) if q not in q2a], LATER_MIX)
    if "vb2" in features:
        plan.venous_beading.extend(_quadrants(rng, int(rng.integers(2, 5))))
    if "irma8a" in features:
        q = int(rng.integers(4))
        plan.counts["irma"][q] = int(rng.integers(IRMA_8A_SEGMENTS, IRMA_8A_SEGMENTS + 4))
    elif rng.random() < 0.4:
        plan.counts["irma"][int(rng.integers(4))] = int(rng.integers(1, IRMA_8A_SEGMENTS))
    if rng.random() < 0.5:
        _spread(plan, rng, "cotton_wool_spot", int(rng.integers(1, 9)))
    if rng.random() < 0.5:
        _spread(plan, rng, "hard_exudate", int(rng.integers(6, 40)))


# ----------------------------------------------------------------------------- ICDR plans
def _icdr_mild(plan, rng):
    """Microaneurysms only; now and then a quadrant with many (Table 1 would call that 2A)."""
    plan.presentation = "ma"
    quadrants = _quadrants(rng, int(rng.choice([1, 2, 3, 4], p=[0.4, 0.3, 0.18, 0.12])))
    _microaneurysms(plan, rng, quadrants, 1, 6)
    if rng.random() < 0.12:
        plan.counts["microaneurysm"][quadrants[0]] += int(rng.integers(4, 10))


def _icdr_moderate(plan, rng):
    """More than just microaneurysms, less than the 4-2-1 rule."""
    features = _choose(rng, {"haem": 0.5, "he": 0.2, "cws": 0.1, "vb": 0.08, "irma": 0.07,
                             "loop": 0.05}, k=int(rng.choice([1, 2], p=[0.7, 0.3])))
    plan.presentation = "+".join(features)
    if rng.random() < 0.85:
        _microaneurysms(plan, rng, _quadrants(rng, int(rng.integers(1, 5))), 1, 10)
    if "haem" in features:  # never more than 20 in a quadrant: below the 4-2-1 rule
        _haemorrhages(plan, rng, _quadrants(rng, int(rng.integers(1, 5))), 1,
                      int(rng.choice([6, 12, ICDR_SEVERE_HAEMORRHAGES], p=[0.5, 0.3, 0.2])))
    elif rng.random() < 0.4:
        _haemorrhages(plan, rng, _quadrants(rng, int(rng.integers(1, 3))), 1, 4)
    if "he" in features:
        _spread(plan, rng, "hard_exudate", int(rng.integers(4, 40)))
    elif rng.random() < 0.3:
        _spread(plan, rng, "hard_exudate", int(rng.integers(4, 25)))
    if "cws" in features:
        _spread(plan, rng, "cotton_wool_spot", int(rng.integers(1, 9)))
    elif rng.random() < 0.25:
        _spread(plan, rng, "cotton_wool_spot", int(rng.integers(1, 4)))
    if "vb" in features:
        plan.venous_beading.append(int(rng.integers(4)))
    if "irma" in features:
        _irma_below(plan, rng, ICDR_PROMINENT_IRMA_SEGMENTS)
    if "loop" in features:
        plan.venous_loops.append(int(rng.integers(4)))


def _icdr_severe(plan, rng):
    """The 4-2-1 rule: one or two of its three criteria, with the usual background."""
    features = _choose(rng, {"haem20_4": 0.5, "vb2": 0.25, "irma_prominent": 0.25},
                       k=int(rng.choice([1, 2], p=[0.7, 0.3])))
    plan.presentation = "+".join(features)
    _microaneurysms(plan, rng, range(4), 2, 12)
    if "haem20_4" in features:
        _haemorrhages(plan, rng, range(4), ICDR_SEVERE_HAEMORRHAGES + 1,
                      ICDR_SEVERE_HAEMORRHAGES + 15)
    else:  # at most 3 quadrants with more than 20
        _haemorrhages(plan, rng, range(4), 3, ICDR_SEVERE_HAEMORRHAGES)
    if "vb2" in features:
        plan.venous_beading.extend(_quadrants(rng, int(rng.integers(2, 5))))
    if "irma_prominent" in features:
        q = int(rng.integers(4))
        plan.counts["irma"][q] = int(rng.integers(ICDR_PROMINENT_IRMA_SEGMENTS,
                                                  ICDR_PROMINENT_IRMA_SEGMENTS + 4))
    elif rng.random() < 0.4:
        plan.counts["irma"][int(rng.integers(4))] = int(rng.integers(
            1, ICDR_PROMINENT_IRMA_SEGMENTS))
    if rng.random() < 0.5:
        _spread(plan, rng, "cotton_wool_spot", int(rng.integers(1, 9)))
    if rng.random() < 0.5:
        _spread(plan, rng, "hard_exudate", int(rng.integers(6, 40)))


# ----------------------------------------------------------------------------- both scales
def _proliferative(plan, rng, background):
    """New vessels or preretinal blood (both scales: any extent), over a severe or moderate
    picture of the same scale."""
    kind = _choose(rng, {"nvd": 0.4, "nve": 0.4, "preretinal": 0.2})[0]
    if kind == "nvd":
        plan.nvd_disc_areas = float(rng.uniform(0.1, 0.8))
    if kind == "nve" or (kind == "nvd" and rng.random() < 0.3):
        for q in _quadrants(rng, int(rng.integers(1, 3))):
            plan.nve.append((q, float(rng.uniform(0.1, 0.7))))
    if kind == "preretinal":
        plan.preretinal.append(int(rng.choice([2, 3])))  # blood settles inferiorly
        if rng.random() < 0.5:
            plan.nve.append((int(rng.integers(4)), float(rng.uniform(0.2, 0.6))))
    background[3 if rng.random() < 0.5 else 2](plan, rng)
    plan.presentation = kind


def _laser_scars(plan, rng, grade):
    """Panretinal scatter (every quadrant) or, in treated mild/moderate eyes, one or two
    sectors. Painted outside the arcades by the renderer."""
    if grade in (1, 2):
        quadrants, low, high = _quadrants(rng, int(rng.integers(1, 3))), 6, 16
    else:
        quadrants, low, high = range(4), 12, 29
    for q in quadrants:
        plan.counts["laser_scar"][q] = int(rng.integers(low, high + 1))


_PLANNERS = {
    "table1": {1: _t1_mild, 2: _t1_moderate, 3: _t1_severe},
    "icdr": {1: _icdr_mild, 2: _icdr_moderate, 3: _icdr_severe},
}

#: The presentations (first "+" part, without "treated+") each grade can have, per scale.
PRESENTATIONS: dict[str, dict[int, tuple[str, ...]]] = {
    "table1": {0: ("none",), 1: ("hma", "cws", "loop"), 2: ("hma2a", "he", "irma", "vb", "cws"),
               3: ("hma2a_4", "vb2", "irma8a"), 4: ("nvd", "nve", "preretinal")},
    "icdr": {0: ("none",), 1: ("ma",), 2: ("haem", "he", "cws", "vb", "irma", "loop"),
             3: ("haem20_4", "vb2", "irma_prominent"), 4: ("nvd", "nve", "preretinal")},
}


def _lower(name: str) -> str:
    """A display name inside a phrase: lower case, acronyms (IRMA, NVD) kept."""
    return name if name.isupper() else name[0].lower() + name[1:]


#: Readable names of the presentation codes (``LesionPlan.presentation`` parts), for figure
#: titles and tables; lesion names come from ``drlib.core.lesion_types.DISPLAY_NAMES``.
PRESENTATION_NAMES: dict[str, str] = {
    "none": "no lesions",
    "treated": "laser scars (treated)",
    "ma": f"{_lower(DISPLAY_NAMES['microaneurysm'])} only",
    "hma": "haemorrhages/microaneurysms (H/MA)",
    "hma2a": "H/MA >= standard photograph 2A",
    "hma2a_4": "H/MA >= 2A in 4 quadrants",
    "haem": "intraretinal haemorrhages",
    "haem20_4": f"> {ICDR_SEVERE_HAEMORRHAGES} haemorrhages in 4 quadrants",
    "he": _lower(DISPLAY_NAMES["hard_exudate"]),
    "cws": _lower(DISPLAY_NAMES["cotton_wool_spot"]),
    "vb": _lower(DISPLAY_NAMES["venous_beading"]),
    "vb2": f"{_lower(DISPLAY_NAMES['venous_beading'])} in 2+ quadrants",
    "irma": DISPLAY_NAMES["irma"],
    "irma8a": f"{DISPLAY_NAMES['irma']} >= standard photograph 8A",
    "irma_prominent": f"prominent {DISPLAY_NAMES['irma']}",
    "loop": "a venous loop",
    "nvd": DISPLAY_NAMES["nvd"],
    "nve": DISPLAY_NAMES["nve"],
    "preretinal": _lower(DISPLAY_NAMES["preretinal_haemorrhage"]),
}


def describe_presentation(presentation: str, separator: str = " + ") -> str:
    """``presentation`` (a ``LesionPlan.presentation`` such as ``"treated+vb+hma2a"``) in words,
    its parts joined by ``separator``. Raises ValueError naming any part that is not a code."""
    parts = presentation.split("+")
    unknown = [part for part in parts if part not in PRESENTATION_NAMES]
    if unknown:
        raise ValueError(f"unknown presentation code(s) {', '.join(map(repr, unknown))} in "
                         f"{presentation!r}; known: {', '.join(PRESENTATION_NAMES)}")
    return separator.join(PRESENTATION_NAMES[part] for part in parts)


def sample_plan(grade: int, rng: np.random.Generator, scale: str = DEFAULT_SCALE) -> LesionPlan:
    """A lesion plan whose inventory the rule engine grades as ``grade`` on ``scale``."""
    if grade not in (0, 1, 2, 3, 4):
        raise ValueError(f"grade must be 0..4, got {grade!r}")
    planners = _PLANNERS[check_scale(scale)]
    plan = LesionPlan()
    if grade == 4:
        _proliferative(plan, rng, planners)
    elif grade > 0:
        planners[grade](plan, rng)
    if rng.random() < SCAR_RATE[grade]:
        _laser_scars(plan, rng, grade)
        plan.presentation = "treated" if grade == 0 else f"treated+{plan.presentation}"
    return plan


def sample_inventories(n: int, seed: int, prior: str | tuple[float, ...] = "eyepacs",
                       scale: str = DEFAULT_SCALE) -> list[LesionInventory]:
    """``n`` planned eyes' inventories (no rendering): grades drawn from ``prior``, each eye
    planned for its grade on ``scale``. Deterministic in ``seed``; eye ``i`` has its own stream,
    so the first ``k`` of ``n`` eyes are the ``k`` eyes of ``sample_inventories(k, seed)``."""
    p = class_prior(prior)
    check_scale(scale)
    out = []
    for child in np.random.SeedSequence([int(seed), 31415]).spawn(int(n)):
        rng = np.random.default_rng(child)
        grade = int(rng.choice(5, p=p))
        out.append(sample_plan(grade, rng, scale).inventory())
    return out
