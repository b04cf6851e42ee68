"""The rule engine: Table 1 encoded, and the generator's plans graded back to their targets."""

import numpy as np
import pytest

from drlib.grading import (
    HMA_2A_PER_QUADRANT,
    IRMA_8A_SEGMENTS,
    MANY_COTTON_WOOL_SPOTS,
    RULES,
    LesionInventory,
    explain_grade,
    grade_inventory,
    rule_table,
)
from drlib.lesion_plan import class_prior, sample_plan

A2 = HMA_2A_PER_QUADRANT


@pytest.mark.parametrize("inventory, grade", [
    (LesionInventory(), 0),
    (LesionInventory(hma_per_quadrant=(1, 0, 0, 0)), 1),
    (LesionInventory(hma_per_quadrant=(A2 - 1,) * 4), 1),
    (LesionInventory(cotton_wool_spots=MANY_COTTON_WOOL_SPOTS - 1), 1),
    (LesionInventory(venous_loops=1), 1),
    (LesionInventory(hma_per_quadrant=(A2, 0, 0, 0)), 2),
    (LesionInventory(hma_per_quadrant=(A2, A2, A2, 0)), 2),
    (LesionInventory(cotton_wool_spots=MANY_COTTON_WOOL_SPOTS), 2),
    (LesionInventory(venous_beading_quadrants=1), 2),
    (LesionInventory(irma_per_quadrant=(IRMA_8A_SEGMENTS - 1, 0, 0, 0)), 2),
    (LesionInventory(hard_exudates=3), 2),
    (LesionInventory(hma_per_quadrant=(A2,) * 4), 3),
    (LesionInventory(venous_beading_quadrants=2), 3),
    (LesionInventory(irma_per_quadrant=(0, IRMA_8A_SEGMENTS, 0, 0)), 3),
    (LesionInventory(nvd_disc_areas=0.1), 4),
    (LesionInventory(nve_disc_areas=0.6), 4),
    (LesionInventory(preretinal_haemorrhage=True), 4),
    (LesionInventory(laser_scars=40), 4),
    (LesionInventory(hma_per_quadrant=(A2,) * 4, nvd_disc_areas=0.5), 4),
])
def test_table1_rules(inventory, grade):
    assert grade_inventory(inventory) == grade


def test_grade_is_the_highest_matching_rule():
    inv = LesionInventory(hma_per_quadrant=(2, 0, 0, 0), venous_beading_quadrants=3,
                          hard_exudates=5)
    assert grade_inventory(inv) == 3
    assert explain_grade(inv).startswith("3: Venous beading")


def test_rule_table_lists_every_rule_and_grade():
    table = rule_table()
    assert len(table) == len(RULES) + 1
    assert set(table["grade"]) == {0, 1, 2, 3, 4}


def test_inventory_round_trips_through_dict():
    inv = LesionInventory(hma_per_quadrant=(1, 2, 3, 4), irma_per_quadrant=(0, 1, 0, 0),
                          nvd_disc_areas=0.25, preretinal_haemorrhage=True)
    assert LesionInventory.from_dict(inv.to_dict()) == inv


def test_sampled_plans_grade_back_to_their_target_on_thousands_of_seeds():
    wrong = []
    for seed in range(5000):
        target = seed % 5
        plan = sample_plan(target, np.random.default_rng(seed))
        got = grade_inventory(plan.inventory())
        if got != target:
            wrong.append((seed, target, got, plan.presentation))
    assert wrong == []


def test_every_presentation_of_every_grade_is_used():
    seen = {g: set() for g in range(1, 5)}
    for seed in range(2000):
        g = 1 + seed % 4
        seen[g].add(sample_plan(g, np.random.default_rng(seed)).presentation.split("+")[0])
    assert seen[1] == {"hma", "cws", "loop"}
    assert seen[4] == {"nvd", "nve", "preretinal", "treated"}
    assert {"hma2a", "he", "irma", "vb", "cws"} == seen[2]
    assert {"hma2a_4", "vb2", "irma8a"} == seen[3]


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
