"""The outbox relay: claim due messages, send them over one connection, record each result.

The database is the source of truth; Celery only says "look now". A claim is one atomic
UPDATE … RETURNING that also pushes the row's due time a lease ahead, so a relay that dies
mid-batch leaves its rows to be claimed again once the lease runs out, and two relays never
hold the same row. Each sent message is marked in its own short commit right after the
server's 250, keeping the window in which a crash can cause a resend as small as it can be.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, bindparam, func, text
from sqlmodel import Session, col, select

from workflow import documents
from workflow.db import transaction
from workflow.domain.errors import Conflict, InvalidInput, NotFound, WorkflowError, refusal
from workflow.emails import (
    Attachment,
    CalendarPart,
    message_id_for,
    render_outgoing,
    render_subject,
)
from workflow.models import Document, OutboxMessage
from workflow.settings import Settings, get_settings
from workflow.transports import PermanentFailure, TransientFailure, Transport

log = logging.getLogger(__name__)

# Only unclaimed rows: an expired claim goes back to the queue through `release_claims`,
# which counts the send it may have interrupted; taken over directly, that would go unseen.
# Rows out of attempts are left to `dead_letter_exhausted`.
_DUE_IDS = """
        SELECT id FROM outbox_message
        WHERE status = 'queued' AND due_at <= :now AND channel = :channel
          AND claimed_by IS NULL AND attempts < :max_attempts
        ORDER BY due_at, id LIMIT :limit
"""
# PostgreSQL may evaluate an `IN (subquery)` more than once per UPDATE, each time finding
# the next due rows (measured: LIMIT 1 claimed 2); ARRAY(…) evaluates it exactly once.
_CLAIM_SQL = {
    "postgresql": f"id = ANY(ARRAY({_DUE_IDS} FOR UPDATE SKIP LOCKED))",
    "sqlite": f"id IN ({_DUE_IDS})",
}
_CLAIM_UPDATE = """
    UPDATE outbox_message
    SET claimed_by = :worker, claimed_at = :now, attempts = attempts + 1,
        due_at = :lease_until
    WHERE {picked} AND status = 'queued' AND due_at <= :now AND claimed_by IS NULL
    RETURNING id
