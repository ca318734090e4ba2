"""Which e-mails a change causes, and to whom; pure. The outbox stores them, Celery delivers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from workflow.domain.stages import Plan, Stage


class Recipient(StrEnum):
    UNIT_CONTACT = "unit_contact"  # enhetens chef/kontaktperson
    COORDINATOR = "coordinator"  # förvaltningens/bolagets samordnare
    AWARD_OFFICE = "award_office"  # kvalitetsutmarkelsen@stockholm.se
    # Above the coordinator (a registrator or director; else the award office), coordinator
    # in copy: who hears when the coordinator does not act.
    ESCALATION_CONTACT = "escalation_contact"


@dataclass(frozen=True)
class MessageSpec:
    kind: str
    recipient: Recipient
    stage: Stage  # the stage (or kept fact) that caused it


# Arriving in a stage causes these messages; a fact kept for later causes its receipt at once.
_ON_ARRIVAL: Mapping[Stage, tuple[tuple[str, Recipient], ...]] = {
    Stage.NOTIFIED: (("notification_receipt", Recipient.UNIT_CONTACT),),
    Stage.BOARD_DECISION: (("board_decision_recorded", Recipient.COORDINATOR),),
    Stage.EXTRACT_SENT: (("extract_to_award_office", Recipient.AWARD_OFFICE),),
    Stage.SUBMITTED: (("contribution_receipt", Recipient.UNIT_CONTACT),),
    Stage.FEEDBACK: (("feedback_letter", Recipient.UNIT_CONTACT),),
    Stage.JURY: (("jury_outcome", Recipient.UNIT_CONTACT),),
    Stage.WITHDRAWN: (("withdrawal_confirmation", Recipient.UNIT_CONTACT),),
}


def messages_on_creation(*, privately_run: bool) -> tuple[MessageSpec, ...]:
    """A new entry: a receipt to the unit and, for a city-run unit, an agenda request (the
    service sends that one once per organisation and year, see `create_entry`)."""
    specs = [MessageSpec(kind, to, Stage.NOTIFIED) for kind, to in _ON_ARRIVAL[Stage.NOTIFIED]]
    if not privately_run:
        # Ask the coordinator to put the case on the board's agenda (föredragningslistan).
        specs.append(MessageSpec("agenda_request", Recipient.COORDINATOR, Stage.NOTIFIED))
    return tuple(specs)


def messages_for_plan(plan: Plan) -> tuple[MessageSpec, ...]:
    """Messages for each stage reached and each fact kept; an automatic step whose fact was
    kept earlier sends nothing again (its receipt went out when the fact arrived)."""
    specs: list[MessageSpec] = []
    for stage in plan.kept:
        specs.extend(MessageSpec(kind, to, stage) for kind, to in _ON_ARRIVAL.get(stage, ()))
    for step in plan.steps:
        if step.automatic:
            continue
        specs.extend(
            MessageSpec(kind, to, step.target) for kind, to in _ON_ARRIVAL.get(step.target, ())
        )
    return tuple(specs)
