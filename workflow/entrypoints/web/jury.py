"""The jury's pages: `/cycles/{year}/jury` (the committee: the admin sets members and chair and
announces; every member finds the classes) and `/cycles/{year}/jury/{class}` (the ranked
entries, the jury pack, the member's recommendation and, for the chair, the decision). Only
the admin and the cycle's jury reach them (403/404 otherwise, as in the API); a refusal is
the form again with the reasons (4xx), never a 500."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session, col, select

from workflow import db
from workflow.domain.access import Role
from workflow.domain.calendar import STOCKHOLM
from workflow.domain.errors import InvalidInput, Reason, WorkflowError
from workflow.domain.rules import AWARD_CLASSES, EARLIEST_YEAR, LATEST_YEAR
from workflow.entrypoints.http.deps import now
from workflow.entrypoints.http.jury import pack_pdf
from workflow.entrypoints.http.problems import status_for
from workflow.entrypoints.http.reports import download_response
from workflow.entrypoints.web.examination import ids_in
from workflow.entrypoints.web.pages import WebUser, render
from workflow.entrypoints.web.session import FormDep, authorised_user, current_user, form_text
from workflow.models import User
from workflow.services import jury
from workflow.services.examination import cycle_of_year

router = APIRouter(include_in_schema=False)
CycleYear = Annotated[int, Path(ge=EARLIEST_YEAR, le=LATEST_YEAR)]
ClassCode = Annotated[str, Path(max_length=50)]


def _committee_context(session: Session, year: int, user: WebUser) -> dict[str, Any]:
    cycle = cycle_of_year(session, year)
    jury.require_jury(session, user.actor, cycle)
    members = jury.members_of(session, cycle.id or 0)
    candidates = (
        session.exec(
            select(User)
            .where(col(User.role) == Role.JURY.value, col(User.active))
            .order_by(col(User.name))
        ).all()
        if user.actor.role == Role.ADMIN
        else []
    )
    announcement = jury.announcement_view(session, year=year, acting=user.actor)
    return {
        "cycle": cycle,
        "members": members,
        "candidates": candidates,
        "chosen": [m.user_id for m in members],
        "chair": next((m.user_id for m in members if m.chair), None),
        "classes": [(code, AWARD_CLASSES.get(code, code)) for code in cycle.classes],
        "announce_at": announcement.announce_at.astimezone(STOCKHOLM),
        "announced_at": announcement.announced_at,
        "is_admin": user.actor.role == Role.ADMIN,
        "errors": [],
    }


def _committee_page(
    request: Request, user: WebUser, year: int, error: WorkflowError | None = None
) -> Response:
    with db.transaction() as session:
        context = _committee_context(session, year, user)
    context["errors"] = [r.message for r in error.reasons] if error else []
    status = status_for(error) if error else 200
    return render(request, "jury_committee.html", context, user=user, status=status)


@router.get("/cycles/{year}/jury", response_class=HTMLResponse)
def committee_page(request: Request, year: CycleYear) -> Response:
    with db.transaction() as session:
        user = current_user(session, request)
    return _committee_page(request, user, year)


@router.post("/cycles/{year}/jury/members", response_class=HTMLResponse)
def committee_submit(request: Request, year: CycleYear, form: FormDep) -> Response:
    user = authorised_user(request, form)
    chair = ids_in(form, "chair")
    try:
        with db.transaction() as session:
            jury.set_members(
                session, year=year, members=ids_in(form, "member"), chair=chair,
                acting=user.actor, now=now(),
            )  # fmt: skip
    except WorkflowError as error:
        return _committee_page(request, user, year, error)
    return RedirectResponse(f"/cycles/{year}/jury?ok=members", status_code=303)


@router.post("/cycles/{year}/jury/announcement", response_class=HTMLResponse)
def announcement_submit(request: Request, year: CycleYear, form: FormDep) -> Response:
    user = authorised_user(request, form)
    raw = form_text(form, "at", 40).strip()
    try:
        at = None
        if raw and form_text(form, "when", 10) != "now":
            try:
                at = datetime.fromisoformat(raw).replace(tzinfo=STOCKHOLM)
            except ValueError:
                reason = Reason("invalid_time", f"'{raw}' är ingen tidpunkt (ÅÅÅÅ-MM-DD TT:MM).")
                raise InvalidInput((reason,)) from None
        with db.transaction() as session:
            jury.set_announcement(session, year=year, at=at, acting=user.actor, now=now())
    except WorkflowError as error:
        return _committee_page(request, user, year, error)
    return RedirectResponse(f"/cycles/{year}/jury?ok=announcement", status_code=303)


# --- one class ----------------------------------------------------------------------------


def _class_page(
    request: Request,
    user: WebUser,
    year: int,
    award_class: str,
    error: WorkflowError | None = None,
) -> Response:
    with db.transaction() as session:
        view = jury.class_view(session, year=year, award_class=award_class, acting=user.actor)
        cycle = cycle_of_year(session, year)
        is_chair = any(
            m.chair and m.user_id == user.actor.user_id
            for m in jury.members_of(session, cycle.id or 0)
        )
    mine = next((r for name, r in view.recommendations if r.user_id == user.actor.user_id), None)
    context = {
        "view": view,
        "is_chair": is_chair,
        "is_member": user.actor.role == Role.JURY,
        "mine": mine,
        "errors": [r.message for r in error.reasons] if error else [],
    }
    status = status_for(error) if error else 200
    return render(request, "jury_class.html", context, user=user, status=status)


@router.get("/cycles/{year}/jury/{award_class}", response_class=HTMLResponse)
def class_page(request: Request, year: CycleYear, award_class: ClassCode) -> Response:
    with db.transaction() as session:
        user = current_user(session, request)
    return _class_page(request, user, year, award_class)


@router.get("/cycles/{year}/jury/{award_class}/jury-pack.pdf")
def class_pack(request: Request, year: CycleYear, award_class: ClassCode) -> Response:
    with db.transaction() as session:
        user = current_user(session, request)
        view = jury.class_view(session, year=year, award_class=award_class, acting=user.actor)
    data = pack_pdf(view, now().astimezone(STOCKHOLM).date())
    return download_response(f"juryunderlag-{year}-{view.award_class}.pdf", "application/pdf", data)


def _choice_submit(
    request: Request, year: int, award_class: str, form: Any, *, decision: bool
) -> Response:
    user = authorised_user(request, form)
    winners = [] if form_text(form, "no_winner", 5) else ids_in(form, "winner")
    service = jury.decide if decision else jury.recommend
    try:
        with db.transaction() as session:
            service(
                session, year=year, award_class=award_class, winners=winners,
                motivation=form_text(form, "motivation", 6000), acting=user.actor, now=now(),
            )  # fmt: skip
    except WorkflowError as error:
        return _class_page(request, user, year, award_class, error)
    done = "decision" if decision else "recommendation"
    return RedirectResponse(f"/cycles/{year}/jury/{award_class}?ok={done}", status_code=303)


@router.post("/cycles/{year}/jury/{award_class}/recommendation", response_class=HTMLResponse)
def recommendation_submit(
    request: Request, year: CycleYear, award_class: ClassCode, form: FormDep
) -> Response:
    return _choice_submit(request, year, award_class, form, decision=False)


@router.post("/cycles/{year}/jury/{award_class}/decision", response_class=HTMLResponse)
def decision_submit(
    request: Request, year: CycleYear, award_class: ClassCode, form: FormDep
) -> Response:
    return _choice_submit(request, year, award_class, form, decision=True)
