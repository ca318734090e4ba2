"""Examination pages for the award office: the cycle's criteria and scale
(`/admin/cycles/{year}/criteria`), an entry's team (`/entries/{id}/team`) and a whole class's
teams at once (`/admin/cycles/{year}/classes/{class}/examiners`). A refusal is the form again
with the reasons and what was typed (4xx), never a 500. The examiners' own forms are in
`web/assessment.py`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session, col, select
from starlette.datastructures import FormData

from workflow import db
from workflow.auth import entry_scope
from workflow.domain import examination as rules
from workflow.domain.access import Role, examiner_conflict
from workflow.domain.errors import Conflict, InvalidInput, WorkflowError
from workflow.domain.rules import AWARD_CLASSES, EARLIEST_YEAR, LATEST_YEAR
from workflow.entrypoints.http.deps import now
from workflow.entrypoints.http.problems import status_for
from workflow.entrypoints.web import assessment
from workflow.entrypoints.web.pages import Id, WebUser, render
from workflow.entrypoints.web.session import FormDep, authorised_user, current_user, form_text
from workflow.models import Entry, Unit, User
from workflow.services import examination

router = APIRouter(include_in_schema=False)
router.include_router(assessment.router)
CycleYear = Annotated[int, Path(ge=EARLIEST_YEAR, le=LATEST_YEAR)]
ClassCode = Annotated[str, Path(max_length=50)]
BLANK_ROWS = 3
ADMIN_ONLY = "Bara utmärkelsens kansli ändrar examinationen."


def _number(form: FormData, name: str, default: int) -> int:
    raw = form_text(form, name, 4)
    return int(raw) if raw.isdigit() else default


def ids_in(form: FormData, name: str) -> list[int]:
    values = [str(v) for v in form.getlist(name) if isinstance(v, str)]
    return [int(v) for v in values if v.isdigit() and len(v) < 10]


# --- criteria ------------------------------------------------------------------------------


def _criteria_context(session: Session, year: int, typed: dict[str, Any] | None) -> dict[str, Any]:
    cycle = examination.cycle_of_year(session, year)
    setting = examination.setting_of(session, cycle.id or 0)
    rows = [(c.name, c.description) for c in examination.criteria_of(session, cycle.id or 0)]
    values = typed or {
        "rows": rows,
        "score_min": setting.score_min,
        "score_max": setting.score_max,
        "examiners_per_entry": setting.examiners_per_entry,
    }
    values["rows"] = list(values["rows"]) + [("", "")] * BLANK_ROWS
    return {
        "cycle": cycle,
        "values": values,
        "locked": examination.criteria_locked(session, cycle.id or 0),
        "note": rules.DEFAULT_CRITERIA_NOTE,
        "classes": [(code, AWARD_CLASSES.get(code, code)) for code in cycle.classes],
        "errors": [],
    }


@router.get("/admin/cycles/{year}/criteria", response_class=HTMLResponse)
def criteria_page(request: Request, year: CycleYear) -> Response:
    with db.transaction() as session:
        user = current_user(session, request)
        examination.require_admin(user.actor, ADMIN_ONLY)
        context = _criteria_context(session, year, None)
    return render(request, "examination_criteria.html", context, user=user)


@router.post("/admin/cycles/{year}/criteria", response_class=HTMLResponse)
def criteria_submit(request: Request, year: CycleYear, form: FormDep) -> Response:
    user = authorised_user(request, form)
    names, texts = form.getlist("name"), form.getlist("description")
    rows = [
        (str(n).strip()[:300], str(d).strip()[: rules.MAX_TEXT + 1])
        for n, d in zip(names, texts, strict=False)
        if str(n).strip() or str(d).strip()
    ]
    change = examination.CriteriaChange(
        rows, _number(form, "score_min", -1), _number(form, "score_max", -1),
        _number(form, "examiners_per_entry", 0),
    )  # fmt: skip
    try:
        with db.transaction() as session:
            examination.set_criteria(
                session, year=year, change=change, acting=user.actor, now=now()
            )
    except (InvalidInput, Conflict) as error:
        typed = {
            "rows": rows, "score_min": change.score_min, "score_max": change.score_max,
            "examiners_per_entry": change.examiners_per_entry,
        }  # fmt: skip
        with db.transaction() as session:
            context = _criteria_context(session, year, typed)
        context["errors"] = [r.message for r in error.reasons]
        return render(
            request, "examination_criteria.html", context, user=user, status=status_for(error)
        )
    return RedirectResponse(f"/admin/cycles/{year}/criteria?ok=criteria", status_code=303)


# --- one entry's team ---------------------------------------------------------------------


def team_context(session: Session, entry_id: int, user: WebUser) -> dict[str, Any]:
    """The team, and for the admin every examiner with whether the jäv rule allows them."""
    entry = session.get(Entry, entry_id)
    if entry is None or user.actor.role not in (Role.ADMIN,):
        return {"team": examination.team_of(session, entry_id), "candidates": []}
    scope = entry_scope(session, entry)
    examiners = session.exec(
        select(User).where(col(User.role) == Role.EXAMINER.value, col(User.active))
        .order_by(col(User.name))
    ).all()  # fmt: skip
    candidates = []
    for examiner in examiners:
        conflict = examiner_conflict(examiner.organisation_id, scope)
        candidates.append(
            {"id": examiner.id, "name": examiner.name,
             "reason": conflict.message if conflict else None}
        )  # fmt: skip
    unit = session.get(Unit, entry.unit_id)
    setting = examination.setting_of(session, entry.cycle_id)
    return {
        "team": examination.team_of(session, entry_id),
        "candidates": candidates,
        "unit": unit,
        "entry": entry,
        "team_size": setting.examiners_per_entry,
    }


def _team_page(
    request: Request, user: WebUser, entry_id: int, error: WorkflowError | None, typed: Any
) -> Response:
    with db.transaction() as session:
        examination.require_admin(user.actor, ADMIN_ONLY)
        context = team_context(session, entry_id, user)
    if "entry" not in context:
        raise examination.not_found_entry(entry_id)
    chosen = typed or {
        "members": [m.user_id for m in context["team"]],
        "lead": next((m.user_id for m in context["team"] if m.lead), None),
    }
    context |= {"chosen": chosen, "errors": [r.message for r in error.reasons] if error else []}
    status = status_for(error) if error else 200
    return render(request, "examination_team.html", context, user=user, status=status)


@router.get("/entries/{entry_id}/team", response_class=HTMLResponse)
def team_page(request: Request, entry_id: Id) -> Response:
    with db.transaction() as session:
        user = current_user(session, request)
    return _team_page(request, user, entry_id, None, None)


@router.post("/entries/{entry_id}/team", response_class=HTMLResponse)
def team_submit(request: Request, entry_id: Id, form: FormDep) -> Response:
    user = authorised_user(request, form)
    members = ids_in(form, "examiner")
    lead_raw = form_text(form, "lead", 10)
    lead = int(lead_raw) if lead_raw.isdigit() else None
    try:
        with db.transaction() as session:
            examination.set_team(
                session, entry_id=entry_id, members=members, lead=lead, acting=user.actor,
                now=now(),
            )  # fmt: skip
    except (InvalidInput, Conflict) as error:
        return _team_page(request, user, entry_id, error, {"members": members, "lead": lead})
    return RedirectResponse(f"/entries/{entry_id}?ok=team#examinatorer", status_code=303)


# --- a class at once ----------------------------------------------------------------------


def _class_context(session: Session, year: int, award_class: str) -> dict[str, Any]:
    cycle = examination.cycle_of_year(session, year)
    rows = session.exec(
        select(Entry.id, Unit.name, Entry.stage)
        .join(Unit, col(Unit.id) == Entry.unit_id)
        .where(Entry.cycle_id == cycle.id, Entry.award_class == award_class)
        .order_by(col(Unit.name))
    ).all()
    examiners = session.exec(
        select(User).where(col(User.role) == Role.EXAMINER.value, col(User.active))
        .order_by(col(User.name))
    ).all()  # fmt: skip
    return {
        "cycle": cycle,
        "award_class": award_class,
        "class_label": AWARD_CLASSES.get(award_class, award_class),
        "entries": [
            {"id": i, "unit": name, "stage": stage, "team": examination.team_of(session, i or 0)}
            for i, name, stage in rows
        ],
        "examiners": examiners,
        "team_size": examination.setting_of(session, cycle.id or 0).examiners_per_entry,
        "errors": [],
        "chosen": [],
    }


@router.get("/admin/cycles/{year}/classes/{award_class}/examiners", response_class=HTMLResponse)
def class_page(request: Request, year: CycleYear, award_class: ClassCode) -> Response:
    with db.transaction() as session:
        user = current_user(session, request)
        examination.require_admin(user.actor, ADMIN_ONLY)
        context = _class_context(session, year, award_class)
    return render(request, "examination_class.html", context, user=user)


@router.post("/admin/cycles/{year}/classes/{award_class}/examiners", response_class=HTMLResponse)
def class_submit(
    request: Request, year: CycleYear, award_class: ClassCode, form: FormDep
) -> Response:
    user = authorised_user(request, form)
    pool = ids_in(form, "examiner")
    try:
        with db.transaction() as session:
            examination.assign_class(
                session, year=year, award_class=award_class, pool=pool, acting=user.actor,
                now=now(),
            )  # fmt: skip
    except (InvalidInput, Conflict) as error:
        with db.transaction() as session:
            context = _class_context(session, year, award_class)
        context |= {"errors": [r.message for r in error.reasons], "chosen": pool}
        status = status_for(error)
        return render(request, "examination_class.html", context, user=user, status=status)
    path = f"/admin/cycles/{year}/classes/{award_class}/examiners"
    return RedirectResponse(f"{path}?ok=team", status_code=303)
