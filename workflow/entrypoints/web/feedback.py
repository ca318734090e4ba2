"""Feedback pages: the award office's release of a cycle's feedback reports
(`/admin/cycles/{year}/feedback`: per class how many entries have consensus and which lack it,
the releases so far, and the form to release now or at a chosen moment), and the report's
download for whoever may read it (`/entries/{id}/feedback-report.pdf|.docx`, 404 before the
release for the unit and its coordinator). A refusal is the page again with the reasons (4xx)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session

from workflow import db
from workflow.domain.calendar import STOCKHOLM
from workflow.domain.errors import InvalidInput, Reason, WorkflowError
from workflow.domain.rules import AWARD_CLASSES, EARLIEST_YEAR, LATEST_YEAR
from workflow.entrypoints.http.deps import now
from workflow.entrypoints.http.feedback import releases_of
from workflow.entrypoints.http.problems import status_for
from workflow.entrypoints.http.reports import download_response
from workflow.entrypoints.web.pages import render
from workflow.entrypoints.web.session import FormDep, authorised_user, current_user, form_text
from workflow.services import feedback_release
from workflow.services.examination import cycle_of_year

router = APIRouter(include_in_schema=False)
CycleYear = Annotated[int, Path(ge=EARLIEST_YEAR, le=LATEST_YEAR)]
EntryId = Annotated[int, Path(ge=1, le=2**31 - 1)]


def _context(session: Session, year: int, acting: Any) -> dict[str, Any]:
    classes = feedback_release.readiness(session, year=year, acting=acting)
    cycle = cycle_of_year(session, year)
    return {
        "cycle": cycle,
        "classes": [
            {
                "code": c.award_class,
                "label": AWARD_CLASSES.get(c.award_class, c.award_class),
                "ready": c.ready,
                "released": c.released,
                "lacking": c.lacking,
            }
            for c in classes
        ],
        "releases": releases_of(session, cycle),
        "errors": [],
        "typed": {"award_class": "", "at": ""},
    }


@router.get("/admin/cycles/{year}/feedback", response_class=HTMLResponse)
def feedback_page(request: Request, year: CycleYear) -> Response:
    with db.transaction() as session:
        user = current_user(session, request)
        context = _context(session, year, user.actor)
    return render(request, "feedback_release.html", context, user=user)


def _moment(text: str) -> datetime | None:
    """The form's `datetime-local` value, Stockholm time; None when left empty."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).replace(tzinfo=STOCKHOLM)
    except ValueError:
        raise InvalidInput(
            (Reason("invalid_time", f"'{text}' är ingen tidpunkt (ÅÅÅÅ-MM-DD TT:MM)."),)
        ) from None


@router.post("/admin/cycles/{year}/feedback", response_class=HTMLResponse)
def feedback_submit(request: Request, year: CycleYear, form: FormDep) -> Response:
    user = authorised_user(request, form)
    award_class = form_text(form, "award_class", 50) or None
    at_text = form_text(form, "at", 40)
    try:
        with db.transaction() as session:
            made = feedback_release.release_feedback(
                session, year=year, award_class=award_class, at=_moment(at_text),
                acting=user.actor, now=now(),
            )  # fmt: skip
    except WorkflowError as error:
        with db.transaction() as session:
            context = _context(session, year, user.actor)
        context["errors"] = [r.message for r in error.reasons]
        context["typed"] = {"award_class": award_class or "", "at": at_text}
        return render(
            request, "feedback_release.html", context, user=user, status=status_for(error)
        )
    ok = "feedback_scheduled" if made.status == "scheduled" else "feedback_released"
    return RedirectResponse(f"/admin/cycles/{year}/feedback?ok={ok}", status_code=303)


def _download(request: Request, entry_id: int, fmt: str) -> Response:
    with db.transaction() as session:
        user = current_user(session, request)
        filename, content_type, data = feedback_release.report_for_reader(
            session, user.actor, entry_id, fmt
        )
    return download_response(filename, content_type, data)


@router.get("/entries/{entry_id}/feedback-report.pdf")
def report_pdf(request: Request, entry_id: EntryId) -> Response:
    return _download(request, entry_id, "pdf")


@router.get("/entries/{entry_id}/feedback-report.docx")
def report_docx(request: Request, entry_id: EntryId) -> Response:
    return _download(request, entry_id, "docx")
