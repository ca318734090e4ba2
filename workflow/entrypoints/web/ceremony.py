"""The prize ceremony in the pages: a winner's diploma and prize letter as downloads from the
entry page (the same rule as the API: the admin at any time, the unit's own coordinator and
contact once the entry is in stage `jury` as a winner, 404 otherwise), and the cycle page's
button that invites every participating unit and its coordinator to the ceremony."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from workflow import db
from workflow.domain.errors import InvalidInput
from workflow.entrypoints.http.deps import now
from workflow.entrypoints.http.reports import download_response
from workflow.entrypoints.web.pages import Id
from workflow.entrypoints.web.session import FormDep, check_csrf, current_user
from workflow.entrypoints.web.setup_common import admin, setup_page
from workflow.entrypoints.web.setup_cycles import Year, cycle_context
from workflow.services import ceremony

router = APIRouter(include_in_schema=False)


def _download(request: Request, entry_id: int, document: str, fmt: str) -> Response:
    with db.transaction() as session:
        user = current_user(session, request)
        made = ceremony.prize_document(session, entry_id, document, fmt, acting=user.actor)
    return download_response(made.filename, made.content_type, made.data)


@router.get("/entries/{entry_id}/diploma.pdf")
def diploma(request: Request, entry_id: Id) -> Response:
    return _download(request, entry_id, "diploma", "pdf")


@router.get("/entries/{entry_id}/prize-letter.pdf")
def prize_letter_pdf(request: Request, entry_id: Id) -> Response:
    return _download(request, entry_id, "prize-letter", "pdf")


@router.get("/entries/{entry_id}/prize-letter.docx")
def prize_letter_docx(request: Request, entry_id: Id) -> Response:
    return _download(request, entry_id, "prize-letter", "docx")


@router.post("/admin/cycles/{year}/ceremony-invitations", response_class=HTMLResponse)
def invite(request: Request, form: FormDep, year: int = Year) -> Response:
    with db.transaction() as session:
        user = admin(session, request)
        check_csrf(user, form)
    try:
        with db.transaction() as session:
            ceremony.send_ceremony_invitations(session, year=year, now=now(), acting=user.actor)
    except InvalidInput as error:
        with db.transaction() as session:
            context = cycle_context(session, year)
        context["invite_errors"] = [reason.message for reason in error.reasons]
        return setup_page(request, "setup/cycle.html", context, user=user, status=422)
    return RedirectResponse(f"/admin/cycles/{year}?ok=invited#ceremoni", status_code=303)