"""


@dataclass
class DeliveryReport:
    claimed: int = 0
    sent: int = 0
    retrying: int = 0
    failed: int = 0
    released: int = 0  # taken over by another relay while this one stalled past its lease
    errors: list[str] = field(default_factory=list)


def claim_batch(
    session: Session,
    *,
    worker: str,
    now: datetime,
    limit: int,
    lease: timedelta,
    channel: str = "email",
    max_attempts: int = 2**31 - 1,
) -> list[int]:
    """Claim up to `limit` due, unclaimed messages for `worker`; their ids, oldest first."""
    dialect = "postgresql" if session.get_bind().dialect.name == "postgresql" else "sqlite"
    due_type = OutboxMessage.__table__.c.due_at.type  # type: ignore[attr-defined]
    statement = text(_CLAIM_UPDATE.format(picked=_CLAIM_SQL[dialect])).bindparams(
        bindparam("now", type_=due_type), bindparam("lease_until", type_=due_type)
    )
    rows = session.execute(
        statement,
        {
            "worker": worker,
            "now": now,
            "lease_until": now + lease,
            "limit": limit,
            "channel": channel,
            "max_attempts": max_attempts,
        },
    )
    return sorted(row[0] for row in rows)


def release_stale_claims(session: Session, *, now: datetime) -> int:
    """Free the rows of relays that died mid-batch (their lease ran out); returns how many.

    A relay sends its batch in id order and marks each row sent as it goes, so of a dead
    relay's rows only the lowest id can have been in flight: that one is counted as an
    interrupted attempt (it may have reached the server); the rest were never tried.

    Python's sqlite3 runs the SELECT outside any transaction, so between it and the UPDATE the
    owner may renew its lease or claim the row afresh: each UPDATE therefore frees a row only
    if that very claim (owner and claim time) is still there and still expired.
    """
    return release_claims(session, stale_claims(session, now=now), now=now)


def stale_claims(session: Session, *, now: datetime) -> list[tuple[int, str, Any]]:
    """(id, claimed_by, claimed_at) of every claim whose lease has run out, as stored."""
    due_type = OutboxMessage.__table__.c.due_at.type  # type: ignore[attr-defined]
    rows = session.execute(
        text(
            "SELECT id, claimed_by, claimed_at FROM outbox_message "
            "WHERE status = 'queued' AND due_at <= :now AND claimed_by IS NOT NULL"
        ).bindparams(bindparam("now", type_=due_type)),
        {"now": now},
    ).all()
    return [(row[0], row[1], row[2]) for row in rows]


def release_claims(
    session: Session, stale: Sequence[tuple[int, str, Any]], *, now: datetime
) -> int:
    """Free each (id, claimed_by, claimed_at) claim still held and expired; how many were.

    `claimed_at` is compared as the database returned it (no type processing), so it
    matches exactly on SQLite's text and PostgreSQL's timestamps alike.
    """
    if not stale:
        return 0
    first_of_claim: dict[tuple[str, Any], int] = {}
    for row_id, claimed_by, claimed_at in stale:
        key = (claimed_by, claimed_at)
        first_of_claim[key] = min(row_id, first_of_claim.get(key, row_id))
    in_flight = set(first_of_claim.values())
    due_type = OutboxMessage.__table__.c.due_at.type  # type: ignore[attr-defined]
    released = 0
    for row_id, claimed_by, claimed_at in stale:
        result = session.execute(
            text(
                "UPDATE outbox_message SET claimed_by = NULL, "
                "interrupted_attempts = interrupted_attempts + :interrupted "
                "WHERE id = :id AND claimed_by = :claimed_by AND claimed_at = :claimed_at "
                "AND due_at <= :now AND status = 'queued'"
            ).bindparams(bindparam("now", type_=due_type)),
            {
                "id": row_id,
                "claimed_by": claimed_by,
                "claimed_at": claimed_at,
                "now": now,
                "interrupted": int(row_id in in_flight),
            },
        )
        released += result.rowcount  # type: ignore[attr-defined]
    return released


def dead_letter_exhausted(session: Session, *, max_attempts: int) -> int:
    """Fail the unclaimed rows that have used up their attempts without a verdict (relays
    that died on them again and again); returns how many."""
    result = session.execute(
        text(
            "UPDATE outbox_message SET status = 'failed', "
            "last_error = 'Gav upp efter ' || attempts || ' försök: ' "
            "|| COALESCE(last_error, 'sändningen avbröts varje gång') "
            "WHERE status = 'queued' AND claimed_by IS NULL AND attempts >= :max_attempts"
        ),
        {"max_attempts": max_attempts},
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


def backoff(attempts: int, *, base_seconds: float, cap_seconds: float = 6 * 3600) -> timedelta:
    """Exponential backoff with full jitter, bounded: base·2^(n-1), at most `cap_seconds`."""
    ceiling = min(cap_seconds, base_seconds * 2 ** max(attempts - 1, 0))
    return timedelta(seconds=random.uniform(ceiling / 2, ceiling))  # noqa: S311 (jitter, not crypto)


@dataclass(frozen=True)
class Channel:
    """How one kind of outbox row travels: what to load for a batch, how to build each."""

    name: str
    load: Callable[[Session, Sequence[OutboxMessage]], Any]
    build: Callable[[OutboxMessage, Any, Settings], Any]


class BatchAttachments:
    """The attachments of one batch. Stored documents are read up front in one query; a draft
    board report (tjänsteutlåtande) is made when its agenda request is built, once per
    organisation and year: made up front for a batch of a hundred organisations, the
    reports (about 0.1 s each) would outlast the claim's lease before the first send."""

    def __init__(self, engine: Engine, stored: dict[int, list[Attachment]]) -> None:
        self.engine = engine
        self.stored = stored
        self._reports: dict[tuple[int, int], Attachment | None] = {}

    def for_message(self, message: OutboxMessage) -> list[Attachment]:
        found = list(self.stored.get(message.id or 0, []))
        if message.kind == "agenda_request" and message.entry_id is not None:
            report = self._report_for(message.entry_id)
            if report is not None:
                found.insert(0, report)
        return found

    def _report_for(self, entry_id: int) -> Attachment | None:
        with Session(self.engine) as session:
            subject = documents.report_subject(session, entry_id)
            if subject is None:
                return None
            if subject not in self._reports:
                try:  # made from the facts as they are now
                    self._reports[subject] = documents.report_attachment(session, *subject)
                except WorkflowError:  # e.g. withdrawn meanwhile: the request goes without
                    self._reports[subject] = None
            return self._reports[subject]


