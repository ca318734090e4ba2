"""Which e-mails each change causes, and to whom: pure, no outbox or Celery."""

from __future__ import annotations

from workflow.domain.messages import (
    MessageSpec,
    Recipient,
    messages_for_plan,
    messages_on_creation,
)
from workflow.domain.stages import EntryState, Stage, plan_transition

S = Stage
CONTRIBUTION = {"submitted_on": "2024-05-17"}
BOARD = {"decision": "noted", "meeting_date": "2024-06-10", "paragraph": "§ 7"}


def entry(stage: Stage, *, privately_run: bool = False, pending: dict | None = None) -> EntryState:
    return EntryState(
        stage=stage, privately_run=privately_run, budget_in_balance=True, pending=pending or {}
    )


def test_creating_a_city_run_entry_queues_receipt_and_agenda_request():
    """A new city-run entry sends a receipt to the unit and an agenda request to the coordinator."""
    assert messages_on_creation(privately_run=False) == (
        MessageSpec("notification_receipt", Recipient.UNIT_CONTACT, S.NOTIFIED),
        MessageSpec("agenda_request", Recipient.COORDINATOR, S.NOTIFIED),
    )


def test_creating_a_privately_run_entry_queues_only_the_receipt():
    """A new privately run entry sends only the receipt: it has no board agenda."""
    assert messages_on_creation(privately_run=True) == (
        MessageSpec("notification_receipt", Recipient.UNIT_CONTACT, S.NOTIFIED),
    )


def test_kept_contribution_queues_its_receipt_at_once():
    """A contribution kept before the board has met is acknowledged to the unit immediately."""
    plan = plan_transition(entry(S.BOARD_DECISION), S.SUBMITTED, CONTRIBUTION)
    assert messages_for_plan(plan) == (
        MessageSpec("contribution_receipt", Recipient.UNIT_CONTACT, S.SUBMITTED),
    )


def test_automatic_step_does_not_queue_the_contribution_receipt_again():
    """Reaching extract_sent with a kept contribution sends the extract only, no second receipt."""
    state = entry(S.BOARD_DECISION, pending={S.SUBMITTED: CONTRIBUTION})
    plan = plan_transition(state, S.EXTRACT_SENT, {})
    assert plan.steps[-1].automatic  # the situation under test
    assert messages_for_plan(plan) == (
        MessageSpec("extract_to_award_office", Recipient.AWARD_OFFICE, S.EXTRACT_SENT),
    )


def test_kept_then_completed_contribution_gets_exactly_one_receipt():
    """Over keep and completion together, the unit gets exactly one contribution receipt."""
    keep = plan_transition(entry(S.NOTIFIED), S.SUBMITTED, CONTRIBUTION)
    board = plan_transition(entry(S.NOTIFIED, pending=dict(keep.kept)), S.BOARD_DECISION, BOARD)
    extract = plan_transition(entry(S.BOARD_DECISION, pending=dict(keep.kept)), S.EXTRACT_SENT, {})
    kinds = [m.kind for plan in (keep, board, extract) for m in messages_for_plan(plan)]
    assert kinds.count("contribution_receipt") == 1


def test_extract_sent_queues_the_extract_to_the_award_office():
    """Sending the minutes extract queues extract_to_award_office to the award office."""
    plan = plan_transition(entry(S.BOARD_DECISION), S.EXTRACT_SENT, {"sent_on": "2024-06-20"})
    assert messages_for_plan(plan) == (
        MessageSpec("extract_to_award_office", Recipient.AWARD_OFFICE, S.EXTRACT_SENT),
    )


def test_board_decision_queues_a_note_to_the_coordinator():
    """Recording the board decision tells the coordinator."""
    plan = plan_transition(entry(S.NOTIFIED), S.BOARD_DECISION, BOARD)
    assert messages_for_plan(plan) == (
        MessageSpec("board_decision_recorded", Recipient.COORDINATOR, S.BOARD_DECISION),
    )


def test_direct_contribution_of_privately_run_entry_queues_its_receipt():
    """A privately run unit's contribution is an ordinary step and is acknowledged."""
    plan = plan_transition(entry(S.NOTIFIED, privately_run=True), S.SUBMITTED, CONTRIBUTION)
    assert messages_for_plan(plan) == (
        MessageSpec("contribution_receipt", Recipient.UNIT_CONTACT, S.SUBMITTED),
    )


def test_withdrawal_queues_a_confirmation_to_the_unit():
    """Withdrawing an entry confirms it to the unit."""
    plan = plan_transition(entry(S.SUBMITTED), S.WITHDRAWN, {}, note="Chefen har slutat.")
    assert messages_for_plan(plan) == (
        MessageSpec("withdrawal_confirmation", Recipient.UNIT_CONTACT, S.WITHDRAWN),
    )
