"""What happens next with an entry, who does it and by when; pure, standard library only.

The entry page's one line "Nästa steg: … (vem, senast när)" is derived here from the stage,
the facts recorded and the entry's own dates (an extension replaces the cycle's date).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from workflow.domain.stages import Stage


@dataclass(frozen=True)
class NextStep:
    """One thing to do: what, by whom (in words for people) and the last day, if any."""

    what: str
    who: str
    due: date | None = None
    on: date | None = None  # the day the step itself is planned for (a booked site visit)


@dataclass(frozen=True)
class EntryDates:
    """The entry's own dates: the cycle's, or the later ones an extension gave it."""

    contribution: date
    extract: date
    winners: date


def next_step(
    stage: Stage,
    *,
    privately_run: bool,
    company: bool,
    facts: Mapping[str, Mapping[str, Any]],
    pending: Mapping[str, Mapping[str, Any]],
    dates: EntryDates,
) -> NextStep | None:
    """The first thing still to do with the entry (the earliest due first), or None when
    nothing is left (decided or withdrawn). `company`: a bolag's board is its styrelse."""
    board = "styrelsens" if company else "nämndens"
    has_contribution = Stage.SUBMITTED in facts or Stage.SUBMITTED in pending
    contribution = NextStep(
        "Skicka in det skriftliga bidraget", "enhetens kontaktperson", dates.contribution
    )
    if stage in (Stage.JURY, Stage.WITHDRAWN):
        return None
    if stage in (Stage.NOTIFIED, Stage.BOARD_DECISION) and not privately_run:
        board_step = (
            NextStep(f"Registrera {board} beslut", "samordnaren", dates.extract)
            if stage == Stage.NOTIFIED
            else NextStep("Ladda upp och skicka protokollsutdraget", "samordnaren", dates.extract)
        )
        if has_contribution or dates.extract < dates.contribution:
            return board_step
        return contribution
    if stage in (Stage.NOTIFIED, Stage.EXTRACT_SENT):
        return contribution
    if stage == Stage.SUBMITTED:
        booked = _day(facts.get("site_visit", {}).get("site_visit_on"))
        if booked is not None:
            return NextStep("Registrera examinationen efter platsbesöket", "examinatorn", on=booked)
        return NextStep("Boka platsbesök", "examinatorn")
    if stage == Stage.EXAMINED:  # the consensus is the feedback; the office releases it
        return NextStep("Släpp återkopplingen till enheten", "utmärkelsens kansli", dates.winners)
    return NextStep("Besluta om utfallet i klassen", "domarkommittén", dates.winners)


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None