def _load_attachments(session: Session, messages: Sequence[OutboxMessage]) -> Any:
    return BatchAttachments(session.get_bind(), _stored_attachments(session, messages))  # type: ignore[arg-type]


def _build_email(message: OutboxMessage, attachments: Any, settings: Settings) -> Any:
    return render_outgoing(
        message.kind,
        to=message.recipient,
        context=message.payload,
        key=message.key,
        date=message.created_at,
        settings=settings,
        attachments=attachments.for_message(message),
        calendar=calendar_part_for(message),
    )


EMAIL = Channel("email", _load_attachments, _build_email)


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
    lease = timedelta(seconds=settings.outbox_lease_seconds)
    with transaction(engine) as session:
        release_stale_claims(session, now=clock())
        dead_letter_exhausted(session, max_attempts=settings.outbox_max_attempts)
    claimed_at = clock()  # the lease runs from here, through loading and rendering too
    with transaction(engine) as session:
        ids = claim_batch(
            session,
            worker=worker,
            now=claimed_at,
            limit=limit or settings.outbox_batch_size,
            lease=lease,
            channel=channel.name,
            max_attempts=settings.outbox_max_attempts,
        )
    # Loading runs after the claim has committed, so on SQLite no other relay waits on our
    # write lock to record what it has just sent.
    with transaction(engine) as session:
        messages = (
            session.exec(
                select(OutboxMessage)
                .where(col(OutboxMessage.id).in_(ids))
                .order_by(col(OutboxMessage.due_at), col(OutboxMessage.id))
            ).all()
            if ids
            else []
        )
        loaded = channel.load(session, messages)
    report.claimed = len(messages)
    if not messages:
        return report

    remaining = list(messages)
    renewed_at = claimed_at
    renew_every = _renewal_interval(settings)
    in_flight: OutboxMessage | None = None
    try:
        # One connection records every "sent" of the batch: a checkout per message would cost
        # PostgreSQL a pre-ping round trip each time. The record is one UPDATE, so autocommit
        # makes it one round trip instead of three (BEGIN, UPDATE, COMMIT).
        with engine.connect() as recorder, transport:
            recorder.execution_options(isolation_level="AUTOCOMMIT")
            while remaining:
                if clock() - renewed_at >= renew_every:
                    # The claim must outlast the next send; rows another relay has taken
                    # over meanwhile (we stalled past the lease) are theirs, not ours.
                    renewed_at = clock()
                    remaining = _renew(engine, worker, remaining, renewed_at + lease)
                    report.released = (
                        report.claimed
                        - report.sent
                        - report.failed
                        - len(remaining)
                        - report.retrying
                    )
                    if not remaining:
                        break
                in_flight = remaining.pop(0)
                lost = _deliver_one(
                    engine,
                    recorder,
                    transport,
                    settings,
                    worker,
                    in_flight,
                    channel,
                    loaded,
                    clock,
                    report,
                )
                in_flight = None
                if lost is not None:
                    report.errors.append(lost)
                    break
    except (TransientFailure, PermanentFailure) as error:
        # The session failed as a whole (server down, a 554 greeting, a refused login): no
        # verdict on any message, so all of them wait and try again.
        report.errors.append(str(error))
    except Exception as error:  # a bug or a database error: nothing may stay claimed
        log.exception("outbox batch of %s stopped", worker)
        report.errors.append(f"Oväntat fel: {error}")
        if in_flight is not None:  # it may have reached the server
            _record_retry(
                engine, settings, worker, in_flight, str(error), clock(), interrupted=True
            )
            report.retrying += 1
    reason = report.errors[-1] if report.errors else "Sändningen avbröts."
    for message in remaining:  # not tried: they wait for the next run
        _record_retry(engine, settings, worker, message, reason, clock())
        report.retrying += 1
    return report


# A send is at most this many round trips, each bounded by the transport's timeout.
_ROUND_TRIPS_PER_SEND = 5


