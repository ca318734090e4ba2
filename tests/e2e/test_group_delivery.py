"""A group message through the real pipeline: the HTTP API, a real worker, a real SMTP server.

Two submits of the same message under one `Idempotency-Key`, at the same moment (a double
click): every unit's message arrives at the server, and each exactly once.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine
from sqlmodel import select

from tests.conftest import seed_cycle
from tests.e2e.conftest import LiveServer
from tests.e2e.support import (  # noqa: F401  (redis_url is a fixture)
    SmtpSink,
    Worker,
    redis_url,
    wait_until,
    worker_env,
)
from workflow import services
from workflow.db import insert_rows, transaction
from workflow.emails import message_id_for
from workflow.models import Cycle, Entry, OutboxMessage, Unit
from workflow.settings import Settings

DOMAIN = Settings().message_id_domain
UNITS = 500


@pytest.fixture
def sink() -> Iterator[SmtpSink]:
    server = SmtpSink().start()
    yield server
    server.stop()


def seed_units_in_bulk(engine: Engine, count: int, year: int = 2024) -> None:
    """`count` city-run units of one organisation, each with a notified entry of `year`, in a
    few statements (no receipts or reminders queued: the outbox holds only what a test adds)."""
    seed_cycle(engine, year)
    at = datetime(year, 4, 2, 9, 30, tzinfo=UTC)
    with transaction(engine) as session:
        organisation = services.create_organisation(
            session, name="Socialförvaltningen", kind="forvaltning", board="Socialnämnden",
            coordinator_email="samordnare@example.se",
        )  # fmt: skip
        cycle = session.exec(select(Cycle).where(Cycle.year == year)).one()
        unit = {
            "staff_count": 12,
            "manager_has_budget_and_staff_responsibility": True,
            "has_business_plan": True,
            "share_stockholm_residents": 0.9,
            "budget_in_balance": True,
            "privately_run": False,
            "earlier_participation_count": 0,
            "organisation_id": organisation.id,
            "earlier_participation_years": [],
        }
        units = [
            {**unit, "name": f"Enhet {n:05d}", "contact_email": f"chef{n}@example.se"}
            for n in range(count)
        ]
        insert_rows(session, Unit, units)
        unit_ids = session.exec(select(Unit.id).order_by(Unit.id)).all()
        entry = {
            "cycle_id": cycle.id,
            "award_class": "socialtjanst",
            "stage": "notified",
            "version": 1,
            "facts": {},
            "pending": {},
            "created_at": at,
            "updated_at": at,
        }
        entries = [{**entry, "unit_id": unit_id} for unit_id in unit_ids]
        insert_rows(session, Entry, entries)


def group_keys(engine: Engine) -> set[str]:
    with transaction(engine) as session:
        return set(
            session.exec(
                select(OutboxMessage.key).where(OutboxMessage.kind == "group_message")
            ).all()
        )


def all_group_sent(engine: Engine) -> bool:
    with transaction(engine) as session:
        statuses = session.exec(
            select(OutboxMessage.status).where(OutboxMessage.kind == "group_message")
        ).all()
    return len(statuses) == UNITS and set(statuses) == {"sent"}


def test_a_group_message_to_500_units_submitted_twice_arrives_once_each(
    engine: Engine,
    server: LiveServer,
    database_url: str,
    redis_url: str,
    sink: SmtpSink,
    tmp_path: Path,
) -> None:
    seed_units_in_bulk(engine, UNITS)
    token = server.direct_user("kansliet", "admin")
    body = {
        "year": 2024,
        "to": "units",
        "subject": "Bidraget från {enhet}",
        "text": "Hej {enhet}!\n\nSkicka ert bidrag senast {datum}:\n{länk}",
    }

    def submit(_: int) -> httpx.Response:
        with server.client(token) as client:
            return client.post(
                "/api/v1/messages", json=body, headers={"Idempotency-Key": "dubbelklick-1"}
            )

    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(submit, range(2)))
    assert sorted(a.status_code for a in answers) == [200, 201], [a.text for a in answers]
    assert {a.json()["group_id"] for a in answers} == {answers[0].json()["group_id"]}
    assert [a.json()["repeated"] for a in sorted(answers, key=lambda a: a.status_code)] == [
        True, False
    ]  # fmt: skip
    keys = group_keys(engine)
    assert len(keys) == UNITS

    worker = Worker(worker_env(database_url, redis_url, sink.port, tmp_path), tmp_path / "w.log")
    worker.start()
    try:
        expected = {message_id_for(key, DOMAIN) for key in keys}
        delivered = wait_until(lambda: expected <= set(sink.ids()), timeout=240)
        assert delivered, (tmp_path / "w.log").read_text()[-3000:]
        assert wait_until(lambda: all_group_sent(engine), timeout=60)
    finally:
        worker.stop()
    received = sink.ids()
    assert set(received) == expected  # nothing else, nothing lost
    assert sink.duplicates() == {}
    assert sum(received.values()) == UNITS
    assert sink.defects == []
    one = next(m for m in sink.messages if m["To"] == "chef7@example.se")
    assert one["Subject"] == "Bidraget från Enhet 00007 – Kvalitetsutmärkelsen"
    text = one.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert "Hej Enhet 00007!" in text and "senast den 17 maj 2024" in text
    with server.client(token) as client:
        (listed,) = client.get("/api/v1/messages").json()
    assert listed["recipients"] == UNITS and listed["statuses"] == {"sent": UNITS}
