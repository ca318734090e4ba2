"""Operating the system: the outbox's retries, webhooks, calendar feed tokens."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from workflow import outbox
from workflow.auth import hash_token
from workflow.db import get_existing, note_outbox_written
from workflow.domain.errors import (
    Conflict,
    InvalidInput,
    Reason,
    WorkflowError,
    feed_not_found,
    refusal,
)
from workflow.models import FeedToken, Organisation, OutboxMessage, Webhook
from workflow.settings import Settings
from workflow.webhooks import MIN_SECRET_LENGTH, url_reasons

# --- the outbox ----------------------------------------------------------------------------------


def retry_message(session: Session, message_id: int, *, now: datetime) -> OutboxMessage:
    """Put a failed (or waiting) message back in the queue, due now, with fresh attempts
    (see `outbox.retry_message`); a worker is asked to deliver it once this commits."""
    message = outbox.retry_message(session, message_id, now=now)
    note_outbox_written(session)
    return message


# --- webhooks ------------------------------------------------------------------------------------


def register_webhook(
    session: Session, *, url: str, secret: str, created_by: str, now: datetime, settings: Settings
) -> Webhook:
    reasons = list(url_reasons(url, settings))
    if len(secret) < MIN_SECRET_LENGTH:
        reasons.append(
            Reason("weak_secret", f"Hemligheten måste ha minst {MIN_SECRET_LENGTH} tecken.")
        )
    if reasons:
        raise InvalidInput(reasons)
    # A second registration of the same address would deliver every event twice. Checked
    # first for a clear answer; the unique index settles two registrations racing.
    if session.exec(
        select(Webhook.id).where(Webhook.url == url, col(Webhook.active).is_(True))
    ).first():
        raise _already_registered(url)
    webhook = Webhook(url=url, secret=secret, created_by=created_by, created_at=now)
    session.add(webhook)
    try:
        session.flush()
    except IntegrityError as error:
        raise _already_registered(url) from error
    return webhook


def _already_registered(url: str) -> WorkflowError:
    return refusal(
        Conflict,
        "webhook_exists",
        f"Det finns redan en aktiv webhook till {url}. Ta bort den först om du vill byta "
        "hemlighet.",
    )


def delete_webhook(session: Session, webhook_id: int) -> None:
    webhook = get_existing(session, Webhook, webhook_id, "Webhooken")
    webhook.active = False
    session.add(webhook)


# --- calendar feed tokens ------------------------------------------------------------------------
# A calendar app cannot log in, so a feed is reached with a random token in its URL. The token
# is shown once and stored as sha256 (a fast hash is right for a high-entropy secret).


@dataclass(frozen=True)
class NewFeedToken:
    feed_token: FeedToken
    token: str  # shown once, never stored


def issue_feed_token(
    session: Session, *, organisation_id: int | None, created_by: str, now: datetime
) -> NewFeedToken:
    """A new feed token for one organisation (or, with None, the whole city)."""
    if organisation_id is not None:
        get_existing(session, Organisation, organisation_id, "Organisationen")
    token = secrets.token_urlsafe(32)
    feed_token = FeedToken(
        token_hash=hash_token(token),
        organisation_id=organisation_id,
        created_by=created_by,
        created_at=now,
    )
    session.add(feed_token)
    session.flush()
    return NewFeedToken(feed_token, token)


def create_feed_token(
    session: Session, *, organisation_id: int | None, created_by: str, now: datetime
) -> str:
    """The token of a new feed; returned this once, stored only as its sha256."""
    return issue_feed_token(
        session, organisation_id=organisation_id, created_by=created_by, now=now
    ).token


def revoke_feed_token(session: Session, token_id: int, now: datetime) -> FeedToken:
    """Revoke a feed token; revoking it again keeps the first revocation time."""
    feed_token = get_existing(session, FeedToken, token_id, "Kalenderlänken")
    if feed_token.revoked_at is None:
        feed_token.revoked_at = now
        session.add(feed_token)
        session.flush()
    return feed_token


def resolve_feed_token(session: Session, token: str) -> FeedToken:
    """The live feed token for `token`; `FEED_NOT_FOUND` for a wrong or revoked token, or one
    whose organisation is gone — the same answer for each, so none can be told apart."""
    if not token or len(token) > 512:
        raise feed_not_found()
    feed_token = session.exec(
        select(FeedToken).where(FeedToken.token_hash == hash_token(token))
    ).first()
    if feed_token is None or feed_token.revoked_at is not None:
        raise feed_not_found()
    if (
        feed_token.organisation_id is not None
        and session.get(Organisation, feed_token.organisation_id) is None
    ):
        raise feed_not_found()
    return feed_token
