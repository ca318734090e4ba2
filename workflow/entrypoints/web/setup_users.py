"""The award office's user pages: who may use the system, in which role, for which
organisation or unit. A new user (and a reset) gets an e-mail with a one-time link to choose
a password; no password and no API token is ever shown on these pages."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import Session, col, select

from workflow import db
from workflow.db import get_existing
from workflow.domain.access import ROLE_LABELS_SV
from workflow.domain.errors import Conflict, Forbidden, InvalidInput, NotFound, Reason
from workflow.entrypoints.http.deps import now
from workflow.entrypoints.web.pages import Id, WebUser, error_page
from workflow.entrypoints.web.session import FormDep, check_csrf
from workflow.entrypoints.web.setup_common import (
    FieldOf,
    FormState,
    admin,
    audit_events,
    form_int,
    form_values,
    own_code_field,
    place_reasons,
    raise_if,
    setup_page,
)
from workflow.models import Organisation, Unit, User
from workflow.services import users

router = APIRouter(include_in_schema=False)
FIELDS = ("name", "role", "organisation_id", "unit_id", "email")
WHERE: dict[str, str | FieldOf] = {
    "missing_name": "name",
    "name_too_long": "name",
    "invalid_characters": "name",
    "user_exists": "name",
    "unknown_role": "role",
    "own_role": "role",
    "missing_organisation": "organisation_id",
    "missing_unit": "unit_id",
    "invalid_email": "email",
    "not_found": lambda r: "unit_id" if r.message.startswith("Enheten") else "organisation_id",
    "invalid_number:organisation_id": own_code_field,
    "invalid_number:unit_id": own_code_field,
}
ROLES = [(role.value, label) for role, label in ROLE_LABELS_SV.items()]


def _organisations(session: Session) -> list[tuple[int, str]]:
    rows = session.exec(select(Organisation.id, Organisation.name).order_by(Organisation.name))
    return [(int(i or 0), name) for i, name in rows.all()]


def _list_context(session: Session) -> dict[str, Any]:
    rows = session.exec(
        select(User, Organisation.name, Unit.name)
        .join(Organisation, col(Organisation.id) == User.organisation_id, isouter=True)
        .join(Unit, col(Unit.id) == User.unit_id, isouter=True)
        .order_by(col(User.name))
    ).all()
    return {
        "people": [{"user": u, "organisation": o, "unit": n} for u, o, n in rows],
        "roles": ROLES,
        "organisation_choices": _organisations(session),
    }


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request) -> Response:
    with db.transaction() as session:
        user = admin(session, request)
        context = {**_list_context(session), "state": FormState(values={"role": "coordinator"})}
    return setup_page(request, "setup/users.html", context, user=user)


def _ids(values: dict[str, str], reasons: list[Reason]) -> tuple[int | None, int | None]:
    organisation = form_int(values["organisation_id"], "organisation_id", "Organisation", reasons)
    unit = form_int(values["unit_id"], "unit_id", "Enhetens id", reasons)
    return organisation, unit


@router.post("/admin/users", response_class=HTMLResponse)
def create_user(request: Request, form: FormDep) -> Response:
    values = form_values(form, FIELDS, 300)
    with db.transaction() as session:
        user = admin(session, request)
        check_csrf(user, form)
    reasons: list[Reason] = []
    organisation, unit = _ids(values, reasons)
    try:
        with db.transaction() as session:
            raise_if(reasons)
            created = users.create_user_with_link(
                session,
                name=values["name"],
                role=values["role"],
                now=now(),
                acting=user.actor,
                email=values["email"] or None,
                organisation_id=organisation,
                unit_id=unit,
            )
            user_id, sent = created.user.id, created.link_sent
    except (InvalidInput, Conflict, NotFound) as error:
        state = place_reasons(FormState(values=dict(values)), error.reasons, WHERE)
        with db.transaction() as session:
            context = {**_list_context(session), "state": state}
        return setup_page(request, "setup/users.html", context, user=user, status=422)
    return RedirectResponse(
        f"/admin/users/{user_id}?ok={'link_sent' if sent else 'created'}", status_code=303
    )


def _user_context(session: Session, user_id: int, state: FormState | None) -> dict[str, Any]:
    person = get_existing(session, User, user_id, "Användaren")
    if state is None:
        values = person.model_dump(include=set(FIELDS))
        state = FormState(values={k: "" if v is None else v for k, v in values.items()})
    unit = session.get(Unit, person.unit_id) if person.unit_id else None
    return {
        "person": person,
        "unit_name": unit.name if unit else None,
        "state": state,
        "roles": ROLES,
        "organisation_choices": _organisations(session),
        "history": audit_events(session, "user", user_id),
    }


@router.get("/admin/users/{user_id}", response_class=HTMLResponse)
def user_page(request: Request, user_id: Id) -> Response:
    with db.transaction() as session:
        user = admin(session, request)
        context = _user_context(session, user_id, None)
    return setup_page(request, "setup/user.html", context, user=user)


@router.post("/admin/users/{user_id}", response_class=HTMLResponse)
def update_user(request: Request, user_id: Id, form: FormDep) -> Response:
    values = form_values(form, (*FIELDS, "note"), 300)
    with db.transaction() as session:
        user = admin(session, request)
        check_csrf(user, form)
    reasons: list[Reason] = []
    organisation, unit = _ids(values, reasons)
    clear = frozenset(
        name for name in ("organisation_id", "unit_id", "email") if not values.get(name)
    )
    try:
        with db.transaction() as session:
            raise_if(reasons)
            users.update_user(
                session,
                user_id=user_id,
                now=now(),
                acting=user.actor,
                role=values["role"] or None,
                organisation_id=organisation,
                unit_id=unit,
                email=values["email"] or None,
                clear=clear,
                note=values["note"] or None,
            )
    except (InvalidInput, Conflict, NotFound, Forbidden) as error:
        state = place_reasons(FormState(values=dict(values)), error.reasons, WHERE)
        with db.transaction() as session:
            context = _user_context(session, user_id, state)
        return setup_page(request, "setup/user.html", context, user=user, status=422)
    return RedirectResponse(f"/admin/users/{user_id}?ok=saved", status_code=303)


def _act(request: Request, user_id: int, form: Any, act: str) -> Response:
    with db.transaction() as session:
        user: WebUser = admin(session, request)
        check_csrf(user, form)
    try:
        with db.transaction() as session:
            if act == "link":
                users.issue_password_link(session, user_id=user_id, now=now(), acting=user.actor)
            else:
                users.deactivate_user(session, user_id=user_id, now=now(), acting=user.actor)
    except (InvalidInput, Forbidden) as error:
        status = 403 if isinstance(error, Forbidden) else 422
        back = (f"/admin/users/{user_id}", "Till användaren")
        return error_page(request, status, error.reasons, user=user, back=back)
    notice = "link_sent" if act == "link" else "deactivated"
    return RedirectResponse(f"/admin/users/{user_id}?ok={notice}", status_code=303)


@router.post("/admin/users/{user_id}/password-link", response_class=HTMLResponse)
def send_password_link(request: Request, user_id: Id, form: FormDep) -> Response:
    return _act(request, user_id, form, "link")


@router.post("/admin/users/{user_id}/deactivate", response_class=HTMLResponse)
def deactivate(request: Request, user_id: Id, form: FormDep) -> Response:
    return _act(request, user_id, form, "deactivate")
