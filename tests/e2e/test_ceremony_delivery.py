"""The ceremony invitation reaches a real SMTP server, sent by a real worker: one e-mail per
address (a coordinator of several units gets one), each with an iCalendar invitation
(METHOD:REQUEST) for the ceremony's own hours, in polite Swedish."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar
from sqlalchemy import Engine

from tests.e2e.support import (  # noqa: F401  (redis_url is a fixture)
    SmtpSink,
    Worker,
    redis_url,
    wait_until,
    worker_env,
)
from tests.integration.test_ceremony import ADMIN, LATER, seed_participants
from workflow.db import transaction
from workflow.services import ceremony


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    server = SmtpSink().start()
    yield server
    server.stop()


def test_the_invitation_arrives_once_per_address_with_its_calendar_invitation(
    engine: Engine, database_url: str, redis_url: str, sink: SmtpSink, tmp_path: Path
) -> None:
    seed_participants(engine)
    with transaction(engine) as session:
        done = ceremony.send_ceremony_invitations(session, year=2024, now=LATER, acting=ADMIN)
    assert len(done.queued) == 3
    worker = Worker(worker_env(database_url, redis_url, sink.port, tmp_path), tmp_path / "w.log")
    worker.start()
    try:
        arrived = wait_until(lambda: len(invitations(sink)) >= 3, timeout=120)
        assert arrived, (tmp_path / "w.log").read_text()[-3000:]
    finally:
        worker.stop()

    received = invitations(sink)
    assert sorted(str(m["To"]) for m, _ in received) == sorted(done.queued)  # one each
    assert sink.duplicates() == {} and sink.defects == []
    for message, part in received:
        assert part.get_param("method") == "REQUEST"
        assert "Inbjudan till prisutdelningen 26 november 2024" in str(message["Subject"])
        body = message.get_body(("plain",))
        assert body is not None
        text = " ".join(body.get_content().split())
        assert "den 26 november 2024 kl. 15.00–17.00 i Stadshuset" in text
        assert "Välkomna" in text and " du " not in f" {text.lower()} "
        [event] = Calendar.from_ical(part.get_content()).walk("VEVENT")
        assert event.decoded("DTSTART") == datetime(
            2024, 11, 26, 15, 0, tzinfo=ZoneInfo("Europe/Stockholm")
        )
        assert str(event["ATTENDEE"]) == f"mailto:{message['To']}"
    by_address = {str(m["To"]): m for m, _ in received}
    coordinator = by_address["samordnare@example.se"].get_body(("plain",))
    assert coordinator is not None
    words = " ".join(coordinator.get_content().split())
    assert "samordnare för Socialförvaltningen och Äldreförvaltningen" in words
    assert "Fältgruppen, Ungdomsjouren och Äldreboendet" in words
    assert "Mottagningen" not in words  # withdrawn


def invitations(sink: SmtpSink) -> list[tuple[EmailMessage, EmailMessage]]:
    """(message, its text/calendar part) of every ceremony invitation received."""
    return [
        (message, part)
        for message in list(sink.messages)
        if "prisutdelningen" in str(message["Subject"])
        for part in message.walk()
        if part.get_content_type() == "text/calendar"
    ]