def _renewal_interval(settings: Settings) -> timedelta:
    """How long a claim may go unrenewed: the lease must still cover a slowest send after
    that (its round trips each up to the timeout), with half the slack to spare."""
    timeout = max(settings.smtp_timeout_seconds, settings.webhook_timeout_seconds)
    slack = settings.outbox_lease_seconds - _ROUND_TRIPS_PER_SEND * timeout
    return timedelta(seconds=max(slack, 0) / 2)


def _deliver_one(
    engine: Engine,
    recorder: Connection,
    transport: Transport,
    settings: Settings,
    worker: str,
    message: OutboxMessage,
    channel: Channel,
    loaded: Any,
    clock: Callable[[], datetime],
    report: DeliveryReport,
) -> str | None:
    """Build and send one message and record the outcome; returns why the connection is
    gone (the rest of the batch must wait), else None."""
    try:
        built = channel.build(message, loaded, settings)
    except Exception as error:  # a template or data bug: no retry will fix it
        log.exception("outbox message %s cannot be built", message.id)
        _record_failure(engine, worker, message, f"Kunde inte skapa meddelandet: {error}")
        report.failed += 1
        return None
    try:
        transport.send(built)
    except PermanentFailure as error:
        _record_failure(engine, worker, message, str(error))
        report.failed += 1
        return None
    except TransientFailure as error:
        # Recorded at once, even when the connection is gone (a 421): a row left claimed
        # would wait for its lease to run out and be counted as interrupted.
        _record_retry(
            engine,
            settings,
            worker,
            message,
            str(error),
            clock(),
            interrupted=error.outcome_unknown,
        )
        report.retrying += 1
        return str(error) if error.connection_lost else None
    _record_sent(recorder, worker, message, clock())
    log.info(
        "sent %s to %s",
        message.kind,
        message.recipient,
        extra={"entry_id": message.entry_id, "outbox_id": message.id},
    )
    report.sent += 1
    return None


def calendar_part_for(message: OutboxMessage) -> CalendarPart | None:
    """The site-visit notice carries its invitation (METHOD:REQUEST) when one was stored."""
    ics = message.payload.get("invitation_ics")
    return CalendarPart(ics=ics) if isinstance(ics, str) and ics else None


def _renew(
    engine: Engine, worker: str, messages: list[OutboxMessage], lease_until: datetime
) -> list[OutboxMessage]:
    """Extend our claim on `messages`; returns those still ours, in order."""
    due_type = OutboxMessage.__table__.c.due_at.type  # type: ignore[attr-defined]
    with engine.begin() as connection:
        kept = {
            row[0]
            for row in connection.execute(
                text(
                    "UPDATE outbox_message SET due_at = :until "
                    "WHERE id IN :ids AND claimed_by = :worker AND status = 'queued' "
                    "RETURNING id"
                ).bindparams(bindparam("until", type_=due_type), bindparam("ids", expanding=True)),
                {"until": lease_until, "ids": [m.id for m in messages], "worker": worker},
            )
        }
    return [m for m in messages if m.id in kept]


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


