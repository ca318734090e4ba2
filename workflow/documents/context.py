"""What the board report draft says: the template's variables, from the database and the
caller's `ReportPreparation`. Only reads.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, select

from workflow import swedish
from workflow.domain import rules
from workflow.domain.calendar import STOCKHOLM, entry_deadline
from workflow.domain.errors import InvalidInput, NotFound, refusal
from workflow.domain.stages import STAGE_LABELS_SV, Stage
from workflow.models import BoardReportCase, Cycle, Entry, Organisation, Unit
from workflow.queries import registry

PROPOSALS = ("approve", "note")
# The board decision recorded on an entry (facts["board_decision"]["decision"]) → proposal.
_RECORDED_DECISIONS: Mapping[str, str] = {"approved": "approve", "noted": "note"}

UNIT_DESCRIPTION_PLACEHOLDER = (
    "[Beskriv verksamheten: uppdrag, målgrupp, organisatorisk tillhörighet och hur enheten "
    "arbetar med systematiskt kvalitetsarbete.]"
)
DATE_PLACEHOLDER = "[datum]"
CASE_NUMBER_PLACEHOLDER = "[diarienummer]"


# --- what the caller knows that the database does not ---------------------------------------


@dataclass(frozen=True)
class ReportPreparation:
    """The case's preparation (ärendets beredning) and the draft's signatures.

    Anything not known yet stays a bracketed placeholder, so the draft shows what to fill in.
    `informed` lists the union forums and councils told of the case, e.g.
    (("samverkansgrupp", date(2025, 5, 6)), ("förvaltningsgruppen", date(2025, 5, 13)),
    ("Rådet för funktionshinderfrågor", date(2024, 5, 16))); a body whose name has the word
    "råd" (rådet, pensionärsrådet) is a council, the others are where the unions are informed.
    `proposal` is used for units whose board decision is not recorded yet.
    """

    proposal: str = "approve"  # approve | note
    prepared_by: str = "[avdelning]"  # e.g. "avdelningen för socialt stöd"
    consulted: str | None = None  # e.g. "avdelningen för samhällsplanering" (i samråd med …)
    informed: tuple[tuple[str, date | None], ...] = (
        ("samverkansgrupp", None),
        ("förvaltningsgruppen", None),
    )
    case_officer: str = "[handläggare]"
    case_officer_phone: str = "[telefon]"
    case_number: str = CASE_NUMBER_PLACEHOLDER
    document_date: date | None = None  # default: today in Stockholm
    meeting_date: date | None = None  # default: a recorded board meeting, else a placeholder
    director_name: str = "[namn]"
    director_title: str | None = None  # default from the organisation: Stadsdelsdirektör, …
    head_name: str = "[namn]"
    head_title: str = "Avdelningschef"
    # Unit name → a description in the organisation's own words (blank lines: paragraphs).
    unit_descriptions: Mapping[str, str] = field(default_factory=dict)


# --- the context -----------------------------------------------------------------------------


def build_report_context(
    session: Session,
    organisation_id: int,
    year: int,
    *,
    preparation: ReportPreparation | None = None,
) -> dict[str, Any]:
    """Everything the template needs for `organisation_id`'s draft for the cycle `year`.

    Raises NotFound for an unknown organisation, a year without a cycle, or a year in which the
    organisation has no entry that goes to its board; InvalidInput for an unknown proposal.
    Only reads.
    """
    preparation = preparation or ReportPreparation()
    _check_proposal(preparation.proposal)
    organisation, cycle = _organisation_and_cycle(session, organisation_id, year)
    for_board = _entries_for_board(session, organisation, cycle)
    held = registry.participation_years(
        session, [unit.id for _, unit in for_board if unit.id is not None], before_year=cycle.year
    )
    units = [
        _unit_context(entry, unit, preparation, held.get(unit.id or 0, []))
        for entry, unit in for_board
    ]
    deadlines = _own_deadlines(cycle, for_board, units)
    decisions = _decision_groups(units)
    document_date = preparation.document_date or datetime.now(STOCKHOLM).date()
    recorded_meetings = [u["meeting_date"] for u in units if u["meeting_date"] is not None]
    unions, councils = _informed(preparation.informed, document_date)
    return {
        "year": cycle.year,
        "organisation": _organisation_context(organisation),
        "board": organisation.board,
        "cycle": _cycle_context(cycle),
        # The dates the report states: the units' own (an extension moves them) when they
        # share one, else the cycle's, with each unit's own date said in its section.
        "deadlines": deadlines,
        "units": units,
        "unit_names": [unit["name"] for unit in units],
        "decisions": decisions,
        "several_decisions": len(decisions) > 1,
        "proposal": decisions[0]["decision"] if len(decisions) == 1 else "mixed",
        "rules": {
            "min_staff": rules.MIN_STAFF_INCLUDING_MANAGER,
            "min_share_percent": swedish.procent(rules.MIN_SHARE_STOCKHOLM_RESIDENTS),
        },
        "document_date": document_date,
        "meeting_date": preparation.meeting_date or max(recorded_meetings, default=None),
        "preparation": {
            "prepared_by": preparation.prepared_by,
            "consulted": preparation.consulted,
            "case_officer": preparation.case_officer,
            "case_officer_phone": preparation.case_officer_phone,
            "case_number": _case_number(session, organisation, cycle, for_board, preparation),
        },
        "unions": unions,
        "unions_informed_before": bool(unions)
        and all(item["on"] is not None and item["on"] <= document_date for item in unions),
        "councils": councils,
        "signatures": _signatures(preparation, organisation),
    }


def _case_number(
    session: Session,
    organisation: Organisation,
    cycle: Cycle,
    for_board: Sequence[tuple[Entry, Unit]],
    preparation: ReportPreparation,
) -> str:
    """The diarienummer in the report's head: the caller's, else the one the organisation
    filed this year's report under, else the one its entries share, else the placeholder."""
    if preparation.case_number != CASE_NUMBER_PLACEHOLDER:
        return preparation.case_number
    filed = session.exec(
        select(BoardReportCase.case_number).where(
            BoardReportCase.organisation_id == organisation.id,
            BoardReportCase.cycle_id == cycle.id,
        )
    ).first()
    if filed:
        return filed
    numbers = {entry.case_number for entry, _ in for_board}
    if len(numbers) == 1 and None not in numbers:
        return str(numbers.pop())
    return CASE_NUMBER_PLACEHOLDER


