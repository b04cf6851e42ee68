"""The grading rules: a lesion inventory in, a DR grade 0-4 out, on either of two scales.

One rule engine, two rule sets (``SCALES``):

``"icdr"`` (the default)
    The International Clinical Diabetic Retinopathy scale (Wilkinson et al. 2003): 0 no apparent
    retinopathy; 1 mild, microaneurysms only; 2 moderate, more than just microaneurysms but less
    than severe; 3 severe, the "4-2-1 rule" (more than 20 intraretinal haemorrhages in each of
    the 4 quadrants, or definite venous beading in 2 or more quadrants, or prominent IRMA in 1 or
    more quadrant) and no sign of proliferative DR; 4 proliferative, neovascularisation (disc or
    elsewhere, any extent) or vitreous/preretinal haemorrhage. Microaneurysms are not
    haemorrhages here: the "more than 20" counts dot/blot and flame haemorrhages only.

``"table1"``
    Table 1 of Pratt et al. (2019), itself a summary of the ETDRS severity scale (ETDRS report
    10, 1991), collapsed to the five Kaggle/EyePACS levels. Table 1 speaks of "standard
    photographs" (2A, 8A, 10A) and counts haemorrhages and microaneurysms together (H/MA).

A synthetic image has no standard photograph to compare with and no grader's eye for "definite"
or "prominent", so this module turns each criterion into a count or an area on the *synthetic*
lesion inventory (the constants below). These are the course's operationalisation of the two
scales on synthetic inventories, not clinical thresholds, and not a substitute for either scale's
published definitions.

On both scales a grade is the highest grade any rule assigns: one feature suffices ("one feature
in each list is required for the equivalent DR grading", Table 1 caption). Laser
photocoagulation scars are treatment marks, not a lesion: no rule of either scale reads them, so
an eye with scars alone grades 0 and an eye with scars and lesions grades by the lesions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field

from drlib.core.lesion_types import QUADRANTS

#: The grading scales the engine knows, and the one used when none is named.
SCALES: tuple[str, ...] = ("icdr", "table1")
DEFAULT_SCALE = "icdr"
SCALE_NAMES: dict[str, str] = {
    "icdr": "International Clinical DR scale (ICDR)",
    "table1": "Pratt et al. Table 1 (ETDRS-style)",
}
#: Short column labels for tables and figures.
SCALE_LABELS: dict[str, str] = {"icdr": "ICDR", "table1": "Table 1"}

# ------------------------------------------------------------------ Table 1 (ETDRS-style)
#: H/MA in one quadrant at or above this count count as "H/MA >= standard photograph 2A".
HMA_2A_PER_QUADRANT = 8
#: Cotton wool spots from this count on make the eye at least moderate (Table 1).
MANY_COTTON_WOOL_SPOTS = 6
#: IRMA segments in one quadrant from this count on count as "IRMA >= standard photograph 8A".
IRMA_8A_SEGMENTS = 4
#: Neovascularisation of the disc of at least this many disc areas is "high-risk" (10A, 1/3 DA).
NVD_10A_DISC_AREAS = 1.0 / 3.0
#: Neovascularisation elsewhere of at least this many disc areas is "high-risk" (1/2 DA).
NVE_HIGH_RISK_DISC_AREAS = 0.5

# ------------------------------------------------------------------ ICDR
#: ICDR severe: *more than* this many intraretinal haemorrhages in each of the 4 quadrants.
ICDR_SEVERE_HAEMORRHAGES = 20
#: ICDR severe: definite venous beading in at least this many quadrants.
ICDR_SEVERE_BEADING_QUADRANTS = 2
#: ICDR severe: "prominent" IRMA = at least this many IRMA segments in one quadrant (the ETDRS
#: standard photograph 8A that defines "prominent" is the same reference as Table 1's).
ICDR_PROMINENT_IRMA_SEGMENTS = IRMA_8A_SEGMENTS

_ZERO4 = (0, 0, 0, 0)


def check_scale(scale: str) -> str:
    """``scale`` if it names a known grading scale, else ValueError naming the valid ones."""
    if scale not in SCALES:
        raise ValueError(f"unknown grading scale {scale!r}; use one of {', '.join(SCALES)}")
    return scale


@dataclass(frozen=True)
class LesionInventory:
    """What a grader counts on one photograph.

    Counts per quadrant follow the order of ``drlib.core.lesion_types.QUADRANTS``. Microaneurysms
    and intraretinal haemorrhages (dot/blot + flame) are counted apart, because ICDR's 4-2-1 rule
    counts haemorrhages only; Table 1's H/MA is their sum (:attr:`hma_per_quadrant`).
    """

    microaneurysms_per_quadrant: tuple[int, int, int, int] = _ZERO4
    haemorrhages_per_quadrant: tuple[int, int, int, int] = _ZERO4
    cotton_wool_spots: int = 0
    hard_exudates: int = 0
    venous_beading_quadrants: int = 0
    venous_loops: int = 0
    irma_per_quadrant: tuple[int, int, int, int] = _ZERO4
    nvd_disc_areas: float = 0.0
    nve_disc_areas: float = 0.0
    preretinal_haemorrhage: bool = False
    laser_scars: int = 0  # recorded, never graded
    extra: dict = field(default_factory=dict, compare=False)

    # ---------------------------------------------------------------- derived counts
    @property
    def hma_per_quadrant(self) -> tuple[int, int, int, int]:
        """Haemorrhages + microaneurysms per quadrant (Table 1's H/MA)."""
        return tuple(int(m + h) for m, h in zip(self.microaneurysms_per_quadrant,
                                                self.haemorrhages_per_quadrant, strict=True))

    @property
    def total_hma(self) -> int:
        return int(sum(self.hma_per_quadrant))

    @property
    def total_microaneurysms(self) -> int:
        return int(sum(self.microaneurysms_per_quadrant))

    @property
    def total_haemorrhages(self) -> int:
        """Intraretinal haemorrhages (dot/blot + flame), microaneurysms not included."""
        return int(sum(self.haemorrhages_per_quadrant))

    @property
    def hma_2a_quadrants(self) -> int:
        """Quadrants whose H/MA reach standard photograph 2A (Table 1)."""
        return sum(int(c >= HMA_2A_PER_QUADRANT) for c in self.hma_per_quadrant)

    @property
    def severe_haemorrhage_quadrants(self) -> int:
        """Quadrants with more than ``ICDR_SEVERE_HAEMORRHAGES`` haemorrhages (ICDR 4-2-1)."""
        return sum(int(c > ICDR_SEVERE_HAEMORRHAGES) for c in self.haemorrhages_per_quadrant)

    @property
    def irma_quadrants(self) -> int:
        return sum(int(c > 0) for c in self.irma_per_quadrant)

    @property
    def irma_8a(self) -> bool:
        """IRMA reach standard photograph 8A in at least one quadrant (Table 1)."""
        return any(c >= IRMA_8A_SEGMENTS for c in self.irma_per_quadrant)

    @property
    def irma_prominent(self) -> bool:
        """Prominent IRMA in at least one quadrant (ICDR)."""
        return any(c >= ICDR_PROMINENT_IRMA_SEGMENTS for c in self.irma_per_quadrant)

    # ---------------------------------------------------------------- (de)serialisation
    def to_dict(self) -> dict:
        """JSON-able fields, plus the derived ``hma_per_quadrant`` for readers of Table 1."""
        d = asdict(self)
        d.pop("extra")
        for name in ("microaneurysms_per_quadrant", "haemorrhages_per_quadrant",
                     "irma_per_quadrant"):
            d[name] = [int(v) for v in getattr(self, name)]
        d["hma_per_quadrant"] = list(self.hma_per_quadrant)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> LesionInventory:
        """Inverse of :meth:`to_dict`. A record with only the summed ``hma_per_quadrant`` (written
        before microaneurysms and haemorrhages were counted apart) cannot be graded on ICDR and
        is refused."""
        d = dict(d)
        split = ("microaneurysms_per_quadrant", "haemorrhages_per_quadrant")
        hma = d.pop("hma_per_quadrant", None)
        if hma is not None and not any(k in d for k in split) and any(hma):
            raise ValueError("this inventory only has the summed hma_per_quadrant; ICDR needs "
                             "microaneurysms_per_quadrant and haemorrhages_per_quadrant apart "
                             "(re-render it with the current generator)")
        for name in (*split, "irma_per_quadrant"):
            d[name] = tuple(int(v) for v in d.get(name, _ZERO4))
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__ and k != "extra"}
        inv = cls(**known)
        if hma is not None and tuple(int(v) for v in hma) != inv.hma_per_quadrant:
            raise ValueError(f"hma_per_quadrant {list(hma)} is not microaneurysms + "
                             f"haemorrhages {list(inv.hma_per_quadrant)}")
        return inv


