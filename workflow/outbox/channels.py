"""How each kind of outbox row travels: what a batch loads, and how each message is built.

Both build only from the row and what it names (uploaded documents, a registered webhook):
"Frozen when queued", `workflow.outbox`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from workflow.emails import Attachment, render_outgoing
from workflow.emails.edited import edited_of, edited_outgoing
from workflow.models import Document, OutboxMessage, Webhook
from workflow.outbox.rows import cc_of, document_ids_of, invitation_of, made_files_of
from workflow.outbox.transports import SignedRequest
from workflow.settings import Settings

# Standard Webhooks (standardwebhooks.com): the signature covers the delivery id and the send
# time, so a captured delivery stops verifying once it is older than the receiver's tolerance.
STANDARD_ID_HEADER = "webhook-id"
STANDARD_TIMESTAMP_HEADER = "webhook-timestamp"
STANDARD_SIGNATURE_HEADER = "webhook-signature"
# The first release's headers, kept for one more release; their signature is not time-bound.
SIGNATURE_HEADER = "X-Kvalitet-Signature"
DELIVERY_HEADER = "X-Kvalitet-Delivery"
EVENT_HEADER = "X-Kvalitet-Event"


@dataclass(frozen=True)
class Channel:
    """How one kind of outbox row travels: what to load for a batch, how to build each."""

    name: str
    load: Callable[[Session, Sequence[OutboxMessage]], Any]
    build: Callable[[OutboxMessage, Any, Settings], Any]


def _load_documents(session: Session, messages: Sequence[OutboxMessage]) -> Any:
    """The uploaded documents each message carries (by message id), in one query."""
    wanted = {
        doc_id: message.id or 0
        for message in messages
        for doc_id in document_ids_of(message.payload)
    }
    found: dict[int, list[Attachment]] = {}
    if not wanted:
        return found
    for document in session.exec(select(Document).where(col(Document.id).in_(list(wanted)))):
        found.setdefault(wanted[document.id or 0], []).append(
            Attachment(document.filename, document.content_type, document.content)
        )
    return found


def _build_email(message: OutboxMessage, documents: Any, settings: Settings) -> Any:
    parts: dict[str, Any] = {
        "to": message.recipient,
        "key": message.key,
        "date": message.created_at,
        "settings": settings,
        "attachments": made_files_of(message.payload) + documents.get(message.id or 0, []),
        "calendar": invitation_of(message.payload),
        "cc": cc_of(message.payload),
    }
    edited = edited_of(message.payload)
    if edited is not None:  # the award office's own words replace the template's
        return edited_outgoing(edited, **parts)
    return render_outgoing(message.kind, context=message.payload, **parts)


EMAIL = Channel("email", _load_documents, _build_email)


# --- webhooks: every transition POSTed as signed JSON ----------------------------------------


def sign(secret: str, body: bytes) -> str:
    """The first release's signature: `sha256=<hex HMAC of the body>`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signing_key(secret: str) -> bytes:
    """Standard Webhooks keys are `whsec_<base64>`; any other secret is used as its UTF-8."""
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except ValueError:
            pass
    return secret.encode()


def sign_standard(secret: str, delivery_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64 HMAC-SHA256 of "id.timestamp.body">` (Standard Webhooks)."""
    signed = f"{delivery_id}.{timestamp}.".encode() + body
    digest = hmac.new(signing_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def _load_webhooks(session: Session, messages: Sequence[OutboxMessage]) -> Any:
    ids = {int(m.recipient) for m in messages}
    return {w.id: w for w in session.exec(select(Webhook).where(col(Webhook.id).in_(ids)))}


def _build_request(message: OutboxMessage, webhooks: Any, settings: Settings) -> SignedRequest:
    webhook = webhooks.get(int(message.recipient))
    if webhook is None or not webhook.active:
        raise ValueError("webhooken är borttagen")
    body = json.dumps(message.payload, ensure_ascii=False, sort_keys=True).encode()
    delivery_id = str(message.payload["delivery_id"])
    sent_at = int(time.time())  # built just before sending: the time is the send's own
    return SignedRequest(
        url=webhook.url,
        body=body,
        headers={
            "Content-Type": "application/json; charset=utf-8",
            STANDARD_ID_HEADER: delivery_id,
            STANDARD_TIMESTAMP_HEADER: str(sent_at),
            STANDARD_SIGNATURE_HEADER: sign_standard(webhook.secret, delivery_id, sent_at, body),
            SIGNATURE_HEADER: sign(webhook.secret, body),
            DELIVERY_HEADER: str(message.payload["delivery_id"]),
            EVENT_HEADER: str(message.payload["event"]),
            "User-Agent": "kvalitet-webhooks/1",
        },
    )


WEBHOOK = Channel("webhook", _load_webhooks, _build_request)
