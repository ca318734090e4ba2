"""A winner's documents made from the database: the facts its diploma and prize letter say
(`prize_facts`), and the files themselves (`documents_for_winner`, `render_prize_document`).
Who may fetch them, and when, is `workflow.services.ceremony`'s matter; the outcome e-mail
carries them as it is queued (`workflow.outbox.rows.files_made_on_queueing`)."""

from __future__ import annotations

from collections.abc import Mapping

from sqlmodel import Session

from workflow.documents import DOCX_CONTENT_TYPE, PDF_CONTENT_TYPE
from workflow.documents.prize import (
    PrizeFacts,
    diploma_filename,
    prize_letter_filename,
    render_diploma_pdf,
    render_prize_letter_docx,
    render_prize_letter_pdf,
)
from workflow.domain.calendar import ceremony_span
from workflow.domain.errors import NotFound, Reason, refusal
from workflow.domain.stages import Stage
from workflow.emails import Attachment
from workflow.models import Cycle, Entry, Organisation, Unit
from workflow.queries.entries import entry_with_context
from workflow.settings import get_settings

# The documents a winner gets, by the name in their URL, and the formats each comes in.
PRIZE_DOCUMENTS: Mapping[str, tuple[str, ...]] = {
    "diploma": ("pdf",),
    "prize-letter": ("docx", "pdf"),
}
_CONTENT_TYPES = {"pdf": PDF_CONTENT_TYPE, "docx": DOCX_CONTENT_TYPE}


def entry_rows(session: Session, entry_id: int) -> tuple[Entry, Unit, Organisation, Cycle]:
    row = entry_with_context(session, entry_id)
    if row is None:
        raise no_documents(entry_id)
    return row


def no_documents(entry_id: int) -> NotFound:
    message = f"Det finns inget diplom eller prisbrev för post {entry_id}."
    return NotFound((Reason("not_found", message),))


def prize_facts(session: Session, entry_id: int) -> PrizeFacts:
    """What the entry's diploma and prize letter say (whether it won is the caller's matter)."""
    entry, unit, organisation, cycle = entry_rows(session, entry_id)
    if entry.stage == Stage.WITHDRAWN:
        raise no_documents(entry_id)
    settings = get_settings()
    return PrizeFacts(
        unit=unit.name,
        organisation=organisation.name,
        award_class=entry.award_class,
        year=cycle.year,
        amount=cycle.prize_amount,
        ceremony_on=cycle.winners_date,
        ceremony_hours=ceremony_span(cycle.ceremony_starts_at, cycle.ceremony_ends_at),
        signatory_name=settings.prize_signatory_name.strip(),
        signatory_title=settings.prize_signatory_title.strip(),
        award_office_email=cycle.award_office_email,
        motivation=str((entry.facts.get(Stage.JURY) or {}).get("motivation") or ""),
    )


def render_prize_document(facts: PrizeFacts, document: str, fmt: str) -> Attachment:
    if fmt not in PRIZE_DOCUMENTS.get(document, ()):
        raise refusal(
            NotFound, "not_found", f"Det finns inget dokument '{document}.{fmt}' för vinnarna."
        )
    if document == "diploma":
        return Attachment(diploma_filename(facts), PDF_CONTENT_TYPE, render_diploma_pdf(facts))
    render = render_prize_letter_docx if fmt == "docx" else render_prize_letter_pdf
    return Attachment(prize_letter_filename(facts, fmt), _CONTENT_TYPES[fmt], render(facts))


def documents_for_winner(session: Session, entry_id: int) -> list[Attachment]:
    """The diploma (PDF) and the prize letter (DOCX and PDF) of entry `entry_id`, for the
    e-mail that announces it a winner. Checks no role and no embargo: the caller (the
    announcement) has decided the entry won and that the time has come."""
    facts = prize_facts(session, entry_id)
    return [
        render_prize_document(facts, document, fmt)
        for document, formats in PRIZE_DOCUMENTS.items()
        for fmt in formats
    ]
