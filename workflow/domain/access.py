"""Who may see and do what; pure. One table of roles per action, read top to bottom.

Every entrypoint (HTTP API, web pages) asks `can_see` before showing an entry and `may_move`
before a transition, so the rules live here once and each refusal carries a Swedish reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from workflow.domain.errors import Reason
from workflow.domain.stages import Stage


class Role(StrEnum):
    ADMIN = "admin"  # utmärkelsens kansli: everything
    COORDINATOR = "coordinator"  # samordnare på förvaltning/bolag: its own organisation
    UNIT_CONTACT = "unit_contact"  # enhetens chef: its own entry
    EXAMINER = "examiner"  # examinator: entries assigned to it
    JURY = "jury"  # domarkommittén: examined entries


ROLE_LABELS_SV: Mapping[Role, str] = {
    Role.ADMIN: "Administratör",
    Role.COORDINATOR: "Samordnare",
    Role.UNIT_CONTACT: "Enhetens kontaktperson",
    Role.EXAMINER: "Examinator",
    Role.JURY: "Jurymedlem",
}

# Who may move an entry into each stage (besides the admin, who may do everything).
MOVERS: Mapping[Stage, frozenset[Role]] = {
    Stage.BOARD_DECISION: frozenset({Role.COORDINATOR}),
    Stage.EXTRACT_SENT: frozenset({Role.COORDINATOR}),
    Stage.SUBMITTED: frozenset({Role.UNIT_CONTACT, Role.COORDINATOR}),
    # An entry is examined when its lead examiner submits the team's consensus
    # (`services.consensus`), never by one examiner's click past the others' assessments.
    Stage.EXAMINED: frozenset(),
    # Feedback reaches units when the admin releases it (for a cycle or class at once, see
    # `services.feedback_release`): an examiner moving one entry would release it early.
    Stage.FEEDBACK: frozenset(),
    Stage.JURY: frozenset({Role.JURY}),
    Stage.WITHDRAWN: frozenset({Role.COORDINATOR, Role.UNIT_CONTACT}),
}
# Who may notify (create) an entry.
NOTIFIERS = frozenset({Role.ADMIN, Role.COORDINATOR})
# The stages a jury member sees (in its own cycle): examined entries and what follows.
JURY_SEES = frozenset({Stage.EXAMINED, Stage.FEEDBACK, Stage.JURY})


@dataclass(frozen=True)
class Actor:
    user_id: int
    name: str
    role: Role
    organisation_id: int | None = None
    unit_id: int | None = None


@dataclass(frozen=True)
class EntryScope:
    """What access rules need to know of an entry."""

    organisation_id: int
    unit_id: int
    stage: Stage
    examiner_ids: frozenset[int]
    # The jury members of the entry's cycle (a jury member sees its own cycle only).
    jury_ids: frozenset[int] = frozenset()


def can_see(actor: Actor, entry: EntryScope) -> bool:
    if actor.role == Role.ADMIN:
        return True
    if actor.role == Role.COORDINATOR:
        return actor.organisation_id == entry.organisation_id
    if actor.role == Role.UNIT_CONTACT:
        return actor.unit_id == entry.unit_id
    if actor.role == Role.EXAMINER:
        return actor.user_id in entry.examiner_ids
    # Role.JURY: the examined entries of the cycle whose jury it sits on.
    return entry.stage in JURY_SEES and actor.user_id in entry.jury_ids


def may_move(actor: Actor, entry: EntryScope, target: Stage) -> Reason | None:
    """None when `actor` may move `entry` to `target`; else why not."""
    if not can_see(actor, entry):
        return Reason("forbidden", "Du har inte behörighet till den här posten.")
    if actor.role == Role.ADMIN or actor.role in MOVERS.get(target, frozenset()):
        return None
    return Reason(
        "forbidden",
        f"Rollen {ROLE_LABELS_SV[actor.role].lower()} får inte flytta posten till {target.value}.",
    )


def examiner_conflict(examiner_organisation_id: int | None, entry: EntryScope) -> Reason | None:
    """An examiner never examines an entry of their own administration (jäv); one whose
    administration is not known cannot be shown free of it."""
    if examiner_organisation_id is None:
        return Reason(
            "examiner_organisation_unknown",
            "Examinatorn saknar organisation, så jäv kan inte uteslutas. "
            "Ange examinatorns förvaltning först.",
        )
    if examiner_organisation_id == entry.organisation_id:
        return Reason(
            "conflict_of_interest",
            "Examinatorn tillhör samma förvaltning som enheten och kan inte examinera den (jäv).",
        )
    return None


def may_book_site_visit(actor: Actor, entry: EntryScope) -> Reason | None:
    """None when `actor` may book the examiners' site visit (platsbesök) on `entry`: the visit
    is part of the examination, so the admin and the entry's own examiners may book it."""
    if actor.role == Role.EXAMINER and can_see(actor, entry):
        return None
    return may_move(actor, entry, Stage.EXAMINED)


def may_fetch_report(actor: Actor, organisation_id: int) -> Reason | None:
    """The board report draft (tjänsteutlåtande): the admin may fetch any organisation's, a
    coordinator its own organisation's, nobody else any."""
    if actor.role == Role.ADMIN:
        return None
    if actor.role == Role.COORDINATOR and actor.organisation_id == organisation_id:
        return None
    return Reason(
        "forbidden",
        "Bara kvalitetsutmärkelsens administratörer och organisationens samordnare kan hämta "
        "tjänsteutlåtandet.",
    )


def may_manage_feed(actor: Actor, organisation_id: int | None) -> bool:
    """The admin manages every calendar feed (the whole city's is `None`); a coordinator the
    feeds of its own organisation."""
    if actor.role == Role.ADMIN:
        return True
    return (
        actor.role == Role.COORDINATOR
        and organisation_id is not None
        and organisation_id == actor.organisation_id
    )
