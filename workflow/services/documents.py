"""Files kept with an entry: the minutes extract (a PDF), the contribution. An upload is
checked (`workflow.uploads`) and kept by whoever may move the entry to the stage it is for."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import func
from sqlmodel import Session, select

from workflow import uploads
from workflow.db import get_existing
from workflow.domain import rules
from workflow.domain.access import Actor
from workflow.domain.errors import InvalidInput, Reason
from workflow.domain.stages import upload_stage
from workflow.models import Document, Entry
from workflow.services.entries import check_move
from workflow.settings import get_settings

MAX_UPLOAD_BYTES = 20 * 1024 * 1024
DOCUMENT_KINDS = {"extract": "protokollsutdrag", "contribution": "bidrag"}
EXTRACT_NOT_PDF = Reason(
    "not_pdf",
    "Protokollsutdraget måste vara en PDF-fil. Spara utdraget som PDF och ladda upp det igen.",
)


def attach_document(
    session: Session,
    *,
    entry_id: int,
    kind: str,
    filename: str,
    data: bytes,
    actor: str,
    now: datetime,
    acting: Actor | None = None,
) -> Document:
    """Keep an uploaded file with its entry; the minutes extract must be a PDF of at most 20 MB.
    Whoever may move the entry to the stage the file is for may upload it (with `acting`)."""
    check_move(session, acting, entry_id, upload_stage(kind))
    get_existing(session, Entry, entry_id, "Posten")
    reasons: list[Reason] = []
    if kind not in DOCUMENT_KINDS:
        reasons.append(Reason("unknown_document_kind", f"Okänd dokumenttyp '{kind}'."))
    if len(data) > MAX_UPLOAD_BYTES:
        reasons.append(Reason("too_large", "Filen är större än 20 MB."))
    if not data:
        reasons.append(Reason("empty_file", "Filen är tom."))
    is_pdf = uploads.looks_like_pdf(filename, data)
    pdf_problems = uploads.pdf_reasons(data) if is_pdf and 0 < len(data) <= MAX_UPLOAD_BYTES else ()
    if kind == "extract" and (not is_pdf or uploads.NOT_PDF in pdf_problems):
        reasons.append(EXTRACT_NOT_PDF)
        pdf_problems = tuple(r for r in pdf_problems if r != uploads.NOT_PDF)
    reasons.extend(pdf_problems)
    over_quota = uploads.quota_reason(
        _stored_bytes(session, entry_id), len(data), get_settings().upload_quota_bytes_per_entry
    )
    if over_quota is not None:
        reasons.append(over_quota)
    if reasons:
        raise InvalidInput(reasons)
    document = Document(
        entry_id=entry_id,
        kind=kind,
        filename=_safe_filename(filename) or f"{kind}.pdf",
        content_type="application/pdf" if is_pdf else "application/octet-stream",
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        content=data,
        uploaded_by=actor,
        created_at=now,
    )
    session.add(document)
    session.flush()
    return document


def _stored_bytes(session: Session, entry_id: int) -> int:
    stored = session.exec(
        select(func.coalesce(func.sum(Document.size), 0)).where(Document.entry_id == entry_id)
    ).one()
    return int(stored)


def _safe_filename(filename: str) -> str:
    """The uploaded file's own name, as every database stores it and every page shows it:
    no folders, no control or bidirectional characters (a right-to-left override can make
    'fdp.exe' read as 'exe.pdf'), valid UTF-8, at most 200 characters, ending kept."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    name = name.encode("utf-8", "replace").decode("utf-8")
    return rules.without_unsafe_characters(name).strip()[-200:]
