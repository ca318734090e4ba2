"""The register's changes over HTTP: PATCH a cycle, an organisation, a unit or a user; create
users (who get an e-mailed one-time link to choose a password) and send a new link. Each call
is one use case in one transaction; a refusal changes nothing."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from workflow.entrypoints.http import schemas
from workflow.entrypoints.http.deps import TokenDep, authorised, now
from workflow.entrypoints.http.problems import documented
from workflow.entrypoints.http.schemas import Id, Year
from workflow.models import Cycle, Organisation, Unit, User
from workflow.services import registry, users

router = APIRouter(prefix="/api/v1", responses=documented(400, 401, 403, 404, 409, 422))


@router.patch("/cycles/{year}", response_model=schemas.CycleSettingsPublic)
def update_cycle(year: Year, body: schemas.CycleUpdate, token: TokenDep) -> Cycle:
    """Change dates, classes, the award office's address, the budget rule, the prize or the
    ceremony's hours; moved dates re-plan the pending reminders of the cycle's open entries,
    and a moved ceremony reaches everyone invited to it."""
    with authorised(token) as (session, actor):
        # The fields as parsed (not model_dump: it would render the clock times as text).
        given = {name: getattr(body, name) for name in body.model_fields_set}
        return registry.update_cycle(session, year=year, now=now(), acting=actor, **given)


@router.patch("/organisations/{organisation_id}", response_model=schemas.OrganisationDetailsPublic)
def update_organisation(
    organisation_id: Id, body: schemas.OrganisationUpdate, token: TokenDep
) -> Organisation:
    with authorised(token) as (session, actor):
        return registry.update_organisation(
            session,
            organisation_id=organisation_id,
            now=now(),
            acting=actor,
            **body.model_dump(exclude_unset=True),
        )


@router.patch("/units/{unit_id}", response_model=schemas.UnitPublic)
def update_unit(unit_id: Id, body: schemas.UnitUpdate, token: TokenDep) -> Unit:
    """Correct a unit (admin; a coordinator its own organisation's); `note` says why and goes
    to the audit trail with every field's old → new."""
    # A null is "unchanged" like an absent field, except the contact, which null or "" clears.
    sent = body.model_dump(exclude_unset=True, exclude={"note"})
    changes = {k: v for k, v in sent.items() if v is not None or k == "contact_email"}
    if changes.get("contact_email") == "":
        changes["contact_email"] = None
    with authorised(token) as (session, actor):
        return registry.update_unit(
            session, unit_id=unit_id, now=now(), changes=changes, note=body.note, acting=actor
        )


def _public(user: User) -> dict[str, Any]:
    return user.model_dump(
        include={"id", "name", "role", "organisation_id", "unit_id", "email", "active"}
    )


@router.post("/users", status_code=201, response_model=schemas.UserCreated)
def create_user(body: schemas.UserCreate, token: TokenDep) -> dict[str, Any]:
    """Create a user (admin). With `email`, a one-time link to choose a password is e-mailed;
    the API token is in this answer only."""
    with authorised(token) as (session, actor):
        created = users.create_user_with_link(session, now=now(), acting=actor, **body.model_dump())
        return {
            **_public(created.user),
            "token": created.token,
            "password_link_sent": created.link_sent,
        }


@router.patch("/users/{user_id}", response_model=schemas.UserPublic)
def update_user(user_id: Id, body: schemas.UserUpdate, token: TokenDep) -> dict[str, Any]:
    """Change role, organisation, unit or e-mail (admin); `"active": false` deactivates."""
    fields = body.model_dump(exclude_unset=True)
    deactivate = fields.pop("active", None) is False
    clear = frozenset(name for name in ("email",) if fields.get(name) == "")
    with authorised(token) as (session, actor):
        user = users.update_user(
            session, user_id=user_id, now=now(), acting=actor, clear=clear, **fields
        )
        if deactivate:
            user = users.deactivate_user(session, user_id=user_id, now=now(), acting=actor)
        return _public(user)


@router.post("/users/{user_id}/password-link", status_code=202, response_model=schemas.UserPublic)
def send_password_link(user_id: Id, token: TokenDep) -> dict[str, Any]:
    """E-mail the user a new one-time link to choose a password (admin); earlier links stop
    working."""
    with authorised(token) as (session, actor):
        return _public(users.issue_password_link(session, user_id=user_id, now=now(), acting=actor))
