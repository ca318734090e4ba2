"""Webhook registration under /api/v1/webhooks (admin only)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field, WithJsonSchema
from sqlmodel import Session

from workflow import services
from workflow.domain.access import Role
from workflow.domain.errors import NotFound, WorkflowError, refusal
from workflow.entrypoints.http.deps import ActorDep, SessionDep, require
from workflow.entrypoints.http.schemas import MAX_ID, Strict
from workflow.models import Webhook
from workflow.queries import messages, registry
from workflow.settings import get_settings
from workflow.webhooks import MIN_SECRET_LENGTH

router = APIRouter(prefix="/api/v1")


# `webhooks.url_reasons`: http(s), a host, no spaces or control characters (the service also
# refuses this machine and private addresses, which a pattern cannot tell).
_URL_PATTERN = (
    r"^[hH][tT][tT][pP][sS]?://[^\s/?#@:\[\]\x00-\x1f\x7f-\x9f]+(:[0-9]{1,4})?"
    r"([/?#][^\s\x00-\x1f\x7f-\x9f]*)?$"
)


class WebhookCreate(Strict):
    url: Annotated[
        str,
        Field(min_length=1, max_length=2000),
        WithJsonSchema({"type": "string", "maxLength": 2000, "pattern": _URL_PATTERN}),
    ]
    # The service refuses a short secret with its own reason (`weak_secret`).
    secret: Annotated[
        str,
        Field(min_length=1, max_length=500),
        WithJsonSchema({"type": "string", "minLength": MIN_SECRET_LENGTH, "maxLength": 500}),
    ]


class WebhookPublic(BaseModel):
    id: int
    url: str
    active: bool
    created_by: str


@router.post("/webhooks", status_code=201, response_model=WebhookPublic)
def create_webhook(body: WebhookCreate, session: SessionDep, actor: ActorDep) -> Webhook:
    """Register a URL and a secret; every later transition is POSTed there, signed."""
    require(actor, Role.ADMIN)
    return services.register_webhook(
        session,
        url=body.url,
        secret=body.secret,
        created_by=actor.name,
        now=datetime.now(UTC),
        settings=get_settings(),
    )


@router.get("/webhooks", response_model=list[WebhookPublic])
def list_webhooks(session: SessionDep, actor: ActorDep) -> list[Webhook]:
    require(actor, Role.ADMIN)
    return registry.webhooks(session)


@router.delete("/webhooks/{webhook_id}", status_code=204)
def delete_webhook(webhook_id: int, session: SessionDep, actor: ActorDep) -> Response:
    require(actor, Role.ADMIN)
    _known_webhook(session, webhook_id)
    services.delete_webhook(session, webhook_id)
    return Response(status_code=204)


@router.get("/webhooks/{webhook_id}/deliveries")
def deliveries(webhook_id: int, session: SessionDep, actor: ActorDep) -> list[dict[str, Any]]:
    """The delivery log: every event, its status, attempts and last error."""
    require(actor, Role.ADMIN)
    if not _known_webhook(session, webhook_id).active:  # deleted: gone, as for DELETE's caller
        raise _unknown(webhook_id)
    return messages.webhook_deliveries(session, webhook_id)


def _known_webhook(session: Session, webhook_id: int) -> Webhook:
    """The webhook, or 404 as for an unknown entry (also for ids no database could hold)."""
    webhook = session.get(Webhook, webhook_id) if 1 <= webhook_id <= MAX_ID else None
    if webhook is None:
        raise _unknown(webhook_id)
    return webhook


def _unknown(webhook_id: int) -> WorkflowError:
    return refusal(NotFound, "not_found", f"Webhooken med id {webhook_id} finns inte.")
