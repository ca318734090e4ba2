"""A withdrawn entry's booked site visit is cancelled in the calendars of those invited: the
METHOD:CANCEL arrives at a real SMTP server, sent by a real worker, once."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from icalendar import Calendar
from sqlalchemy import Engine

from tests.conftest import NOW
from tests.e2e.support import (  # noqa: F401  (redis_url is a fixture)
    SmtpSink,
    Worker,
    redis_url,
    wait_until,
    worker_env,
)
from tests.integration.test_calendar_updates import book, submitted_private_entry, withdraw

VISIT = date(2024, 9, 12)


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    server = SmtpSink().start()
    yield server
    server.stop()


def calendar_parts(sink: SmtpSink) -> list[tuple[EmailMessage, EmailMessage]]:
    """(message, its text/calendar part) for every message that carries one."""
    return [
        (message, part)
        for message in list(sink.messages)
        for part in message.walk()
        if part.get_content_type() == "text/calendar"
    ]


def test_withdrawal_sends_the_visit_s_cancellation(
    engine: Engine, database_url: str, redis_url: str, sink: SmtpSink, tmp_path: Path
) -> None:
    """Booked, then withdrawn: the unit's contact gets the invitation (REQUEST) and then, once,
    its cancellation (CANCEL) for the same event, with STATUS:CANCELLED, a higher SEQUENCE
    and a Swedish text saying the visit is off."""
    entry_id = submitted_private_entry(engine)
    book(engine, entry_id, VISIT, NOW + timedelta(hours=1))
    withdraw(engine, entry_id, NOW + timedelta(hours=2))
    worker = Worker(worker_env(database_url, redis_url, sink.port, tmp_path), tmp_path / "w.log")
    worker.start()
    try:
        arrived = wait_until(lambda: len(calendar_parts(sink)) >= 2, timeout=120)
        assert arrived, (tmp_path / "w.log").read_text()[-3000:]
    finally:
        worker.stop()

    by_method = {part.get_param("method"): (m, part) for m, part in calendar_parts(sink)}
    assert set(by_method) == {"REQUEST", "CANCEL"}
    assert sink.duplicates() == {} and sink.defects == []
    message, part = by_method["CANCEL"]
    assert message["To"] == "chef@example.se"
    assert "inställt" in str(message["Subject"]) and "12 september 2024" in str(message["Subject"])
    body = message.get_body(("plain",))
    assert body is not None and "har återkallats" in body.get_content()
    cancel = Calendar.from_ical(part.get_content())
    request = Calendar.from_ical(by_method["REQUEST"][1].get_content())
    assert str(cancel["METHOD"]) == "CANCEL"
    [cancelled], [invited] = cancel.walk("VEVENT"), request.walk("VEVENT")
    assert (
        str(cancelled["UID"])
        == str(invited["UID"])
        == f"site-visit-{entry_id}@kvalitet.stockholm.se"
    )
    assert str(cancelled["STATUS"]) == "CANCELLED"
    assert cancelled.decoded("SEQUENCE") == invited.decoded("SEQUENCE") + 1
