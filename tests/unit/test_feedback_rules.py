"""The feedback report's pure rules: what the report and the stage say from a consensus, why
a release is refused, and who may read a report before and after the release."""

from __future__ import annotations

import pytest

from workflow.domain import feedback
from workflow.domain.access import Actor, EntryScope, Role
from workflow.domain.stages import Stage

NAMES = [("1", "Ledarskap"), ("2", "Resultat"), ("3", "Delaktighet")]
CONSENSUS = {
    "1": {"strengths": "- Tydliga mål\n\n* Närvarande chef", "development_areas": ""},
    "2": {"strengths": "", "development_areas": "– Mät oftare"},
    "3": {"strengths": "", "development_areas": ""},
}


def test_each_criterion_with_something_written_becomes_its_points_in_order() -> None:
    rows = feedback.criteria_feedback(NAMES, CONSENSUS)
    assert rows == [
        {"name": "Ledarskap", "strengths": ["Tydliga mål", "Närvarande chef"],
         "development_areas": []},
        {"name": "Resultat", "strengths": [], "development_areas": ["Mät oftare"]},
    ]  # fmt: skip


def test_the_stage_data_names_each_points_criterion() -> None:
    data = feedback.feedback_stage_data(feedback.criteria_feedback(NAMES, CONSENSUS), "Bra.")
    assert data == {
        "strengths": "Ledarskap: Tydliga mål\nLedarskap: Närvarande chef",
        "development_areas": "Resultat: Mät oftare",
    }
    assert feedback.feedback_stage_data([], "Ett  gott\narbete.")["strengths"] == "Ett gott arbete."


def test_a_refusal_lists_the_units_alphabetically_and_counts_them() -> None:
    reason = feedback.lacking_consensus(["Östra skolan", "Äldreboendet Ek", "Ateljén"], "x")
    assert reason.code == "missing_consensus"
    assert "3 anmälningar: Ateljén, Äldreboendet Ek, Östra skolan" in reason.message


def scope(stage: Stage) -> EntryScope:
    return EntryScope(organisation_id=7, unit_id=70, stage=stage, examiner_ids=frozenset({5}))


@pytest.mark.parametrize(
    ("actor", "before", "after"),
    [
        (Actor(1, "kansliet", Role.ADMIN), True, True),
        (Actor(5, "lena", Role.EXAMINER), True, True),
        (Actor(6, "olle", Role.EXAMINER), False, False),
        (Actor(2, "samordnaren", Role.COORDINATOR, organisation_id=7), False, True),
        (Actor(3, "annan", Role.COORDINATOR, organisation_id=8), False, False),
        (Actor(4, "chefen", Role.UNIT_CONTACT, unit_id=70), False, True),
        (Actor(9, "juryn", Role.JURY), False, False),
    ],
)
def test_the_report_is_embargoed_until_the_release(actor: Actor, before: bool, after: bool) -> None:
    assert feedback.may_read_report(actor, scope(Stage.EXAMINED)) is before
    assert feedback.may_read_report(actor, scope(Stage.FEEDBACK)) is after
