"""Webhooks: every transition POSTed as signed JSON to other city systems, through the outbox.

Each event is an outbox row (channel "webhook") written in the transition's transaction, so
it is never lost; its delivery id is stable, so a receiver deduplicates a retry. The body is
signed the Standard Webhooks way (`webhook-id`, `webhook-timestamp`, `webhook-signature:
v1,<base64 HMAC-SHA256 of "id.timestamp.body">`), and, for one more release, the old way:
`X-Kvalitet-Signature: sha256=<hex HMAC of the body>`. Webhooks reach only public addresses
unless `WEBHOOK_ALLOWED_HOSTS` names the host. The rows are built in `workflow.outbox.rows`, signed
and sent by `workflow.outbox.channels` and `transports`; here: who listens, and registering.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import exists
from sqlmodel import Session, col, select

from workflow.db import insert_rows
from workflow.domain.addresses import (
    LOCAL_NAMES,
    address_reason,
    host_allowed,
    literal_address,
    parse_allowed_hosts,
)
from workflow.domain.errors import (
    Reason,
)
from workflow.models import OutboxMessage, Webhook
from workflow.outbox import webhook_event_rows
from workflow.settings import Settings

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
    return _address_reasons(parts.hostname, settings)


def _address_reasons(host: str, settings: Settings) -> tuple[Reason, ...]:
    """Loopback, private, link-local and metadata addresses are refused unless the settings
    allow the host by name. A name is checked again each time it is sent to (it may resolve
    elsewhere by then): see `HttpTransport`."""
    if host_allowed(host, parse_allowed_hosts(settings.webhook_allowed_hosts)):
        return ()
    if host.lower().rstrip(".") in LOCAL_NAMES:
        return (Reason("private_address", f"{host} är den här datorn och tillåts inte."),)
    address = literal_address(host)
    reason = address_reason(address) if address is not None else None
    return (reason,) if reason is not None else ()


_NOT_IN_URLS = re.compile(r"[\s\x00-\x1f\x7f]")


def _same_host(host: str, own: str) -> bool:
    return host.lower() == own.lower() or (_is_this_machine(host) and _is_this_machine(own))


def _is_this_machine(name: str) -> bool:
    """Loopback or "any address", in every spelling a resolver accepts: ::ffff:127.0.0.1,
    0.0.0.0, and the short IPv4 forms like 127.1 (inet_aton parses, it does not look up)."""
    if name.lower().rstrip(".") in LOCAL_NAMES:
        return True
    address = literal_address(name)
    return address is not None and (address.is_loopback or address.is_unspecified)


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
    hooks = session.exec(select(col(Webhook.id)).where(col(Webhook.active).is_(True))).all()
    return webhook_event_rows(
        [hook for hook in hooks if hook is not None],
        entry_id=entry_id,
        events=events,
        actor=actor,
        at=at,
    )
