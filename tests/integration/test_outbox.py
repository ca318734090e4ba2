"""The outbox relay against a real database and a real SMTP server (aiosmtpd on loopback)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlmodel import select

from tests.conftest import seed_entry
from tests.e2e.support import SmtpSink
from workflow.db import transaction
from workflow.domain.errors import WorkflowError
from workflow.emails import OutgoingEmail
from workflow.models import OutboxMessage
from workflow.outbox import (
    claim_batch,
    deliver_outbox_batch,
    release_claims,
    release_stale_claims,
    retry_message,
    stale_claims,
)
from workflow.outbox.transports import EmlFolderTransport, SmtpTransport
from workflow.settings import Settings

T0 = datetime(2024, 4, 2, 10, 0, tzinfo=UTC)
LEASE = timedelta(seconds=6)


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    server = SmtpSink().start()
    yield server
    server.stop()


def relay_settings(tmp_path: Path, port: int = 25) -> Settings:
    return Settings(
        mail_transport="smtp",
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_timeout_seconds=3,
        webhook_timeout_seconds=3,
        outbox_lease_seconds=LEASE.total_seconds(),
        outbox_retry_base_seconds=1,
        KVALITET_DATA_DIR=tmp_path,
    )


def rows(engine: Engine) -> list[OutboxMessage]:
    with transaction(engine) as session:
        return list(session.exec(select(OutboxMessage).order_by(OutboxMessage.id)).all())


def claimed_by_a_and_expired(engine: Engine) -> tuple[list[int], datetime]:
    seed_entry(engine)  # queues a receipt and an agenda request
    with transaction(engine) as session:
        claimed = claim_batch(session, worker="a", now=T0, limit=10, lease=LEASE)
    assert len(claimed) == 2
    return claimed, T0 + LEASE * 2


def test_a_claim_takes_no_more_than_its_limit(engine: Engine) -> None:
    seed_entry(engine)
    with transaction(engine) as session:
        first = claim_batch(session, worker="a", now=T0, limit=1, lease=LEASE)
    with transaction(engine) as session:
        second = claim_batch(session, worker="b", now=T0, limit=1, lease=LEASE)
    assert len(first) == len(second) == 1 and first != second


def test_an_expired_claim_is_released_once_and_counted_as_interrupted(engine: Engine) -> None:
    _, later = claimed_by_a_and_expired(engine)
    with transaction(engine) as session:
        assert release_stale_claims(session, now=later) == 2
    with transaction(engine) as session:
        assert release_stale_claims(session, now=later) == 0
    first, second = rows(engine)
    # Sent in id order: only the first can have been on its way when the relay died.
    assert (first.claimed_by, first.interrupted_attempts) == (None, 1)
    assert (second.claimed_by, second.interrupted_attempts) == (None, 0)


def test_an_expired_claim_is_not_taken_over_without_being_counted(engine: Engine) -> None:
    """A dead relay's rows are claimed again only after a release has counted the send it
    may have interrupted, never straight from under its name."""
    claimed, later = claimed_by_a_and_expired(engine)
    with transaction(engine) as session:
        assert claim_batch(session, worker="b", now=later, limit=10, lease=LEASE) == []
        assert release_stale_claims(session, now=later) == 2
    with transaction(engine) as session:
        assert claim_batch(session, worker="b", now=later, limit=10, lease=LEASE) == claimed
    assert [m.interrupted_attempts for m in rows(engine)] == [1, 0]


@pytest.mark.parametrize("next_owner", ["a", "c"])
def test_a_claim_taken_afresh_between_look_and_release_is_kept(
    engine: Engine, next_owner: str
) -> None:
    """Relay b saw the claim expired; before it freed the rows, relay c (or a again, the
    same name after a restart) released and claimed them and is sending them. Freeing them
    now would leave c unable to record its sends, and the e-mails would go out twice."""
    claimed, later = claimed_by_a_and_expired(engine)
    with transaction(engine) as session:
        seen = stale_claims(session, now=later)
    assert [row[0] for row in seen] == claimed
    a_moment_later = later + timedelta(seconds=1)
    with transaction(engine) as session:
        release_stale_claims(session, now=a_moment_later)
    with transaction(engine) as session:
        fresh = claim_batch(session, worker=next_owner, now=a_moment_later, limit=10, lease=LEASE)
    assert fresh == claimed
    with transaction(engine) as session:
        assert release_claims(session, seen, now=a_moment_later) == 0
    assert all(m.claimed_by == next_owner for m in rows(engine))
    assert [m.interrupted_attempts for m in rows(engine)] == [1, 0]  # counted once


def test_a_421_leaves_the_refused_message_due_again_at_once(
    engine: Engine, sink: SmtpSink, tmp_path: Path
) -> None:
    """The server answers 421 and hangs up: the refused message and the untried ones are all
    free to be retried after the backoff, none waits for a lease, none counts as interrupted;
    the next run sends each exactly once."""
    seed_entry(engine)
    settings = relay_settings(tmp_path, sink.port)
    sink.refuse_next(1, "421 4.3.2 Servern stänger, försök senare")
    first = deliver_outbox_batch(
        engine, transport=SmtpTransport(settings), settings=settings, worker="a", clock=lambda: T0
    )
    assert (first.claimed, first.sent, first.retrying) == (2, 0, 2)
    after = rows(engine)
    assert all(m.claimed_by is None and m.status == "queued" for m in after)
    assert all(m.interrupted_attempts == 0 for m in after)
    assert "421" in (after[0].last_error or "")
    assert all(m.due_at <= T0 + timedelta(seconds=2) for m in after)

    second = deliver_outbox_batch(
        engine,
        transport=SmtpTransport(settings),
        settings=settings,
        worker="a",
        clock=lambda: T0 + timedelta(seconds=3),
    )
    assert second.sent == 2
    assert sink.refused == 1
    assert sum(sink.ids().values()) == 2 and sink.duplicates() == {}


class ClaimLostWhileSending(EmlFolderTransport):
    """Writes `.eml` files like the embedded transport, but while each message is on its way
    another relay decides the claim has expired and frees it (a relay stalled past its lease)."""

    def __init__(self, engine: Engine, folder: Path, when: datetime) -> None:
        super().__init__(folder)
        self.engine = engine
        self.when = when
        self.sent: list[str] = []

    def send(self, message: OutgoingEmail) -> None:
        with transaction(self.engine) as session:
            release_stale_claims(session, now=self.when)
        super().send(message)
        self.sent.append(message.message_id)


def test_a_send_is_recorded_even_when_the_claim_was_lost_meanwhile(
    engine: Engine, tmp_path: Path
) -> None:
    """The relay stalls past its lease while sending the first of two messages and another
    relay frees both: the first is recorded as sent all the same (no one sends it again);
    the second, no longer ours when the claim is renewed, is left for the next claim."""
    seed_entry(engine)
    settings = relay_settings(tmp_path)
    transport = ClaimLostWhileSending(engine, tmp_path / "mail", when=T0 + LEASE * 2)
    report = deliver_outbox_batch(
        engine, transport=transport, settings=settings, worker="a", clock=lambda: T0
    )
    assert (report.sent, report.released) == (1, 1)
    first, second = rows(engine)
    assert first.status == "sent"
    assert (second.status, second.claimed_by) == ("queued", None)
    with transaction(engine) as session:
        later = claim_batch(session, worker="b", now=T0 + LEASE * 3, limit=10, lease=LEASE)
    assert later == [second.id]
    assert len(transport.sent) == 1


class RefusingServer:
    """A server that greets every connection with a 554 and hangs up: the whole session is
    refused (a blocked sender address), which says nothing about any one message."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.greeted = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            with connection:
                connection.sendall("554 5.7.1 Avsändaren är spärrad\r\n".encode())
                self.greeted += 1

    def close(self) -> None:
        self.listener.close()


