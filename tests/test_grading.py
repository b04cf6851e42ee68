"""The rule engine: ICDR and Table 1 encoded, laser scars never graded, and the generator's plans
graded back to their targets on each scale."""

from dataclasses import replace

import numpy as np
import pytest

from drlib.core.grades import class_prior
from drlib.synth.grading import (
    DEFAULT_SCALE,
    HMA_2A_PER_QUADRANT,
    ICDR_SEVERE_HAEMORRHAGES,
    IRMA_8A_SEGMENTS,
    MANY_COTTON_WOOL_SPOTS,
    RULES,
    SCALE_NAMES,
    SCALES,
    LesionInventory,
    explain_grade,
    grade_all,
    grade_inventory,
    matching_rules,
    rule_table,
    rule_tables_side_by_side,
)
from drlib.synth.lesion_plan import PRESENTATIONS, SCAR_RATE, sample_inventories, sample_plan

A2 = HMA_2A_PER_QUADRANT
Inv = LesionInventory


def test_the_scales_and_their_names():
    assert SCALES == ("icdr", "table1")
    assert DEFAULT_SCALE == "icdr"
    assert set(SCALE_NAMES) == set(RULES) == set(SCALES)


# ----------------------------------------------------------------------------- Table 1 anchors
@pytest.mark.parametrize("inventory, grade", [
    (Inv(), 0),
    (Inv(microaneurysms_per_quadrant=(1, 0, 0, 0)), 1),
    (Inv(haemorrhages_per_quadrant=(1, 0, 0, 0)), 1),
    (Inv(microaneurysms_per_quadrant=(A2 - 1,) * 4), 1),
    (Inv(microaneurysms_per_quadrant=(3, 2, 0, 0), haemorrhages_per_quadrant=(4, 0, 0, 0)), 1),
    (Inv(cotton_wool_spots=MANY_COTTON_WOOL_SPOTS - 1), 1),
    (Inv(venous_loops=1), 1),
    (Inv(microaneurysms_per_quadrant=(4, 0, 0, 0), haemorrhages_per_quadrant=(4, 0, 0, 0)), 2),
    (Inv(haemorrhages_per_quadrant=(A2, 0, 0, 0)), 2),
    (Inv(microaneurysms_per_quadrant=(A2, A2, A2, 0)), 2),
    (Inv(cotton_wool_spots=MANY_COTTON_WOOL_SPOTS), 2),
    (Inv(venous_beading_quadrants=1), 2),
    (Inv(irma_per_quadrant=(IRMA_8A_SEGMENTS - 1, 0, 0, 0)), 2),
    (Inv(hard_exudates=3), 2),
    (Inv(microaneurysms_per_quadrant=(A2,) * 4), 3),
    (Inv(microaneurysms_per_quadrant=(2, 3, 4, 5), haemorrhages_per_quadrant=(6, 5, 4, 3)), 3),
    (Inv(venous_beading_quadrants=2), 3),
    (Inv(irma_per_quadrant=(0, IRMA_8A_SEGMENTS, 0, 0)), 3),
    (Inv(nvd_disc_areas=0.1), 4),
    (Inv(nve_disc_areas=0.6), 4),
    (Inv(nve_disc_areas=0.01), 4),
    (Inv(preretinal_haemorrhage=True), 4),
    (Inv(haemorrhages_per_quadrant=(A2,) * 4, nvd_disc_areas=0.5), 4),
    # laser scars are treatment marks: they never set a grade
    (Inv(laser_scars=40), 0),
    (Inv(laser_scars=40, microaneurysms_per_quadrant=(2, 0, 0, 0)), 1),
    (Inv(laser_scars=40, haemorrhages_per_quadrant=(A2,) * 4), 3),
    (Inv(laser_scars=40, nve_disc_areas=0.3), 4),
])
def test_table1_rules(inventory, grade):
    assert grade_inventory(inventory, "table1") == grade


# ----------------------------------------------------------------------------- ICDR anchors
S = ICDR_SEVERE_HAEMORRHAGES


