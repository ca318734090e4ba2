"""The feedback report (återkopplingsrapport) of one entry, from the team's consensus: the
unit, the criteria with their strengths and development areas, the summary and the examiners'
names. The text is `templates/documents/aterkoppling.txt`, laid out by the same writers as the
board report draft (DOCX for editing, PDF for the e-mail). Only reads.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from sqlmodel import Session, col, select

from workflow.documents.docx import docx_from_markup
from workflow.documents.markup import render_markup
from workflow.documents.pdf import pdf_from_markup
from workflow.documents.report import FORMATS, ascii_filename
from workflow.domain import feedback as rules
from workflow.domain.calendar import STOCKHOLM
from workflow.domain.errors import Conflict, InvalidInput, NotFound, refusal
from workflow.domain.rules import AWARD_OFFICE_EMAIL
from workflow.emails import Attachment
from workflow.models import (
    AssessmentCriterion,
    Consensus,
    ExaminerAssignment,
    User,
)
from workflow.queries.entries import entry_with_context

FEEDBACK_TEMPLATE = "aterkoppling.txt"
_UNSAFE_IN_FILENAME = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]+')

__all__ = ["ascii_filename", "feedback_context", "feedback_filename", "feedback_report"]


def feedback_filename(unit_name: str, year: int, fmt: str) -> str:
    """ "Återkoppling Kvalitetsutmärkelsen 2024 - Förskolan Solen.pdf"."""
    name = " ".join(_UNSAFE_IN_FILENAME.sub("-", unit_name).split()).strip(" .-")
    return f"Återkoppling Kvalitetsutmärkelsen {year}{f' - {name}' if name else ''}.{fmt}"


def feedback_context(
    session: Session, entry_id: int, *, document_date: date | None = None
) -> dict[str, Any]:
    """The template's facts for the entry's report; NotFound for an unknown entry, Conflict
    when its consensus is not submitted yet (there is nothing to report)."""
    row = entry_with_context(session, entry_id)
    if row is None:
        raise refusal(NotFound, "not_found", f"Posten med id {entry_id} finns inte.")
    entry, unit, organisation, cycle = row
    consensus = session.exec(select(Consensus).where(Consensus.entry_id == entry_id)).first()
    if consensus is None or consensus.status != "submitted":
        raise refusal(
            Conflict,
            "missing_consensus",
            f"Återkopplingsrapporten för {unit.name} finns inte ännu: examinatorerna har inte "
            "fastställt konsensus.",
        )
    names = session.exec(
        select(AssessmentCriterion.id, AssessmentCriterion.name)
        .where(AssessmentCriterion.cycle_id == cycle.id)
        .order_by(col(AssessmentCriterion.position), col(AssessmentCriterion.id))
    ).all()
    team = session.exec(
        select(User.name, ExaminerAssignment.lead)
        .join(User, col(User.id) == ExaminerAssignment.user_id)
        .where(ExaminerAssignment.entry_id == entry_id)
        .order_by(col(ExaminerAssignment.lead).desc(), col(User.name))
    ).all()
    examiners = [name for name, _ in team] or [consensus.written_by]
    examined = entry.facts.get("examined", {})
    return {
        "year": cycle.year,
        "unit": {"name": unit.name},
        "organisation": organisation.name,
        "award_class": entry.award_class,
        "case_number": entry.case_number,
        "document_date": document_date or datetime.now(STOCKHOLM).date(),
        "site_visit_on": _day(examined.get("site_visit_on")),
        "summary": rules.paragraphs(consensus.summary),
        "criteria": rules.criteria_feedback(
            [(str(key), name) for key, name in names], consensus.criteria
        ),
        "examiners": examiners,
        "lead": bool(team and team[0][1]),
        "award_office_email": cycle.award_office_email or AWARD_OFFICE_EMAIL,
    }


def render_feedback(context: dict[str, Any], fmt: str) -> bytes:
    """The report in `fmt` ("pdf" or "docx")."""
    markup = render_markup(context, template_name=FEEDBACK_TEMPLATE)
    if fmt == "docx":
        return docx_from_markup(markup, document_date=context["document_date"])
    return pdf_from_markup(markup)


def feedback_report(
    session: Session, entry_id: int, fmt: str, *, document_date: date | None = None
) -> tuple[str, str, bytes]:
    """(filename, content type, bytes) of the entry's report; InvalidInput for an unknown
    format (see `feedback_context` for the other refusals)."""
    wanted = str(fmt).strip().lower().lstrip(".")
    if wanted not in FORMATS:
        raise refusal(
            InvalidInput,
            "unknown_format",
            f"Okänt format '{fmt}' för återkopplingsrapporten (giltiga: {', '.join(FORMATS)}).",
        )
    context = feedback_context(session, entry_id, document_date=document_date)
    filename = feedback_filename(context["unit"]["name"], context["year"], wanted)
    return filename, FORMATS[wanted], render_feedback(context, wanted)


def feedback_attachment(session: Session, entry_id: int) -> Attachment:
    """The report as the feedback letter's attachment (PDF)."""
    filename, content_type, data = feedback_report(session, entry_id, "pdf")
    return Attachment(filename=filename, content_type=content_type, data=data)


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None
