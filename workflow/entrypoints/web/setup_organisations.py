"""The award office's organisation pages: förvaltningar and bolag, their board (nämnd or
styrelse), the coordinator's address and who is told when the coordinator does not act."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlmodel import col, select

from workflow import db
from workflow.db import get_existing
from workflow.domain.errors import Conflict, InvalidInput
from workflow.entrypoints.http.deps import now
from workflow.entrypoints.web.pages import Id
from workflow.entrypoints.web.session import FormDep, check_csrf
from workflow.entrypoints.web.setup_common import (
    FieldOf,
    FormState,
    admin,
    audit_events,
    form_values,
    place_reasons,
    setup_page,
)
from workflow.models import Organisation
from workflow.services import registry

router = APIRouter(include_in_schema=False)
FIELDS = ("name", "kind", "board", "coordinator_email", "escalation_email")
KINDS = [("forvaltning", "Förvaltning (nämnd)"), ("bolag", "Bolag (styrelse)")]
WHERE: dict[str, str | FieldOf] = {
    "missing_name": "name",
    "missing_board": "board",
    "name_too_long": lambda r: "board" if r.message.startswith("Nämnden") else "name",
    "invalid_characters": lambda r: "board" if r.message.startswith("Nämnden") else "name",
    "invalid_kind": "kind",
    "organisation_exists": "name",
    "note_too_long": "note",
}


def _email_field(values: dict[str, Any]) -> FieldOf:
    """Which address an invalid_email reason is about (its message quotes the value)."""

    def which(reason: Any) -> str | None:
        for name in ("coordinator_email", "escalation_email"):
            if values.get(name) and f"'{values[name]}'" in reason.message:
                return name
        return None

    return which


def _list_context(session: Any) -> dict[str, Any]:
    organisations = session.exec(select(Organisation).order_by(col(Organisation.name))).all()
    return {"organisations": organisations, "kinds": KINDS}


@router.get("/admin/organisations", response_class=HTMLResponse)
def organisations_page(request: Request) -> Response:
    with db.transaction() as session:
        user = admin(session, request)
        context = _list_context(session)
    state = FormState(values={"kind": "forvaltning"})
    return setup_page(request, "setup/organisations.html", {**context, "state": state}, user=user)


@router.post("/admin/organisations", response_class=HTMLResponse)
def create_organisation(request: Request, form: FormDep) -> Response:
    values = form_values(form, FIELDS)
    with db.transaction() as session:
        user = admin(session, request)
        check_csrf(user, form)
    try:
        with db.transaction() as session:
            organisation = registry.create_organisation(
                session,
                name=values["name"],
                kind=values["kind"],
                board=values["board"],
                coordinator_email=values["coordinator_email"] or None,
                escalation_email=values["escalation_email"] or None,
                created=registry.Created(user.actor.name, now()),
            )
            organisation_id = organisation.id
    except (InvalidInput, Conflict) as error:
        where = {**WHERE, "invalid_email": _email_field(values)}
        state = place_reasons(FormState(values=dict(values)), error.reasons, where)
        with db.transaction() as session:
            context = {**_list_context(session), "state": state}
        return setup_page(request, "setup/organisations.html", context, user=user, status=422)
    return RedirectResponse(f"/admin/organisations/{organisation_id}?ok=created", status_code=303)


def _page_context(session: Any, organisation_id: int, state: FormState | None) -> dict[str, Any]:
    organisation = get_existing(session, Organisation, organisation_id, "Organisationen")
    if state is None:
        state = FormState(values={**organisation.model_dump(include=set(FIELDS)), "note": ""})
        state.values = {k: v or "" for k, v in state.values.items()}
    return {
        "organisation": organisation,
        "state": state,
        "kinds": KINDS,
        "history": audit_events(session, "organisation", organisation_id),
    }


@router.get("/admin/organisations/{organisation_id}", response_class=HTMLResponse)
def organisation_page(request: Request, organisation_id: Id) -> Response:
    with db.transaction() as session:
        user = admin(session, request)
        context = _page_context(session, organisation_id, None)
    return setup_page(request, "setup/organisation.html", context, user=user)


@router.post("/admin/organisations/{organisation_id}", response_class=HTMLResponse)
def update_organisation(request: Request, organisation_id: Id, form: FormDep) -> Response:
    values = form_values(form, (*FIELDS, "note"))
    with db.transaction() as session:
        user = admin(session, request)
        check_csrf(user, form)
    try:
        with db.transaction() as session:
            registry.update_organisation(
                session,
                organisation_id=organisation_id,
                now=now(),
                acting=user.actor,
                name=values["name"],
                kind=values["kind"],
                board=values["board"],
                coordinator_email=values["coordinator_email"],
                escalation_email=values["escalation_email"],
                note=values["note"] or None,
            )
    except (InvalidInput, Conflict) as error:
        where = {**WHERE, "invalid_email": _email_field(values)}
        state = place_reasons(FormState(values=dict(values)), error.reasons, where)
        with db.transaction() as session:
            context = _page_context(session, organisation_id, state)
        return setup_page(request, "setup/organisation.html", context, user=user, status=422)
    return RedirectResponse(f"/admin/organisations/{organisation_id}?ok=saved", status_code=303)