@pytest.mark.parametrize("inventory, grade", [
    (Inv(), 0),
    # mild: microaneurysms only, however many
    (Inv(microaneurysms_per_quadrant=(1, 0, 0, 0)), 1),
    (Inv(microaneurysms_per_quadrant=(30, 30, 30, 30)), 1),
    # moderate: more than just microaneurysms
    (Inv(haemorrhages_per_quadrant=(1, 0, 0, 0)), 2),
    (Inv(microaneurysms_per_quadrant=(5, 0, 0, 0), haemorrhages_per_quadrant=(1, 0, 0, 0)), 2),
    (Inv(hard_exudates=1), 2),
    (Inv(cotton_wool_spots=1), 2),
    (Inv(venous_loops=1), 2),
    (Inv(irma_per_quadrant=(IRMA_8A_SEGMENTS - 1, 1, 0, 0)), 2),
    (Inv(venous_beading_quadrants=1), 2),
    # the "4" of 4-2-1: more than 20 haemorrhages in each of 4 quadrants; MA do not count
    (Inv(haemorrhages_per_quadrant=(19, 19, 19, 19)), 2),
    (Inv(haemorrhages_per_quadrant=(20, 20, 20, 20)), 2),
    (Inv(haemorrhages_per_quadrant=(21, 21, 21, 21)), 3),
    (Inv(haemorrhages_per_quadrant=(21, 21, 21, 0)), 2),
    (Inv(haemorrhages_per_quadrant=(21, 21, 21, 20)), 2),
    (Inv(haemorrhages_per_quadrant=(20, 20, 20, 20), microaneurysms_per_quadrant=(9,) * 4), 2),
    # the "2": definite venous beading in 2+ quadrants
    (Inv(venous_beading_quadrants=2), 3),
    (Inv(venous_beading_quadrants=4), 3),
    # the "1": prominent IRMA in 1+ quadrant
    (Inv(irma_per_quadrant=(0, 0, IRMA_8A_SEGMENTS, 0)), 3),
    # proliferative: new vessels of any extent, or preretinal/vitreous blood
    (Inv(nvd_disc_areas=0.01), 4),
    (Inv(nve_disc_areas=0.01), 4),
    (Inv(nvd_disc_areas=0.8, nve_disc_areas=0.6), 4),
    (Inv(preretinal_haemorrhage=True), 4),
    (Inv(haemorrhages_per_quadrant=(30,) * 4, venous_beading_quadrants=3, nve_disc_areas=0.2), 4),
    # laser scars never set a grade
    (Inv(laser_scars=60), 0),
    (Inv(laser_scars=60, microaneurysms_per_quadrant=(0, 3, 0, 0)), 1),
    (Inv(laser_scars=60, haemorrhages_per_quadrant=(2, 0, 0, 0)), 2),
    (Inv(laser_scars=60, venous_beading_quadrants=2), 3),
    (Inv(laser_scars=60, nve_disc_areas=0.3), 4),
])
def test_icdr_rules(inventory, grade):
    assert grade_inventory(inventory, "icdr") == grade
    assert grade_inventory(inventory) == grade  # ICDR is the default


def test_icdr_severe_threshold_is_more_than_20():
    assert S == 20
    assert grade_inventory(Inv(haemorrhages_per_quadrant=(S,) * 4)) == 2
    assert grade_inventory(Inv(haemorrhages_per_quadrant=(S + 1,) * 4)) == 3


def test_the_scales_disagree_where_they_should():
    many_ma = Inv(microaneurysms_per_quadrant=(A2,) * 4)  # H/MA >= 2A everywhere, MA only
    assert grade_all(many_ma) == {"icdr": 1, "table1": 3}
    one_blot = Inv(haemorrhages_per_quadrant=(0, 1, 0, 0))
    assert grade_all(one_blot) == {"icdr": 2, "table1": 1}
    loop = Inv(venous_loops=1)
    assert grade_all(loop) == {"icdr": 2, "table1": 1}
    h15 = Inv(haemorrhages_per_quadrant=(15,) * 4)
    assert grade_all(h15) == {"icdr": 2, "table1": 3}


def test_scars_alone_grade_0_on_both_scales_and_no_rule_reads_them():
    assert grade_all(Inv(laser_scars=120)) == {"icdr": 0, "table1": 0}
    assert grade_all(Inv(laser_scars=5, nve_disc_areas=0.2)) == {"icdr": 4, "table1": 4}
    assert grade_all(Inv(laser_scars=5, microaneurysms_per_quadrant=(1, 0, 0, 0))) == {
        "icdr": 1, "table1": 1}
    for scale in SCALES:
        assert matching_rules(Inv(laser_scars=120), scale) == []
        assert all("scar" not in r.feature.lower() for r in RULES[scale])
    # on thousands of planned eyes, scars on or off never change either grade
    for inv in sample_inventories(2000, seed=3, prior="balanced"):
        for scars in (0, 50):
            assert grade_all(replace(inv, laser_scars=scars)) == grade_all(inv)


