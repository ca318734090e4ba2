"""The outbox relay against a real database and a real SMTP server (aiosmtpd on loopback)."""

from __future__ import annotations

import io
import socket
import threading
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlmodel import col, select

from tests.conftest import seed_entry
from tests.e2e.support import SmtpSink, free_port
from workflow.db import insert_rows, transaction
from workflow.domain.errors import WorkflowError
from workflow.domain.messages import MessageSpec, Recipient
from workflow.domain.stages import Stage
from workflow.emails import OutgoingEmail
from workflow.models import Cycle, Entry, Organisation, OutboxMessage, Unit
from workflow.outbox import (
    claim_batch,
    deliver_outbox_batch,
    entry_message_rows,
    files_made_on_queueing,
    queue_health,
    release_claims,
    release_stale_claims,
    retry_message,
    stale_claims,
)
from workflow.outbox.transports import EmlFolderTransport, SmtpTransport, TransientFailure
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
        return list(session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id))).all())


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


def test_a_server_that_refuses_the_session_costs_the_messages_no_attempts(
    engine: Engine, tmp_path: Path, sink: SmtpSink
) -> None:
    """A 554 greeting, then nothing listening at all, batch after batch for hours: no message
    was offered, so none loses an attempt and none is dead-lettered (before, a 4–8 h outage
    dead-lettered the queue); the relay waits a backoff, and once a server answers, each
    message goes out once."""
    seed_entry(engine)
    server = RefusingServer()
    settings = relay_settings(tmp_path, server.port).model_copy(update={"outbox_max_attempts": 2})
    try:
        for hour in range(5):
            report = deliver_outbox_batch(
                engine,
                transport=SmtpTransport(settings),
                settings=settings,
                worker="a",
                clock=lambda hour=hour: T0 + timedelta(hours=hour),
            )
            assert (report.claimed, report.retrying, report.sent) == (2, 2, 0)
    finally:
        server.close()
    assert server.greeted == 5
    assert all(m.status == "queued" and m.claimed_by is None for m in rows(engine))
    assert all(m.attempts == 0 and "554" in (m.last_error or "") for m in rows(engine))
    nobody = settings.model_copy(update={"smtp_port": free_port()})  # nothing listens there
    for hour in range(5, 10):
        deliver_outbox_batch(
            engine, transport=SmtpTransport(nobody), settings=nobody, worker="a",
            clock=lambda hour=hour: T0 + timedelta(hours=hour),
        )  # fmt: skip
    assert all(m.status == "queued" and m.attempts == 0 for m in rows(engine))
    answering = settings.model_copy(update={"smtp_port": sink.port})
    report = deliver_outbox_batch(
        engine, transport=SmtpTransport(answering), settings=answering, worker="a",
        clock=lambda: T0 + timedelta(hours=11),
    )  # fmt: skip
    assert report.sent == 2
    assert all(m.status == "sent" and m.attempts == 1 for m in rows(engine))
    assert sink.duplicates() == {} and len(sink.ids()) == 2


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


# --- what a message carries: frozen when queued ------------------------------------------------


def queue_agenda_request(engine: Engine, entry_id: int) -> None:
    """The entry's agenda request, queued the way a change queues it (through `rows.py`, with
    the files it carries made in the queueing transaction), in place of whatever was queued."""
    spec = MessageSpec("agenda_request", Recipient.COORDINATOR, Stage.NOTIFIED)
    with transaction(engine) as session:
        session.execute(text("DELETE FROM outbox_message"))
        entry = session.get(Entry, entry_id)
        assert entry is not None
        unit = session.get(Unit, entry.unit_id)
        assert unit is not None
        organisation = session.get(Organisation, unit.organisation_id)
        cycle = session.get(Cycle, entry.cycle_id)
        assert organisation is not None and cycle is not None
        made = files_made_on_queueing(session, entry_id, [spec])
        rows = entry_message_rows(entry, unit, organisation, cycle, [spec], now=T0, made_files=made)
        insert_rows(session, OutboxMessage, rows)


class RefusesFirstOffer(EmlFolderTransport):
    """Writes `.eml` files, keeping every message offered; the first offer is refused (451)."""

    def __init__(self, folder: Path) -> None:
        super().__init__(folder)
        self.offered: list[OutgoingEmail] = []

    def send(self, message: OutgoingEmail) -> None:
        self.offered.append(message)
        if len(self.offered) == 1:
            raise TransientFailure("SMTP 451: försök igen senare")
        super().send(message)


def docx_text(sent: OutgoingEmail) -> tuple[str, bytes]:
    """The attached DOCX's file name and raw bytes, as a mail client finds them."""
    parsed = BytesParser(policy=policy.default).parsebytes(sent.data)
    assert isinstance(parsed, EmailMessage)
    (attachment,) = list(parsed.iter_attachments())
    return str(attachment.get_filename()), attachment.get_content()


def test_a_retried_message_carries_what_it_was_queued_with(engine: Engine, tmp_path: Path) -> None:
    """The draft board report is made when the agenda request is queued: the retry after a
    451 sends the very same file, although the unit was renamed in between (the relay reads
    no live facts)."""
    entry = seed_entry(engine)
    assert entry.id is not None
    queue_agenda_request(engine, entry.id)
    with transaction(engine) as session:
        session.execute(text("UPDATE unit SET name = 'Omdöpt enhet'"))
    settings = relay_settings(tmp_path)
    transport = RefusesFirstOffer(tmp_path / "mail")
    first_try, an_hour_later = T0, T0 + timedelta(hours=1)
    deliver_outbox_batch(
        engine, transport=transport, settings=settings, worker="a", clock=lambda: first_try
    )
    deliver_outbox_batch(
        engine, transport=transport, settings=settings, worker="a", clock=lambda: an_hour_later
    )
    assert [m.status for m in rows(engine)] == ["sent"]
    first, retried = (docx_text(offer) for offer in transport.offered)
    assert first == retried
    filename, data = retried
    assert filename.endswith(".docx")
    with zipfile.ZipFile(io.BytesIO(data)) as docx:
        body = docx.read("word/document.xml").decode()
    assert "Ungdomsjouren" in body and "Omdöpt enhet" not in body


def test_queue_health_is_how_long_the_oldest_due_message_has_waited(engine: Engine) -> None:
    """Messages held by a live claim are not late; once the claim runs out they are due
    again, and the figure counts from then — not from when they were queued."""
    seed_entry(engine)  # two messages, queued and due at 09:30
    with transaction(engine) as session:
        assert queue_health(session, now=T0).oldest_queued_age_seconds == 30 * 60
        claim_batch(session, worker="a", now=T0, limit=10, lease=LEASE)
    with transaction(engine) as session:
        held = queue_health(session, now=T0 + timedelta(seconds=1))
        late = queue_health(session, now=T0 + LEASE + timedelta(seconds=54))
    assert (held.queued, held.oldest_queued_age_seconds) == (2, 0.0)
    assert (late.queued, late.oldest_queued_age_seconds) == (2, 54.0)
