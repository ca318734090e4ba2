"""The draft as a file, for downloads and e-mails: its name, content type and bytes."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

from sqlmodel import Session, col, select

from workflow.documents.context import ReportPreparation, build_report_context
from workflow.documents.docx import render_report_docx
from workflow.documents.pdf import render_report_pdf
from workflow.domain.errors import InvalidInput, NotFound, refusal
from workflow.emails import Attachment
from workflow.models import Cycle, Entry, Unit

DOCX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
PDF_CONTENT_TYPE = "application/pdf"
FORMATS: Mapping[str, str] = {"docx": DOCX_CONTENT_TYPE, "pdf": PDF_CONTENT_TYPE}


_UNSAFE_IN_FILENAME = re.compile(r'[\\/:*?"<>|\x00-\x1f\x7f]+')


def report_filename(organisation_name: str, year: int, fmt: str) -> str:
    """ "Tjänsteutlåtande Deltagande i kvalitetsutmärkelsen 2024 - Socialförvaltningen.docx"."""
    name = " ".join(_UNSAFE_IN_FILENAME.sub("-", organisation_name).split()).strip(" .-")
    suffix = f" - {name}" if name else ""
    return f"Tjänsteutlåtande Deltagande i kvalitetsutmärkelsen {year}{suffix}.{fmt}"


def ascii_filename(filename: str) -> str:
    """The filename without accents, for clients that only read the plain `filename=`."""
    plain = unicodedata.normalize("NFKD", filename).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^A-Za-z0-9 ._()-]+", "_", plain) or "tjansteutlatande"


def report_for(
    session: Session,
    organisation_id: int,
    year: int,
    fmt: str,
    *,
    preparation: ReportPreparation | None = None,
) -> tuple[str, str, bytes]:
    """(filename, content type, bytes) of the draft in `fmt` ("docx" or "pdf").

    Raises InvalidInput for an unknown format or proposal, NotFound for an unknown organisation
    or a year in which it has no entries; reads only, so a refusal leaves nothing behind.
    """
    wanted = str(fmt).strip().lower().lstrip(".")
    if wanted not in FORMATS:
        raise refusal(
            InvalidInput,
            "unknown_format",
            f"Okänt format '{fmt}' för tjänsteutlåtandet (giltiga: {', '.join(FORMATS)}).",
        )
    context = build_report_context(session, organisation_id, year, preparation=preparation)
    render = render_report_docx if wanted == "docx" else render_report_pdf
    filename = report_filename(context["organisation"]["name"], context["year"], wanted)
    return filename, FORMATS[wanted], render(context)


def report_attachment(
    session: Session,
    organisation_id: int,
    year: int,
    fmt: str = "docx",
    *,
    preparation: ReportPreparation | None = None,
) -> Attachment:
    """The draft as an e-mail attachment (for the agenda request to the coordinator)."""
    filename, content_type, data = report_for(
        session, organisation_id, year, fmt, preparation=preparation
    )
    return Attachment(filename=filename, content_type=content_type, data=data)


def report_subject(session: Session, entry_id: int) -> tuple[int, int] | None:
    """(organisation id, year): whose draft report an entry's agenda request carries."""
    row = session.exec(
        select(Unit.organisation_id, Cycle.year)
        .select_from(Entry)
        .join(Unit, col(Unit.id) == Entry.unit_id)
        .join(Cycle, col(Cycle.id) == Entry.cycle_id)
        .where(Entry.id == entry_id)
    ).first()
    return (int(row[0]), int(row[1])) if row is not None else None


def report_attachment_for_entry(session: Session, entry_id: int, fmt: str = "docx") -> Attachment:
    """The draft of the organisation and cycle an entry belongs to (what the outbox knows)."""
    subject = report_subject(session, entry_id)
    if subject is None:
        raise refusal(NotFound, "not_found", f"Posten med id {entry_id} finns inte.")
    return report_attachment(session, *subject, fmt)
