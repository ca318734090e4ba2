"""What the pages offer and who may do the acts the HTTP API and the pages share: asked of
the domain once, so both entrypoints answer alike."""

from __future__ import annotations

from workflow.domain.access import (
    Actor,
    EntryScope,
    Role,
    may_book_site_visit,
    may_fetch_report,
    may_manage_feed,
)
from workflow.domain.stages import EntryState, Stage, offered_moves, offered_uploads

SUBMITTED_ENTRY = EntryScope(
    organisation_id=1, unit_id=10, stage=Stage.SUBMITTED, examiner_ids=frozenset({7})
)


def state(stage: Stage, *, privately_run: bool = False, kept: bool = False) -> EntryState:
    pending = {Stage.SUBMITTED: {"title": "Bidrag"}} if kept else {}
    return EntryState(
        stage=stage, privately_run=privately_run, budget_in_balance=True, pending=pending
    )


def actor(role: Role, *, user_id: int = 1, organisation_id: int | None = 1) -> Actor:
    return Actor(user_id=user_id, name="n", role=role, organisation_id=organisation_id)


def test_a_city_run_entry_is_offered_a_kept_contribution_and_withdrawal_last() -> None:
    """Before the board has met, a contribution may already be sent; it is kept until then."""
    assert offered_moves(state(Stage.NOTIFIED)) == (
        Stage.BOARD_DECISION,
        Stage.SUBMITTED,
        Stage.WITHDRAWN,
    )


def test_a_kept_contribution_is_not_offered_again() -> None:
    """Once a contribution waits for the board, the page does not ask for another."""
    assert Stage.SUBMITTED not in offered_moves(state(Stage.BOARD_DECISION, kept=True))


def test_a_closed_entry_is_offered_nothing() -> None:
    assert offered_moves(state(Stage.JURY)) == ()
    assert offered_uploads(state(Stage.JURY)) == ()


def test_a_privately_run_entry_is_offered_no_minutes_extract() -> None:
    """A privately run unit has no city board, so no extract to upload."""
    assert offered_uploads(state(Stage.NOTIFIED, privately_run=True)) == ("contribution",)
    assert offered_uploads(state(Stage.NOTIFIED)) == ("extract", "contribution")


def test_the_site_visit_is_booked_by_the_assigned_examiner_and_the_admin_only() -> None:
    assert may_book_site_visit(actor(Role.EXAMINER, user_id=7), SUBMITTED_ENTRY) is None
    assert may_book_site_visit(actor(Role.ADMIN), SUBMITTED_ENTRY) is None
    assert may_book_site_visit(actor(Role.EXAMINER, user_id=8), SUBMITTED_ENTRY) is not None
    assert may_book_site_visit(actor(Role.COORDINATOR), SUBMITTED_ENTRY) is not None


def test_the_board_report_is_for_the_admin_and_the_organisations_own_coordinator() -> None:
    assert may_fetch_report(actor(Role.ADMIN, organisation_id=None), 1) is None
    assert may_fetch_report(actor(Role.COORDINATOR), 1) is None
    assert may_fetch_report(actor(Role.COORDINATOR), 2) is not None
    assert may_fetch_report(actor(Role.UNIT_CONTACT), 1) is not None


def test_a_coordinator_manages_its_own_organisations_feeds_but_not_the_citys() -> None:
    assert may_manage_feed(actor(Role.ADMIN), None)
    assert may_manage_feed(actor(Role.COORDINATOR), 1)
    assert not may_manage_feed(actor(Role.COORDINATOR), 2)
    assert not may_manage_feed(actor(Role.COORDINATOR), None)
