"""The prize ceremony over HTTP (JSON field names are a contract):

- `GET /api/v1/entries/{id}/diploma.pdf`, `GET /api/v1/entries/{id}/prize-letter.docx` and
  `.pdf`: a winner's diploma and prize letter, as downloads. The admin at any time; the unit's
  own coordinator and contact once the entry is in stage `jury` as a winner; 404 otherwise.
- `POST /api/v1/cycles/{year}/ceremony-invitations` (admin): queue the invitation to the
  ceremony (e-mail with an iCalendar invitation) to every participating unit's contact and
  coordinator, one per address; again later only to new addresses. Answers
  `{"year", "queued": [addresses], "already_invited": [addresses],
  "units_without_address": [unit names]}`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from fastapi.responses import Response
from pydantic import BaseModel

from workflow.documents import DOCX_CONTENT_TYPE, PDF_CONTENT_TYPE
from workflow.entrypoints.http.deps import TokenDep, authorised, now
from workflow.entrypoints.http.problems import documented
from workflow.entrypoints.http.reports import download_response
from workflow.services import ceremony

router = APIRouter(
    prefix="/api/v1", tags=["ceremony"], responses=documented(400, 401, 403, 404, 409, 422)
)
YearInPath = Annotated[int, Path(ge=1, le=9999)]
EntryInPath = Annotated[int, Path(ge=1, le=2**31 - 1)]


class InvitationsOut(BaseModel):
    year: int
    queued: list[str]
    already_invited: list[str]
    units_without_address: list[str]


def _document(token: str, entry_id: int, document: str, fmt: str) -> Response:
    with authorised(token) as (session, actor):
        made = ceremony.prize_document(session, entry_id, document, fmt, acting=actor)
    return download_response(made.filename, made.content_type, made.data)


_PDF: dict[int | str, dict[str, Any]] = {
    200: {"content": {PDF_CONTENT_TYPE: {}}, "description": "Filen"}
}
_DOCX: dict[int | str, dict[str, Any]] = {
    200: {"content": {DOCX_CONTENT_TYPE: {}}, "description": "Filen"}
}


@router.get("/entries/{entry_id}/diploma.pdf", response_class=Response, responses=_PDF)
def diploma(entry_id: EntryInPath, token: TokenDep) -> Response:
    """The winner's diploma (A4 landscape)."""
    return _document(token, entry_id, "diploma", "pdf")


@router.get("/entries/{entry_id}/prize-letter.pdf", response_class=Response, responses=_PDF)
def prize_letter_pdf(entry_id: EntryInPath, token: TokenDep) -> Response:
    """The winner's prize letter with the prize cheque, as PDF."""
    return _document(token, entry_id, "prize-letter", "pdf")


@router.get("/entries/{entry_id}/prize-letter.docx", response_class=Response, responses=_DOCX)
def prize_letter_docx(entry_id: EntryInPath, token: TokenDep) -> Response:
    """The winner's prize letter with the prize cheque, as Word (DOCX)."""
    return _document(token, entry_id, "prize-letter", "docx")


@router.post("/cycles/{year}/ceremony-invitations", response_model=InvitationsOut)
def invite(year: YearInPath, token: TokenDep) -> InvitationsOut:
    """Invite every participating unit and its coordinator to the ceremony (admin)."""
    with authorised(token) as (session, actor):
        done = ceremony.send_ceremony_invitations(session, year=year, now=now(), acting=actor)
    return InvitationsOut(
        year=done.year,
        queued=list(done.queued),
        already_invited=list(done.already),
        units_without_address=list(done.without_address),
    )
