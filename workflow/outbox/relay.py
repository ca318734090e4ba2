"""The outbox relay: claim due messages, send them over one connection, record each result.

The database is the source of truth; Celery only says "look now". Claims (`claims.py`) keep
two relays off the same row and let a dead relay's rows be claimed again after the lease.
Each sent message is marked in its own short commit right after the server's 250, keeping the
window in which a crash can cause a resend as small as it can be. The relay composes each
message from its row and the uploaded documents the row names, nothing else ("Frozen when
queued", `workflow.outbox`).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, text
from sqlmodel import col, select

from workflow.db import transaction
from workflow.models import OutboxMessage
from workflow.outbox.channels import EMAIL, Channel
from workflow.outbox.claims import (
    claim_batch,
    dead_letter_exhausted,
    release_stale_claims,
    renew_claims,
)
from workflow.outbox.transports import PermanentFailure, TransientFailure, Transport
from workflow.settings import Settings

log = logging.getLogger(__name__)


@dataclass
class DeliveryReport:
    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    released: int = 0  # taken over by another relay while this one stalled past its lease
    errors: list[str] = field(default_factory=list)

    @property
    def settled(self) -> int:
        """Claimed messages this relay has given a verdict: sent, failed or due again."""
        return self.sent + self.failed + self.retrying


def deliver_outbox_batch(
    engine: Engine,
    *,
    transport: Transport,
    settings: Settings,
    worker: str,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    limit: int | None = None,
    channel: Channel = EMAIL,
) -> DeliveryReport:
    """Claim one batch of `channel` rows and deliver it over one connection of `transport`."""
    report = DeliveryReport()
    with transaction(engine) as session:
        release_stale_claims(session, now=clock())
        dead_letter_exhausted(session, max_attempts=settings.outbox_max_attempts)
    claimed_at = clock()  # the lease runs from here, through loading and rendering too
    messages, loaded = _claim_and_load(
        engine, channel, settings=settings, worker=worker, now=claimed_at, limit=limit
    )
    report.claimed = len(messages)
    if not messages:
        return report
    batch = _Batch(remaining=list(messages), renewed_at=claimed_at)
    try:
        # One connection records every "sent" of the batch: a checkout per message would cost
        # PostgreSQL a pre-ping round trip each time. The record is one UPDATE, so autocommit
        # makes it one round trip instead of three (BEGIN, UPDATE, COMMIT).
        with engine.connect() as recorder, transport:
            recorder.execution_options(isolation_level="AUTOCOMMIT")
            relay = _Relay(engine, recorder, transport, settings, worker, channel, loaded, clock)
            _send_in_order(relay, batch, report)
    except (TransientFailure, PermanentFailure) as error:
        # The session failed as a whole (server down, a 554 greeting, a refused login): no
        # verdict on any message, so all of them wait and try again.
        report.errors.append(str(error))
    except Exception as error:  # a bug or a database error: nothing may stay claimed
        log.exception("outbox batch of %s stopped", worker)
        report.errors.append(f"Oväntat fel: {error}")
        if batch.in_flight is not None:  # it may have reached the server
            _record_retry(
                engine,
                batch.in_flight,
                worker=worker,
                settings=settings,
                error=str(error),
                now=clock(),
                interrupted=True,
            )
            report.retrying += 1
    reason = report.errors[-1] if report.errors else "Sändningen avbröts."
    # Never offered to the server (it refused the connection, or it broke before their turn):
    # they wait for the next run without losing an attempt, so an outage of any length
    # dead-letters nothing. The wait is the relay's, not theirs: one first backoff.
    _record_untried(engine, batch.remaining, worker=worker, settings=settings, error=reason,
                    now=clock())  # fmt: skip
    report.retrying += len(batch.remaining)
    return report


def deliver_until_idle(
    engine: Engine,
    *,
    transport: Callable[[], Transport],
    settings: Settings,
    worker: str,
    channel: Channel = EMAIL,
    budget_seconds: float = 30.0,
) -> int:
    """Deliver batch after batch until none is due, a batch sends nothing (the transport is
    failing: the backoff decides when to try again) or `budget_seconds` are spent, so a task
    hands its worker back now and then; returns how many were sent."""
    started = time.monotonic()
    sent = 0
    while time.monotonic() - started < budget_seconds:
        report = deliver_outbox_batch(
            engine, transport=transport(), settings=settings, worker=worker, channel=channel
        )
        sent += report.sent
        if report.errors:
            log.warning("outbox delivery (%s) paused: %s", channel.name, report.errors[-1])
        if report.claimed == 0 or report.sent == 0:
            break
    return sent


def _claim_and_load(
    engine: Engine,
    channel: Channel,
    *,
    settings: Settings,
    worker: str,
    now: datetime,
    limit: int | None,
) -> tuple[list[OutboxMessage], Any]:
    """Claim a batch; its rows in sending order, and what `channel` loads for them."""
    with transaction(engine) as session:
        ids = claim_batch(
            session,
            worker=worker,
            now=now,
            limit=limit or settings.outbox_batch_size,
            lease=timedelta(seconds=settings.outbox_lease_seconds),
            channel=channel.name,
            max_attempts=settings.outbox_max_attempts,
        )
    # Loading runs after the claim has committed, so on SQLite no other relay waits on our
    # write lock to record what it has just sent.
    with transaction(engine) as session:
        messages = (
            list(
                session.exec(
                    select(OutboxMessage)
                    .where(col(OutboxMessage.id).in_(ids))
                    .order_by(col(OutboxMessage.due_at), col(OutboxMessage.id))
                ).all()
            )
            if ids
            else []
        )
        return messages, channel.load(session, messages)


@dataclass(frozen=True)
class _Relay:
    """What every send of one batch shares: where it records, how it sends, what it built from."""

    engine: Engine
    recorder: Connection  # autocommit: marks each message sent in one round trip
    transport: Transport
    settings: Settings
    worker: str
    channel: Channel
    loaded: Any  # what `channel.load` read for the batch
    clock: Callable[[], datetime]


@dataclass
class _Batch:
    """The claimed messages not yet tried, and the one on its way (it may reach the server)."""

    remaining: list[OutboxMessage]
    renewed_at: datetime
    in_flight: OutboxMessage | None = None


def _send_in_order(relay: _Relay, batch: _Batch, report: DeliveryReport) -> None:
    """Send the batch one message at a time, renewing the claim as it goes; stops early when
    the connection is gone or the claim on every remaining message was lost."""
    lease = timedelta(seconds=relay.settings.outbox_lease_seconds)
    renew_every = _renewal_interval(relay.settings)
    while batch.remaining:
        if relay.clock() - batch.renewed_at >= renew_every:
            # The claim must outlast the next send; rows another relay has taken
            # over meanwhile (we stalled past the lease) are theirs, not ours.
            batch.renewed_at = relay.clock()
            batch.remaining = renew_claims(
                relay.engine, relay.worker, batch.remaining, batch.renewed_at + lease
            )
            report.released = (
                report.claimed
                - report.sent
                - report.failed
                - len(batch.remaining)
                - report.retrying
            )
            if not batch.remaining:
                return
        batch.in_flight = batch.remaining.pop(0)
        lost = _deliver_one(relay, batch.in_flight, report)
        batch.in_flight = None
        if lost is not None:
            report.errors.append(lost)
            return


# A send is at most this many round trips, each bounded by the transport's timeout.
_ROUND_TRIPS_PER_SEND = 5


def _renewal_interval(settings: Settings) -> timedelta:
    """How long a claim may go unrenewed: the lease must still cover a slowest send after
    that (its round trips each up to the timeout), with half the slack to spare."""
    timeout = max(settings.smtp_timeout_seconds, settings.webhook_timeout_seconds)
    slack = settings.outbox_lease_seconds - _ROUND_TRIPS_PER_SEND * timeout
    return timedelta(seconds=max(slack, 0) / 2)


def _deliver_one(relay: _Relay, message: OutboxMessage, report: DeliveryReport) -> str | None:
    """Build and send one message and record the outcome; returns why the connection is
    gone (the rest of the batch must wait), else None."""
    try:
        built = relay.channel.build(message, relay.loaded, relay.settings)
    except Exception as error:  # a template or data bug: no retry will fix it
        log.exception("outbox message %s cannot be built", message.id)
        _record_failure(
            relay.engine, relay.worker, message, f"Kunde inte skapa meddelandet: {error}"
        )
        report.failed += 1
        return None
    try:
        relay.transport.send(built)
    except PermanentFailure as error:
        _record_failure(relay.engine, relay.worker, message, str(error))
        report.failed += 1
        return None
    except TransientFailure as error:
        # Recorded at once, even when the connection is gone (a 421): a row left claimed
        # would wait for its lease to run out and be counted as interrupted.
        _record_retry(
            relay.engine,
            message,
            worker=relay.worker,
            settings=relay.settings,
            error=str(error),
            now=relay.clock(),
            interrupted=error.outcome_unknown,
        )
        report.retrying += 1
        return str(error) if error.connection_lost else None
    _record_sent(relay.recorder, relay.worker, message, relay.clock())
    log.info(
        "sent %s to %s",
        message.kind,
        message.recipient,
        extra={"entry_id": message.entry_id, "outbox_id": message.id},
    )
    report.sent += 1
    return None


_MARK_SENT = text(
    "UPDATE outbox_message SET status = 'sent', sent_at = :now, claimed_by = NULL, "
    "last_error = NULL WHERE id = :id AND status <> 'sent'"
).bindparams(bindparam("now", type_=OutboxMessage.__table__.c.sent_at.type))  # type: ignore[attr-defined]


def _record_sent(recorder: Connection, worker: str, message: OutboxMessage, now: datetime) -> None:
    """The server's 250 is a fact: record it even if our claim was lost meanwhile, so that
    nobody claims the row and sends it once more later. Committed at once: the window between
    the 250 and this commit is where a crash makes a duplicate."""
    with recorder.begin():
        recorder.execute(_MARK_SENT, {"now": now, "id": message.id})


def backoff(attempts: int, *, base_seconds: float, cap_seconds: float = 6 * 3600) -> timedelta:
    """Exponential backoff with full jitter, bounded: base·2^(n-1), at most `cap_seconds`."""
    ceiling = min(cap_seconds, base_seconds * 2 ** max(attempts - 1, 0))
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))  # noqa: S311 (jitter, not crypto)


def _record_retry(
    engine: Engine,
    message: OutboxMessage,
    *,
    worker: str,
    settings: Settings,
    error: str,
    now: datetime,
    interrupted: bool = False,
) -> None:
    """Due again after a backoff; `interrupted` when the server may have got it anyway."""
    if message.attempts >= settings.outbox_max_attempts:
        _record_failure(
            engine, worker, message, f"Gav upp efter {message.attempts} försök: {error}"
        )
        return
    due = now + backoff(message.attempts, base_seconds=settings.outbox_retry_base_seconds)
    with engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE outbox_message SET due_at = :due, claimed_by = NULL, last_error = :error, "
                "interrupted_attempts = interrupted_attempts + :interrupted "
                "WHERE id = :id AND claimed_by = :worker AND status = 'queued'"
            ).bindparams(bindparam("due", type_=OutboxMessage.__table__.c.due_at.type)),  # type: ignore[attr-defined]
            {
                "due": due,
                "error": error[:2000],
                "id": message.id,
                "worker": worker,
                "interrupted": int(interrupted),
            },
        )


def _record_untried(
    engine: Engine,
    messages: list[OutboxMessage],
    *,
    worker: str,
    settings: Settings,
    error: str,
    now: datetime,
) -> None:
    """Give back the attempt their claim counted, and make them due after one backoff."""
    if not messages:
        return
    due = now + backoff(1, base_seconds=settings.outbox_retry_base_seconds)
    with engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE outbox_message SET due_at = :due, claimed_by = NULL, last_error = :error, "
                "attempts = attempts - 1 "
                "WHERE id IN :ids AND claimed_by = :worker AND status = 'queued'"
            ).bindparams(
                bindparam("due", type_=OutboxMessage.__table__.c.due_at.type),  # type: ignore[attr-defined]
                bindparam("ids", expanding=True),
            ),
            {"due": due, "error": error[:2000], "ids": [m.id for m in messages], "worker": worker},
        )


def _record_failure(engine: Engine, worker: str, message: OutboxMessage, error: str) -> None:
    with engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE outbox_message SET status = 'failed', claimed_by = NULL, "
                "last_error = :error WHERE id = :id AND claimed_by = :worker"
            ),
            {"error": error[:2000], "id": message.id, "worker": worker},
        )
