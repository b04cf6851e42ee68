"""Presentation codes (a lesion plan's defining features) in words, for figure titles."""

from __future__ import annotations

import pytest

from drlib.synth import PRESENTATION_NAMES, describe_presentation
from drlib.synth.lesion_plan import PRESENTATIONS


def test_every_code_the_planner_uses_has_a_name() -> None:
    codes = {code for per_grade in PRESENTATIONS.values() for names in per_grade.values()
             for code in names} | {"treated"}
    assert codes == set(PRESENTATION_NAMES)


def test_compound_presentations_read_as_words() -> None:
    assert describe_presentation("treated+irma_prominent+haem20_4") == (
        "laser scars (treated) + prominent IRMA + > 20 haemorrhages in 4 quadrants")
    assert describe_presentation("vb+hma2a") == (
        "venous beading + H/MA >= standard photograph 2A")
    assert describe_presentation("vb2+irma8a") == (
        "venous beading in 2+ quadrants + IRMA >= standard photograph 8A")
    assert describe_presentation("ma") == "microaneurysms only"
    assert describe_presentation("nvd", separator=", ") == (
        "Neovascularisation of the disc (NVD)")


def test_unknown_code_is_named() -> None:
    with pytest.raises(ValueError, match="'vb3'.*'vb\\+vb3'"):
        describe_presentation("vb+vb3")
