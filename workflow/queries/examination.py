"""What an examiner has left to do in the examination: their own assessment to submit, and
for the lead the consensus once every member has submitted (the start page's "Att göra")."""

from __future__ import annotations

from collections.abc import Sequence

from sqlmodel import Session, col, select

from workflow.domain import examination as rules
from workflow.models import Assessment, Consensus, ExaminerAssignment


def examiner_tasks(
    session: Session, examiner_id: int, entry_ids: Sequence[int]
) -> dict[int, tuple[str, str, str]]:
    """Per entry (of `entry_ids`, all assigned to the examiner and awaiting examination) the
    task, the page to do it on, and the button's words; entries with nothing to do left out."""
    ids = list(entry_ids)
    if not ids:
        return {}
    statuses: dict[int, dict[int, str]] = {i: {} for i in ids}
    for entry_id, user_id in session.exec(
        select(ExaminerAssignment.entry_id, ExaminerAssignment.user_id).where(
            col(ExaminerAssignment.entry_id).in_(ids)
        )
    ).all():
        statuses[entry_id][user_id] = "missing"
    for entry_id, user_id, status in session.exec(
        select(Assessment.entry_id, Assessment.examiner_id, Assessment.status).where(
            col(Assessment.entry_id).in_(ids)
        )
    ).all():
        statuses[entry_id][user_id] = status
    leads = set(
        session.exec(
            select(ExaminerAssignment.entry_id).where(
                col(ExaminerAssignment.entry_id).in_(ids),
                ExaminerAssignment.user_id == examiner_id,
                col(ExaminerAssignment.lead),
            )
        ).all()
    )
    agreed = set(
        session.exec(
            select(Consensus.entry_id).where(
                col(Consensus.entry_id).in_(ids), Consensus.status == rules.SUBMITTED
            )
        ).all()
    )
    return _tasks(examiner_id, statuses, leads, agreed)


def _tasks(
    examiner_id: int, statuses: dict[int, dict[int, str]], leads: set[int], agreed: set[int]
) -> dict[int, tuple[str, str, str]]:
    tasks: dict[int, tuple[str, str, str]] = {}
    for entry_id, team in statuses.items():
        if team.get(examiner_id) != rules.SUBMITTED:
            tasks[entry_id] = (
                "Bedömningen ska lämnas in",
                f"/entries/{entry_id}/assessment",
                "Skriv bedömning",
            )
        elif entry_id in leads and entry_id not in agreed and _all_in(team):
            tasks[entry_id] = (
                "Konsensus ska skrivas",
                f"/entries/{entry_id}/consensus",
                "Skriv konsensus",
            )
    return tasks


def _all_in(team: dict[int, str]) -> bool:
    return all(status == rules.SUBMITTED for status in team.values())
