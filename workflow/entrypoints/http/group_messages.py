"""Write to a group over HTTP (admins): preview, send (idempotent under `Idempotency-Key`),
and the list of group messages queued."""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Header, Response
from pydantic import BaseModel, Field, WithJsonSchema

from workflow.domain.group_messages import MAX_SUBJECT, MAX_TEXT, PLACEHOLDERS, Audience
from workflow.entrypoints.http.deps import TokenDep, authorised, now
from workflow.entrypoints.http.problems import documented
from workflow.entrypoints.http.schemas import (
    MAX_ID,
    AwardClass,
    JsonDateTime,
    StageName,
    Strict,
    Year,
    listed,
)
from workflow.services import group_messages as service

router = APIRouter(prefix="/api/v1", responses=documented(400, 401, 403, 409, 422))

_PLACEHOLDER_HELP = "; ".join(f"{{{name}}}: {words}" for name, words in PLACEHOLDERS.items())
# `message_reasons` in the schema: the characters each may not hold (as the domain lists them),
# more than spaces, and no placeholder but the known ones ("{" alone is only a brace).
_NOT_IN_SUBJECT = r"\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069"
_NOT_IN_TEXT = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069"


def _words_pattern(unsafe: str) -> str:
    known = "|".join(re.escape(name) for name in PLACEHOLDERS)
    return (
        f"^(?=[^{unsafe}]*[^\\s{unsafe}])"
        f"(?:[^{{{unsafe}]|\\{{(?:{known})\\}}|\\{{(?![^{{}}\\n]{{0,40}}\\}}))*$"
    )


Subject = Annotated[
    str,
    Field(max_length=MAX_SUBJECT + 1),
    WithJsonSchema(
        {"type": "string", "maxLength": MAX_SUBJECT, "pattern": _words_pattern(_NOT_IN_SUBJECT)}
    ),
]
Text = Annotated[
    str,
    Field(max_length=MAX_TEXT + 1),
    WithJsonSchema(
        {"type": "string", "maxLength": MAX_TEXT, "pattern": _words_pattern(_NOT_IN_TEXT)}
    ),
]


class GroupMessageRequest(Strict):
    """A message to every unit and/or coordinator the filter chooses (entries of one year)."""

    year: Year
    to: Annotated[str, Field(max_length=20), listed(Audience)] = Field(
        default="units", description="units, coordinators or both"
    )
    award_class: AwardClass | None = None
    stage: StageName | None = None
    organisation_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    not_submitted: bool = False
    extract_missing: bool = False
    subject: Subject
    text: Text = Field(description=f"Plain text. Placeholders: {_PLACEHOLDER_HELP}")
    send_at: JsonDateTime | None = Field(
        default=None, description="When to send (ISO 8601 with offset); none: at once."
    )

    def as_request(self) -> service.GroupRequest:
        return service.GroupRequest(
            year=self.year,
            audience=self.to,
            award_class=self.award_class,
            stage=self.stage,
            organisation_id=self.organisation_id,
            not_submitted=self.not_submitted,
            extract_missing=self.extract_missing,
            subject=self.subject,
            text=self.text,
            send_at=self.send_at,
        )


class RecipientPublic(BaseModel):
    address: str
    roles: list[str]
    units: list[str]
    entry_ids: list[int]


class UnreachablePublic(BaseModel):
    entry_id: int
    unit: str
    organisation: str
    missing: str = Field(description="unit or coordinator: whose address is missing")


class ExamplePublic(BaseModel):
    to: str
    subject: str
    text: str


class GroupPreviewPublic(BaseModel):
    filter: dict[str, Any]
    subject: str
    text: str
    send_at: str | None
    matched: int
    recipients: list[RecipientPublic]
    unreachable: list[UnreachablePublic]
    example: ExamplePublic | None


class GroupSentPublic(BaseModel):
    group_id: str
    queued: int
    unreachable: int
    due_at: str
    repeated: bool = Field(description="The same submission again: nothing new was queued.")


class GroupMessagePublic(BaseModel):
    group_id: str
    subject: str
    text: str
    filter: dict[str, Any]
    queued_by: str
    queued_at: str
    due_at: str
    recipients: int
    unreachable: int
    statuses: dict[str, int]


IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        max_length=200,
        description="The same key again queues nothing twice (a double submit).",
    ),
]


@router.post("/messages/preview", response_model=GroupPreviewPublic)
def preview_group_message(body: GroupMessageRequest, token: TokenDep) -> dict[str, Any]:
    """Who would receive the message, who cannot be reached, one example; nothing is sent."""
    with authorised(token) as (session, actor):
        return service.preview_group_message(session, actor, body.as_request(), now=now())


@router.post(
    "/messages",
    response_model=GroupSentPublic,
    status_code=201,
    responses={
        200: {
            "model": GroupSentPublic,
            "description": "The same Idempotency-Key again: the first submission's result.",
        }
    },
)
def send_group_message(
    body: GroupMessageRequest,
    token: TokenDep,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> dict[str, Any]:
    """Queue one message per recipient (201); the same `Idempotency-Key` again answers 200
    with the first submission's result."""
    with authorised(token) as (session, actor):
        sent = service.send_group_message(
            session, actor, body.as_request(), idempotency_key=idempotency_key, now=now()
        )
    if sent.repeated:
        response.status_code = 200
    return {
        "group_id": sent.group_id,
        "queued": sent.queued,
        "unreachable": sent.unreachable,
        "due_at": sent.due_at.isoformat(),
        "repeated": sent.repeated,
    }


@router.get("/messages", response_model=list[GroupMessagePublic])
def list_group_messages(token: TokenDep) -> list[dict[str, Any]]:
    """The group messages queued, newest first, with their messages' statuses."""
    with authorised(token) as (session, actor):
        return service.group_messages(session, actor)
