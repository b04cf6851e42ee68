"""Sampling what a synthetic eye has: a lesion plan for a target grade.

The generator never paints a grade. It draws a *plan* (how many lesions of each type in each
quadrant, how large the new vessels are), the renderer paints exactly that plan, and the grade is
then read off the plan's inventory by the rule engine in :mod:`drlib.grading`. Each grade has a
few "presentations" (the defining feature or features) chosen with the weights below, plus
background lesions of lower grades that never push the eye above its target.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from drlib.grading import (
    HMA_2A_PER_QUADRANT,
    IRMA_8A_SEGMENTS,
    MANY_COTTON_WOOL_SPOTS,
    LesionInventory,
)

#: Kaggle 2015 training-set grade counts (anchors.md): 25,810 / 2,443 / 5,292 / 873 / 708.
EYEPACS_COUNTS = (25810, 2443, 5292, 873, 708)
EYEPACS_PRIOR = tuple(c / sum(EYEPACS_COUNTS) for c in EYEPACS_COUNTS)
BALANCED_PRIOR = (0.2, 0.2, 0.2, 0.2, 0.2)

#: Lesion types whose count is planned per quadrant.
COUNTED = ("microaneurysm", "dot_blot_haemorrhage", "flame_haemorrhage", "hard_exudate",
           "cotton_wool_spot", "irma", "laser_scar")


def class_prior(prior: str | tuple[float, ...] | list[float]) -> np.ndarray:
    """The grade distribution: "eyepacs", "balanced", or five probabilities."""
    if isinstance(prior, str):
        table = {"eyepacs": EYEPACS_PRIOR, "balanced": BALANCED_PRIOR}
        if prior not in table:
            raise ValueError(f"unknown class prior {prior!r}; use one of {sorted(table)}")
        p = np.asarray(table[prior], dtype=float)
    else:
        p = np.asarray(prior, dtype=float)
    if p.shape != (5,) or np.any(p < 0) or not np.isclose(p.sum(), 1.0):
        raise ValueError(f"a class prior needs 5 non-negative probabilities summing to 1, got {p}")
    return p


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
        hma = tuple(int(c["microaneurysm"][q] + c["dot_blot_haemorrhage"][q]
                        + c["flame_haemorrhage"][q]) for q in range(4))
        return LesionInventory(
            hma_per_quadrant=hma,
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


MILD_MIX = (0.75, 0.2, 0.05)
LATER_MIX = (0.45, 0.4, 0.15)


# ----------------------------------------------------------------------------- per grade
def _plan_mild(plan, rng):
    kind = _choose(rng, {"hma": 0.75, "cws": 0.15, "loop": 0.10})[0]
    plan.presentation = kind
    k = int(rng.choice([1, 2, 3, 4], p=[0.45, 0.3, 0.15, 0.1]))
    if kind == "hma" or rng.random() < 0.5:
        _hma_below_2a(plan, rng, _quadrants(rng, k), MILD_MIX, high=5 if kind == "hma" else 3)
    if kind == "cws":
        _spread(plan, rng, "cotton_wool_spot", int(rng.integers(1, MANY_COTTON_WOOL_SPOTS)))
    if kind == "loop":
        plan.venous_loops.append(int(rng.integers(4)))


def _background_moderate(plan, rng, exclude: set[str]):
    """Lower-grade features that keep a moderate eye moderate."""
    if "cws" not in exclude and rng.random() < 0.3:
        _spread(plan, rng, "cotton_wool_spot", int(rng.integers(1, 4)))
    if "he" not in exclude and rng.random() < 0.35:
        _spread(plan, rng, "hard_exudate", int(rng.integers(4, 25)))


def _plan_moderate(plan, rng):
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
        for q in _quadrants(rng, int(rng.integers(1, 3))):
            plan.counts["irma"][q] = int(rng.integers(1, IRMA_8A_SEGMENTS))
    _background_moderate(plan, rng, set(features))


def _plan_severe(plan, rng):
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


def _plan_proliferative(plan, rng):
    kind = _choose(rng, {"nvd": 0.35, "nve": 0.3, "preretinal": 0.15, "treated": 0.2})[0]
    plan.presentation = kind
    if kind == "nvd":
        plan.nvd_disc_areas = float(rng.uniform(0.15, 0.8))
    if kind == "nve" or (kind == "nvd" and rng.random() < 0.3):
        for q in _quadrants(rng, int(rng.integers(1, 3))):
            plan.nve.append((q, float(rng.uniform(0.15, 0.7))))
    if kind == "preretinal":
        plan.preretinal.append(int(rng.choice([2, 3])))  # blood settles inferiorly
        if rng.random() < 0.5:
            plan.nve.append((int(rng.integers(4)), float(rng.uniform(0.2, 0.6))))
    if kind == "treated" or rng.random() < 0.2:
        for q in range(4):
            plan.counts["laser_scar"][q] = int(rng.integers(12, 30))
    # background: the severe or moderate picture that usually comes with proliferative DR
    if rng.random() < 0.5:
        _plan_severe(plan, rng)
    else:
        _plan_moderate(plan, rng)
    plan.presentation = kind


_PER_GRADE = {1: _plan_mild, 2: _plan_moderate, 3: _plan_severe, 4: _plan_proliferative}


def sample_plan(grade: int, rng: np.random.Generator) -> LesionPlan:
    """A lesion plan whose inventory the rule engine grades as ``grade``."""
    if grade not in (0, 1, 2, 3, 4):
        raise ValueError(f"grade must be 0..4, got {grade!r}")
    plan = LesionPlan()
    if grade == 0:
        plan.presentation = "none"
        return plan
    _PER_GRADE[grade](plan, rng)
    return plan
