"""Claims on outbox rows: which relay may send a row, and until when.

A claim is one atomic UPDATE … RETURNING that also pushes the row's due time a lease ahead, so
a relay that dies mid-batch leaves its rows to be claimed again once the lease runs out, and
two relays never hold the same row (`../shared/RELIABILITY.md`, "Claim with one atomic
statement"). Releasing an expired claim counts the one send it may have interrupted.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine, bindparam, text
from sqlmodel import Session

from workflow.models import OutboxMessage

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
_DUE_TYPE = OutboxMessage.__table__.c.due_at.type  # type: ignore[attr-defined]


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
    statement = text(_CLAIM_UPDATE.format(picked=_CLAIM_SQL[dialect])).bindparams(
        bindparam("now", type_=_DUE_TYPE), bindparam("lease_until", type_=_DUE_TYPE)
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


def renew_claims(
    engine: Engine, worker: str, messages: list[OutboxMessage], lease_until: datetime
) -> list[OutboxMessage]:
    """Extend our claim on `messages`; returns those still ours, in order."""
    with engine.begin() as connection:
        kept = {
            row[0]
            for row in connection.execute(
                text(
                    "UPDATE outbox_message SET due_at = :until "
                    "WHERE id IN :ids AND claimed_by = :worker AND status = 'queued' "
                    "RETURNING id"
                ).bindparams(bindparam("until", type_=_DUE_TYPE), bindparam("ids", expanding=True)),
                {"until": lease_until, "ids": [m.id for m in messages], "worker": worker},
            )
        }
    return [m for m in messages if m.id in kept]


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
    rows = session.execute(
        text(
            "SELECT id, claimed_by, claimed_at FROM outbox_message "
            "WHERE status = 'queued' AND due_at <= :now AND claimed_by IS NOT NULL"
        ).bindparams(bindparam("now", type_=_DUE_TYPE)),
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
    released = 0
    for row_id, claimed_by, claimed_at in stale:
        result = session.execute(
            text(
                "UPDATE outbox_message SET claimed_by = NULL, "
                "interrupted_attempts = interrupted_attempts + :interrupted "
                "WHERE id = :id AND claimed_by = :claimed_by AND claimed_at = :claimed_at "
                "AND due_at <= :now AND status = 'queued'"
            ).bindparams(bindparam("now", type_=_DUE_TYPE)),
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