def _own_deadlines(
    cycle: Cycle, for_board: Sequence[tuple[Entry, Unit]], units: Sequence[dict[str, Any]]
) -> dict[str, date]:
    """The report's contribution and extract dates, and each unit's own where it differs."""
    own = {
        "contribution": [
            entry_deadline(cycle.contribution_deadline, entry.contribution_until)
            for entry, _ in for_board
        ],
        "extract": [
            entry_deadline(cycle.extract_deadline, entry.extract_until) for entry, _ in for_board
        ],
    }
    cycle_dates = {"contribution": cycle.contribution_deadline, "extract": cycle.extract_deadline}
    shared = {
        kind: days[0] if len(set(days)) == 1 else cycle_dates[kind] for kind, days in own.items()
    }
    for index, (unit, (entry, _)) in enumerate(zip(units, for_board, strict=True)):
        unit["case_number"] = entry.case_number
        for kind, days in own.items():
            unit[f"{kind}_until"] = days[index] if days[index] != shared[kind] else None
    return shared


def _check_proposal(proposal: str) -> None:
    if proposal not in PROPOSALS:
        raise refusal(
            InvalidInput,
            "unknown_proposal",
            f"Okänt förslag '{proposal}' (giltiga: approve = godkänner, note = noterar anmälan).",
        )


def _organisation_and_cycle(
    session: Session, organisation_id: int, year: int
) -> tuple[Organisation, Cycle]:
    organisation = session.get(Organisation, organisation_id)
    if organisation is None:
        raise refusal(NotFound, "not_found", f"Organisationen med id {organisation_id} finns inte.")
    cycle = session.exec(select(Cycle).where(Cycle.year == year)).first()
    if cycle is None:
        raise refusal(
            NotFound,
            "cycle_not_found",
            f"Det finns ingen omgång av kvalitetsutmärkelsen för år {year}, och därför inget "
            f"tjänsteutlåtande för {organisation.name}.",
        )
    return organisation, cycle


def _entries_for_board(
    session: Session, organisation: Organisation, cycle: Cycle
) -> list[tuple[Entry, Unit]]:
    """The organisation's entries in the cycle that go to its board, in the order they came;
    NotFound when there are none (and why: no entries at all, or none for the board)."""
    rows = session.exec(
        select(Entry, Unit)
        .join(Unit, col(Unit.id) == Entry.unit_id)
        .where(Unit.organisation_id == organisation.id, Entry.cycle_id == cycle.id)
        .order_by(col(Entry.id))
    ).all()
    if not rows:
        raise refusal(
            NotFound,
            "no_entries",
            f"{organisation.name} har inga anmälda enheter i kvalitetsutmärkelsen {cycle.year}; "
            "det finns inget att föra upp i nämnden.",
        )
    for_board = [
        (entry, unit)
        for entry, unit in rows
        if entry.stage != Stage.WITHDRAWN and not unit.privately_run
    ]
    if not for_board:
        raise refusal(
            NotFound,
            "no_board_entries",
            f"{organisation.name} har inga anmälningar till kvalitetsutmärkelsen {cycle.year} "
            f"som ska till {organisation.board}: återkallade anmälningar och enskilt drivna "
            "verksamheter tas inte upp i nämnden.",
        )
    return for_board


