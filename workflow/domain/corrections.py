"""Changes to an entry's own facts after the fact; pure, standard library only.

A deadline extension (förlängd tid), a case number (diarienummer) and a correction of data
already recorded: each check returns every reason the change cannot stand, so a form is fixed
once, and who may make each change is decided here, once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from workflow.domain.access import Actor, EntryScope, Role, can_see, may_move
from workflow.domain.errors import Reason
from workflow.domain.rules import date_reason, without_unsafe_characters
from workflow.domain.stages import STAGE_FIELDS, STAGE_LABELS_SV, TERMINAL_STAGES, Stage

MAX_CASE_NUMBER_LENGTH = 40
# A note is kept whole in the history; a longer one is refused, never cut.
MAX_NOTE_LENGTH = 10_000

# fmt: off
_MONTHS_SV = ("januari", "februari", "mars", "april", "maj", "juni", "juli", "augusti",
              "september", "oktober", "november", "december")
# fmt: on


def day_sv(day: date) -> str:
    """ "30 maj 2025": how a reason names a day."""
    return f"{day.day} {_MONTHS_SV[day.month - 1]} {day.year}"


# --- deadline extensions ------------------------------------------------------------------------


class DeadlineKind(StrEnum):
    CONTRIBUTION = "contribution"  # skriftligt bidrag
    EXTRACT = "extract"  # protokollsutdrag


DEADLINE_LABELS_SV: Mapping[DeadlineKind, str] = {
    DeadlineKind.CONTRIBUTION: "det skriftliga bidraget",
    DeadlineKind.EXTRACT: "protokollsutdraget",
}


@dataclass(frozen=True)
class ExtensionSubject:
    """What an extension is checked against: the entry as it is and its cycle's dates."""

    stage: Stage
    privately_run: bool
    has_contribution: bool  # submitted, or kept ahead of its stage
    has_extract: bool
    cycle_date: date  # the cycle's own deadline of the kind asked for
    winners_date: date
    current_until: date | None  # the extension the entry has now, if any


def parse_deadline_kind(value: str) -> DeadlineKind | None:
    try:
        return DeadlineKind(value)
    except ValueError:
        return None


def unknown_deadline(value: str) -> Reason:
    known = ", ".join(kind.value for kind in DeadlineKind)
    return Reason("unknown_deadline", f"Okänd tidsfrist '{value}' (giltiga: {known}).")


def extension_reasons(
    kind: DeadlineKind, until: date, subject: ExtensionSubject, *, note: str | None
) -> tuple[Reason, ...]:
    """Why the entry cannot be given until `until` for `kind`; empty when it can.

    The new date must lie after the cycle's own date (otherwise it is no extension) and before
    the winners' day; the entry must still lack what the deadline is for.
    """
    reasons: list[Reason] = []
    what = DEADLINE_LABELS_SV[kind]
    implausible = date_reason("Det nya datumet", until)
    if implausible is not None:
        return (implausible,)
    if subject.stage in TERMINAL_STAGES:
        reasons.append(
            Reason(
                "entry_closed",
                f"Posten är avslutad ({STAGE_LABELS_SV[subject.stage]}); tiden kan inte förlängas.",
            )
        )
    elif kind == DeadlineKind.CONTRIBUTION and subject.has_contribution:
        reasons.append(
            Reason(
                "deadline_already_met",
                "Bidraget har redan kommit in, så tiden för det behöver inte förlängas.",
            )
        )
    elif kind == DeadlineKind.EXTRACT and subject.privately_run:
        reasons.append(
            Reason(
                "no_extract_for_privately_run",
                "Enskilt drivna verksamheter skickar inget protokollsutdrag.",
            )
        )
    elif kind == DeadlineKind.EXTRACT and subject.has_extract:
        reasons.append(
            Reason(
                "deadline_already_met",
                "Protokollsutdraget är redan skickat, så tiden för det behöver inte förlängas.",
            )
        )
    if until <= subject.cycle_date:
        reasons.append(
            Reason(
                "extension_not_later",
                f"Det nya datumet för {what} måste ligga efter omgångens sista dag, "
                f"{day_sv(subject.cycle_date)}.",
            )
        )
    if until >= subject.winners_date:
        reasons.append(
            Reason(
                "extension_after_winners",
                f"Det nya datumet för {what} måste ligga före den dag vinnarna utses, "
                f"{day_sv(subject.winners_date)}.",
            )
        )
    if subject.current_until == until:
        reasons.append(
            Reason("extension_unchanged", f"Posten har redan förlängd tid till {day_sv(until)}.")
        )
    reasons.extend(note_reasons(note, required=True))
    return tuple(reasons)