@dataclass(frozen=True)
class Rule:
    """One line of a grading table: a feature that, when present, implies at least ``grade``."""

    grade: int
    feature: str
    source: str
    applies: Callable[[LesionInventory], bool]


_T1 = "Table 1"
_ICDR = "ICDR (Wilkinson et al. 2003)"

#: Table 1 of Pratt et al. 2019, highest grade first. Laser scars have no rule (see module doc).
TABLE1_RULES: tuple[Rule, ...] = (
    Rule(4, "Neovascularisation of the disc (any extent)", _T1,
         lambda inv: inv.nvd_disc_areas > 0),
    Rule(4, "Neovascularisation elsewhere (any extent)", _T1,
         lambda inv: inv.nve_disc_areas > 0),
    Rule(4, "Preretinal or vitreous haemorrhage", _T1,
         lambda inv: inv.preretinal_haemorrhage),
    Rule(3, f"H/MA >= 2A (>= {HMA_2A_PER_QUADRANT} per quadrant) in all 4 quadrants", _T1,
         lambda inv: inv.hma_2a_quadrants == 4),
    Rule(3, "Venous beading in 2-4 quadrants", _T1,
         lambda inv: inv.venous_beading_quadrants >= 2),
    Rule(3, f"IRMA >= 8A (>= {IRMA_8A_SEGMENTS} segments) in at least 1 quadrant", _T1,
         lambda inv: inv.irma_8a),
    Rule(2, "H/MA >= 2A in 1-3 quadrants", _T1,
         lambda inv: 1 <= inv.hma_2a_quadrants <= 3),
    Rule(2, f">= {MANY_COTTON_WOOL_SPOTS} cotton wool spots", _T1,
         lambda inv: inv.cotton_wool_spots >= MANY_COTTON_WOOL_SPOTS),
    Rule(2, "Venous beading in 1 quadrant", _T1,
         lambda inv: inv.venous_beading_quadrants == 1),
    Rule(2, "IRMA < 8A", _T1,
         lambda inv: inv.irma_quadrants > 0 and not inv.irma_8a),
    Rule(2, "Hard exudates", "ETDRS level 35 / ICDR (not in Table 1)",
         lambda inv: inv.hard_exudates > 0),
    Rule(1, "H/MA < 2A", _T1,
         lambda inv: inv.total_hma > 0),
    Rule(1, f"1-{MANY_COTTON_WOOL_SPOTS - 1} cotton wool spots (alone or with H/MA < 2A)",
         _T1, lambda inv: 0 < inv.cotton_wool_spots < MANY_COTTON_WOOL_SPOTS),
    Rule(1, "Venous loop", _T1, lambda inv: inv.venous_loops > 0),
)

