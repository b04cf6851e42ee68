"""The grading rules: a lesion inventory in, a DR grade 0-4 out.

The rules encode Table 1 of Pratt et al. (2019), itself a summary of the ETDRS severity scale
(ETDRS report 10, 1991), collapsed to the five Kaggle/EyePACS levels. Table 1 speaks of
"standard photographs" (2A, 8A, 10A); a synthetic image has no photograph to compare with, so
this module turns each one into a count or an area (the constants below). They are the course's
operationalisation, not clinical thresholds.

A grade is the highest grade any rule assigns: "one feature in each list is required for the
equivalent DR grading" (Table 1 caption).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from drlib.lesion_types import QUADRANTS

#: H/MA in one quadrant at or above this count count as "H/MA >= standard photograph 2A".
HMA_2A_PER_QUADRANT = 8
#: Cotton wool spots from this count on make the eye at least moderate.
MANY_COTTON_WOOL_SPOTS = 6
#: IRMA segments in one quadrant from this count on count as "IRMA >= standard photograph 8A".
IRMA_8A_SEGMENTS = 4
#: Neovascularisation of the disc of at least this many disc areas is "high-risk" (10A, 1/3 DA).
NVD_10A_DISC_AREAS = 1.0 / 3.0
#: Neovascularisation elsewhere of at least this many disc areas is "high-risk" (1/2 DA).
NVE_HIGH_RISK_DISC_AREAS = 0.5


@dataclass(frozen=True)
class LesionInventory:
    """What a grader counts on one photograph.

    Counts per quadrant follow the order of ``drlib.lesion_types.QUADRANTS``.
    """

    hma_per_quadrant: tuple[int, int, int, int] = (0, 0, 0, 0)
    cotton_wool_spots: int = 0
    hard_exudates: int = 0
    venous_beading_quadrants: int = 0
    venous_loops: int = 0
    irma_per_quadrant: tuple[int, int, int, int] = (0, 0, 0, 0)
    nvd_disc_areas: float = 0.0
    nve_disc_areas: float = 0.0
    preretinal_haemorrhage: bool = False
    laser_scars: int = 0
    extra: dict = field(default_factory=dict, compare=False)

    @property
    def total_hma(self) -> int:
        return int(sum(self.hma_per_quadrant))

    @property
    def hma_2a_quadrants(self) -> int:
        """Quadrants whose H/MA reach standard photograph 2A."""
        return sum(int(c >= HMA_2A_PER_QUADRANT) for c in self.hma_per_quadrant)

    @property
    def irma_quadrants(self) -> int:
        return sum(int(c > 0) for c in self.irma_per_quadrant)

    @property
    def irma_8a(self) -> bool:
        """IRMA reach standard photograph 8A in at least one quadrant."""
        return any(c >= IRMA_8A_SEGMENTS for c in self.irma_per_quadrant)

    def to_dict(self) -> dict:
        d = asdict(self)
        d.pop("extra")
        d["hma_per_quadrant"] = list(self.hma_per_quadrant)
        d["irma_per_quadrant"] = list(self.irma_per_quadrant)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> LesionInventory:
        d = dict(d)
        d["hma_per_quadrant"] = tuple(int(v) for v in d.get("hma_per_quadrant", (0,) * 4))
        d["irma_per_quadrant"] = tuple(int(v) for v in d.get("irma_per_quadrant", (0,) * 4))
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__ and k != "extra"}
        return cls(**known)


@dataclass(frozen=True)
class Rule:
    """One line of the grading table: a feature that, when present, implies at least ``grade``."""

    grade: int
    feature: str
    source: str
    applies: Callable[[LesionInventory], bool]


#: The rules, highest grade first. ``source`` says where each line comes from.
RULES: tuple[Rule, ...] = (
    Rule(4, "Neovascularisation of the disc (any extent)", "Table 1",
         lambda inv: inv.nvd_disc_areas > 0),
    Rule(4, "Neovascularisation elsewhere (any extent)", "Table 1",
         lambda inv: inv.nve_disc_areas > 0),
    Rule(4, "Preretinal or vitreous haemorrhage", "Table 1",
         lambda inv: inv.preretinal_haemorrhage),
    Rule(4, "Laser photocoagulation scars (treated proliferative DR)", "Table 1 (stable treated)",
         lambda inv: inv.laser_scars > 0),
    Rule(3, f"H/MA >= 2A (>= {HMA_2A_PER_QUADRANT} per quadrant) in all 4 quadrants", "Table 1",
         lambda inv: inv.hma_2a_quadrants == 4),
    Rule(3, "Venous beading in 2-4 quadrants", "Table 1",
         lambda inv: inv.venous_beading_quadrants >= 2),
    Rule(3, f"IRMA >= 8A (>= {IRMA_8A_SEGMENTS} segments) in at least 1 quadrant", "Table 1",
         lambda inv: inv.irma_8a),
    Rule(2, "H/MA >= 2A in 1-3 quadrants", "Table 1",
         lambda inv: 1 <= inv.hma_2a_quadrants <= 3),
    Rule(2, f">= {MANY_COTTON_WOOL_SPOTS} cotton wool spots", "Table 1",
         lambda inv: inv.cotton_wool_spots >= MANY_COTTON_WOOL_SPOTS),
    Rule(2, "Venous beading in 1 quadrant", "Table 1",
         lambda inv: inv.venous_beading_quadrants == 1),
    Rule(2, "IRMA < 8A", "Table 1",
         lambda inv: inv.irma_quadrants > 0 and not inv.irma_8a),
    Rule(2, "Hard exudates", "ETDRS level 35 / ICDR (not in Table 1)",
         lambda inv: inv.hard_exudates > 0),
    Rule(1, "H/MA < 2A", "Table 1",
         lambda inv: inv.total_hma > 0),
    Rule(1, f"1-{MANY_COTTON_WOOL_SPOTS - 1} cotton wool spots (alone or with H/MA < 2A)",
         "Table 1", lambda inv: 0 < inv.cotton_wool_spots < MANY_COTTON_WOOL_SPOTS),
    Rule(1, "Venous loop", "Table 1", lambda inv: inv.venous_loops > 0),
)


def matching_rules(inventory: LesionInventory) -> list[Rule]:
    """Every rule the inventory satisfies, highest grade first."""
    return [rule for rule in RULES if rule.applies(inventory)]


def grade_inventory(inventory: LesionInventory) -> int:
    """The DR grade (0-4) implied by an inventory: the highest grade of any matching rule."""
    return max((rule.grade for rule in matching_rules(inventory)), default=0)


def explain_grade(inventory: LesionInventory) -> str:
    """A one-line reason for the grade, naming the rules that decided it."""
    grade = grade_inventory(inventory)
    if grade == 0:
        return "0: no apparent retinopathy"
    deciding = [r.feature for r in matching_rules(inventory) if r.grade == grade]
    return f"{grade}: " + "; ".join(deciding)


def rule_table():
    """The rules as a pandas DataFrame (grade, feature, source), rendered by chapter 01."""
    import pandas as pd

    from drlib.lesion_types import GRADE_NAMES

    rows = [{"grade": r.grade, "grade name": GRADE_NAMES[r.grade], "feature": r.feature,
             "source": r.source} for r in RULES]
    rows.append({"grade": 0, "grade name": GRADE_NAMES[0], "feature": "none of the above",
                 "source": "Table 1"})
    return pd.DataFrame(rows)


__all__ = [
    "HMA_2A_PER_QUADRANT", "IRMA_8A_SEGMENTS", "MANY_COTTON_WOOL_SPOTS", "NVD_10A_DISC_AREAS",
    "NVE_HIGH_RISK_DISC_AREAS", "QUADRANTS", "LesionInventory", "RULES", "Rule",
    "explain_grade", "grade_inventory", "matching_rules", "rule_table",
]
