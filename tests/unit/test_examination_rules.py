"""The examination's pure rules: the scale, criteria lists, teams, spreads and who reads what."""

from __future__ import annotations

from datetime import date

from workflow.domain import examination as rules
from workflow.domain.examination import Candidate, Criterion, Scale


def codes(reasons: list[rules.Reason]) -> list[str]:
    return [r.code for r in reasons]


def test_a_scale_goes_up_within_ten_steps_and_a_team_has_two_to_ten() -> None:
    assert rules.setting_reasons(Scale(1, 5), 2) == []
    assert codes(rules.setting_reasons(Scale(3, 3), 1)) == ["invalid_scale", "invalid_team_size"]
    assert codes(rules.setting_reasons(Scale(10**12, 10**12 + 1), 2)) == ["invalid_scale"]
    assert codes(rules.setting_reasons(Scale(0, 9), 2)) == []
    assert codes(rules.setting_reasons(Scale(0, 10), 2)) == ["invalid_scale"]


def test_criteria_need_unique_names() -> None:
    assert codes(rules.criteria_reasons([("A", ""), (" ", ""), ("a", "")])) == [
        "missing_name",
        "duplicate_name",
    ]
    assert codes(rules.criteria_reasons([])) == ["no_criteria"]


def test_scores_outside_the_scale_and_unknown_criteria_are_refused() -> None:
    criteria = [Criterion(1, "Ledarskap"), Criterion(2, "Resultat")]
    cleaned, reasons = rules.clean_criteria(
        {"1": {"score": "6"}, "2": {"score": 3}, "9": {}}, criteria, Scale(1, 5)
    )
    assert codes(reasons) == ["unknown_criterion", "score_out_of_scale"]
    assert cleaned["2"]["score"] == 3 and cleaned["1"]["score"] is None


def test_a_submission_needs_every_score_the_visit_and_an_interview() -> None:
    rows = {"1": {"score": 4}, "2": {"score": None}}
    reasons = rules.completeness_reasons(
        rows, {"1": "A", "2": "B"}, site_visit_on=None, interviews={"others": 2}
    )
    assert codes(reasons) == ["missing_score", "missing_site_visit", "missing_interviews"]
    assert rules.completeness_reasons(rows | {"2": {"score": 1}}, {"1": "A", "2": "B"}) == []


def test_teams_are_filled_least_loaded_first_and_never_from_the_own_organisation() -> None:
    pool = [Candidate(1, "Anna", 10), Candidate(2, "Bo", 20), Candidate(3, "Cia", 30)]
    added, short = rules.distribute([(100, 10, []), (101, 20, [3])], pool, 2, {2: 5})
    assert added == {100: [3, 2], 101: [1]} and short == []
    added, short = rules.distribute([(102, 10, [])], pool[:2], 2, {})
    assert added == {} and short == [102]


def test_a_colleagues_assessment_is_read_only_after_ones_own_is_submitted() -> None:
    assert not rules.may_read_assessment(1, is_admin=False, author_id=2, own_status="draft")
    assert rules.may_read_assessment(1, is_admin=False, author_id=2, own_status="submitted")
    assert rules.may_read_assessment(1, is_admin=False, author_id=1, own_status=None)


def test_the_spread_and_the_examined_stage_data() -> None:
    spread = rules.spreads([{"1": {"score": 2}}, {"1": {"score": 4}}], [Criterion(1, "A")])["1"]
    assert (spread.low, spread.high, spread.mean, spread.width) == (2, 4, 3, 2)
    data = rules.examined_data([date(2024, 9, 1), None, date(2024, 9, 3)], ["Lena", "Olle"])
    assert data == {"examiner": "Lena, Olle", "site_visit_on": "2024-09-03"}