#: The International Clinical DR scale, highest grade first. Laser scars have no rule.
ICDR_RULES: tuple[Rule, ...] = (
    Rule(4, "Neovascularisation of the disc (any extent)", _ICDR,
         lambda inv: inv.nvd_disc_areas > 0),
    Rule(4, "Neovascularisation elsewhere (any extent)", _ICDR,
         lambda inv: inv.nve_disc_areas > 0),
    Rule(4, "Vitreous or preretinal haemorrhage", _ICDR,
         lambda inv: inv.preretinal_haemorrhage),
    Rule(3, f"More than {ICDR_SEVERE_HAEMORRHAGES} intraretinal haemorrhages in each of the "
            "4 quadrants", f"{_ICDR}, 4-2-1 rule",
         lambda inv: inv.severe_haemorrhage_quadrants == 4),
    Rule(3, f"Definite venous beading in {ICDR_SEVERE_BEADING_QUADRANTS}+ quadrants",
         f"{_ICDR}, 4-2-1 rule",
         lambda inv: inv.venous_beading_quadrants >= ICDR_SEVERE_BEADING_QUADRANTS),
    Rule(3, f"Prominent IRMA (>= {ICDR_PROMINENT_IRMA_SEGMENTS} segments) in 1+ quadrant",
         f"{_ICDR}, 4-2-1 rule", lambda inv: inv.irma_prominent),
    Rule(2, "Intraretinal haemorrhages (dot/blot or flame), fewer than severe",
         f"{_ICDR}: more than just microaneurysms", lambda inv: inv.total_haemorrhages > 0),
    Rule(2, "Hard exudates", f"{_ICDR}: more than just microaneurysms",
         lambda inv: inv.hard_exudates > 0),
    Rule(2, "Cotton wool spots (any number)", f"{_ICDR}: more than just microaneurysms",
         lambda inv: inv.cotton_wool_spots > 0),
    Rule(2, "Venous beading in 1 quadrant", f"{_ICDR}: more than just microaneurysms",
         lambda inv: 0 < inv.venous_beading_quadrants < ICDR_SEVERE_BEADING_QUADRANTS),
    Rule(2, "IRMA, less than prominent", f"{_ICDR}: more than just microaneurysms",
         lambda inv: inv.irma_quadrants > 0 and not inv.irma_prominent),
    Rule(2, "Venous loop", f"{_ICDR}: more than just microaneurysms (course's reading)",
         lambda inv: inv.venous_loops > 0),
    Rule(1, "Microaneurysms only", _ICDR,
         lambda inv: inv.total_microaneurysms > 0),
)