def _record_retry(
    engine: Engine,
    settings: Settings,
    worker: str,
    message: OutboxMessage,
    error: str,
    now: datetime,
    *,
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


def _record_failure(engine: Engine, worker: str, message: OutboxMessage, error: str) -> None:
    with engine.begin() as connection:
        connection.execute(
            text(
                "UPDATE outbox_message SET status = 'failed', claimed_by = NULL, "
                "last_error = :error WHERE id = :id AND claimed_by = :worker"
            ),
            {"error": error[:2000], "id": message.id, "worker": worker},
        )


def _stored_attachments(
    session: Session, messages: Sequence[OutboxMessage]
) -> dict[int, list[Attachment]]:
    """The uploaded documents each message carries (by message id), in one query."""
    wanted = {
        doc_id: message.id or 0
        for message in messages
        for doc_id in message.payload.get("attachments", [])
    }
    found: dict[int, list[Attachment]] = {}
    if not wanted:
        return found
    for document in session.exec(select(Document).where(col(Document.id).in_(list(wanted)))):
        found.setdefault(wanted[document.id or 0], []).append(
            Attachment(document.filename, document.content_type, document.content)
        )
    return found


# --- operator actions ------------------------------------------------------------------------


# queued → sent, or failed after its last attempt; cancelled: a reminder no longer needed.
STATUSES = ("queued", "sent", "failed", "cancelled")


def retry_message(session: Session, message_id: int, *, now: datetime) -> OutboxMessage:
    """Put a failed (or waiting) message back in the queue, due now, with fresh attempts.

    One guarded UPDATE: a sent message stays sent, and one a relay is sending right now
    stays with that relay (freed, a second relay would send it too).
    """
    message = session.get(OutboxMessage, message_id)
    if message is None:
        raise refusal(NotFound, "not_found", f"Meddelandet med id {message_id} finns inte.")
    due_type = OutboxMessage.__table__.c.due_at.type  # type: ignore[attr-defined]
    result = session.execute(
        text(
            "UPDATE outbox_message SET status = 'queued', due_at = :now, claimed_by = NULL, "
            "attempts = 0 WHERE id = :id AND status NOT IN ('sent', 'cancelled') "
            "AND NOT (status = 'queued' AND claimed_by IS NOT NULL AND due_at > :now)"
        ).bindparams(bindparam("now", type_=due_type)),
        {"id": message_id, "now": now},
    )
    session.refresh(message)
    if result.rowcount == 1:  # type: ignore[attr-defined]
        return message
    if message.status == "sent":
        raise refusal(
            InvalidInput,
            "already_sent",
            f"Meddelandet {message_id} är redan skickat; det skickas inte igen.",
        )
    if message.status == "cancelled":
        raise refusal(
            InvalidInput,
            "not_needed",
            f"Meddelandet {message_id} behövs inte längre (uppgiften kom in eller "
            "deltagandet återkallades); det skickas inte.",
        )
    raise refusal(
        Conflict,
        "being_sent",
        f"Meddelandet {message_id} skickas just nu; se efter igen om en stund.",
    )


@dataclass(frozen=True)
class QueueHealth:
    """How the outbox is keeping up: a growing queue or an old message means the relay is
    stuck (a live worker process proves nothing; RELIABILITY.md)."""

    queued: int
    oldest_queued_age_seconds: float


def queue_health(session: Session, *, now: datetime) -> QueueHealth:
    queued, oldest = session.exec(
        select(func.count(), func.min(OutboxMessage.created_at)).where(
            OutboxMessage.status == "queued"
        )
    ).one()
    age = max(0.0, (now - oldest).total_seconds()) if oldest is not None else 0.0
    return QueueHealth(queued=int(queued), oldest_queued_age_seconds=age)


def outbox_views(
    session: Session,
    *,
    status: str | None = None,
    entry_id: int | None = None,
    message_ids: Sequence[int] | None = None,
    limit: int = 1000,
    with_subject: bool = False,
) -> list[dict[str, Any]]:
    """Messages as plain dicts; `with_subject` renders each subject (costs a template run)."""
    query = select(OutboxMessage).order_by(col(OutboxMessage.id)).limit(limit)
    if message_ids is not None:
        query = query.where(col(OutboxMessage.id).in_(list(message_ids)))
    if status is not None:
        if status not in STATUSES:
            raise refusal(
                InvalidInput,
                "unknown_status",
                f"Okänd status '{status}' ({', '.join(STATUSES)}).",
            )
        query = query.where(OutboxMessage.status == status)
    if entry_id is not None:
        query = query.where(OutboxMessage.entry_id == entry_id)
    domain = get_settings().message_id_domain
    return [
        {
            "id": m.id,
            "entry_id": m.entry_id,
            "kind": m.kind,
            "to": m.recipient,
            "status": m.status,
            "attempts": m.attempts,
            "interrupted_attempts": m.interrupted_attempts,
            "last_error": m.last_error,
            "due_at": m.due_at.isoformat(),
            "sent_at": m.sent_at.isoformat() if m.sent_at else None,
            "message_id": message_id_for(m.key, domain),
            "key": m.key,
            **({"subject": subject_of(m)} if with_subject else {}),
        }
        for m in session.exec(query).all()
    ]


def subject_of(message: OutboxMessage) -> str:
    """The subject line the message has (or will have) when sent."""
    try:
        return render_subject(
            message.kind, context=message.payload, date=message.created_at, settings=get_settings()
        )
    except Exception:  # shown in a list: a broken template must not hide the others
        return f"({message.kind})"