def note_reasons(note: str | None, *, required: bool) -> tuple[Reason, ...]:
    """A note saying why: required for changes after the fact, never longer than the limit."""
    text = (note or "").strip()
    if required and not text:
        return (Reason("missing_note", "Ange varför (sparas i postens historik)."),)
    if len(text) > MAX_NOTE_LENGTH:
        return (note_too_long(len(text)),)
    return ()


def note_too_long(length: int) -> Reason:
    return Reason(
        "note_too_long",
        f"Texten är {length} tecken lång; högst {MAX_NOTE_LENGTH} tecken får plats. "
        "Korta den och skicka igen.",
    )


# --- the case number (diarienummer) -----------------------------------------------------------


def clean_case_number(value: str | None) -> tuple[str | None, tuple[Reason, ...]]:
    """(the case number to store, reasons): free text up to 40 characters, no control
    characters; empty (or only spaces) clears it."""
    raw = (value or "").strip()
    text = " ".join(raw.split())
    if without_unsafe_characters(raw) != raw:
        return None, (
            Reason(
                "invalid_characters",
                "Diarienumret får inte innehålla radbrytningar eller andra styrtecken.",
            ),
        )
    if len(text) > MAX_CASE_NUMBER_LENGTH:
        return None, (
            Reason(
                "case_number_too_long",
                f"Diarienumret är {len(text)} tecken; högst {MAX_CASE_NUMBER_LENGTH} tecken.",
            ),
        )
    return (text or None), ()


# --- who may ------------------------------------------------------------------------------------


def may_extend(actor: Actor | None) -> Reason | None:
    """Only the award office gives an entry more time (the admin); None when `actor` may."""
    if actor is None or actor.role == Role.ADMIN:
        return None
    return Reason("forbidden", "Bara utmärkelsens kansli kan ge en post förlängd tid.")


def may_file(actor: Actor | None, scope: EntryScope) -> Reason | None:
    """The case number: the admin, or the coordinator of the entry's own organisation."""
    if actor is None or actor.role == Role.ADMIN:
        return None
    if actor.role == Role.COORDINATOR and can_see(actor, scope):
        return None
    return Reason(
        "forbidden",
        "Bara utmärkelsens kansli och organisationens samordnare kan ange diarienummer.",
    )


def may_correct(actor: Actor | None, scope: EntryScope, stage: Stage | None) -> Reason | None:
    """A correction of the class (`stage` None) or of what was recorded for `stage`: the admin,
    the coordinator of the entry's organisation, or whoever may record that stage (an examiner
    correcting the examination they recorded)."""
    if actor is None or actor.role == Role.ADMIN:
        return None
    if stage is None:
        return may_file(actor, scope)
    return may_move(actor, scope, stage)


# --- corrections of recorded data -----------------------------------------------------------

# The class may be corrected until the examiners have assessed the entry in it.
CLASS_FIXED_FROM = frozenset({Stage.EXAMINED, Stage.FEEDBACK, Stage.JURY, Stage.WITHDRAWN})


def correctable_stages(facts: Mapping[str, object], pending: Mapping[str, object]) -> list[Stage]:
    """The stages whose recorded data may be corrected: those with data, in process order."""
    return [
        stage
        for stage in Stage
        if STAGE_FIELDS[stage] and (stage.value in facts or stage.value in pending)
    ]


def class_correction_reason(stage: Stage) -> Reason | None:
    if stage in CLASS_FIXED_FROM:
        return Reason(
            "class_fixed",
            f"Klassen kan inte rättas när posten är i steget {STAGE_LABELS_SV[stage]}.",
        )
    return None