#: Every scale's rules, highest grade first. ``source`` says where each line comes from.
RULES: dict[str, tuple[Rule, ...]] = {"icdr": ICDR_RULES, "table1": TABLE1_RULES}


def matching_rules(inventory: LesionInventory, scale: str = DEFAULT_SCALE) -> list[Rule]:
    """Every rule of ``scale`` the inventory satisfies, highest grade first."""
    return [rule for rule in RULES[check_scale(scale)] if rule.applies(inventory)]


def grade_inventory(inventory: LesionInventory, scale: str = DEFAULT_SCALE) -> int:
    """The DR grade (0-4) on ``scale``: the highest grade of any matching rule, else 0."""
    return max((rule.grade for rule in matching_rules(inventory, scale)), default=0)


def grade_all(inventory: LesionInventory) -> dict[str, int]:
    """The inventory's grade on every scale, keyed as ``SCALES``."""
    return {scale: grade_inventory(inventory, scale) for scale in SCALES}


def explain_grade(inventory: LesionInventory, scale: str = DEFAULT_SCALE) -> str:
    """A one-line reason for the grade on ``scale``, naming the rules that decided it."""
    grade = grade_inventory(inventory, scale)
    if grade == 0:
        text = "0: no apparent retinopathy"
    else:
        deciding = [r.feature for r in matching_rules(inventory, scale) if r.grade == grade]
        text = f"{grade}: " + "; ".join(deciding)
    if inventory.laser_scars > 0:
        text += " (laser scars present: treatment marks, not graded)"
    return text


def rule_table(scale: str = DEFAULT_SCALE):
    """The rules of ``scale`` as a pandas DataFrame (grade, grade name, feature, source)."""
    import pandas as pd

    from drlib.core.grades import GRADE_NAMES

    rows = [{"grade": r.grade, "grade name": GRADE_NAMES[r.grade], "feature": r.feature,
             "source": r.source} for r in RULES[check_scale(scale)]]
    rows.append({"grade": 0, "grade name": GRADE_NAMES[0], "feature": "none of the above",
                 "source": SCALE_LABELS[scale]})
    return pd.DataFrame(rows)


def rule_tables_side_by_side(separator: str = "; "):
    """One row per grade, one column per scale: the features (any one suffices) of that grade,
    joined by ``separator``. For chapter 01's comparison of the two scales."""
    import pandas as pd

    from drlib.core.grades import GRADE_NAMES

    rows = []
    for grade in range(len(GRADE_NAMES) - 1, -1, -1):
        row = {"grade": grade, "grade name": GRADE_NAMES[grade]}
        for scale in SCALES:
            features = [r.feature for r in RULES[scale] if r.grade == grade]
            row[SCALE_NAMES[scale]] = separator.join(features) or "none of the above"
        rows.append(row)
    return pd.DataFrame(rows).set_index("grade")


__all__ = [
    "DEFAULT_SCALE", "HMA_2A_PER_QUADRANT", "ICDR_PROMINENT_IRMA_SEGMENTS", "ICDR_RULES",
    "ICDR_SEVERE_BEADING_QUADRANTS", "ICDR_SEVERE_HAEMORRHAGES", "IRMA_8A_SEGMENTS",
    "MANY_COTTON_WOOL_SPOTS", "NVD_10A_DISC_AREAS", "NVE_HIGH_RISK_DISC_AREAS", "QUADRANTS",
    "RULES", "SCALES", "SCALE_LABELS", "SCALE_NAMES", "TABLE1_RULES", "LesionInventory", "Rule",
    "check_scale", "explain_grade", "grade_all", "grade_inventory", "matching_rules",
    "rule_table", "rule_tables_side_by_side",
]
