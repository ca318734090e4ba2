"""Webhooks: every transition POSTed as signed JSON to other city systems, through the outbox.

Each event is an outbox row (channel "webhook") written in the transition's transaction, so
it is never lost; its delivery id is stable, so a receiver deduplicates a retry. The body is
signed with HMAC-SHA256 of the raw bytes under the webhook's secret:
`X-Kvalitet-Signature: sha256=<hex>`.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import re
import socket
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy import exists
from sqlmodel import Session, col, select

from workflow.db import insert_rows
from workflow.domain.errors import (
    Reason,
)
from workflow.models import OutboxMessage, Webhook
from workflow.outbox import Channel
from workflow.settings import Settings
from workflow.transports import PermanentFailure, TransientFailure

SIGNATURE_HEADER = "X-Kvalitet-Signature"
DELIVERY_HEADER = "X-Kvalitet-Delivery"
EVENT_HEADER = "X-Kvalitet-Event"
MIN_SECRET_LENGTH = 16


def url_reasons(url: str, settings: Settings) -> tuple[Reason, ...]:
    """A webhook must be http(s) with a host, and must not point back at this service."""
    if _NOT_IN_URLS.search(url):
        return (
            Reason(
                "invalid_url",
                "Adressen får inte innehålla mellanslag, radbrytningar eller styrtecken.",
            ),
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return (Reason("invalid_url", f"'{url}' är ingen giltig adress."),)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return (
            Reason(
                "invalid_url", "Adressen måste börja med http:// eller https:// och ha en värd."
            ),
        )
    own = urlsplit(settings.public_url)
    default = {"http": 80, "https": 443}
    same_port = (port or default[parts.scheme]) == (own.port or default.get(own.scheme, 80))
    if same_port and _same_host(parts.hostname, own.hostname or ""):
        return (
            Reason(
                "points_at_itself",
                "Webhooken pekar på tjänsten själv; ange det andra systemets adress.",
            ),
        )
    return ()


_NOT_IN_URLS = re.compile(r"[\s\x00-\x1f\x7f]")


def _same_host(host: str, own: str) -> bool:
    return host.lower() == own.lower() or (_is_this_machine(host) and _is_this_machine(own))


def _is_this_machine(name: str) -> bool:
    """Loopback or "any address", in every spelling a resolver accepts: ::ffff:127.0.0.1,
    0.0.0.0, and the short IPv4 forms like 127.1 (inet_aton parses, it does not look up)."""
    if name.lower().rstrip(".") in ("localhost", "ip6-localhost"):
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        try:
            address = ipaddress.IPv4Address(socket.inet_aton(name))
        except OSError:
            return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback or address.is_unspecified


# Whether any webhook is active: callers fold it into a read they make anyway.
ANY_ACTIVE = exists().where(col(Webhook.active).is_(True)).label("webhooks_listen")


def queue_transition_events(
    session: Session,
    *,
    entry_id: int,
    events: Sequence[tuple[int, str | None, str]],
    actor: str,
    at: datetime,
) -> None:
    """One outbox row per active webhook and event (version, from, to), in the caller's
    transaction."""
    rows = transition_event_rows(session, entry_id=entry_id, events=events, actor=actor, at=at)
    insert_rows(session, OutboxMessage, rows)


def transition_event_rows(
    session: Session,
    *,
    entry_id: int,
    events: Sequence[tuple[int, str | None, str]],
    actor: str,
    at: datetime,
) -> list[dict[str, Any]]:
    """The outbox rows `queue_transition_events` writes, read but not yet written."""
    hooks = session.exec(select(Webhook.id).where(col(Webhook.active).is_(True))).all()
    rows: list[dict[str, Any]] = []
    for hook_id in hooks:
        for version, source, target in events:
            key = f"webhook/{hook_id}/entry/{entry_id}/v{version}"
            rows.append(
                {
                    "key": key,
                    "entry_id": entry_id,
                    "channel": "webhook",
                    "kind": "transition",
                    "recipient": str(hook_id),
                    "payload": {
                        "delivery_id": str(uuid.uuid5(uuid.NAMESPACE_URL, key)),
                        "event": "entry.transition",
                        "entry_id": entry_id,
                        "version": version,
                        "from": source,
                        "to": target,
                        "actor": actor,
                        "at": at.isoformat(),
                    },
                    "status": "queued",
                    "due_at": at,
                    "created_at": at,
                }
            )
    return rows


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class SignedRequest:
    url: str
    body: bytes
    headers: dict[str, str]


def _load_webhooks(session: Session, messages: Sequence[OutboxMessage]) -> Any:
    ids = {int(m.recipient) for m in messages}
    return {w.id: w for w in session.exec(select(Webhook).where(col(Webhook.id).in_(ids)))}


def _build_request(message: OutboxMessage, webhooks: Any, settings: Settings) -> SignedRequest:
    webhook = webhooks.get(int(message.recipient))
    if webhook is None or not webhook.active:
        raise ValueError("webhooken är borttagen")
    body = json.dumps(message.payload, ensure_ascii=False, sort_keys=True).encode()
    return SignedRequest(
        url=webhook.url,
        body=body,
        headers={
            "Content-Type": "application/json; charset=utf-8",
            SIGNATURE_HEADER: sign(webhook.secret, body),
            DELIVERY_HEADER: str(message.payload["delivery_id"]),
            EVENT_HEADER: str(message.payload["event"]),
            "User-Agent": "kvalitet-webhooks/1",
        },
    )


WEBHOOK = Channel("webhook", _load_webhooks, _build_request)


class HttpTransport:
    """POSTs signed requests over one pooled httpx client per batch; 2xx is delivered."""

    def __init__(self, timeout_seconds: float = 10.0) -> None:
        self.timeout_seconds = timeout_seconds
        self._client: httpx.Client | None = None

    def __enter__(self) -> HttpTransport:
        self._client = httpx.Client(timeout=self.timeout_seconds, follow_redirects=False)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def send(self, request: SignedRequest) -> None:
        assert self._client is not None
        try:
            response = self._client.post(request.url, content=request.body, headers=request.headers)
        except httpx.HTTPError as error:
            raise TransientFailure(
                f"{request.url}: {error}",
                outcome_unknown=not isinstance(error, httpx.ConnectError),  # sent, no answer
            ) from error
        if response.is_success:
            return
        status = response.status_code
        message = f"{request.url} svarade {status}"
        # Timeouts, throttling and server errors may pass; other 4xx will not.
        if status in (408, 425, 429) or status >= 500:
            raise TransientFailure(message)
        raise PermanentFailure(message)


# register_webhook and delete_webhook moved to workflow.services.operations; the webhook routes
# (workflow/entrypoints/hooks.py) and the e2e tests still reach them here until they import them
# from there.
_MOVED_TO_OPERATIONS = frozenset({"register_webhook", "delete_webhook"})


if TYPE_CHECKING:  # what the checker sees of them
    from workflow.services.operations import delete_webhook as delete_webhook
    from workflow.services.operations import register_webhook as register_webhook


def __getattr__(name: str) -> Any:
    if name in _MOVED_TO_OPERATIONS:
        from workflow.services import operations  # services import this module: ask late

        return getattr(operations, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