def test_grade_is_the_highest_matching_rule():
    inv = Inv(microaneurysms_per_quadrant=(2, 0, 0, 0), venous_beading_quadrants=3,
              hard_exudates=5)
    assert grade_all(inv) == {"icdr": 3, "table1": 3}
    assert explain_grade(inv, "table1").startswith("3: Venous beading")
    assert explain_grade(inv).startswith("3: Definite venous beading")
    assert explain_grade(Inv()) == "0: no apparent retinopathy"
    assert "laser scars present" in explain_grade(Inv(laser_scars=3), "table1")
    assert explain_grade(Inv(laser_scars=3)).startswith("0:")


@pytest.mark.parametrize("scale", SCALES)
def test_rule_table_lists_every_rule_and_grade(scale):
    table = rule_table(scale)
    assert list(table.columns) == ["grade", "grade name", "feature", "source"]
    assert len(table) == len(RULES[scale]) + 1
    assert set(table["grade"]) == {0, 1, 2, 3, 4}
    assert table["source"].str.len().min() > 0
    assert [r.grade for r in RULES[scale]] == sorted((r.grade for r in RULES[scale]),
                                                      reverse=True)


def test_rule_tables_side_by_side():
    both = rule_tables_side_by_side()
    assert list(both.index) == [4, 3, 2, 1, 0]
    assert [SCALE_NAMES[s] for s in SCALES] == list(both.columns[1:])
    assert "4-2-1" not in both.to_string()  # features, not sources
    assert both.loc[1, SCALE_NAMES["icdr"]] == "Microaneurysms only"
    assert rule_table().equals(rule_table("icdr"))


def test_unknown_scale_is_refused_naming_the_valid_ones():
    for call in (lambda: grade_inventory(Inv(), "etdrs"), lambda: rule_table("etdrs"),
                 lambda: matching_rules(Inv(), "ETDRS"), lambda: explain_grade(Inv(), "x"),
                 lambda: sample_plan(1, np.random.default_rng(0), "etdrs"),
                 lambda: sample_inventories(3, 0, scale="etdrs")):
        with pytest.raises(ValueError, match="icdr, table1"):
            call()


def test_inventory_round_trips_through_dict():
    inv = Inv(microaneurysms_per_quadrant=(1, 2, 3, 4), haemorrhages_per_quadrant=(0, 5, 0, 21),
              irma_per_quadrant=(0, 1, 0, 0), nvd_disc_areas=0.25, preretinal_haemorrhage=True,
              laser_scars=17, venous_loops=1, cotton_wool_spots=2, hard_exudates=9,
              venous_beading_quadrants=2, nve_disc_areas=0.5)
    d = inv.to_dict()
    assert d["hma_per_quadrant"] == [1, 7, 3, 25] == list(inv.hma_per_quadrant)
    assert d["haemorrhages_per_quadrant"] == [0, 5, 0, 21] and d["laser_scars"] == 17
    assert LesionInventory.from_dict(d) == inv
    import json
    assert LesionInventory.from_dict(json.loads(json.dumps(d))) == inv
    for inv in sample_inventories(200, seed=1, prior="balanced"):
        assert LesionInventory.from_dict(inv.to_dict()) == inv


def test_a_record_with_only_summed_hma_is_refused():
    with pytest.raises(ValueError, match="microaneurysms_per_quadrant"):
        LesionInventory.from_dict({"hma_per_quadrant": [3, 0, 0, 0]})
    with pytest.raises(ValueError, match="not microaneurysms"):
        LesionInventory.from_dict({"hma_per_quadrant": [3, 0, 0, 0],
                                   "microaneurysms_per_quadrant": [1, 0, 0, 0]})
    assert LesionInventory.from_dict({"hma_per_quadrant": [0, 0, 0, 0]}) == Inv()


# ----------------------------------------------------------------------------- the planner
@pytest.mark.parametrize("scale", SCALES)
def test_sampled_plans_grade_back_to_their_target_on_thousands_of_seeds(scale):
    wrong = []
    for seed in range(5000):
        target = seed % 5
        plan = sample_plan(target, np.random.default_rng(seed), scale)
        got = grade_inventory(plan.inventory(), scale)
        if got != target:
            wrong.append((seed, target, got, plan.presentation))
    assert wrong == []


def _kind(presentation: str) -> str:
    return presentation.removeprefix("treated+").split("+")[0]


