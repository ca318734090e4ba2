"""The award office's hand on the outbox over HTTP: read one message as it will be sent, hold,
release, cancel (one or many by filter) and edit. Admins only."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from workflow.entrypoints.http.deps import TokenDep, authorised, now, require
from workflow.entrypoints.http.problems import documented
from workflow.entrypoints.http.schemas import (
    MAX_ID,
    NAME_PATTERN,
    OutboxStatus,
    Strict,
    listed,
)
from workflow.outbox import control
from workflow.outbox.control import ACTIONS, MAX_SUBJECT, MAX_TEXT, MessageFilter
from workflow.outbox.preview import message_detail

router = APIRouter(prefix="/api/v1", responses=documented(400, 401, 403, 404, 409, 422))
MessageId = Annotated[int, Path(ge=1, le=MAX_ID)]


class MessageDetail(BaseModel):
    """One e-mail: its status, the words it will be sent with, and the template's own."""

    id: int
    entry_id: int | None
    kind: str
    to: str
    status: str
    subject: str
    text: str
    template_subject: str
    template_text: str
    edited_by: str | None
    edited_at: str | None


class Lenient(Strict):
    """Strict types, and fields it does not know ignored (as these bodies always have)."""

    model_config = ConfigDict(extra="ignore")


class ActionRequest(Lenient):
    """An action on every message matching all the given conditions (at least one)."""

    action: Annotated[str, Field(max_length=20), listed(ACTIONS, 20)] = Field(
        description=f"One of {', '.join(ACTIONS)}."
    )
    ids: list[Annotated[int, Field(ge=1, le=MAX_ID)]] = Field(default=[], max_length=10_000)
    status: OutboxStatus | None = None
    kind: str | None = Field(default=None, max_length=60)
    year: int | None = Field(default=None, ge=2000, le=2100)
    organisation_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    note: str | None = Field(default=None, max_length=2000)


class SkippedMessage(BaseModel):
    id: int
    reason: str


class ActionResult(BaseModel):
    action: str
    changed: list[int]
    skipped: list[SkippedMessage]


class EditRequest(Lenient):
    subject: Annotated[
        str,
        Field(min_length=1, max_length=MAX_SUBJECT),
        WithJsonSchema(
            {"type": "string", "minLength": 1, "maxLength": MAX_SUBJECT, "pattern": NAME_PATTERN}
        ),
    ] = Field(description="One line, without control characters.")
    text: str = Field(min_length=1, max_length=MAX_TEXT)
    note: str | None = Field(default=None, max_length=2000)


class NoteRequest(Lenient):
    note: str | None = Field(default=None, max_length=2000)


@router.get("/outbox/{message_id}", response_model=MessageDetail)
def read_message(message_id: MessageId, token: TokenDep) -> dict[str, Any]:
    with authorised(token) as (session, actor):
        require(actor)
        return message_detail(session, message_id)


@router.post("/outbox/actions", response_model=ActionResult)
def act_on_messages(body: ActionRequest, token: TokenDep) -> dict[str, Any]:
    with authorised(token) as (session, actor):
        require(actor)
        wanted = MessageFilter(
            ids=tuple(dict.fromkeys(body.ids)),
            status=body.status,
            kind=body.kind,
            year=body.year,
            organisation_id=body.organisation_id,
        )
        result = control.act_on_messages(
            session, body.action, wanted, actor=actor.name, now=now(), note=body.note
        )
        return result.as_dict()


def _one(action: str, message_id: int, token: str, note: str | None) -> dict[str, Any]:
    with authorised(token) as (session, actor):
        require(actor)
        wanted = MessageFilter(ids=(message_id,))
        control.act_on_messages(session, action, wanted, actor=actor.name, now=now(), note=note)
        return message_detail(session, message_id)


@router.post("/outbox/{message_id}/hold", response_model=MessageDetail)
def hold_message(
    message_id: MessageId, token: TokenDep, body: NoteRequest | None = None
) -> dict[str, Any]:
    """Pause a queued message: no relay sends it until it is released."""
    return _one("hold", message_id, token, body.note if body else None)


@router.post("/outbox/{message_id}/release", response_model=MessageDetail)
def release_message(
    message_id: MessageId, token: TokenDep, body: NoteRequest | None = None
) -> dict[str, Any]:
    return _one("release", message_id, token, body.note if body else None)


@router.post("/outbox/{message_id}/cancel", response_model=MessageDetail)
def cancel_message(
    message_id: MessageId, token: TokenDep, body: NoteRequest | None = None
) -> dict[str, Any]:
    """Stop a queued or held message for good; a sent one is refused."""
    return _one("cancel", message_id, token, body.note if body else None)


@router.patch("/outbox/{message_id}", response_model=MessageDetail)
def edit_message(message_id: MessageId, body: EditRequest, token: TokenDep) -> dict[str, Any]:
    """Replace the subject and text of a waiting message (the template's stay in the log)."""
    with authorised(token) as (session, actor):
        require(actor)
        control.edit_message(
            session,
            message_id,
            subject=body.subject,
            body=body.text,
            actor=actor.name,
            now=now(),
            note=body.note,
        )
        return message_detail(session, message_id)