def _decision_groups(units: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The units grouped by the decision proposed for them, in the order the groups appear."""
    decisions: list[dict[str, Any]] = []
    for unit in units:
        group = next((g for g in decisions if g["decision"] == unit["decision"]), None)
        if group is None:
            decisions.append({"decision": unit["decision"], "units": [unit["name"]]})
        else:
            group["units"].append(unit["name"])
    return decisions


def _cycle_context(cycle: Cycle) -> dict[str, Any]:
    return {
        "year": cycle.year,
        "contribution_deadline": cycle.contribution_deadline,
        "extract_deadline": cycle.extract_deadline,
        "winners_date": cycle.winners_date,
        "award_office_email": cycle.award_office_email or rules.AWARD_OFFICE_EMAIL,
        "classes": list(cycle.classes),
    }


def _signatures(preparation: ReportPreparation, organisation: Organisation) -> dict[str, Any]:
    return {
        "director": {
            "name": preparation.director_name,
            "title": preparation.director_title or _director_title(organisation),
        },
        "head": {"name": preparation.head_name, "title": preparation.head_title},
    }


def _organisation_context(organisation: Organisation) -> dict[str, Any]:
    company = organisation.kind == "bolag"
    return {
        "id": organisation.id,
        "name": organisation.name,
        "kind": organisation.kind,
        "board": organisation.board,
        "noun": "bolaget" if company else "förvaltningen",
        "genitive": "bolagets" if company else "förvaltningens",
        "board_noun": "styrelsen" if company else "nämnden",
    }


def _director_title(organisation: Organisation) -> str:
    if organisation.kind == "bolag":
        return "Verkställande direktör"
    if "stadsdelsförvaltning" in organisation.name.lower():
        return "Stadsdelsdirektör"
    return "Förvaltningschef"


def _unit_context(
    entry: Entry, unit: Unit, preparation: ReportPreparation, held_years: Sequence[int] = ()
) -> dict[str, Any]:
    board = {**entry.pending.get("board_decision", {}), **entry.facts.get("board_decision", {})}
    recorded = _RECORDED_DECISIONS.get(str(board.get("decision", "")))
    submitted = {**entry.pending.get("submitted", {}), **entry.facts.get("submitted", {})}
    # Earlier participation: the years typed at registration together with the years of the
    # unit's entries in earlier cycles held here (`held_years`). Nothing known is not "the
    # first time": the register cannot tell a unit new to the award from one whose history was
    # never typed in, so the report then says nothing about it.
    years = sorted(set(unit.earlier_participation_years) | set(held_years))
    description = preparation.unit_descriptions.get(unit.name, "").strip()
    return {
        "id": unit.id,
        "entry_id": entry.id,
        "name": unit.name,
        "award_class": entry.award_class,
        "stage": entry.stage,
        "stage_label": STAGE_LABELS_SV[Stage(entry.stage)],
        "staff_count": unit.staff_count,
        "share_percent": swedish.procent(unit.share_stockholm_residents),
        "manager_responsible": unit.manager_has_budget_and_staff_responsibility,
        "business_plan": unit.has_business_plan,
        "budget_in_balance": unit.budget_in_balance,
        "earlier_years": years,
        "earlier_count": max(unit.earlier_participation_count, len(years)),
        "decision": recorded or preparation.proposal,
        "decision_recorded": recorded is not None,
        "meeting_date": _date_or_none(board.get("meeting_date")),
        "paragraph": board.get("paragraph"),
        "submitted_on": _date_or_none(submitted.get("submitted_on")),
        "description": [
            " ".join(part.split()) for part in re.split(r"\n\s*\n", description) if part.strip()
        ]
        or [UNIT_DESCRIPTION_PLACEHOLDER],
    }


def _date_or_none(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


_COUNCIL = re.compile(r"\bråd|råd(et)?\b", re.IGNORECASE)


def _informed(
    informed: Sequence[tuple[str, date | None]], document_date: date
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(union forums, councils), each item with `body`, `on`, `when` (Swedish) and `before`."""
    unions: list[dict[str, Any]] = []
    councils: list[dict[str, Any]] = []
    for body, on in informed:
        name = " ".join(str(body).split())
        if not name:
            continue
        item: dict[str, Any] = {
            "body": name,
            "on": on,
            "when": swedish.datum(on) if on else DATE_PLACEHOLDER,
            "before": on is not None and on <= document_date,
        }
        (councils if _COUNCIL.search(name) else unions).append(item)
    # "i samverkansgrupp den 6 maj och i förvaltningsgruppen den 13 maj 2025": the year once.
    days = [item["on"] for item in unions]
    if len(days) > 1 and all(days) and len({day.year for day in days}) == 1:
        for item in unions[:-1]:
            item["when"] = swedish.day_and_month(item["on"])
    return unions, councils