@pytest.mark.parametrize("scale", SCALES)
def test_every_presentation_of_every_grade_is_used(scale):
    seen = {g: set() for g in range(5)}
    treated = {g: 0 for g in range(5)}
    for seed in range(2500):
        g = seed % 5
        plan = sample_plan(g, np.random.default_rng(seed), scale)
        seen[g].add(_kind(plan.presentation))
        if plan.presentation.startswith("treated"):
            treated[g] += 1
    for g in range(1, 5):
        assert seen[g] == set(PRESENTATIONS[scale][g]), g
    assert seen[0] <= {"none", "treated"}
    # more scarring the higher the grade, but some at every grade from 1
    assert all(treated[g] > 0 for g in range(1, 5))
    assert treated[4] > treated[3] > treated[1]
    assert abs(treated[4] / 500 - SCAR_RATE[4]) < 0.07


@pytest.mark.parametrize("scale", SCALES)
def test_treated_eyes_keep_their_scars_beside_the_lesions_that_grade_them(scale):
    found = {g: 0 for g in range(5)}
    for seed in range(3000):
        g = seed % 5
        plan = sample_plan(g, np.random.default_rng(seed), scale)
        inv = plan.inventory()
        if not plan.presentation.startswith("treated"):
            assert inv.laser_scars == 0, plan.presentation
            continue
        found[g] += 1
        assert inv.laser_scars > 0
        bare = replace(inv, laser_scars=0)
        assert grade_inventory(bare, scale) == g  # the other lesions alone give the grade
        if g == 0:
            assert plan.presentation == "treated" and bare == Inv()
        if g >= 3:
            assert all(n > 0 for n in plan.counts["laser_scar"])  # panretinal scatter
    assert all(found[g] > 0 for g in range(5)), found


def test_sample_inventories_is_deterministic_and_prefix_stable():
    a = sample_inventories(300, seed=7)
    assert a == sample_inventories(300, seed=7)
    assert a != sample_inventories(300, seed=8)
    assert a[:50] == sample_inventories(50, seed=7)
    assert all(isinstance(i, LesionInventory) for i in a)
    grades = np.bincount([grade_inventory(i) for i in sample_inventories(2000, 0, "balanced")],
                         minlength=5)
    assert grades.min() > 300  # the balanced prior, graded on the scale it was planned for
    t1 = sample_inventories(2000, 0, "balanced", scale="table1")
    assert np.bincount([grade_inventory(i, "table1") for i in t1], minlength=5).min() > 300


def _quadratic_kappa(a: np.ndarray, b: np.ndarray, k: int = 5) -> float:
    observed = np.zeros((k, k))
    np.add.at(observed, (a, b), 1)
    expected = np.outer(observed.sum(1), observed.sum(0)) / observed.sum()
    i, j = np.indices((k, k))
    w = (i - j) ** 2 / (k - 1) ** 2
    return float(1 - (w * observed).sum() / (w * expected).sum())


def test_agreement_between_icdr_and_table1_on_5000_eyepacs_eyes():
    """Eyes planned on ICDR with the EyePACS prior, graded on both scales (measured, pinned)."""
    inventories = sample_inventories(5000, seed=0, prior="eyepacs", scale="icdr")
    icdr = np.array([grade_inventory(i, "icdr") for i in inventories])
    table1 = np.array([grade_inventory(i, "table1") for i in inventories])
    cross = np.zeros((5, 5), int)
    np.add.at(cross, (icdr, table1), 1)
    assert int(np.trace(cross)) == 4877
    assert cross.tolist() == [[3687, 0, 0, 0, 0],
                              [0, 325, 32, 0, 0],
                              [0, 65, 663, 26, 0],
                              [0, 0, 0, 115, 0],
                              [0, 0, 0, 0, 87]]
    assert round(_quadratic_kappa(icdr, table1), 3) == 0.986
    from sklearn.metrics import cohen_kappa_score
    assert _quadratic_kappa(icdr, table1) == pytest.approx(
        cohen_kappa_score(icdr, table1, weights="quadratic"), abs=1e-12)


def test_class_prior():
    assert class_prior("eyepacs")[0] == pytest.approx(25810 / 35126)
    assert class_prior("balanced").tolist() == [0.2] * 5
    with pytest.raises(ValueError, match="unknown class prior"):
        class_prior("messidor")
    with pytest.raises(ValueError, match="5 non-negative"):
        class_prior([0.5, 0.5])


def test_bad_grade_is_refused():
    with pytest.raises(ValueError, match="grade must be 0..4"):
        sample_plan(5, np.random.default_rng(0))