def test_a_refused_session_leaves_every_message_waiting_until_its_attempts_run_out(
    engine: Engine, tmp_path: Path
) -> None:
    seed_entry(engine)
    server = RefusingServer()
    settings = relay_settings(tmp_path, server.port).model_copy(update={"outbox_max_attempts": 2})
    try:
        first = deliver_outbox_batch(
            engine,
            transport=SmtpTransport(settings),
            settings=settings,
            worker="a",
            clock=lambda: T0,
        )
        assert (first.claimed, first.retrying, first.sent) == (2, 2, 0)
        assert all(m.status == "queued" and m.claimed_by is None for m in rows(engine))
        assert all("554" in (m.last_error or "") for m in rows(engine))
        deliver_outbox_batch(
            engine,
            transport=SmtpTransport(settings),
            settings=settings,
            worker="a",
            clock=lambda: T0 + timedelta(hours=1),
        )
    finally:
        server.close()
    assert server.greeted == 2
    assert all(m.status == "failed" and m.attempts == 2 for m in rows(engine))
    assert all("Gav upp efter 2 försök: SMTP 554" in (m.last_error or "") for m in rows(engine))


def test_rows_whose_relay_dies_every_time_are_dead_lettered_not_tried_forever(
    engine: Engine, tmp_path: Path
) -> None:
    seed_entry(engine)
    settings = relay_settings(tmp_path).model_copy(update={"outbox_max_attempts": 2})
    moment = T0
    for _ in range(2):  # claimed, then the relay dies: the lease runs out
        with transaction(engine) as session:
            assert len(claim_batch(session, worker="a", now=moment, limit=10, lease=LEASE)) == 2
        moment += LEASE * 2
        with transaction(engine) as session:
            release_stale_claims(session, now=moment)
    mail = tmp_path / "mail"
    report = deliver_outbox_batch(
        engine,
        transport=EmlFolderTransport(mail),
        settings=settings,
        worker="b",
        clock=lambda: moment,
    )
    assert report.claimed == 0
    assert not mail.exists() or not any(mail.iterdir())
    assert all(m.status == "failed" for m in rows(engine))
    assert all(
        m.last_error == "Gav upp efter 2 försök: sändningen avbröts varje gång"
        for m in rows(engine)
    )


def test_retry_leaves_a_sent_message_and_one_being_sent_alone(engine: Engine) -> None:
    seed_entry(engine)
    with transaction(engine) as session:
        (being_sent, waiting) = claim_batch(session, worker="a", now=T0, limit=10, lease=LEASE)
    with transaction(engine) as session, pytest.raises(WorkflowError) as refused:
        retry_message(session, being_sent, now=T0 + timedelta(seconds=1))
    assert refused.value.reasons[0].code == "being_sent"
    with transaction(engine) as session:
        release_stale_claims(session, now=T0 + LEASE * 2)
        retried = retry_message(session, waiting, now=T0 + LEASE * 2)
        assert (retried.status, retried.attempts, retried.claimed_by) == ("queued", 0, None)
    with transaction(engine) as session:
        session.execute(
            text("UPDATE outbox_message SET status = 'sent' WHERE id = :id"), {"id": being_sent}
        )
    with transaction(engine) as session, pytest.raises(WorkflowError) as refused:
        retry_message(session, being_sent, now=T0 + LEASE * 3)
    assert refused.value.reasons[0].code == "already_sent"
    assert [m.status for m in rows(engine)] == ["sent", "queued"]
